"""The native runner's raw samples, CPU pinning, input manifests and run limits (timeout,
memory), through the command line and through examples/runner/client.py."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from examples.models import toy_models
from examples.runner import client
from tests.helpers_runner import (BUILD_DIR, ERROR, MEMORY, TIMEOUT, BigIntermediate, MatmulChain, TokenEmbedding,
                                  assert_error, ensure_runner, export, python_outputs, run)


@pytest.fixture(scope="session")
def runner() -> Path:
    return ensure_runner(BUILD_DIR)


@pytest.fixture(scope="session")
def programs(tmp_path_factory) -> dict:
    """Toy programs, exported once: XNNPACK linear and add, a matmul chain, a dynamic-length
    int64 token model, and one with a 64 MiB planned intermediate."""
    d = tmp_path_factory.mktemp("runner_limits")
    linear, linear_inputs = toy_models.linear(None)
    add, add_inputs = toy_models.add(None)
    torch.manual_seed(0)
    seq = torch.export.Dim("seq", min=1, max=16)
    return {
        "linear": export(linear, linear_inputs, d / "linear.pte", delegate=True),
        "add": export(add, add_inputs, d / "add.pte", delegate=True),
        "matmul": export(MatmulChain(), (torch.randn(64, 256),), d / "matmul.pte", delegate=True),
        "tokens": export(TokenEmbedding(), (torch.zeros(1, 16, dtype=torch.int64),), d / "tokens.pte",
                         delegate=False, dynamic_shapes={"tokens": {1: seq}}),
        "big": export(BigIntermediate(), (torch.randn(1, 1024),), d / "big.pte", delegate=False),
    }


def run_json(runner: Path, pte: Path, *args) -> dict:
    proc = run(runner, f"--model_path={pte}", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# ---------------------------------------------------------------- raw samples

def test_samples_ms_one_per_measured_iteration(runner, programs):
    data = run_json(runner, programs["matmul"], "--warmup_iters=3", "--num_iters=7")
    samples = data["samples_ms"]
    assert len(samples) == data["iterations"] == 7 and all(s > 0 for s in samples)
    # The measured span holds the seven iterations and little else.
    assert sum(samples) <= data["wall_ms"] <= sum(samples) + 50
    assert data["cpu_ms"] > 0 and data["first_iter_ms"] > 0


def test_client_summarizes_samples_with_stats(runner, programs):
    """The client's figures are those of the runner's own samples, by the README's definitions
    (numpy's linear percentiles), computed here independently of examples/common/stats.py."""
    m = client.run_program(runner, programs["linear"], iters=9, warmup=1, threads=1)
    assert m.samples_ms == m.raw["samples_ms"] and len(m.samples_ms) == 9
    samples = np.array(m.raw["samples_ms"])
    assert m.mean_ms == pytest.approx(samples.mean()) and m.median_ms == pytest.approx(np.median(samples))
    assert m.p90_ms == pytest.approx(np.percentile(samples, 90, method="linear"))
    assert (m.min_ms, m.max_ms) == (samples.min(), samples.max())
    assert m.cpu_ms == m.raw["cpu_ms"] and m.wall_ms == m.raw["wall_ms"] and m.peak_rss_bytes > 0


# ---------------------------------------------------------------- threads and CPUs

def test_num_threads_pins_to_that_many_cpus(runner, programs):
    allowed = sorted(os.sched_getaffinity(0))
    one = run_json(runner, programs["linear"], "--num_threads=1", "--num_iters=1")
    assert one["threads"] == 1 and len(one["cpus"]) == 1 and one["cpus"][0] in allowed
    every = run_json(runner, programs["linear"], "--num_threads=0", "--num_iters=1")
    assert every["cpus"] == allowed and every["threads"] == len(allowed)


def test_one_thread_keeps_one_core_busy(runner, programs):
    """CPU time over wall time of the measured span is the number of busy cores."""
    data = run_json(runner, programs["matmul"], "--num_threads=1", "--warmup_iters=2", "--num_iters=120")
    assert data["wall_ms"] > 20  # enough work for the ratio to mean something
    assert data["cpu_ms"] / data["wall_ms"] <= 1.1


def _cpu_ticks_per_thread(args: list[str]) -> list[int]:
    """CPU ticks (user + system) of each thread of the runner, busiest first, sampled from
    /proc while it runs: a thread's ticks count only while it runs, so load elsewhere on the
    machine stretches the run but not the split of work between threads."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ticks: dict[str, int] = {}
    while proc.poll() is None:
        for task in Path(f"/proc/{proc.pid}/task").glob("*"):
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks[task.name] = max(ticks.get(task.name, 0), int(fields[11]) + int(fields[12]))
        time.sleep(0.01)
    assert proc.returncode == 0
    return sorted(ticks.values(), reverse=True)


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_two_threads_share_the_work(runner, programs):
    """--num_threads=2 splits each iteration's work between two threads; 1 keeps it on one."""
    base = [str(runner), f"--model_path={programs['matmul']}", "--warmup_iters=5", "--num_iters=1500"]
    two = _cpu_ticks_per_thread(base + ["--num_threads=2"])
    one = _cpu_ticks_per_thread(base + ["--num_threads=1"])
    assert two[0] >= 20 and one[0] >= 20, (two, one)  # enough work to compare
    assert two[1] >= 0.3 * two[0], two
    assert len(one) == 1 or one[1] <= 0.1 * one[0], one


# ---------------------------------------------------------------- input manifest

def test_manifest_carries_dynamic_shape_and_int64(runner, programs, tmp_path):
    tokens = torch.tensor([[3, 1, 4, 1, 5]], dtype=torch.int64)
    files = client.write_input_files([tokens], tmp_path / "in")
    manifest = json.loads((tmp_path / "in" / "input.json").read_text())
    assert manifest["inputs"] == [{"index": 0, "file": "input_0.bin", "dtype": "int64", "shape": [1, 5], "nbytes": 40}]
    m = client.run_program(runner, programs["tokens"], iters=2, warmup=0, threads=1, inputs=files,
                           output_path=tmp_path / "out")
    ref = python_outputs(programs["tokens"], [tokens])[0].numpy()
    np.testing.assert_allclose(m.outputs[0], ref, rtol=1e-6)
    # Without the manifest the runner expects the declared (upper-bound) shape's bytes.
    assert_error(run(runner, f"--model_path={programs['tokens']}", f"--input_path={files[0]}"), ERROR,
                 "has 40 bytes; expected 128 bytes for int64[1, 16]")


def test_manifest_with_two_inputs_matches_python(runner, programs, tmp_path):
    x, y = torch.randn(1, 8), torch.randn(1, 8)
    files = client.write_input_files([x, y], tmp_path, stem="pair")
    assert client.input_manifest_for(files) == tmp_path / "pair.json"
    proc = run(runner, f"--model_path={programs['add']}", f"--input_manifest={tmp_path / 'pair.json'}",
               f"--output_path={tmp_path / 'o'}", "--num_iters=1")
    assert proc.returncode == 0, proc.stderr
    (out,) = client.read_output_files(tmp_path / "o")
    np.testing.assert_allclose(out, (x + y).numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype,shape,needle", [
    ("int32", [1, 5], "is int32[1, 5] in the input manifest, but the method declares int64[1, 16]"),
    ("int64", [1, 17], "is int64[1, 17] in the input manifest"),
    ("int64", [5], "is int64[5] in the input manifest"),
])
def test_manifest_mismatch_is_one_error_line(runner, programs, tmp_path, dtype, shape, needle):
    (tmp_path / "t.bin").write_bytes(b"\0" * 8 * int(np.prod(shape)))
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"inputs": [{"index": 0, "file": "t.bin", "dtype": dtype, "shape": shape}]}))
    assert_error(run(runner, f"--model_path={programs['tokens']}", f"--input_manifest={manifest}"), ERROR, needle)


