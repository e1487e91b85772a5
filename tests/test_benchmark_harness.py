"""The benchmark harness end to end on the toy ``linear`` model, 1 iteration per run.

ExecuTorch rows need the native runner (cmake-out/xnn_executor_runner, built by ./setup.sh);
without it they are skipped with that reason and the peers are still tested.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from examples.benchmark import harness, openvino_backend, peers, records, report
from examples.benchmark.progress import GridProgress
from examples.runner import client as runner
from examples.benchmark.backends import BACKENDS, OPT_IN, Iterations

RUNNER_BUILT = runner.DEFAULT_RUNNER.is_file()
NEEDS_RUNNER = pytest.mark.skipif(not RUNNER_BUILT, reason="native runner not built (run ./setup.sh): "
                                  f"{runner.DEFAULT_RUNNER} missing")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ONE = Iterations(warmup=0, measured=1)


class _Quiet(GridProgress):
    def log(self, text):
        pass


QUIET = _Quiet()


def settings(cache_dir, backends, **kw):
    kw.setdefault("rounds", 1)
    return harness.Settings(models=["linear"], backends=backends, threads=[1], iterations=ONE,
                            portable_iterations=ONE, weights="random", cache_dir=cache_dir,
                            runner_path=runner.DEFAULT_RUNNER if RUNNER_BUILT else None, timeout_s=300, **kw)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench_cache")


@pytest.fixture(scope="module")
def full_run(cache_dir, tmp_path_factory):
    """One run over every backend available here; the reports written to a temp folder."""
    # OpenVINO rows have their own tests (tests/test_openvino.py); tune's and the AMX build's rows are opt-in.
    available = [b for b in BACKENDS if b not in openvino_backend.NAMES and b not in OPT_IN]
    backends = available if RUNNER_BUILT else [b for b in available if BACKENDS[b].kind == "peer"]
    doc = harness.run_benchmark(settings(cache_dir, backends), progress=QUIET)
    out = tmp_path_factory.mktemp("bench_out")
    return doc, report.write_reports(doc, out), out


@pytest.mark.slow
def test_json_schema(full_run):
    doc, paths, _ = full_run
    loaded = json.loads(paths["json"].read_text())
    assert loaded["schema"] == harness.SCHEMA and loaded["schema_version"] == harness.SCHEMA_VERSION
    for key in ("created", "machine", "packages", "settings", "models", "records", "comparisons"):
        assert key in loaded
    assert {"cpu_model", "isa", "logical_cpus"} <= set(loaded["machine"])
    assert loaded["models"]["linear"]["random_weights"] is True
    assert len(loaded["records"]) == len(doc["settings"]["backends"]) + 1  # and the A/A twin
    assert loaded["records"][-1]["backend"] == records.AA_BACKEND and loaded["records"][-1]["aa_of"] == (
        "xnnpack_fp32" if RUNNER_BUILT else doc["settings"]["backends"][0])
    for record in loaded["records"]:
        assert tuple(record) == records.RECORD_KEYS
        assert record["status"] == "ok", record["error"]
        assert record["first_iteration_ms"] >= 0 and record["mean_ms"] >= 0
        assert record["time_to_first_result_ms"] is not None and record["peak_rss_bytes"] > 0
        assert record["conversion"] and record["version"]
        (samples,) = record["rounds_samples_ms"]  # one round of raw samples, every backend
        assert len(samples) == record["measured_iters"] and all(t >= 0 for t in samples)


@pytest.mark.slow
def test_accuracy_against_eager(full_run):
    doc, _, _ = full_run
    for record in doc["records"]:
        assert record["max_abs_error"] is not None
        if record["backend"] in ("portable", "xnnpack_fp32", "ort_fp32"):
            assert record["max_abs_error"] < 1e-4  # fp32 programs agree with eager PyTorch


@pytest.mark.slow
def test_markdown_classic_table_shape(full_run):
    doc, paths, _ = full_run
    text = paths["markdown"].read_text()
    lines = text.splitlines()
    header = "| backend | first iteration (ms) | subsequent iteration (ms) |"
    start = lines.index(header)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    assert [r.split("|")[1].strip() for r in rows] == [BACKENDS[b].label for b in doc["settings"]["backends"]] + [
        f"A/A twin of {doc['records'][-1]['label'].removeprefix('A/A twin of ')}"]
    assert all(len(r.split("|")) == 5 for r in rows)
    assert "RANDOM weights" in text and "## linear - 1 thread" in text
    if RUNNER_BUILT:
        assert "overall: best ExecuTorch (" in text and "fp32-class (SQNR vs eager >= 40 dB): best ExecuTorch" in text


@pytest.mark.slow
def test_chart_is_png_and_files_atomic(full_run):
    _, paths, out = full_run
    assert paths["chart"].read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [report.MARKDOWN_NAME, report.JSON_NAME, report.CHART_NAME])  # no temp files left


@pytest.mark.slow
@NEEDS_RUNNER
def test_executorch_rows_ran_through_the_runner(full_run):
    doc, _, _ = full_run
    rows = {r["backend"]: r for r in doc["records"]}
    for name in ("portable", "xnnpack_fp32", "xnnpack_q8"):
        assert rows[name]["kind"] == "executorch" and rows[name]["program_file"].endswith(".pte")
        assert rows[name]["load_ms"] is not None and rows[name]["init_ms"] is not None
        assert "native runner" in rows[name]["version"]
    assert doc["comparisons"] and doc["comparisons"][0]["model"] == "linear"


def test_failing_backend_is_recorded_and_others_run(cache_dir, tmp_path, monkeypatch):
    real_measure = harness.measure

    def measure(backend, *args, **kwargs):
        if backend == "ort_fp32":
            raise RuntimeError("injected failure\nsecond line")
        return real_measure(backend, *args, **kwargs)

    monkeypatch.setattr(harness, "measure", measure)
    monkeypatch.setattr(peers, "missing_packages", lambda b: ["onnxruntime"] if b == "ort_int8" else [])
    doc = harness.run_benchmark(settings(cache_dir, ["ort_fp32", "ort_int8", "eager"]), progress=QUIET)
    rows = {r["backend"]: r for r in doc["records"]}
    assert rows["ort_fp32"]["status"] == "failed" and rows["ort_fp32"]["error"] == "injected failure"
    assert rows["ort_int8"]["status"] == "not installed"
    assert rows["eager"]["status"] == "ok"
    paths = report.write_reports(doc, tmp_path)
    text = paths["markdown"].read_text()
    assert "| onnxruntime fp32 | failed | failed |" in text
    assert "| onnxruntime int8 (QDQ) | not installed | not installed |" in text
    assert paths["chart"].read_bytes()[:8] == PNG_MAGIC


def test_amx_row_without_its_runner_says_how_to_build_it(cache_dir, tmp_path):
    doc = harness.run_benchmark(settings(cache_dir, ["xnnpack_q8_amx"], amx_runner=str(tmp_path / "absent")),
                                progress=QUIET)
    (row,) = doc["records"]
    assert row["status"] == "not installed"
    assert "-DEXECUTORCH_SOURCE_DIR=" in row["error"] and "cmake-out-amx" in row["error"]
    assert doc["settings"]["amx_runner"] is None


def test_failing_export_is_recorded(cache_dir, monkeypatch):
    def prepare(backend, *args):
        raise ValueError("cannot lower this")

    monkeypatch.setattr(harness, "prepare", prepare)
    doc = harness.run_benchmark(settings(cache_dir, ["eager"]), progress=QUIET)
    (row,) = doc["records"]
    assert row["status"] == "failed" and row["error"] == "prepare: cannot lower this"


def _cli(python_env, *args):
    return subprocess.run([sys.executable, "-m", "examples.backend.benchmark", *args],
                          capture_output=True, text=True, env=python_env, timeout=600)


def test_cli_unknown_model(python_env, tmp_path):
    done = _cli(python_env, "--models", "mv2,nosuchmodel", "--output_dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "unknown model 'nosuchmodel'" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_runner_not_built(python_env, tmp_path):
    done = _cli(python_env, "--models", "linear", "--runner", str(tmp_path / "missing_runner"),
                "--output_dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith("error: runner not built") and "./setup.sh" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_bad_threads(python_env, tmp_path):
    done = _cli(python_env, "--threads", "1,zero", "--output_dir", str(tmp_path))
    assert done.returncode == 2 and "--threads" in done.stderr


def test_cli_report_from_refuses_measuring_flags(python_env, tmp_path):
    """--report_from measures nothing: a measuring flag given with it is one error line, never ignored."""
    done = _cli(python_env, "--report_from", tmp_path / "earlier.json", "--models", "mv2", "--rounds", "3",
                "--runner", tmp_path / "runner", "--eval_data", tmp_path, "--output_dir", tmp_path / "out")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("error: --models, --rounds, --runner, --eval_data do not apply to --report_from "
                           "(it re-renders an earlier run and measures nothing)\n")
    assert not (tmp_path / "out").exists()
    # Every flag of the command is either refused with --report_from or read by it.
    code = ("from absl import flags; import examples.backend.benchmark as b; "
            "print(sorted({f.name for m in ('examples.backend.benchmark', 'examples.evaluation.cli_hooks') "
            "for f in flags.FLAGS.get_flags_for_module(m)} - set(b.MEASURING_FLAGS)))")
    listed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=python_env, timeout=120)
    assert listed.stdout.strip() == "['list_models', 'output_dir', 'report_from', 'verbose']", listed.stderr


def test_cli_warns_of_flags_no_selected_row_uses(python_env, tmp_path):
    """--runner without an ExecuTorch row, --amx_runner without xnnpack_q8_amx, calibration and recipe
    flags without a quantized row: one warning each (the bad --threads then stops it before any export)."""
    flags_given = ("--runner", tmp_path / "r", "--amx_runner", tmp_path / "a", "--calibration_data", tmp_path,
                   "--num_calibration_samples", "2", "--quant_recipe", "static_per_tensor",
                   "--threads", "1,zero", "--output_dir", tmp_path)
    done = _cli(python_env, "--models", "linear", "--backends", "eager,ort_fp32", *flags_given)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "warning: --runner is only used by the portable, xnnpack_fp32, xnnpack_q8, xnnpack_q8_amx, openvino_fp32, "
        "openvino_int8, tuned rows, none selected (--backends); ignored",
        "warning: --amx_runner is only used by the xnnpack_q8_amx row, not selected (--backends); ignored",
        "warning: --calibration_data, --num_calibration_samples are only used by the xnnpack_q8, xnnpack_q8_amx, "
        "openvino_int8, tuned, ort_int8, ov_int8 rows, none selected (--backends); ignored",
        "warning: --quant_recipe is only used by the xnnpack_q8, xnnpack_q8_amx, ort_int8 rows, none selected "
        "(--backends); ignored",
        "error: --threads must be comma-separated integers, got '1,zero'"]
    used = _cli(python_env, "--models", "linear", "--backends", "xnnpack_q8_amx,ort_int8", *flags_given)
    assert used.returncode == 2 and "warning" not in used.stderr, used.stderr
    # --tuned asks for the tuned row: it reads --runner and the calibration flags.
    tuned = _cli(python_env, "--models", "linear", "--backends", "eager", "--tuned", *flags_given)
    assert [line.split()[:2] for line in tuned.stderr.splitlines()] == [
        ["warning:", "--amx_runner"], ["warning:", "--quant_recipe"], ["error:", "--threads"]]


@pytest.mark.slow
@NEEDS_RUNNER
def test_cli_end_to_end_reuses_cached_programs(python_env, cache_dir, full_run, tmp_path):
    done = _cli(python_env, "--models", "linear", "--weights", "random", "--num_iters", "1", "--warmup_iters", "0",
                "--portable_iters", "1", "--rounds", "2", "--backends", "portable,xnnpack_fp32,xnnpack_q8,eager",
                "--cache_dir", str(cache_dir), "--output_dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "| backend | first iteration (ms) | subsequent iteration (ms) |" in done.stdout
    assert "(reused)" in done.stderr and "built in" not in done.stderr  # the fixture's exports were reused
    assert (tmp_path / report.JSON_NAME).is_file() and (tmp_path / report.CHART_NAME).is_file()


@pytest.mark.slow
def test_cli_report_from_rerenders_an_earlier_run(python_env, full_run, tmp_path):
    """--report_from measures nothing: the earlier run's report, summary lines recomputed; a file
    that is not a benchmark.json is one error line."""
    doc = json.loads((full_run[2] / report.JSON_NAME).read_text())
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps(dict(doc, comparisons=[])))
    done = _cli(python_env, "--report_from", str(earlier), "--output_dir", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    again = json.loads((tmp_path / "out" / report.JSON_NAME).read_text())
    assert again["records"] == doc["records"] and again["comparisons"]
    assert "| backend | first iteration (ms) | subsequent iteration (ms) |" in done.stdout
    bad = _cli(python_env, "--report_from", str(tmp_path / "out" / report.CHART_NAME), "--output_dir", str(tmp_path))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a benchmark.json" in bad.stderr


def test_rounds_interleave_backends_in_a_random_order_and_take_medians(cache_dir, monkeypatch):
    calls = []
    fake_means = {"ort_fp32": iter([5.0, 1.0, 3.0, 4.0]), "eager": iter([9.0, 7.0, 8.0, 8.5])}

    def measure(backend, ctx, prepared, threads, settings):
        calls.append(backend)
        mean = next(fake_means[backend])
        return {"first_iteration_ms": mean, "mean_ms": mean, "median_ms": mean, "p90_ms": mean, "min_ms": mean,
                "max_ms": mean, "load_ms": 0.0, "init_ms": None, "time_to_first_result_ms": mean,
                "peak_rss_bytes": int(mean), "version": "fake", "samples_ms": [mean, mean], "outputs": None}

    monkeypatch.setattr(harness, "measure", measure)
    doc = harness.run_benchmark(settings(cache_dir, ["ort_fp32", "eager"], rounds=4, aa_twin=False, order_seed=3),
                                progress=QUIET)
    rounds = [calls[i:i + 2] for i in range(0, 8, 2)]
    assert all(sorted(r) == ["eager", "ort_fp32"] for r in rounds)  # round 1 of every backend, then round 2 ...
    assert len({tuple(r) for r in rounds}) == 2  # ... each in its own random order (a fixed order measures order)
    rows = {r["backend"]: r for r in doc["records"]}
    assert rows["ort_fp32"]["mean_ms"] == 3.5 and rows["eager"]["mean_ms"] == 8.25
    assert rows["ort_fp32"]["peak_rss_bytes"] == 5 and doc["settings"]["rounds"] == 4
    assert rows["ort_fp32"]["rounds_samples_ms"] == [[5.0, 5.0], [1.0, 1.0], [3.0, 3.0], [4.0, 4.0]]
    assert "median over 4 rounds" in report.render_markdown(doc)


def test_the_aa_twin_measures_the_first_row_again_as_its_own_row(cache_dir, monkeypatch):
    calls = []

    def measure(backend, ctx, prepared, threads, settings):
        calls.append(backend)
        return {"first_iteration_ms": 1.0, "mean_ms": 1.0, "median_ms": 1.0, "p90_ms": 1.0, "min_ms": 1.0,
                "max_ms": 1.0, "load_ms": 0.0, "init_ms": None, "time_to_first_result_ms": 1.0,
                "peak_rss_bytes": 1, "version": "fake", "samples_ms": [1.0], "outputs": None}

    monkeypatch.setattr(harness, "measure", measure)
    doc = harness.run_benchmark(settings(cache_dir, ["ort_fp32", "eager"], rounds=2), progress=QUIET)
    twin = next(r for r in doc["records"] if r["backend"] == records.AA_BACKEND)
    assert twin["aa_of"] == "ort_fp32" and len(twin["rounds_samples_ms"]) == 2
    assert calls.count("ort_fp32") == 4 and calls.count("eager") == 2
    assert "A/A (onnxruntime fp32 measured twice)" in report.render_markdown(doc)


def test_interrupt_keeps_measured_cells(cache_dir, monkeypatch):
    calls = []

    def measure(backend, ctx, prepared, threads, settings):
        calls.append(backend)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return {"first_iteration_ms": 2.0, "mean_ms": 2.0, "median_ms": 2.0, "p90_ms": 2.0, "min_ms": 2.0,
                "max_ms": 2.0, "load_ms": 0.0, "init_ms": None, "time_to_first_result_ms": 2.0,
                "peak_rss_bytes": 1, "version": "fake", "samples_ms": [2.0], "outputs": None}

    monkeypatch.setattr(harness, "measure", measure)
    doc = harness.run_benchmark(settings(cache_dir, ["ort_fp32", "eager"], aa_twin=False), progress=QUIET)
    rows = {r["backend"]: r for r in doc["records"]}
    first, second = calls
    assert doc["partial"] is True
    assert rows[first]["status"] == "ok" and rows[first]["median_ms"] == 2.0
    assert rows[second]["status"] == "not run"
    assert "Partial run" in report.render_markdown(doc)


def test_the_settings_stay_in_the_harness(cache_dir):
    """Followed through every function that receives it, a run's Settings object visits few files
    and never comes back to one it left: the harness hands each step only what it needs
    (iterations, a RunPlan, PrepareOptions, the tuned row's preparation)."""
    run = settings(cache_dir, ["eager", "tuned"])

    def no_tune(ctx):
        raise RuntimeError("tune is not run here")

    run.prepare_tuned = no_tune
    visits: list[str] = []

    def tracer(frame, event, arg):
        code = frame.f_code
        arguments = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        if event == "call" and any(frame.f_locals.get(name) is run for name in arguments):
            if not visits or visits[-1] != code.co_filename:
                visits.append(code.co_filename)

    sys.settrace(tracer)
    try:
        doc = harness.run_benchmark(run, progress=QUIET)
    finally:
        sys.settrace(None)
    rows = {r["backend"]: r for r in doc["records"]}
    assert rows["eager"]["status"] == "ok" and "tune is not run here" in rows["tuned"]["error"]
    assert visits and len(set(visits)) <= 20
    assert len(visits) == len(set(visits)), [v.rsplit("/", 1)[-1] for v in visits]  # no file visited twice
