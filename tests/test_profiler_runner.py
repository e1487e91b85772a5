"""Decode ETDumps written by the profiling runner (cmake-out-prof/xnn_executor_runner).

Skipped, with the reason, when the profiling runner is not built. The runner's contract is
docs/PROFILE_FORMAT.md: one "run model" event per recorded iteration, ExecuTorch's own
events, and the XNNPACK delegate's per-operator events.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path

import pytest

from runtime.profiler import decode

WARMUP, ITERS = 2, 5
PROF_RUNNER = Path("cmake-out-prof") / "xnn_executor_runner"


@pytest.fixture(scope="session")
def prof_runner(request, repo_root) -> Path:
    # Prefer a fixture that builds it, if tests/conftest.py provides one.
    for name in ("profiling_runner", "prof_runner_binary"):
        try:
            found = request.getfixturevalue(name)
        except pytest.FixtureLookupError:
            continue
        if found:
            return Path(found)
    path = repo_root / PROF_RUNNER
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"profiling runner not built: {PROF_RUNNER} is missing "
                    "(build runtime/executor_runner with -DEXECUTORCH_PROF_ENABLED=ON)")
    return path


@pytest.fixture(scope="session")
def runner_profiles(prof_runner, programs, tmp_path_factory):
    """(model, variant) -> (runner JSON summary, ETDump path); made once per session on demand."""
    cache: dict = {}
    out_dir = tmp_path_factory.mktemp("profiler_runner")

    def get(model: str, variant: str):
        if (model, variant) not in cache:
            pte = programs.get(model, variant)
            prof = out_dir / f"{model}_{variant}_prof_result.bin"
            p = subprocess.run(
                [str(prof_runner), f"--model_path={pte}", f"--warmup_iters={WARMUP}", f"--num_iters={ITERS}",
                 f"--prof_result_path={prof}", "--json"],
                capture_output=True, text=True, timeout=600, cwd=out_dir)
            assert p.returncode == 0, p.stderr
            summary = json.loads(p.stdout)
            assert summary.get("profiling") is True, "runner is not a profiling build"
            cache[(model, variant)] = (summary, prof)
        return cache[(model, variant)]

    return get


CASES = [("mv2", "fp32"), ("mv2", "q8"), ("mv3", "fp32"), ("mv3", "q8")]


@pytest.mark.parametrize("model,variant", CASES)
def test_runner_profile_is_consistent(runner_profiles, model, variant):
    summary, prof = runner_profiles(model, variant)
    r = decode.decode_file(prof, warmup_iters=WARMUP)
    recorded = summary.get("prof_iterations", WARMUP + ITERS)
    assert r.run_model.source == decode.RUN_MODEL
    assert r.run_model.iterations_recorded == recorded == r.events_found[decode.RUN_MODEL]
    assert recorded == WARMUP + ITERS  # no EXECUTORCH_NUM_PROF_BLOCKS cap in the default build
    assert r.executions == recorded and r.run_model.warmup_dropped == WARMUP
    assert r.run_model.measured.count == ITERS
    assert r.delegate_op_events, f"no XNNPACK per-operator events: {r.events_found}"
    assert r.delegates and all(d.instruction_id >= 0 for d in r.delegates)
    # per call, the delegate's operators fit inside the delegate call
    tl = decode.build_timeline(decode.raw_events(decode.load_etdump(prof)))
    for ex in tl.executions:
        assert sum(c.event.duration for c in ex.calls) <= ex.execute.duration
        for c in ex.calls:
            if c.is_delegate:
                assert sum(op.duration for op in c.delegate_ops) <= c.event.duration
    # "run model" wraps Method::execute
    for rm, ex in zip(tl.run_model, tl.executions):
        assert rm.start <= ex.execute.start and ex.execute.end <= rm.end
    total = sum(row.total_ms for row in r.operators) + r.overhead.overhead_total_ms
    assert total == pytest.approx(r.overhead.execute_total_ms)


def test_runner_mv2_fp32_shows_convolutions(runner_profiles):
    _, prof = runner_profiles("mv2", "fp32")
    r = decode.decode_file(prof, warmup_iters=WARMUP)
    convs = [row for row in r.operators if row.delegated and row.name.startswith("Convolution")]
    assert convs, [row.name for row in r.operators]
    assert sum(row.count for row in convs) >= 18 * ITERS
    assert any("F32" in row.name for row in convs)


def test_runner_q8_uses_quantized_operators(runner_profiles):
    _, prof = runner_profiles("mv2", "q8")
    names = [row.name for row in decode.decode_file(prof, warmup_iters=WARMUP).operators]
    assert any("QC8" in n or "QS8" in n for n in names), names


def test_inspector_reads_runner_etdump(runner_profiles):
    from examples.common.quiet import quiet_stdio
    from executorch.devtools import Inspector

    _, prof = runner_profiles("mv3", "fp32")
    with quiet_stdio(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Output Buffer not found": timings only
        inspector = Inspector(etdump_path=str(prof))
    raw = [x for b in inspector.event_blocks for e in b.events if e.name == decode.RUN_MODEL
           for x in e.perf_data.raw]
    r = decode.decode_file(prof, warmup_iters=WARMUP)
    assert len(raw) == r.run_model.iterations_recorded
    assert raw[0] == pytest.approx(r.run_model.first_ms)
