"""The native runner (cmake-out/xnn_executor_runner): numerics against ExecuTorch's Python
runtime, the --json report, non-float outputs, every bad input, and a mutation sweep that
checks a corrupt program never kills the runner by a signal. Samples, pinning, manifests and
limits: test_runner_limits.py."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from examples.common import stats
from examples.runner.client import AMX_RUNNER
from tests.helpers_runner import BUILD_DIR, CRASH, ERROR, MEMORY, VERIFICATION, assert_error, ensure_runner, export, python_outputs, run


@pytest.fixture(scope="session")
def runner() -> Path:
    return ensure_runner(BUILD_DIR)


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class _NonFloat(torch.nn.Module):
    def forward(self, x):
        return torch.argmax(x, dim=1), x > 0, (x * 3).to(torch.int32), x.to(torch.float64) * 2


@pytest.fixture(scope="session")
def tiny_programs(tmp_path_factory) -> dict:
    """Small programs exported here (seconds): XNNPACK fp32 and q8, portable, and non-float outputs."""
    from examples.export.lowering import export_program
    from examples.quantization.recipes import get_recipe

    d = tmp_path_factory.mktemp("runner_tiny")
    torch.manual_seed(0)
    tiny = _Tiny()
    x = (torch.randn(1, 3, 16, 16),)
    calibration = [(torch.randn(1, 3, 16, 16),) for _ in range(4)]
    q8 = export_program(tiny, x, recipe=get_recipe("static_per_channel"), calibration=calibration)
    (d / "tiny_q8.pte").write_bytes(q8.buffer)
    return {
        "tiny_fp32": export(tiny, x, d / "tiny_fp32.pte", delegate=True),
        "tiny_q8": d / "tiny_q8.pte",
        "tiny_portable": export(tiny, x, d / "tiny_portable.pte", delegate=False),
        "nonfloat": export(_NonFloat(), (torch.randn(2, 5),), d / "nonfloat.pte", delegate=False),
    }


_NP_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32,
              "bool": np.bool_, "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "float16": np.float16}


def runner_outputs(runner: Path, pte: Path, inputs: list[torch.Tensor], tmp: Path, *extra: str) -> list:
    files = []
    for i, t in enumerate(inputs):
        f = tmp / f"in{i}.bin"
        t.contiguous().numpy().tofile(f)
        files.append(str(f))
    prefix = tmp / "out"
    proc = run(runner, f"--model_path={pte}", f"--input_path={','.join(files)}",
               f"--output_path={prefix}", "--warmup_iters=1", "--num_iters=2", *extra)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp / "out.json").read_text())
    outs = []
    for entry in manifest["outputs"]:
        raw = (tmp / entry["file"]).read_bytes()
        assert len(raw) == entry["nbytes"]
        outs.append(np.frombuffer(raw, dtype=_NP_DTYPES[entry["dtype"]]).reshape(entry["shape"]))
    return outs


def assert_close(ours: np.ndarray, ref: torch.Tensor) -> None:
    ref = ref.numpy()
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    scale = max(float(np.abs(ref).max()), 1e-6)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * scale)


# ---------------------------------------------------------------- numerics vs Python runtime

@pytest.mark.slow
def test_mv2_outputs_match_python_runtime(runner, programs, tmp_path):
    pte = programs.get("mv2", "fp32")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(7))
    ours = runner_outputs(runner, pte, [x], tmp_path)
    ref = python_outputs(pte, [x])
    assert len(ours) == len(ref) == 1 and float(ref[0].abs().max()) > 0  # not zeros vs zeros
    assert_close(ours[0], ref[0])


def test_q8_outputs_match_python_runtime(runner, tiny_programs, tmp_path):
    """A quantized (qs8) XNNPACK program gives the Python runtime's outputs. A tiny conv net,
    calibrated: mv2's q8 program with random weights gave all-zero logits, zeros vs zeros."""
    pte = tiny_programs["tiny_q8"]
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    ours = runner_outputs(runner, pte, [x], tmp_path)
    ref = python_outputs(pte, [x])
    assert len(ours) == len(ref) == 1 and float(ref[0].abs().max()) > 0
    assert_close(ours[0], ref[0])


