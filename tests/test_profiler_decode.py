"""Decoder tests: synthetic events, and real ETDumps written by ExecuTorch's Python bindings."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import warnings
import sys
from pathlib import Path

import pytest

from runtime.profiler import decode, formatting
from runtime.profiler.decode import (
    DELEGATE_CALL, EXECUTE, OPERATOR_CALL, RUN_MODEL, EtdumpError, RawEvent, decode_events, percentile,
)
from runtime.profiler.profiler_results_cli import Options, run

ITERATIONS = 6  # Python-bindings runs per ETDump (fast; fewer than the default 10 warm-up)


# ---------------------------------------------------------------------------------------------
# Synthetic event streams (no torch needed)
# ---------------------------------------------------------------------------------------------


def synthetic_iteration(t0: int, *, run_model: bool = True, xnn: bool = True, scale: int = 1) -> list[RawEvent]:
    """One iteration shaped like ExecuTorch's: a delegate call with two XNNPACK ops, then a portable op."""
    ev = []
    if xnn:
        ev.append(RawEvent(None, 0, 0, t0 + 10, t0 + 10 + 300 * scale, delegate_id="Convolution (NHWC, F32) IGEMM #1"))
        ev.append(RawEvent(None, 0, 0, t0 + 310 * scale, t0 + 400 * scale, delegate_id="Convolution (NHWC, F32) IGEMM #2"))
    ev.append(RawEvent(DELEGATE_CALL, 0, 0, t0 + 5, t0 + 450 * scale))
    ev.append(RawEvent("native_call_mean.out", 0, 1, t0 + 460 * scale, t0 + 560 * scale))
    ev.append(RawEvent(OPERATOR_CALL, 0, 1, t0 + 455 * scale, t0 + 570 * scale))
    ev.append(RawEvent(EXECUTE, -1, 0, t0, t0 + 600 * scale))
    if run_model:
        ev.append(RawEvent(RUN_MODEL, -1, 0, t0 - 20, t0 + 620 * scale))
    return ev


def synthetic(n: int, **kw) -> list[RawEvent]:
    out = [RawEvent("Method::init", -1, 0, 0, 1000), RawEvent("Program::load_method", -1, 0, 0, 1500)]
    for i in range(n):
        out += synthetic_iteration(10_000 * (i + 1), scale=3 if i == 0 else 1, **kw)
    return out


def test_percentile_matches_linear_interpolation():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 90) == 5
    assert percentile(list(range(11)), 90) == pytest.approx(9.0)
    assert math.isnan(percentile([], 50))


def test_run_model_first_iteration_and_warmup():
    r = decode_events(synthetic(20), warmup_iters=10)
    rm = r.run_model
    assert rm.source == RUN_MODEL and rm.iterations_recorded == 20 and rm.warmup_dropped == 10
    assert rm.measured.count == 10
    assert rm.first_ms == pytest.approx((620 * 3 + 20) / 1e6)
    assert rm.measured.mean_ms == rm.measured.median_ms == rm.measured.min_ms == pytest.approx(640 / 1e6)
    assert r.measured_executions == 10
    assert not any("iteration(s) recorded" in n for n in r.notes)
    assert r.overhead.runner_overhead_per_iter_ms == pytest.approx(40 / 1e6)
    assert r.init_ms == {"Method::init": pytest.approx(0.001), "Program::load_method": pytest.approx(0.0015)}


def test_too_few_iterations_uses_all_and_says_so():
    r = decode_events(synthetic(4), warmup_iters=10)
    assert r.run_model.warmup_dropped == 0 and r.run_model.measured.count == 4
    assert any("only 4 iteration(s) recorded" in n for n in r.notes)
    assert "only 4 iteration(s) recorded" in formatting.format_text(r)


def test_operator_table_partitions_execute_time():
    r = decode_events(synthetic(12), warmup_iters=2)
    by_name = {row.name: row for row in r.operators}
    conv = by_name["Convolution (NHWC, F32) IGEMM"]  # "#1"/"#2" grouped by type
    assert conv.delegated and conv.kind == "delegated_operator" and conv.count == 20
    assert conv.mean_ms == pytest.approx((300 + 90) / 2 / 1e6)
    assert by_name["mean.out"].delegated is False and by_name["mean.out"].count == 10
    assert by_name["mean.out"].total_ms == pytest.approx(10 * 115 / 1e6)
    total = sum(row.total_ms for row in r.operators) + r.overhead.overhead_total_ms
    assert total == pytest.approx(r.overhead.execute_total_ms)
    assert sum(row.share_pct for row in r.operators) + r.overhead.share_pct == pytest.approx(100.0)
    assert r.overhead.overhead_per_iter_ms == pytest.approx((600 - 445 - 115) / 1e6)
    (d,) = r.delegates
    assert d.count == 10 and d.op_events_per_call == 2 and d.ops_total_ms <= d.total_ms
    per_instance = decode_events(synthetic(12), warmup_iters=2, per_instance=True)
    assert {"Convolution (NHWC, F32) IGEMM #1", "Convolution (NHWC, F32) IGEMM #2"} <= {
        row.name for row in per_instance.operators}


