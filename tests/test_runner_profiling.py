"""The profiling runner (cmake-out-prof/, -DEXECUTORCH_PROF_ENABLED=ON): prof_result.bin is an
ETDump the Python Inspector reads, with one "run model" event per iteration and the XNNPACK
delegate's per-operator events; the configure-time checks on the profiling options."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import torch

from tests.helpers_runner import BUILD_DIR, PROF_DIR, REPO, build_tools, ensure_runner
from tests.helpers_runner import run as run_runner

MESSAGE = "EXECUTORCH_PROF_BUF_SIZE and EXECUTORCH_NUM_PROF_BLOCKS require EXECUTORCH_PROF_ENABLED=ON"


@pytest.fixture(scope="session")
def prof_runner() -> Path:
    return ensure_runner(PROF_DIR, "-DEXECUTORCH_PROF_ENABLED=ON")


@pytest.fixture(scope="session")
def tiny_fp32(tmp_path_factory) -> Path:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 14 * 14, 4)).eval()
    ep = torch.export.export(model, (torch.randn(1, 3, 16, 16),))
    path = tmp_path_factory.mktemp("prof") / "tiny_fp32.pte"
    path.write_bytes(to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch().buffer)
    return path


def _run(runner: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = run_runner(runner, *args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc


def _run_blocks(path: Path):
    from executorch.devtools.etdump.serialize import deserialize_from_etdump_flatcc

    return deserialize_from_etdump_flatcc(path.read_bytes()).run_data


def _names(block) -> list:
    return [e.profile_event.name or e.profile_event.delegate_debug_id_str
            for e in block.events if e.profile_event is not None]


def test_prof_result_written_and_counts_iterations(prof_runner, tiny_fp32, tmp_path):
    out = tmp_path / "prof.bin"
    proc = _run(prof_runner, f"--model_path={tiny_fp32}", "--warmup_iters=2", "--num_iters=3",
                f"--prof_result_path={out}", "--json")
    assert out.exists() and out.stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if ".tmp." in p.name]
    data = json.loads(proc.stdout)
    assert data["prof_iterations"] == 5 and data["profiling"] is True and data["prof_result_path"] == str(out)
    assert len(data["samples_ms"]) == 3

    blocks = _run_blocks(out)
    assert blocks[0].name == "Default"
    assert {"Method::init", "Program::load_method"} <= set(_names(blocks[0]))
    execute = [b for b in blocks if b.name == "Execute"]
    assert len(execute) == 5
    run_model = [n for b in blocks for n in _names(b) if n == "run model"]
    assert len(run_model) == 5
    for b in execute:
        names = _names(b)
        assert names[-1] == "run model" and "Method::execute" in names and "DELEGATE_CALL" in names
        # XNNPACK's per-operator timings come through the event tracer
        assert any(n and "#" in n and n not in ("run model",) for n in names)


@pytest.mark.slow
def test_inspector_reads_prof_result(prof_runner, programs, tmp_path):
    from executorch.devtools import Inspector

    _run(prof_runner, f"--model_path={programs.get('mv2', 'fp32')}", "--warmup_iters=1", "--num_iters=2",
         cwd=tmp_path)
    out = tmp_path / "prof_result.bin"  # the default path, relative to the working directory
    inspector = Inspector(etdump_path=str(out))
    events = {e.name: e for b in inspector.event_blocks for e in b.events}
    assert len(events["run model"].perf_data.raw) == 3
    assert any(name.startswith("Convolution (NHWC, F32)") for name in events)


def test_default_build_has_no_profiling_defines():
    ninja = REPO / "cmake-out" / "build.ninja"
    if not ninja.exists():
        pytest.skip("cmake-out not configured (run ./setup.sh)")
    assert "EXECUTORCH_PROF" not in ninja.read_text()


def test_profiling_defines_exact(prof_runner):
    defines = set(re.findall(r"-D(EXECUTORCH_\w+(?:=\S*)?)", (PROF_DIR / "build.ninja").read_text()))
    assert defines == {"EXECUTORCH_PROF_ENABLED=1"}


@pytest.mark.parametrize("option", ["-DEXECUTORCH_PROF_BUF_SIZE=1048576", "-DEXECUTORCH_NUM_PROF_BLOCKS=4"])
def test_prof_options_without_profiling_fail_configure(tmp_path, option):
    cmake, env = build_tools()
    proc = subprocess.run([cmake, "-S", str(REPO), "-B", str(tmp_path / "b"), "-G", "Ninja", option],
                          capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert MESSAGE in " ".join(proc.stderr.split())  # CMake wraps the message


def test_a_fresh_profiling_build_seeded_from_the_default_one_compiles_only_what_differs(tmp_path):
    """tools.seed_build, as ./setup.sh runs it: a fresh profiling configuration seeded from
    cmake-out compiles the files whose flags differ (the runners' own, which get the profiling
    define), not the kernels, thread pool and hashing library the two builds share."""
    import sys

    cmake, env = build_tools()
    ensure_runner(BUILD_DIR)  # built by ./setup.sh; brought up to date if sources changed
    fresh = tmp_path / "prof"
    subprocess.run([cmake, "-S", str(REPO), "-B", str(fresh), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                    "-DEXECUTORCH_PROF_ENABLED=ON", "-DBUILD_TEXT_GENERATION_RUNNER=ON"],
                   check=True, capture_output=True, env=env)
    seeded = subprocess.run([sys.executable, "-m", "tools.seed_build", str(BUILD_DIR), str(fresh)],
                            cwd=REPO, capture_output=True, text=True)
    assert seeded.returncode == 0 and seeded.stdout.startswith(f"seeded {fresh} with "), seeded.stderr
    plan = subprocess.run([cmake, "--build", str(fresh), "--", "-n"], check=True, capture_output=True, text=True,
                          env=env).stdout
    compiled = re.findall(r"Building \w+ object (\S+)", plan)
    assert "CMakeFiles/xnn_executor_runner.dir/runtime/executor_runner/xnn_executor_runner.cpp.o" in compiled
    assert any("text_generation_runner.cpp.o" in obj for obj in compiled)
    shared = [obj for obj in compiled if obj.startswith(("CMakeFiles/llm_custom_ops.dir", "CMakeFiles/runner_threadpool.dir",
                                                         "CMakeFiles/blake3.dir"))]
    assert shared == [] and len(compiled) < 15, compiled


@pytest.mark.slow  # a full runner build in a fresh directory: about a minute
def test_num_prof_blocks_and_buf_size_build(tmp_path, tiny_fp32):
    """A fixed ETDump buffer and a cap of 3 recorded iterations (of 6 run)."""
    # Seeded from the profiling build: only the runner's own files see the two options.
    runner = ensure_runner(tmp_path / "build", "-DEXECUTORCH_PROF_ENABLED=ON",
                           "-DEXECUTORCH_PROF_BUF_SIZE=1048576", "-DEXECUTORCH_NUM_PROF_BLOCKS=3",
                           only_this_runner=True, seed_from=PROF_DIR)
    defines = set(re.findall(r"-D(EXECUTORCH_\w+(?:=\S*)?)", (tmp_path / "build" / "build.ninja").read_text()))
    assert defines == {"EXECUTORCH_PROF_ENABLED=1", "EXECUTORCH_PROF_BUF_SIZE=1048576",
                       "EXECUTORCH_NUM_PROF_BLOCKS=3"}
    out = tmp_path / "p.bin"
    _run(runner, f"--model_path={tiny_fp32}", "--warmup_iters=2", "--num_iters=4", f"--prof_result_path={out}")
    blocks = _run_blocks(out)
    assert sum(_names(b).count("run model") for b in blocks) == 3
    assert len([b for b in blocks if b.name == "Execute"]) == 3