@pytest.mark.skipif(not AMX_RUNNER.is_file(), reason=f"AMX build absent ({AMX_RUNNER}; needs an ExecuTorch checkout: "
                    "cmake/xnnpack_from_source.cmake)")
def test_amx_build_gives_the_python_runtimes_q8_outputs(tiny_programs, tmp_path):
    """The runner whose XNNPACK has AMX kernels (built with GCC, which upstream's CMake
    refuses) computes the q8 program as the wheel's XNNPACK in the Python runtime does."""
    pte = tiny_programs["tiny_q8"]
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    proc = run(AMX_RUNNER, f"--model_path={pte}", "--num_iters=1", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["xnnpack_build"] == "source+amx", proc.stderr
    ours = runner_outputs(AMX_RUNNER, pte, [x], tmp_path)
    ref = python_outputs(pte, [x])
    assert float(ref[0].abs().max()) > 0
    assert_close(ours[0], ref[0])


def test_json_names_the_xnnpack_build_and_thread_pool(runner, tiny_programs):
    proc = run(runner, f"--model_path={tiny_programs['tiny_fp32']}", "--num_iters=1", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["xnnpack_build"] == "wheel"
    # The wheel's delegate runs on the runner's own pthreadpool (threadpool_binding.h).
    assert report["threadpool"]["vendored"] is True and report["threadpool"]["spin_pause_iterations"] >= 10000


@pytest.mark.parametrize("name", ["xnn_executor_runner", "text_generation_runner"])
def test_runners_export_every_pthreadpool_function_of_the_wheel(runner, name):
    """A pthreadpool function the wheel's libraries could call but the runner did not export
    would bind to the wheel's copy and get the vendored pool's object: every one must be there."""
    import executorch

    def exported(path: Path) -> set[str]:
        listing = subprocess.run(["nm", "-D", "--defined-only", str(path)], check=True, capture_output=True, text=True)
        return {line.split()[-1].split("@")[0] for line in listing.stdout.splitlines()
                if line.split() and line.split()[-1].startswith("pthreadpool_")}

    wheel = exported(Path(list(executorch.__path__)[0]) / "lib" / "libexecutorch_threadpool.so")
    assert len(wheel) > 40, wheel  # the listing worked
    assert wheel <= exported(runner.parent / name)


@pytest.mark.slow
def test_portable_program_runs_and_matches(runner, tiny_programs, tmp_path):
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    ours = runner_outputs(runner, tiny_programs["tiny_portable"], [x], tmp_path)
    assert_close(ours[0], python_outputs(tiny_programs["tiny_portable"], [x])[0])


def test_default_inputs_are_ones(runner, tiny_programs, tmp_path):
    """Without --input_path every input is filled with ones, every iteration."""
    pte = tiny_programs["tiny_fp32"]
    proc = run(runner, f"--model_path={pte}", f"--output_path={tmp_path}", "--num_iters=3")
    assert proc.returncode == 0, proc.stderr
    ours = np.fromfile(tmp_path / "output.0.bin", dtype=np.float32).reshape(1, 4)
    assert_close(ours, python_outputs(pte, [torch.ones(1, 3, 16, 16)])[0])


def test_non_float_outputs(runner, tiny_programs, tmp_path):
    pte = tiny_programs["nonfloat"]
    x = torch.randn(2, 5, generator=torch.Generator().manual_seed(1))
    ours = runner_outputs(runner, pte, [x], tmp_path)
    ref = python_outputs(pte, [x])
    assert [o.dtype for o in ours] == [np.int64, np.bool_, np.int32, np.float64]
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b.numpy())
    # print_output=all prints every dtype without assuming float
    proc = run(runner, f"--model_path={pte}", "--num_iters=1", "--print_output=all")
    assert proc.returncode == 0, proc.stderr
    assert "output 0: int64[2]" in proc.stdout and "output 1: bool[2, 5]" in proc.stdout


def test_repeated_and_comma_separated_input_path(runner, tiny_programs, tmp_path):
    pte = tiny_programs["tiny_fp32"]
    f = tmp_path / "x.bin"
    np.ones((1, 3, 16, 16), np.float32).tofile(f)
    assert run(runner, f"--model_path={pte}", f"--input_path={f}", "--num_iters=1").returncode == 0
    assert_error(run(runner, f"--model_path={pte}", f"--input_path={f}", f"--input_path={f}", "--num_iters=1"),
                 1, "takes 1 input(s), got 2 input file(s)")


# ---------------------------------------------------------------- summary / --json

JSON_FIELDS = {
    "model_path": str, "method": str, "program_size_bytes": int, "load_ms": float,
    "method_init_ms": float, "first_iter_ms": float, "warmup_iters": int, "iterations": int,
    "samples_ms": list, "cpu_ms": float, "wall_ms": float, "threads": int, "cpus": list,
    "peak_rss_kb": int, "timeout_s": float, "max_memory_mb": int, "profiling": bool, "outputs": list,
}


def test_json_schema(runner, tiny_programs):
    pte = tiny_programs["tiny_fp32"]
    proc = run(runner, f"--model_path={pte}", "--json", "--warmup_iters=2", "--num_iters=5",
               "--num_threads=1", "--print_output=summary")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1
    data = json.loads(proc.stdout)
    for key, typ in JSON_FIELDS.items():
        assert key in data, key
        assert isinstance(data[key], typ) or (typ is float and isinstance(data[key], int)), key
    assert data["iterations"] == 5 and data["warmup_iters"] == 2 and data["threads"] == 1
    # The runner's median / p90 / min are stats.summarize's, to the last digit (one definition).
    expected = stats.summarize(data["samples_ms"])
    assert set(data["summary_ms"]) == {"median", "p90", "min"}
    for key in ("median", "p90", "min"):
        assert data["summary_ms"][key] == pytest.approx(expected[key], rel=1e-12, abs=1e-12), key
    assert data["program_size_bytes"] == pte.stat().st_size
    assert data["profiling"] is False and data["prof_result_path"] is None
    assert data["outputs"][0]["dtype"] == "float32" and data["outputs"][0]["shape"] == [1, 4]
    assert {"min", "max", "mean", "first"} <= set(data["outputs"][0])
    assert 1000 < data["peak_rss_kb"] < 2_000_000


def test_text_summary_and_defaults(runner, tiny_programs):
    proc = run(runner, f"--model_path={tiny_programs['tiny_fp32']}")
    assert proc.returncode == 0, proc.stderr
    for field in ("program size:", "threads: 1 (cpus ", "load:", "method init:", "first iteration:",
                  "iterations: 50 measured after 10 warm-up", "measured span: wall", "samples ms:", "peak RSS:"):
        assert field in proc.stdout, field
    samples = next(line for line in proc.stdout.splitlines() if line.startswith("samples ms:")).split()[2:]
    assert len(samples) == 50
    latency = next(line for line in proc.stdout.splitlines() if line.startswith("latency:"))
    expected = stats.summarize([float(s) for s in samples])  # the text rounds samples to 3 decimals
    shown = dict(zip(("median", "p90", "min"), (float(w) for w in re.findall(r"([0-9.]+) ms", latency))))
    for key, value in shown.items():
        assert value == pytest.approx(expected[key], abs=2e-3), (key, latency)


def test_a_program_without_a_card_runs_with_one_warning(runner, tiny_programs):
    """auto: no card beside the program is one warning line naming it and the strict mode, exit 0;
    the report says it ran unchecked. off asked for no check: silent."""
    program = tiny_programs["tiny_fp32"]
    proc = run(runner, f"--model_path={program}", "--num_iters=1", "--warmup_iters=0", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: "), proc.stderr
    assert str(program) in lines[0] and "--verify_program=require" in lines[0]
    assert json.loads(proc.stdout)["verification"] == "untrusted (no card)"
    off = run(runner, f"--model_path={program}", "--num_iters=1", "--warmup_iters=0", "--verify_program=off")
    assert off.returncode == 0 and off.stderr == "", off.stderr


def test_all_cores_threads(runner, tiny_programs):
    data = json.loads(run(runner, f"--model_path={tiny_programs['tiny_fp32']}", "--json",
                          "--num_threads=0", "--num_iters=1").stdout)
    allowed = sorted(os.sched_getaffinity(0))
    assert data["threads"] == len(allowed) and data["cpus"] == allowed


# ---------------------------------------------------------------- bad input

def test_missing_model_path(runner):
    assert_error(run(runner), 2, "--model_path is required")


def test_missing_model_file(runner, tmp_path):
    assert_error(run(runner, f"--model_path={tmp_path / 'nope.pte'}"), 1, "cannot open model file",
                 "No such file")


def test_not_a_program(runner, tmp_path):
    bad = tmp_path / "text.pte"
    bad.write_text("definitely not a flatbuffer\n" * 10)
    assert_error(run(runner, f"--model_path={bad}"), 1, "not a valid ExecuTorch program")


@pytest.mark.slow
def test_truncated_program(runner, programs, tmp_path):
    data = programs.get("mv2", "fp32").read_bytes()  # exported for this file anyway
    bad = tmp_path / "trunc.pte"
    bad.write_bytes(data[: len(data) // 3])
    assert_error(run(runner, f"--model_path={bad}"), 1, "not a valid ExecuTorch program")


def test_bit_flipped_delegate_payload(runner, tiny_programs, tmp_path):
    """Flipped bytes in the delegate payload: with the program's card beside the copy, refused
    before the runtime uses them (exit 5, naming the damaged range). Unchecked, the same copy runs
    and answers differently: the flips reach the computation, so only the card catches them."""
    from examples.integrity import card as cards
    from examples.runner import client

    pristine = tiny_programs["tiny_fp32"]
    data = bytearray(pristine.read_bytes())
    for off in range(len(data) - 200, len(data) - 100, 7):
        data[off] ^= 0xFF
    bad = tmp_path / "flip.pte"
    bad.write_bytes(bytes(data))
    cards.write_card(bad, cards.make_card(pristine))
    assert_error(run(runner, f"--model_path={bad}", "--num_iters=1"), VERIFICATION, "does not match its card: bytes [")
    outputs = {}
    for name, program in (("pristine", pristine), ("flipped", bad)):
        done = run(runner, f"--model_path={program}", "--num_iters=1", "--verify_program=off",
                   f"--output_path={tmp_path / name}")
        assert done.returncode == 0, done.stderr
        outputs[name] = client.read_output_files(tmp_path / name)[0]
    assert not np.array_equal(outputs["pristine"], outputs["flipped"])


def test_unknown_method(runner, tiny_programs):
    assert_error(run(runner, f"--model_path={tiny_programs['tiny_fp32']}", "--method_name=nope"), 1,
                 "has no method 'nope'", "methods: forward")


def test_input_file_wrong_size(runner, tiny_programs, tmp_path):
    f = tmp_path / "small.bin"
    f.write_bytes(b"\0" * 10)
    assert_error(run(runner, f"--model_path={tiny_programs['tiny_fp32']}", f"--input_path={f}"), 1,
                 "has 10 bytes; expected 3072 bytes for float32[1, 3, 16, 16]")


def test_input_file_missing(runner, tiny_programs, tmp_path):
    assert_error(run(runner, f"--model_path={tiny_programs['tiny_fp32']}",
                     f"--input_path={tmp_path / 'missing.bin'}"), 1, "cannot open", "missing.bin")


def test_wrong_number_of_input_files(runner, tiny_programs, tmp_path):
    f = tmp_path / "x.bin"
    np.ones((1, 3, 16, 16), np.float32).tofile(f)
    assert_error(run(runner, f"--model_path={tiny_programs['tiny_fp32']}", f"--input_path={f},{f},{f}"), 1,
                 "takes 1 input(s), got 3")


@pytest.mark.parametrize("flag,needle", [("--num_iters=0", "--num_iters"), ("--num_threads=-1", "--num_threads"),
                                         ("--print_output=loud", "--print_output"),
                                         ("--warmup_iters=-2", "--warmup_iters"),
                                         ("--timeout_s=-1", "--timeout_s"), ("--max_memory_mb=-5", "--max_memory_mb"),
                                         ("--input_manifest=m.json", "exclude each other")])
def test_bad_flag_values(runner, tiny_programs, flag, needle):
    extra = ["--input_path=x.bin"] if flag.startswith("--input_manifest") else []
    assert_error(run(runner, f"--model_path={tiny_programs['tiny_fp32']}", flag, *extra), 2, needle)


def test_output_written_atomically_no_temp_left(runner, tiny_programs, tmp_path):
    proc = run(runner, f"--model_path={tiny_programs['nonfloat']}", f"--output_path={tmp_path / 'o'}",
               "--num_iters=1")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.0.bin", "o.1.bin", "o.2.bin", "o.3.bin", "o.json"]


# ---------------------------------------------------------------- mutation sweep

def _mutations(data: bytes, count: int, seed: int):
    """Truncations, header byte changes, flatbuffer-region and segment (delegate payload /
    constant data) region bit flips, in equal shares."""
    rng = random.Random(seed)
    # Extended header "eh00" at offset 8: program (flatbuffer) size at 16, segment base at 24.
    fb_end = int.from_bytes(data[16:24], "little") if data[8:12] == b"eh00" else len(data)
    fb_end = max(64, min(fb_end, len(data) - 1))
    for i in range(count):
        d = bytearray(data)
        kind = i % 4
        if kind == 0:
            d = d[: rng.randrange(len(d))]
        elif kind == 1:
            for _ in range(rng.randint(1, 4)):
                d[rng.randrange(64)] = rng.randrange(256)
        elif kind == 2:
            for _ in range(rng.randint(1, 8)):
                d[rng.randrange(fb_end)] ^= 1 << rng.randrange(8)
        else:
            for _ in range(rng.randint(1, 8)):
                d[rng.randrange(fb_end, len(d))] ^= 1 << rng.randrange(8)
        yield kind, bytes(d)


# 600 runner processes, about 3 s in all (each exits at load or after two tiny iterations).
@pytest.mark.parametrize("program,count", [("tiny_fp32", 300), ("tiny_portable", 300)])
def test_mutated_programs_never_kill_the_runner(runner, tiny_programs, tmp_path, program, count):
    data = tiny_programs[program].read_bytes()
    cases = list(_mutations(data, count, seed=20240611))

    def one(item):
        i, (kind, blob) = item
        path = tmp_path / f"m{i}.pte"
        path.write_bytes(blob)
        proc = run(runner, f"--model_path={path}", "--warmup_iters=0", "--num_iters=2", timeout=60)
        path.unlink()
        return i, kind, proc

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, enumerate(cases)))
    outcomes = {"ok": 0, "error": 0, "crash_guarded": 0}
    for i, kind, proc in results:
        assert proc.returncode >= 0, f"case {i} (kind {kind}) died by signal {-proc.returncode}: {proc.stderr}"
        if proc.returncode == 0:
            outcomes["ok"] += 1
            continue
        # A corrupt size can ask for more memory than exists: exit 6, still one line.
        assert proc.returncode in (ERROR, CRASH, MEMORY), (i, kind, proc.returncode, proc.stderr)
        lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("warning: ")]  # no card
        assert len(lines) == 1 and lines[0].startswith("error: "), (i, kind, proc.stderr)
        if proc.returncode == CRASH:
            assert "the ExecuTorch runtime crashed" in lines[0]
            outcomes["crash_guarded"] += 1
        else:
            outcomes["error"] += 1
    print(f"{program}: {count} mutations -> {outcomes}", file=sys.stderr)
    assert outcomes["error"] > 0