def test_fallback_to_method_execute_without_run_model():
    r = decode_events(synthetic(3, run_model=False), warmup_iters=1)
    assert r.run_model.source == EXECUTE and r.run_model.iterations_recorded == 3
    assert any('no "run model" events' in n for n in r.notes)
    assert r.overhead.runner_overhead_per_iter_ms is None


def test_delegate_without_per_op_events_is_shown_whole():
    r = decode_events(synthetic(3, xnn=False), warmup_iters=0)
    assert not r.delegate_op_events
    assert any(row.name == "(delegate call, no per-operator events)" for row in r.operators)
    assert any("no per-operator events" in n for n in r.notes)


def test_no_iterations_is_an_error():
    with pytest.raises(EtdumpError, match="no \"run model\" or \"Method::execute\""):
        decode_events([RawEvent("Method::init", -1, 0, 0, 10)])


@pytest.mark.parametrize("data,match", [
    (b"", "empty"),
    (b"\x01\x02", "too short"),
    (b"\x3c\x00\x00\x00ET12eh00" + bytes(60), r"\.pte"),
    (bytes(range(200)), "not an ETDump"),
    ((1000).to_bytes(4, "little") + (8).to_bytes(4, "little") + b"ED00" + bytes(20), "truncated"),
])
def test_header_checks(data, match):
    with pytest.raises(EtdumpError, match=match):
        decode.check_etdump_bytes(data, "f")


# ---------------------------------------------------------------------------------------------
# Real ETDumps from the Python bindings
# ---------------------------------------------------------------------------------------------


class _Small:
    """Conv + ReLU (delegated), mean (portable: XNNPACK does not take a 2-axis mean), Linear (delegated)."""

    @staticmethod
    def make():
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 8, 3)
                self.fc = torch.nn.Linear(8, 4)

            def forward(self, x):
                return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

        return Net().eval(), (torch.randn(1, 3, 32, 32),)


def run_with_etdump(pte: Path, inputs, out: Path, iterations: int = ITERATIONS) -> Path:
    from examples.common.quiet import quiet_stdio
    from executorch.extension.pybindings.portable_lib import _load_for_executorch

    with quiet_stdio():
        module = _load_for_executorch(str(pte), enable_etdump=True)
        for _ in range(iterations):
            module.forward(inputs)
        module.write_etdump_result_to_file(str(out))
    return out


@pytest.fixture(scope="session")
def small_profile(tmp_path_factory):
    """ETDump + ETRecord of the small delegated model, made through the Python bindings."""
    from examples.export.lowering import export_program, save_program

    d = tmp_path_factory.mktemp("profiler_small")
    model, inputs = _Small.make()
    result = export_program(model, inputs, delegate=True, want_etrecord=True)
    pte = save_program(result, d / "small_xnnpack_fp32.pte")
    etrecord = d / "small_etrecord.bin"
    result.etrecord.save(str(etrecord))
    return {"pte": pte, "etdump": run_with_etdump(pte, inputs, d / "prof_result.bin"), "etrecord": etrecord,
            "dir": d}


@pytest.fixture(scope="session")
def small_report(small_profile):
    return decode.decode_file(small_profile["etdump"], warmup_iters=1)


def test_pybindings_etdump_decodes(small_report):
    r = small_report
    assert r.run_model.source == EXECUTE  # the bindings write no "run model" events
    assert r.run_model.iterations_recorded == ITERATIONS == r.executions
    assert r.run_model.warmup_dropped == 1 and r.run_model.measured.count == ITERATIONS - 1
    assert r.run_model.measured.min_ms <= r.run_model.measured.median_ms <= r.run_model.measured.p90_ms \
        <= r.run_model.measured.max_ms
    assert r.run_model.first_ms > 0
    assert {"Method::init", "Program::load_method"} <= set(r.init_ms)


def test_pybindings_delegate_emits_per_operator_events(small_report):
    r = small_report
    assert r.delegate_op_events, r.events_found
    names = {row.name for row in r.operators if row.kind == "delegated_operator"}
    assert any(n.startswith("Convolution") for n in names), names
    assert any(n.startswith("Fully Connected") for n in names), names
    assert {row.name for row in r.operators if not row.delegated} == {"mean.out"}
    assert len(r.delegates) == 2


def test_delegate_op_times_within_each_call(small_profile):
    tl = decode.build_timeline(decode.raw_events(decode.load_etdump(small_profile["etdump"])))
    calls = [c for ex in tl.executions for c in ex.calls if c.is_delegate]
    assert len(calls) == 2 * ITERATIONS
    for c in calls:
        assert c.delegate_ops, "XNNPACK per-op events missing"
        assert sum(op.duration for op in c.delegate_ops) <= c.event.duration
    for ex in tl.executions:
        assert sum(c.event.duration for c in ex.calls) <= ex.execute.duration


