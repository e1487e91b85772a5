"""The ONE adapter to the native runner ``cmake-out/xnn_executor_runner``.

Everything the toolkit knows about the runner lives here: where the binary is, its flag
names, the keys of the JSON object it prints with ``--json``, its exit codes, and the format
of the tensor files it reads (``--input_path`` / ``--input_manifest``) and writes
(``--output_path``). If the runner changes, only this file changes.

The runner reports raw samples (``samples_ms``); the statistics on a :class:`RunMeasurement`
come from :func:`examples.common.stats.summarize`.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from examples.common import cli, stats
from examples.common.atomic_write import write_bytes_atomic, write_text_atomic

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUNNER = REPO_ROOT / "cmake-out" / "xnn_executor_runner"
BUILD_COMMAND = "cmake -S . -B cmake-out -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build cmake-out"
# The runner whose XNNPACK delegate is built from ExecuTorch's source with AMX kernels (opt-in:
# it needs an ExecuTorch checkout; cmake/xnnpack_from_source.cmake).
AMX_RUNNER = REPO_ROOT / "cmake-out-amx" / "xnn_executor_runner"
AMX_BUILD_COMMAND = ("cmake -S . -B cmake-out-amx -G Ninja -DEXECUTORCH_SOURCE_DIR=<executorch checkout> "
                     "-DBUILD_TEXT_GENERATION_RUNNER=OFF && cmake --build cmake-out-amx --target xnn_executor_runner")

# Flag names.
FLAG_MODEL = "--model_path"
FLAG_ITERS = "--num_iters"
FLAG_WARMUP = "--warmup_iters"
FLAG_THREADS = "--num_threads"  # also pins the runner to that many CPUs; 0 = all allowed
FLAG_JSON = "--json"
FLAG_INPUT = "--input_path"  # raw little-endian files, one per method input, comma-separated
FLAG_INPUT_MANIFEST = "--input_manifest"  # JSON naming the input files with dtype and shape
FLAG_OUTPUT = "--output_path"  # writes <prefix>.<i>.bin (raw little-endian) + <prefix>.json (manifest)
FLAG_TIMEOUT = "--timeout_s"  # the runner's own watchdog (exit 4); 0 = none
FLAG_MAX_MEMORY = "--max_memory_mb"  # RLIMIT_AS on top of the runner's start-up mapping (exit 6)
FLAG_VERIFY = "--verify_program"  # auto | require | off: the card check, in the runner (exit 5)

# The runner's exit codes (runtime/executor_runner/exit_codes.h): code -> (kind, one line).
EXIT_CODES = {
    0: ("ok", "the run finished"),
    1: ("error", "the runner failed (bad input, invalid program, load or run failure)"),
    2: ("usage", "the runner was called with a bad command line"),
    3: ("crash", "the ExecuTorch runtime crashed (caught by the runner's crash guard)"),
    4: ("timeout", "the run took longer than its time limit"),
    5: ("verification", "the program failed verification"),
    6: ("memory", "an allocation failed (over the memory limit, or out of memory)"),
}

# JSON key (as printed by the runner) -> RunMeasurement field. Times in ms, RSS in bytes.
# Semantics: warmup_iters + num_iters runs; run 1 is first_iter_ms (a warm-up one unless
# --warmup_iters 0); samples_ms are the last num_iters runs, cpu_ms / wall_ms their span.
JSON_KEYS = {
    "load_ms": "load_ms",
    "method_init_ms": "init_ms",
    "first_iter_ms": "first_ms",
    "samples_ms": "samples_ms",
    "cpu_ms": "cpu_ms",
    "wall_ms": "wall_ms",
    "peak_rss_kb": "peak_rss_bytes",  # converted: KiB -> bytes
}
REQUIRED = ("first_ms", "samples_ms")


class RunnerNotBuilt(cli.CliError):
    """The native runner binary is missing: one line naming the build command."""


class RunnerFailed(RuntimeError):
    """The runner ran but failed: ``exit_code`` (None when it never exited by itself) and
    ``kind`` (:data:`EXIT_CODES`' name for it, e.g. ``"timeout"`` or ``"memory"``)."""

    def __init__(self, message: str, exit_code: int | None = None, kind: str = "error"):
        super().__init__(message)
        self.exit_code = exit_code
        self.kind = kind


@dataclass
class RunMeasurement:
    first_ms: float
    mean_ms: float
    median_ms: float | None = None
    p90_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    load_ms: float | None = None
    init_ms: float | None = None
    peak_rss_bytes: int | None = None
    samples_ms: list[float] = field(default_factory=list)  # every measured iteration, in order
    cpu_ms: float | None = None  # process CPU time (user + sys) over the measured iterations
    wall_ms: float | None = None  # wall time of the same span: cpu_ms / wall_ms = busy cores
    outputs: list | None = None  # numpy arrays read back from --output_path
    raw: dict = field(default_factory=dict)  # the runner's JSON object as printed


def find_runner(path: str | Path | None = None) -> Path:
    """The runner binary, or :class:`RunnerNotBuilt` saying how to build it."""
    runner = Path(path) if path else DEFAULT_RUNNER
    if not runner.is_file():
        where = "" if path is None else f" (no file {runner})"
        raise RunnerNotBuilt(f"runner not built{where}: run ./setup.sh (it builds cmake-out/xnn_executor_runner: "
                             f"{BUILD_COMMAND})")
    return runner


def find_amx_runner(path: str | Path | None = None) -> Path:
    """The AMX build of the runner, or :class:`RunnerNotBuilt` saying how to build it."""
    runner = Path(path) if path else AMX_RUNNER
    if not runner.is_file():
        raise RunnerNotBuilt(f"AMX runner not built (no file {runner}): {AMX_BUILD_COMMAND}")
    return runner


def xnnpack_build(measurement: "RunMeasurement") -> str:
    """Which XNNPACK delegate the runner that made ``measurement`` has: "wheel" or "source+amx"
    (older runners did not say: "wheel", the only build they had)."""
    return measurement.raw.get("xnnpack_build") or "wheel"


def _as_array(tensor) -> np.ndarray:
    return tensor.detach().contiguous().cpu().numpy() if hasattr(tensor, "detach") else np.ascontiguousarray(tensor)


def write_input_files(tensors: Sequence, folder: Path, stem: str = "input") -> list[Path]:
    """One file per input tensor (``<stem>_<i>.bin``: raw contiguous little-endian bytes of
    the tensor's dtype) and the manifest ``<stem>.json`` with each file's dtype and shape, so
    the runner checks them and a dynamic-shape input runs at its own shape."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, entries = [], []
    for i, tensor in enumerate(tensors):
        array = _as_array(tensor)
        path = folder / f"{stem}_{i}.bin"
        write_bytes_atomic(path, array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
        entries.append({"index": i, "file": path.name, "dtype": array.dtype.name, "shape": list(array.shape),
                        "nbytes": array.nbytes})
        paths.append(path)
    write_text_atomic(folder / f"{stem}.json", json.dumps({"inputs": entries}) + "\n")
    return paths


def input_manifest_for(inputs: Sequence[Path]) -> Path | None:
    """The manifest :func:`write_input_files` wrote for exactly these files, if any."""
    if not inputs:
        return None
    match = re.fullmatch(r"(.+)_0\.bin", Path(inputs[0]).name)
    if not match:
        return None
    manifest = Path(inputs[0]).with_name(match[1] + ".json")
    try:
        entries = json.loads(manifest.read_text())["inputs"]
        listed = [manifest.parent / entry["file"] for entry in entries]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest if [p.resolve() for p in listed] == [Path(p).resolve() for p in inputs] else None


# Runner dtype names (torch style) -> numpy.
DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int8": np.int8, "uint8": np.uint8,
          "int16": np.int16, "int32": np.int32, "int64": np.int64, "bool": np.bool_}


def read_output_files(prefix: Path) -> list[np.ndarray]:
    """The outputs the runner wrote for ``--output_path prefix``: the ``<prefix>.json`` manifest
    names each output's file, dtype and shape; the data is raw little-endian bytes."""
    manifest_path = prefix.with_name(prefix.name + ".json")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        raise RunnerFailed(f"cannot read the runner's output manifest {manifest_path}: {error}") from None
    arrays = []
    for entry in manifest.get("outputs", []):
        dtype = DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise RunnerFailed(f"output {entry.get('index')} has dtype {entry.get('dtype')}, which the benchmark cannot compare")
        data = np.frombuffer((prefix.parent / entry["file"]).read_bytes(), dtype=np.dtype(dtype).newbyteorder("<"))
        arrays.append(data.reshape(entry["shape"]).astype(dtype))
    return arrays


def command(runner: Path, program: Path, *, iters: int, warmup: int, threads: int,
            inputs: Sequence[Path] = (), output_path: Path | None = None,
            timeout_s: float | None = None, max_memory_mb: int | None = None,
            verify: str = "auto") -> list[str]:
    cmd = [str(runner), FLAG_MODEL, str(program), FLAG_ITERS, str(iters), FLAG_WARMUP, str(warmup),
           FLAG_THREADS, str(threads), FLAG_JSON, f"{FLAG_VERIFY}={verify}"]
    manifest = input_manifest_for(inputs)
    if manifest is not None:
        cmd += [FLAG_INPUT_MANIFEST, str(manifest)]
    elif inputs:
        cmd += [FLAG_INPUT, ",".join(str(p) for p in inputs)]
    if output_path is not None:
        cmd += [FLAG_OUTPUT, str(output_path)]
    if timeout_s:
        cmd += [FLAG_TIMEOUT, f"{timeout_s:g}"]
    if max_memory_mb:
        cmd += [FLAG_MAX_MEMORY, str(int(max_memory_mb))]
    return cmd


def parse_json(stdout: str) -> dict:
    """The runner's JSON object: the last line of stdout that parses as a JSON object."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise RunnerFailed("the runner printed no JSON result")


def measurement_from_json(data: dict) -> RunMeasurement:
    values = {ours: data[theirs] for theirs, ours in JSON_KEYS.items() if data.get(theirs) is not None}
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise RunnerFailed(f"the runner's JSON lacks {', '.join(missing)} (keys: {', '.join(sorted(data))})")
    values["samples_ms"] = [float(s) for s in values["samples_ms"]]
    if not values["samples_ms"]:
        raise RunnerFailed("the runner's JSON has no samples_ms")
    if "peak_rss_bytes" in values:
        values["peak_rss_bytes"] = int(values["peak_rss_bytes"]) * 1024
    summary = stats.summarize(values["samples_ms"])
    return RunMeasurement(raw=data, **{f"{k}_ms": v for k, v in summary.items()}, **values)


def failure(returncode: int, stderr: str) -> RunnerFailed:
    """The runner's exit code as a :class:`RunnerFailed`: its own ``error:`` line when it
    printed one, otherwise the exit-code table's line."""
    kind, meaning = EXIT_CODES.get(returncode, ("error", f"the runner exited with status {returncode}"))
    if returncode < 0:
        kind, meaning = "crash", f"the runner was killed by signal {-returncode}"
    errors = [line.strip() for line in stderr.splitlines() if line.strip().startswith("error:")]
    message = errors[-1][len("error:"):].strip()[:300] if errors else meaning
    if kind == "verification":
        from examples.integrity.verify import ProgramVerificationFailed

        return ProgramVerificationFailed(message)
    return RunnerFailed(message, exit_code=returncode, kind=kind)


def run_raw(runner: Path, *args, timeout: float | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The runner with exactly these command-line arguments, its exit status and output as they
    are: the one place a runner process starts (tests of the command line itself use it too)."""
    return subprocess.run([str(runner), *map(str, args)], capture_output=True, text=True, errors="replace",
                          timeout=timeout, cwd=cwd)


@dataclass
class RunnerExit:
    """How one runner process ended (for callers that classify failures, e.g. fuzzing)."""

    returncode: int | None  # None: killed from outside (the runner's own limit did not work)
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_bounded(runner: Path, program: Path, *, inputs: Sequence[Path] = (), output_path: Path | None = None,
                iters: int = 1, warmup: int = 0, threads: int = 1, timeout: float = 20.0,
                max_memory_mb: int | None = None, verify: str = "auto") -> RunnerExit:
    """One run under the runner's own bounds (``--timeout_s``: exit 4, ``--max_memory_mb``:
    exit 6) that reports how the process ended instead of raising. The runner checks the
    program against its card (``verify``) before it reads it: exit 5 on a mismatch."""
    import time

    from examples.integrity.verify import check_mode

    cmd = command(runner, program, iters=iters, warmup=warmup, threads=threads, inputs=inputs,
                  output_path=output_path, timeout_s=timeout, max_memory_mb=max_memory_mb,
                  verify=check_mode(verify))
    start = time.perf_counter()
    try:  # killed from outside only when the runner's own watchdog failed
        done = run_raw(cmd[0], *cmd[1:], timeout=timeout + 10)
    except subprocess.TimeoutExpired as expired:
        def text(x):
            return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")

        return RunnerExit(None, text(expired.stdout), text(expired.stderr), time.perf_counter() - start)
    return RunnerExit(done.returncode, done.stdout, done.stderr, time.perf_counter() - start)


def run_program(runner: Path, program: Path, *, iters: int, warmup: int, threads: int,
                inputs: Sequence[Path] = (), output_path: Path | None = None,
                timeout: float | None = None, timeout_s: float | None = None,
                max_memory_mb: int | None = None, cwd: Path | None = None, verify: str = "auto") -> RunMeasurement:
    """Run ``program`` ``warmup + iters`` times through the runner and return its measurement
    (with the outputs read back when ``output_path`` is given).

    ``verify`` (``auto``/``require``/``off``, the runner's ``--verify_program``): the runner
    checks the program against its card (size, BLAKE3 digest, method inputs/outputs, the CPU
    class of ahead-of-time compiled code) before the runtime reads it; a mismatch raises
    ``ProgramVerificationFailed`` (its exit code 5).

    ``timeout_s`` is the runner's own limit (exit 4, ``kind="timeout"``); ``timeout`` is the
    older name for it and also used when ``timeout_s`` is not given. The process is killed
    5 s after that as a last resort. ``max_memory_mb`` bounds the memory the program may map
    (exit 6, ``kind="memory"``). Both default to no limit. ``cwd``: the runner's working
    directory (the profiling build writes ``prof_result.bin`` there); relative paths given
    here still mean paths from the caller's directory."""
    from examples.integrity.verify import check_mode

    check_mode(verify)
    if cwd is not None:
        runner, program = Path(runner).resolve(), Path(program).resolve()
        inputs = [Path(p).resolve() for p in inputs]
        output_path = Path(output_path).resolve() if output_path is not None else None
    limit = timeout_s if timeout_s is not None else timeout
    cmd = command(runner, program, iters=iters, warmup=warmup, threads=threads, inputs=inputs,
                  output_path=output_path, timeout_s=limit, max_memory_mb=max_memory_mb, verify=verify)
    # Peak RSS is the runner's own: it reads VmHWM, not ru_maxrss (which Linux carries over
    # from this Python parent).
    try:
        done = run_raw(cmd[0], *cmd[1:], timeout=None if not limit else limit + 5, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise RunnerFailed(f"the runner took longer than {limit:g} s and was killed", kind="timeout") from None
    if done.returncode != 0:
        raise failure(done.returncode, done.stderr)
    measurement = measurement_from_json(parse_json(done.stdout))
    if output_path is not None:
        measurement.outputs = read_output_files(output_path)
    return measurement
