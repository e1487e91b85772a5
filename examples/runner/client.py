"""The ONE adapter to the native runner ``cmake-out/xnn_executor_runner``.

Everything the benchmark knows about the runner lives here: where the binary is, its flag
names, the keys of the JSON object it prints with ``--json``, and the format of the tensor
files it reads (``--input_path``) and writes (``--output_path``). If the runner changes,
only this file changes.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from examples.common import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUNNER = REPO_ROOT / "cmake-out" / "xnn_executor_runner"
BUILD_COMMAND = "cmake -S . -B cmake-out -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build cmake-out"

# Flag names.
FLAG_MODEL = "--model_path"
FLAG_ITERS = "--num_iters"
FLAG_WARMUP = "--warmup_iters"
FLAG_THREADS = "--num_threads"
FLAG_JSON = "--json"
FLAG_INPUT = "--input_path"  # raw little-endian files, one per method input, comma-separated
FLAG_OUTPUT = "--output_path"  # writes <prefix>.<i>.bin (raw little-endian) + <prefix>.json (manifest)

# JSON key (as printed by the runner) -> RunMeasurement field. Times in ms, RSS in bytes.
# Semantics: warmup_iters + num_iters runs; run 1 is first_iter_ms (a warm-up one unless
# --warmup_iters 0); statistics over the last num_iters (statistics: examples.common.stats).
JSON_KEYS = {
    "load_ms": "load_ms",
    "method_init_ms": "init_ms",
    "first_iter_ms": "first_ms",
    "mean_ms": "mean_ms",
    "median_ms": "median_ms",
    "p90_ms": "p90_ms",
    "min_ms": "min_ms",
    "max_ms": "max_ms",
    "peak_rss_kb": "peak_rss_bytes",  # converted: KiB -> bytes
}
REQUIRED = ("first_ms", "mean_ms")


class RunnerNotBuilt(cli.CliError):
    """The native runner binary is missing: one line naming the build command."""


class RunnerFailed(RuntimeError):
    """The runner ran but failed (non-zero exit, crash, unreadable JSON)."""


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


def write_input_files(tensors: Sequence, folder: Path, stem: str = "input") -> list[Path]:
    """One file per input tensor: its raw contiguous bytes (native byte order, the tensor's dtype)."""
    paths = []
    folder.mkdir(parents=True, exist_ok=True)
    for i, tensor in enumerate(tensors):
        path = folder / f"{stem}_{i}.bin"
        array = tensor.detach().contiguous().cpu().numpy() if hasattr(tensor, "detach") else np.ascontiguousarray(tensor)
        path.write_bytes(array.tobytes())
        paths.append(path)
    return paths


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
            inputs: Sequence[Path] = (), output_path: Path | None = None) -> list[str]:
    cmd = [str(runner), FLAG_MODEL, str(program), FLAG_ITERS, str(iters), FLAG_WARMUP, str(warmup),
           FLAG_THREADS, str(threads), FLAG_JSON]
    if inputs:
        cmd += [FLAG_INPUT, ",".join(str(p) for p in inputs)]
    if output_path is not None:
        cmd += [FLAG_OUTPUT, str(output_path)]
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
    try:  # pretty-printed over several lines
        start = stdout.index("{")
        return json.loads(stdout[start:])
    except ValueError:
        raise RunnerFailed("the runner printed no JSON result") from None


def measurement_from_json(data: dict) -> RunMeasurement:
    values = {ours: data[theirs] for theirs, ours in JSON_KEYS.items() if data.get(theirs) is not None}
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise RunnerFailed(f"the runner's JSON lacks {', '.join(missing)} (keys: {', '.join(sorted(data))})")
    if "peak_rss_bytes" in values:
        values["peak_rss_bytes"] = int(values["peak_rss_bytes"]) * 1024
    return RunMeasurement(raw=data, **values)


