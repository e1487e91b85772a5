"""Decode ETDumps written by the profiling runner (cmake-out-prof/xnn_executor_runner), started
through examples/runner/client.py. Skipped, with the reason, when that build is missing.

The runner's contract is docs/PROFILE_FORMAT.md: one "run model" event per recorded iteration,
ExecuTorch's own events, and the XNNPACK delegate's per-operator events.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.runner import client
from runtime.profiler.report import DELEGATE_OVERHEAD, FRAMEWORK_OVERHEAD, RUN_MODEL
from tests.helpers_profiler import report_for, toy_model, toy_profile

WARMUP, ITERS = 2, 5
PROF_RUNNER = Path("cmake-out-prof") / "xnn_executor_runner"


@pytest.fixture(scope="session")
def prof_runner(repo_root) -> Path:
    try:
        return client.find_runner(repo_root / PROF_RUNNER)
    except client.RunnerNotBuilt:
        pytest.skip(f"profiling runner not built: {PROF_RUNNER} is missing "
                    "(build runtime/executor_runner with -DEXECUTORCH_PROF_ENABLED=ON)")


@pytest.fixture(scope="session")
def profile_of(prof_runner, tmp_path_factory):
    """pte -> (the runner's JSON, its prof_result.bin); each program profiled once per session."""
    made: dict = {}

    def profile(pte: Path):
        if pte not in made:
            folder = tmp_path_factory.mktemp("profiler_runner")
            measurement = client.run_program(prof_runner, pte.resolve(), iters=ITERS, warmup=WARMUP, threads=1,
                                             timeout=600, cwd=folder)
            assert measurement.raw.get("profiling") is True, "the runner is not a profiling build"
            made[pte] = (measurement.raw, folder / "prof_result.bin")
        return made[pte]

    return profile


@pytest.fixture(scope="session")
def toy_q8(tmp_path_factory) -> Path:
    from examples.export.lowering import export_program, save_program
    from examples.quantization.recipes import get_recipe

    model, inputs = toy_model()
    result = export_program(model, inputs, delegate=True, recipe=get_recipe("static_per_channel"))
    return save_program(result, tmp_path_factory.mktemp("profiler_q8") / "toy_xnnpack_q8.pte")


def check_consistent(summary: dict, prof: Path):
    r = report_for(prof, warmup_iters=WARMUP)
    it = r.iterations
    assert it.event == RUN_MODEL
    assert it.recorded == summary["prof_iterations"] == WARMUP + ITERS  # no EXECUTORCH_NUM_PROF_BLOCKS cap
    assert (it.warmup_dropped, it.measured["count"]) == (WARMUP, ITERS)
    assert it.measured["min"] <= it.measured["median"] <= it.measured["max"]
    assert r.runner_overhead_ms is not None and r.runner_overhead_ms >= 0  # "run model" wraps Method::execute
    kinds = {row.kind for row in r.operators}
    assert "delegated_operator" in kinds, [row.name for row in r.operators]  # XNNPACK's own events
    assert sum(row.share_pct for row in r.operators) == pytest.approx(100.0)
    assert next(row for row in r.operators if row.name == FRAMEWORK_OVERHEAD).total_ms >= 0
    return r


def test_toy_fp32_profile(profile_of, tmp_path_factory):
    summary, prof = profile_of(toy_profile(tmp_path_factory)["pte"])
    r = check_consistent(summary, prof)
    names = {row.name for row in r.operators}
    assert {"Convolution (NHWC, F32) IGEMM", "Fully Connected (NC, F32) GEMM", "mean.out", DELEGATE_OVERHEAD} <= names
    assert next(row for row in r.operators if row.name == DELEGATE_OVERHEAD).count == 2 * ITERS


def test_toy_fp32_profile_with_etrecord(profile_of, tmp_path_factory):
    toy = toy_profile(tmp_path_factory)
    _, prof = profile_of(toy["pte"])
    r = report_for(prof, toy["etrecord"], warmup_iters=WARMUP)
    conv = next(row for row in r.operators if row.name.startswith("Convolution"))
    assert conv.backend == "XnnpackBackend" and "aten.convolution.default" in conv.source_ops


@pytest.mark.slow  # a quantized export: calibration takes a while
def test_toy_q8_uses_quantized_operators(profile_of, toy_q8):
    summary, prof = profile_of(toy_q8)
    names = [row.name for row in check_consistent(summary, prof).operators]
    assert any("QC8" in name or "QS8" in name for name in names), names


@pytest.mark.slow
def test_mv2_fp32_shows_every_convolution(profile_of, programs):
    summary, prof = profile_of(programs.get("mv2", "fp32"))
    r = check_consistent(summary, prof)
    convs = [row for row in r.operators if row.kind == "delegated_operator" and row.name.startswith("Convolution")]
    # mv2: the stem and 17 depthwise convolutions stay convolutions; XNNPACK runs 1x1 ones as GEMMs
    assert sum(row.count for row in convs) >= 18 * ITERS, [row.name for row in r.operators]
    assert any("F32" in row.name for row in convs)
