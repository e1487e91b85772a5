"""Shared by the native runner tests: build the runner, run it, check its one-line errors,
and export the small programs they use (each once per session, by the tests' fixtures)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO / "cmake-out"
PROF_DIR = REPO / "cmake-out-prof"

# The runner's exit codes (runtime/executor_runner/exit_codes.h).
OK, ERROR, USAGE, CRASH, TIMEOUT, VERIFICATION, MEMORY = range(7)


def _tool(name: str) -> str | None:
    venv = REPO / ".venv" / "bin" / name
    return str(venv) if venv.exists() else shutil.which(name)


# The verify cache remembers only files older than its freshness window (2 s, checked on the
# file's ctime, which no test can set back). Tests that need a cache hit shorten the window
# through the runner's XNN_RUNNER_TEST_FRESH_MS hook and wait for this one instead of 2 s per
# file; tests/test_integrity.py keeps the real window.
FRESH_MS = 200


def thp_mode() -> str:
    """The kernel's transparent huge page mode: "always", "madvise", "never" or "absent"."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "absent"
    return text[text.index("[") + 1:text.index("]")]


@pytest.fixture(scope="module")
def short_fresh_window():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XNN_RUNNER_TEST_FRESH_MS", str(FRESH_MS))
        yield


def wait_until_not_fresh() -> None:
    time.sleep(FRESH_MS / 1000 + 0.05)


def build_tools() -> tuple[str, dict]:
    """cmake and an environment with ninja on PATH; skips when the build tools are missing."""
    cmake, ninja = _tool("cmake"), _tool("ninja")
    missing = [n for n, t in (("cmake", cmake), ("ninja", ninja), ("c++", shutil.which("c++"))) if not t]
    for header, package in (("gflags/gflags.h", "libgflags-dev"), ("nlohmann/json.hpp", "nlohmann-json3-dev")):
        if not (Path("/usr/include") / header).exists():
            missing.append(package)
    if missing:
        pytest.skip(f"runner build tools absent: {', '.join(missing)} (run ./setup.sh)")
    env = dict(os.environ, PATH=f"{Path(ninja).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return cmake, env


def ensure_runner(build_dir: Path, *cmake_args: str, only_this_runner: bool = False,
                  seed_from: Path | None = None) -> Path:
    """The runner in build_dir, configured if needed and brought up to date with the sources
    (incremental, fast when current). CI runs ./setup.sh first. ``only_this_runner``: build
    xnn_executor_runner alone (a fresh build for one test need not build the text runner).
    ``seed_from``: a built folder of the same sources whose objects a fresh build_dir may reuse
    (see _seed_build)."""
    from filelock import FileLock

    binary = build_dir / "xnn_executor_runner"
    cmake, env = build_tools()
    build_dir.mkdir(parents=True, exist_ok=True)
    # One build at a time per folder: test files on other xdist workers ask for the same runner,
    # and two ninja runs in one folder corrupt its log.
    with FileLock(str(build_dir / ".build.lock")):
        if not (build_dir / "build.ninja").exists():
            subprocess.run([cmake, "-S", str(REPO), "-B", str(build_dir), "-G", "Ninja",
                            "-DCMAKE_BUILD_TYPE=Release", *cmake_args], check=True, capture_output=True, env=env)
            if seed_from is not None:
                _seed_build(seed_from, build_dir)
        target = ["--target", "xnn_executor_runner"] if only_this_runner else []
        subprocess.run([cmake, "--build", str(build_dir), "--parallel", "2", *target], check=True,
                       capture_output=True, env=env)
    assert binary.exists()
    return binary


def _seed_build(source: Path, fresh: Path) -> None:
    """tools.seed_build, not while another worker builds in ``source``."""
    from filelock import FileLock

    from tools.seed_build import seed_build

    with FileLock(str(source / ".build.lock")):
        seed_build(source, fresh)


def run(runner: Path, *args, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    from examples.runner.client import run_raw

    return run_raw(runner, *args, timeout=timeout, cwd=cwd)


def assert_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """One clear error line on stderr, the expected exit code, no signal. Returns the line.
    ``warning:`` lines (e.g. a program run without a card) may come before it; nothing else."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def export(module: torch.nn.Module, inputs: tuple, path: Path, *, delegate: bool, dynamic_shapes=None) -> Path:
    from executorch.exir import to_edge, to_edge_transform_and_lower

    ep = torch.export.export(module.eval(), inputs, dynamic_shapes=dynamic_shapes)
    if delegate:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    else:
        prog = to_edge(ep).to_executorch()
    path.write_bytes(prog.buffer)
    return path


def python_outputs(pte: Path, inputs: list[torch.Tensor]) -> list:
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(pte)).load_method("forward")
    return list(method.execute(inputs))


class TokenEmbedding(torch.nn.Module):
    """int64 token ids of any length up to 16 -> the mean of their embeddings."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(50, 8)

    def forward(self, tokens):
        return self.embedding(tokens).mean(1)


class BigIntermediate(torch.nn.Module):
    """A small input, a 64 MiB planned intermediate (16384 x 1024 float32)."""

    def forward(self, x):
        return (x.repeat(16384, 1) * 2).sum(0)


class MatmulChain(torch.nn.Module):
    """Enough work per iteration (8 chained 256 x 256 matmuls) for XNNPACK to use its threads."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(*[torch.nn.Linear(256, 256) for _ in range(8)])

    def forward(self, x):
        return self.layers(x)


# ---------------------------------------------------------------- attacks on a running runner

def _open_writer(fifo: Path, proc: subprocess.Popen) -> int | None:
    """The FIFO's writing end once the runner waits on it; None when the runner ended first."""
    while proc.poll() is None:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            time.sleep(0.002)
    return None


def attacked_run(runner: Path, program: Path, inputs, out: Path, cache: str, attack,
                 hook: str = "XNN_RUNNER_TEST_PAUSE") -> subprocess.CompletedProcess:
    """The runner paused by ``hook`` (a test hook, runtime/executor_runner/test_hooks.h) while
    ``attack()`` runs, then let go: its exit status and output."""
    fifo = out.parent / f"{out.name}.fifo"
    os.mkfifo(fifo)
    env = dict(os.environ, **{hook: str(fifo)})
    args = [str(runner), f"--model_path={program}", f"--input_path={','.join(map(str, inputs))}",
            f"--output_path={out}", "--num_iters=1", "--warmup_iters=0", "--json", f"--verify_cache={cache}"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = _open_writer(fifo, proc)
    if writer is not None:
        attack()
        os.write(writer, b"x")
        os.close(writer)
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def program_copies(folder: Path, program: Path, count: int) -> list[Path]:
    """``count`` copies of a carded program, each with its card."""
    from examples.integrity import card as cards

    folder.mkdir(parents=True)
    copies = []
    for i in range(count):
        copy = folder / f"p{i}.pte"
        copy.write_bytes(program.read_bytes())
        cards.write_card(copy, cards.read_card(program))
        copies.append(copy)
    return copies