@pytest.mark.parametrize("text,needle", [("{not json", "is not a valid manifest"),
                                         ('{"outputs": []}', "is not a valid manifest"),
                                         ('{"inputs": [{"file": "a.bin"}]}', "is not a valid manifest")])
def test_bad_manifest_is_one_error_line(runner, programs, tmp_path, text, needle):
    manifest = tmp_path / "m.json"
    manifest.write_text(text)
    assert_error(run(runner, f"--model_path={programs['tokens']}", f"--input_manifest={manifest}"), ERROR, needle)


# ---------------------------------------------------------------- time and memory limits

def test_timeout_ends_the_run_with_its_own_code(runner, programs):
    proc = run(runner, f"--model_path={programs['linear']}", "--num_iters=1000000000", "--timeout_s=0.5", timeout=60)
    assert_error(proc, TIMEOUT, "timed out after 0.5 s (--timeout_s) while executing")


def test_client_reports_timeout_kind(runner, programs):
    with pytest.raises(client.RunnerFailed) as caught:
        client.run_program(runner, programs["linear"], iters=1_000_000_000, warmup=0, threads=1, timeout_s=0.5)
    assert caught.value.exit_code == TIMEOUT and caught.value.kind == "timeout"
    assert str(caught.value).startswith("timed out after 0.5 s")


def test_memory_limit_is_a_clean_error(runner, programs):
    proc = run(runner, f"--model_path={programs['big']}", "--num_iters=1", "--max_memory_mb=32")
    assert_error(proc, MEMORY, "out of memory while", "planned memory", "--max_memory_mb=32")
    with pytest.raises(client.RunnerFailed) as caught:
        client.run_program(runner, programs["big"], iters=1, warmup=0, threads=1, max_memory_mb=32)
    assert caught.value.exit_code == MEMORY and caught.value.kind == "memory"


def test_memory_limit_inside_the_delegate_is_a_clean_error(runner, programs):
    """Tight limits fail wherever the allocation happens (operator new, the XNNPACK delegate's
    own buffers): always exit 6 with one line, never a crash or a plain error."""
    codes = {}
    for mb in (1, 2, 3, 4, 6, 16):
        proc = run(runner, f"--model_path={programs['matmul']}", "--num_iters=1", f"--max_memory_mb={mb}")
        codes[mb] = proc.returncode
        if proc.returncode:
            assert_error(proc, MEMORY, "out of memory while", f"--max_memory_mb={mb}")
    assert codes[1] == MEMORY and codes[16] == 0, codes


def test_memory_limit_above_need_runs(runner, programs):
    """The limit counts from the runner's own start-up mapping: 200 MiB fits a 64 MiB plan."""
    data = run_json(runner, programs["big"], "--num_iters=1", "--warmup_iters=0", "--max_memory_mb=200")
    assert data["max_memory_mb"] == 200 and data["outputs"][0]["shape"] == [1024]


def test_every_exit_code_has_a_kind():
    kinds = {code: kind for code, (kind, _) in client.EXIT_CODES.items()}
    assert kinds == {0: "ok", 1: "error", 2: "usage", 3: "crash", 4: "timeout", 5: "verification", 6: "memory"}
    failed = client.failure(6, "some log\n")
    assert failed.kind == "memory" and failed.exit_code == 6 and "allocation failed" in str(failed)
    assert client.failure(-9, "").kind == "crash"