def test_inspector_reads_the_same_file(small_profile, small_report):
    from examples.common.quiet import quiet_stdio
    from executorch.devtools import Inspector

    with quiet_stdio(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Output Buffer not found": timings only
        inspector = Inspector(etdump_path=str(small_profile["etdump"]))
    execute = [e for b in inspector.event_blocks for e in b.events if e.name == EXECUTE]
    raw = [x for e in execute for x in e.perf_data.raw]
    assert len(raw) == ITERATIONS
    assert raw[0] == pytest.approx(small_report.run_model.first_ms)
    assert sorted(raw[1:])[len(raw[1:]) // 2] == pytest.approx(small_report.run_model.measured.median_ms)


def test_etrecord_maps_source_ops(small_profile):
    r = decode.decode_file(small_profile["etdump"], warmup_iters=1, etrecord=small_profile["etrecord"])
    assert r.etrecord
    rows = {row.name: row for row in r.operators}
    assert "aten.mean.dim" in rows["mean.out"].source_ops
    conv = next(row for row in r.operators if row.name.startswith("Convolution"))
    assert conv.backend == "XnnpackBackend" and "aten.convolution.default" in conv.source_ops


def test_json_schema(small_profile):
    out = small_profile["dir"] / "report.json"
    assert run(Options(prof_results_bin=str(small_profile["etdump"]), json=True, output=str(out),
                       warmup_iters=1)) == 0
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1
    assert set(doc) >= {"source", "run_model", "operators", "delegates", "overhead", "init_ms", "notes",
                        "events_found", "executions", "measured_executions", "delegate_op_events"}
    assert set(doc["run_model"]) == {"source", "iterations_recorded", "warmup_iters", "warmup_dropped",
                                     "first_ms", "measured"}
    assert set(doc["run_model"]["measured"]) == {"count", "mean_ms", "median_ms", "p90_ms", "min_ms", "max_ms"}
    assert set(doc["operators"][0]) == {"name", "kind", "delegated", "backend", "count", "calls_per_iter",
                                        "total_ms", "mean_ms", "per_iter_ms", "share_pct", "source_ops"}
    assert set(doc["overhead"]) >= {"overhead_per_iter_ms", "share_pct", "execute_mean_ms"}
    assert doc["events_found"][DELEGATE_CALL] == 2 * ITERATIONS
    assert not list(small_profile["dir"].glob(".report.json.*"))  # no temp file left behind


def test_csv_schema(small_profile, capsys):
    assert run(Options(prof_results_bin=str(small_profile["etdump"]), csv=True, warmup_iters=1)) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0]) == formatting.CSV_COLUMNS
    sections = [r["section"] for r in rows]
    assert sections[:2] == ["run_model", "run_model"] and sections[-1] == "framework_overhead"
    ops = [r for r in rows if r["section"] == "operator"]
    assert ops and all(r["delegated"] in ("True", "False") for r in ops)
    assert all(float(r["total_ms"]) >= 0 for r in ops if r["kind"] != "delegate_overhead")
    assert int(rows[1]["count"]) == ITERATIONS - 1


def test_text_output(small_profile, capsys):
    assert run(Options(prof_results_bin=str(small_profile["etdump"]), warmup_iters=1)) == 0
    out = capsys.readouterr().out
    for needle in ('"Method::execute" time (ms)', "first iteration", "median", "p90", "Operators over",
                   "Framework overhead", 'no "run model" events', "Convolution (NHWC, F32)"):
        assert needle in out, needle


def test_cli_subprocess_end_to_end(small_profile, repo_root, python_env):
    """The real entry point, with both gflags spellings; third-party noise stays out."""
    cmd = [sys.executable, "-m", "runtime.profiler.profiler_results_cli",
           f"--prof_results_bin={small_profile['etdump']}", "--warmup_iters", "2", "--json"]
    p = subprocess.run(cmd, cwd=repo_root, env=python_env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    doc = json.loads(p.stdout)
    assert doc["run_model"]["warmup_dropped"] == 2


# ---------------------------------------------------------------------------------------------
# Zoo models through the Python bindings (exported by tests/conftest.py's `programs`)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mv2_fp32_report(programs, tmp_path_factory):
    exported = programs.exported("mv2", "fp32")
    out = tmp_path_factory.mktemp("profiler_mv2") / "prof_result.bin"
    run_with_etdump(exported.path, exported.example_inputs, out, iterations=3)
    return decode.decode_file(out, warmup_iters=1)


def test_mv2_fp32_pybindings_shows_convolutions(mv2_fp32_report):
    r = mv2_fp32_report
    convs = [row for row in r.operators if row.delegated and row.name.startswith("Convolution")]
    assert convs, [row.name for row in r.operators]
    # mv2: the stem and 17 depthwise convolutions stay convolutions; XNNPACK runs 1x1 ones as GEMMs
    assert sum(row.count for row in convs) >= 18 * r.measured_executions
    for d in r.delegates:
        assert d.ops_total_ms <= d.total_ms