def _error_line(stderr: str, stdout: str, returncode: int) -> str:
    for text in (stderr, stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        if errors or lines:
            return (errors or lines)[-1][:300]
    return f"the runner exited with status {returncode}"


@dataclass
class RunnerExit:
    """How one runner process ended (for callers that classify failures, e.g. fuzzing)."""

    returncode: int | None  # None: killed after the time limit; negative: died by that signal
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


FLAG_TIMEOUT = "--timeout_s"  # the runner ends the run itself (exit 4) past this
FLAG_MAX_MEMORY = "--max_memory_mb"  # RLIMIT_AS for the program's allocations (exit 6)
_BOUNDS_SUPPORT: dict = {}


def runner_has_bounds(runner: Path) -> bool:
    """Whether this runner build takes --timeout_s / --max_memory_mb (older builds do not)."""
    key = str(runner)
    if key not in _BOUNDS_SUPPORT:
        try:
            done = subprocess.run([key, "--help"], capture_output=True, text=True, errors="replace", timeout=30)
            _BOUNDS_SUPPORT[key] = FLAG_TIMEOUT.lstrip("-") in done.stdout + done.stderr
        except (OSError, subprocess.SubprocessError):
            _BOUNDS_SUPPORT[key] = False
    return _BOUNDS_SUPPORT[key]


def _memory_limit(max_memory_mb: int | None):
    """A preexec hook bounding the runner's address space (RLIMIT_AS), for runner builds
    without --max_memory_mb."""
    if not max_memory_mb:
        return None

    def limit():
        import resource

        nbytes = int(max_memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))

    return limit


def run_bounded(runner: Path, program: Path, *, inputs: Sequence[Path] = (), output_path: Path | None = None,
                iters: int = 1, warmup: int = 0, threads: int = 1, timeout: float = 20.0,
                max_memory_mb: int | None = None, verify: str = "auto") -> RunnerExit:
    """One bounded run (time limit, optional memory limit) that reports how the process ended
    instead of raising; the program is verified against its card first
    (``ProgramVerificationFailed`` is raised before the runner starts)."""
    import time

    from examples.integrity.verify import check_inputs, verify_program

    check_inputs(verify_program(program, verify), inputs)
    cmd = command(runner, program, iters=iters, warmup=warmup, threads=threads, inputs=inputs,
                  output_path=output_path)
    backstop, preexec = timeout, _memory_limit(max_memory_mb)
    if runner_has_bounds(runner):  # the runner bounds itself and says so in one error line
        cmd += [f"{FLAG_TIMEOUT}={timeout:g}"] + ([f"{FLAG_MAX_MEMORY}={max_memory_mb}"] if max_memory_mb else [])
        backstop, preexec = timeout + 10.0, None  # killed from outside only if the runner's own limit fails
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=backstop,
                              preexec_fn=preexec)
    except subprocess.TimeoutExpired as expired:  # subprocess.run has killed it
        def text(x):
            return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")

        return RunnerExit(None, text(expired.stdout), text(expired.stderr), time.perf_counter() - start)
    return RunnerExit(done.returncode, done.stdout, done.stderr, time.perf_counter() - start)


def run_program(runner: Path, program: Path, *, iters: int, warmup: int, threads: int,
                inputs: Sequence[Path] = (), output_path: Path | None = None,
                timeout: float | None = None, cwd: Path | None = None, verify: str = "auto") -> RunMeasurement:
    """Run ``program`` ``warmup + iters`` times through the runner and return its measurement
    (with the outputs read back when ``output_path`` is given). ``cwd``: the runner's working
    directory (the profiling build writes ``prof_result.bin`` there); relative paths given
    here still mean paths from the caller's directory.

    ``verify`` (``auto``/``require``/``off``, :mod:`examples.integrity.verify`): the program is
    checked against its card before the runner starts, and the outputs against the card's
    output specs; a mismatch raises ``ProgramVerificationFailed`` (exit code 5 in a CLI)."""
    from examples.integrity.verify import check_inputs, check_outputs, verify_program

    verification = verify_program(program, verify)
    check_inputs(verification, inputs)
    if cwd is not None:
        runner, program = Path(runner).resolve(), Path(program).resolve()
        inputs = [Path(p).resolve() for p in inputs]
        output_path = Path(output_path).resolve() if output_path is not None else None
    cmd = command(runner, program, iters=iters, warmup=warmup, threads=threads,
                  inputs=inputs, output_path=output_path)
    # Peak RSS is the runner's own: it reads VmHWM, not ru_maxrss (which Linux carries over
    # from this Python parent).
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise RunnerFailed(f"the runner took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise RunnerFailed(_error_line(done.stderr, done.stdout, done.returncode))
    measurement = measurement_from_json(parse_json(done.stdout))
    if output_path is not None:
        measurement.outputs = read_output_files(output_path)
        check_outputs(verification, measurement.outputs)
    return measurement
