"""The one adapter to the token generation runners: the native ``cmake-out/text_generation_runner``,
its Python stand-in ``examples.generation.token_runner`` and the peers' runners (llama.cpp,
OpenVINO GenAI, ONNX Runtime GenAI; same flags, same JSON keys).

``generate_tokens(program, prompt, ...)`` runs one and returns its JSON report as a dict,
with ``runner`` saying which one ran (``native``, ``python-standin`` or ``llama.cpp``).
``teacher_forced_logits(program, prompt, continuation)`` has the native runner feed a given
continuation and returns its logits at every position (an accuracy check of the bytes that run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from examples.runner.client import EXIT_CODES, REPO_ROOT, RunnerFailed, RunnerNotBuilt

DEFAULT_TEXT_RUNNER = REPO_ROOT / "cmake-out" / "text_generation_runner"
# The same runner built with ETDump (--prof_result_path), what step_profile runs by default.
PROFILING_TEXT_RUNNER = REPO_ROOT / "cmake-out-prof" / "text_generation_runner"
RUNNERS = ("native", "python-standin", "llama.cpp", "openvino-genai", "onnxruntime-genai")
# The peers' runners (each a module with the same flags and JSON keys): module per runner name.
PEER_MODULES = {"llama.cpp": "examples.generation.llama_cpp_runner",
                "openvino-genai": "examples.generation.openvino_genai_runner",
                "onnxruntime-genai": "examples.generation.ort_genai_runner"}
# Keys both runners print with --json (times in ms, speeds in tokens/s, RSS in KiB).
JSON_KEYS = ("runner", "prompt_tokens", "generated_tokens", "tokens", "load_ms", "time_to_first_token_ms",
             "prefill_ms", "decode_ms", "prefill_tok_s", "decode_tok_s", "peak_rss_kb", "stop_reason")


def find_text_runner(path: str | Path | None = None) -> Path:
    runner = Path(path) if path else DEFAULT_TEXT_RUNNER
    if not runner.is_file():
        raise RunnerNotBuilt(f"text_generation_runner not built ({runner} missing): run ./setup.sh, or use the "
                             "Python stand-in (runner python-standin)")
    return runner


def command(runner: str, program: Path, prompt: Sequence[int], *, max_new_tokens: int, threads: int = 1,
            temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, stop_tokens: Sequence[int] = (),
            binary: Path | None = None, extra_flags: Sequence[str] = ()) -> list[str]:
    if runner == "native":
        head = [str(find_text_runner(binary))]
    elif runner == "python-standin":
        head = [sys.executable, "-m", "examples.generation.token_runner"]
    elif runner in PEER_MODULES:  # a .gguf file or a model folder; the peer, in its own process
        head = [sys.executable, "-m", PEER_MODULES[runner]]
    else:
        raise ValueError(f"unknown runner {runner!r} (one of {', '.join(RUNNERS)})")
    flags = {"model_path": program, "prompt_tokens": ",".join(map(str, prompt)), "max_new_tokens": max_new_tokens,
             "num_threads": threads, "temperature": temperature}
    if temperature > 0:  # greedy decoding reads neither (the runners warn when given them)
        flags.update(top_p=top_p, seed=seed)
    if stop_tokens:
        flags["stop_tokens"] = ",".join(map(str, stop_tokens))
    return head + [f"--{k}={v}" for k, v in flags.items()] + list(extra_flags) + ["--json"]


def generate_tokens(program: Path, prompt: Sequence[int], *, runner: str = "native", timeout: float | None = None,
                    **options) -> dict:
    cmd = command(runner, Path(program), prompt, **options)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        raise RunnerFailed(f"{runner} runner took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        kind = EXIT_CODES.get(done.returncode, ("error",))[0]  # e.g. "verification" (exit 5)
        raise RunnerFailed(lines[-1][len("error: "):] if lines else f"{runner} runner exited with {done.returncode}",
                           exit_code=done.returncode, kind=kind)
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise RunnerFailed(f"{runner} runner printed no JSON report") from None
    missing = [k for k in JSON_KEYS if k not in report]
    if missing:
        raise RunnerFailed(f"{runner} runner's report lacks {', '.join(missing)}")
    return report


def teacher_forced_logits(program: Path, prompt: Sequence[int], continuation: Sequence[int], *, threads: int = 1,
                          timeout: float | None = None) -> "np.ndarray":
    """The native runner's logits, float32 [len(continuation), vocab]: after the prompt, then after
    each fed token of ``continuation`` but the last (``--forced_tokens``, ``--logits_out``)."""
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory(prefix="logits-") as scratch:
        out = Path(scratch) / "logits.f32"
        flags = [f"--logits_out={out}"]
        if len(continuation) > 1:
            flags.append("--forced_tokens=" + ",".join(map(str, continuation[:-1])))
        report = generate_tokens(program, prompt, runner="native", timeout=timeout, max_new_tokens=len(continuation),
                                 threads=threads, extra_flags=flags)
        logits = np.fromfile(out, dtype="<f4")
    rows = int(report["generated_tokens"])
    if rows != len(continuation) or logits.size % rows:
        raise RunnerFailed(f"the native runner ran {rows} of {len(continuation)} teacher-forced steps")
    return logits.reshape(rows, -1)
