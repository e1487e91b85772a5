"""Unit tests of the benchmark's small modules (no export, no runner, no timing asserted)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from examples.runner import client as runner
from examples.common.metrics import compare
from examples.benchmark.backends import BACKENDS, parse_backends
from examples.benchmark.cache import ArtifactCache
from examples.common.machine import cpu_facts, machine_info
from examples.common.stats import percentile, split_iterations, summarize


def test_classic_methodology_split():
    times = [100.0] + [10.0] * 9 + [5.0, 6.0, 7.0]
    first, measured = split_iterations(times, warmup=10)
    assert first == 100.0 and measured == [5.0, 6.0, 7.0]
    first, measured = split_iterations([3.0, 2.0], warmup=0)  # no warm-up: run 1 is also measured
    assert first == 3.0 and measured == [3.0, 2.0]
    with pytest.raises(ValueError):
        split_iterations([1.0], warmup=1)


def test_summary_uses_linear_interpolation():
    s = summarize([float(v) for v in range(1, 11)])
    # numpy's default: p90 of 1..10 lies 0.1 of the way from 9 to 10 (nearest rank would say 9).
    assert s["mean"] == 5.5 and s["median"] == 5.5 and s["p90"] == pytest.approx(9.1)
    assert s["min"] == 1 and s["max"] == 10
    assert percentile([4.0], 90) == 4.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_accuracy_max_abs_and_sqnr():
    ref = [np.array([1.0, -1.0, 2.0, 0.0])]
    same = compare(ref, [ref[0].copy()])
    assert same == {"max_abs_error": 0.0, "sqnr_db": None}
    noisy = compare(ref, [ref[0] + np.array([0.1, 0.0, 0.0, 0.0])])
    assert noisy["max_abs_error"] == pytest.approx(0.1)
    assert noisy["sqnr_db"] == pytest.approx(10 * math.log10(6.0 / 0.01))
    with pytest.raises(ValueError):
        compare(ref, [])


def test_cpuinfo_isa_flags():
    cpu = cpu_facts({"brand_raw": "Some CPU", "flags": "fpu avx2 fma avx512f avx512_vnni avx_vnni".split()}, "")
    info = machine_info(cpu)
    assert info["cpu_model"] == "Some CPU"
    assert {"AVX2", "AVX-512F", "AVX-512 VNNI", "AVX-VNNI"} <= set(info["isa"])
    assert machine_info(cpu_facts({"flags": ["sse2"]}, ""))["isa"] == []


def test_parse_backends():
    # opt-in: tuned (--tuned) and the AMX build's row (needs cmake-out-amx/)
    assert parse_backends("all") == [b for b in BACKENDS if b not in ("tuned", "xnnpack_q8_amx")]
    assert parse_backends("tuned,eager") == ["tuned", "eager"]
    assert parse_backends("eager,xnnpack_q8_amx") == ["xnnpack_q8_amx", "eager"]
    assert parse_backends("eager,xnnpack_fp32") == ["xnnpack_fp32", "eager"]  # report order
    with pytest.raises(ValueError, match="unknown backend"):
        parse_backends("xnnpack_fp32,tensorrt")


def test_amx_runner_missing_names_its_build_command(tmp_path):
    with pytest.raises(runner.RunnerNotBuilt, match="-DEXECUTORCH_SOURCE_DIR=.*cmake-out-amx"):
        runner.find_amx_runner(tmp_path / "nope")


def test_runner_missing_names_the_build_command(tmp_path):
    with pytest.raises(runner.RunnerNotBuilt) as caught:
        runner.find_runner(tmp_path / "nope")
    message = str(caught.value)
    assert message.startswith("runner not built") and "./setup.sh" in message and "cmake --build" in message


def test_runner_json_and_output_files(tmp_path):
    printed = ('log line\n{"load_ms": 1.5, "method_init_ms": 2.0, "first_iter_ms": 9.0, '
               '"samples_ms": [3.0, 6.0, 4.0, 5.0], "cpu_ms": 17.5, "wall_ms": 18.0, "peak_rss_kb": 2048}\n')
    m = runner.measurement_from_json(runner.parse_json(printed))
    assert (m.load_ms, m.init_ms, m.first_ms, m.mean_ms, m.peak_rss_bytes) == (1.5, 2.0, 9.0, 4.5, 2048 * 1024)
    assert (m.median_ms, m.min_ms, m.max_ms, m.cpu_ms, m.wall_ms) == (4.5, 3.0, 6.0, 17.5, 18.0)
    with pytest.raises(runner.RunnerFailed, match="lacks"):
        runner.measurement_from_json({"mean_ms": 1.0})
    prefix = tmp_path / "out"
    (tmp_path / "out.0.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    (tmp_path / "out.json").write_text(json.dumps(
        {"outputs": [{"index": 0, "file": "out.0.bin", "dtype": "float32", "shape": [2, 3], "nbytes": 24}]}))
    (out,) = runner.read_output_files(prefix)
    assert out.shape == (2, 3) and out[1, 2] == 5.0
    cmd = runner.command(tmp_path / "r", tmp_path / "m.pte", iters=5, warmup=1, threads=2,
                         inputs=[tmp_path / "a.bin", tmp_path / "b.bin"], output_path=prefix)
    assert cmd[cmd.index("--input_path") + 1].count(",") == 1 and "--json" in cmd


def test_cache_reuses_until_an_input_changes(tmp_path):
    cache = ArtifactCache(tmp_path)
    builds = []

    def build(path):
        builds.append(path)
        path.write_bytes(b"program")
        return {"note": "x"}

    first = cache.get("toy", "fp32", ".pte", {"weights": "random"}, build)
    again = cache.get("toy", "fp32", ".pte", {"weights": "random"}, build)
    assert not first.reused and again.reused and again.path == first.path and again.info == {"note": "x"}
    other = cache.get("toy", "fp32", ".pte", {"weights": "file:abc"}, build)
    assert other.path != first.path and len(builds) == 2


def _rounds(ms: float, count: int = 10, seed: int = 0) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return (ms * rng.lognormal(0, 0.01, (count, 20))).tolist()


def test_q8_speedup_line_judges_q8_against_fp32_with_the_verdict_rule():
    from examples.benchmark.report import q8_speedup_line

    cell = [{"backend": "xnnpack_fp32", "status": "ok", "rounds_samples_ms": _rounds(4.0)},
            {"backend": "xnnpack_q8", "status": "ok", "rounds_samples_ms": _rounds(5.0, seed=1)}]
    line = q8_speedup_line(cell, {"int8_level": "avx2"})
    assert "1.25x [" in line and "q8 slower" in line and "avx2" in line
    few = [dict(r, rounds_samples_ms=r["rounds_samples_ms"][:3]) for r in cell]
    assert "not enough rounds for a verdict" in q8_speedup_line(few, None)
    assert q8_speedup_line(cell[:1], None) is None


def test_machine_info_reports_int8_capability():
    from examples.quantization.cpu_caps import detect

    cpu = cpu_facts({"brand_raw": "X", "flags": "avx2 fma avx512f avx512bw avx512_vnni".split()}, "")
    info = machine_info(cpu, detect(cpu).as_dict())
    assert info["int8"]["int8_level"] == "avx512_vnni" and info["int8"]["int8_dot_product"] is True


def test_combine_rounds_takes_medians_and_max_rss():
    from examples.benchmark.measure import combine_rounds

    rounds = [{"first_iteration_ms": f, "mean_ms": m, "median_ms": m, "p90_ms": None, "min_ms": m, "max_ms": m,
               "load_ms": 1.0, "init_ms": 2.0, "time_to_first_result_ms": 3.0, "peak_rss_bytes": rss,
               "samples_ms": [m, m + 1], "outputs": i}
              for i, (f, m, rss) in enumerate([(9.0, 5.0, 10), (7.0, 3.0, 30), (8.0, 9.0, 20)])]
    combined = combine_rounds(rounds)
    assert combined["first_iteration_ms"] == 8.0 and combined["mean_ms"] == 5.0
    assert combined["p90_ms"] is None and combined["peak_rss_bytes"] == 30 and combined["outputs"] == 2
    assert combined["rounds_samples_ms"] == [[5.0, 6.0], [3.0, 4.0], [9.0, 10.0]] and "samples_ms" not in combined


def test_comparisons_keep_accuracy_classes_apart():
    from examples.benchmark.records import accuracy_class, comparisons

    def rec(backend, median, sqnr, max_abs=0.1):
        return {"model": "m", "threads": 1, "status": "ok", "backend": backend, "median_ms": median,
                "sqnr_db": sqnr, "max_abs_error": max_abs, "rounds_samples_ms": _rounds(median, seed=int(median))}

    records = [rec("xnnpack_fp32", 10.0, None, 0.0), rec("xnnpack_q8", 4.0, 25.0),
               rec("ort_fp32", 8.0, 90.0), rec("ov_default", 3.0, 30.0), rec("eager", 20.0, None, 0.0)]
    assert [accuracy_class(r) for r in records] == ["fp32-class", "int8-class", "fp32-class", "int8-class",
                                                    "fp32-class"]
    by_class = {c["accuracy_class"]: c for c in comparisons(records)}
    assert (by_class["fp32-class"]["executorch_backend"], by_class["fp32-class"]["peer_backend"]) == (
        "xnnpack_fp32", "ort_fp32")
    assert by_class["fp32-class"]["ratio"] == pytest.approx(10.0 / 8.0, rel=0.02)
    assert by_class["fp32-class"]["verdict"] == "slower"
    assert (by_class["int8-class"]["executorch_backend"], by_class["int8-class"]["peer_backend"]) == (
        "xnnpack_q8", "ov_default")
    assert by_class["overall"]["ratio"] == pytest.approx(4.0 / 3.0, rel=0.02)
    # A peer whose int8 output is broken (SQNR 12 dB, under tune's 20 dB budget) sets the overall
    # bar but not the in-budget one.
    records.append(rec("ort_int8", 1.0, 12.0))
    by_class = {c["accuracy_class"]: c for c in comparisons(records)}
    assert by_class["overall"]["peer_backend"] == "ort_int8"
    assert (by_class["in-budget"]["executorch_backend"], by_class["in-budget"]["peer_backend"]) == (
        "xnnpack_q8", "ov_default")
