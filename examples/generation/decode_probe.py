"""A whole decode step in one parallel region, against the read-bandwidth probe over its bytes.

    python -m examples.backend.decode_probe --model stories110m --group_size 32 --threads 1,2 \\
        [--prompt_len 64 --max_new_tokens 128] [--programs A.pte,B.pte] [--rounds 5] [--json out.json]
        (the command: examples/backend/decode_probe.py)

A program's decode step joins the thread pool after every XNNPACK operator and runs what lies
between the GEMMs on one thread; :mod:`examples.generation.gemm_probe` showed the GEMMs alone in
one region stream at the probe's pace. This times the whole step the same way
(``cmake-out/xnnpack_decode_probe``, over runtime/decode_region): the same 4-bit XNNPACK operators
per thread slice, plus RMSNorm, activation quantization, rotary embedding, the KV cache and
attention by chunks of 16 keys, SwiGLU and residuals, with five barriers a layer. Its fraction of the bandwidth limit says what
a fused decode operator (one such region per step inside a program) could reach on this CPU.

Random weights in the binary's file format (:func:`write_weights`: a header, the fp32 embedding
and the block of :mod:`examples.generation.decode_region`), whose
:func:`~examples.generation.decode_region.reference_logits` the tests hold the binary to.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path

import numpy as np

from examples.common import cli
from examples.generation.decode_region import StepShape, random_weights, step_bytes, weights_block
from examples.runner.client import REPO_ROOT

DECODE_PROBE = REPO_ROOT / "cmake-out" / "xnnpack_decode_probe"
MAGIC = b"TGSTEP1\n"


def write_weights(path, weights) -> None:
    """The binary's file: ``MAGIC``, the seven int32 sizes, the fp32 embedding, the weights block."""
    with open(path, "wb") as f:
        f.write(MAGIC + np.array(weights.shape.dims(), "<i4").tobytes() + weights.embedding.astype("<f4").tobytes() +
                weights_block(weights))


# ---------------------------------------------------------------- running the binary

def check_built(binary=DECODE_PROBE) -> None:
    if not Path(binary).is_file():
        raise cli.UsageError(f"{binary} is not built (./setup.sh builds it)")


def _run(args: list[str], binary=DECODE_PROBE) -> str:
    check_built(binary)
    try:
        proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise cli.CliError("xnnpack_decode_probe took more than 600 s") from None
    if proc.returncode != 0:
        message = cli.first_line(proc.stderr).removeprefix("error: ")
        raise cli.CliError(message or f"xnnpack_decode_probe exited {proc.returncode}")
    return proc.stdout


def probe_logits(weights_path, shape: StepShape, tokens: list[int], threads: int, out_path,
                 prompt: int = 1) -> np.ndarray:
    """The binary's logits for ``tokens`` fed from position 0, the first ``prompt`` in one call,
    then one at a time: ``[len(tokens) - prompt + 1, vocab]`` (each call's last token's)."""
    _run(["--weights", str(weights_path), "--threads", str(threads), "--tokens", ",".join(map(str, tokens)),
          "--prompt", str(prompt), "--logits_out", str(out_path)])
    return np.fromfile(out_path, dtype="<f4").reshape(len(tokens) - prompt + 1, shape.vocab)


def time_steps(weights_path, threads: int, first: int, end: int) -> dict:
    """One timing run: ``{"ms_per_step": [5 passes], "weight_bytes", "xnnpack_build", ...}``."""
    out = _run(["--weights", str(weights_path), "--threads", str(threads), "--positions", f"{first}:{end}"])
    try:
        result = json.loads(out)
        result["ms_per_step"], result["weight_bytes"], result["xnnpack_build"]
    except (ValueError, KeyError, TypeError):
        raise cli.CliError(f"{DECODE_PROBE} printed no result this version reads (rebuild it: ./setup.sh)") from None
    return result


# ---------------------------------------------------------------- rounds against the probe

def check_region_threads(threads) -> None:
    """The region's threads spin at barriers (:func:`~examples.generation.gemm_probe.too_many_to_spin`)."""
    from examples.generation.gemm_probe import too_many_to_spin

    usable = too_many_to_spin(threads)
    if usable:
        raise cli.UsageError(f"--threads must be at most the {usable} usable CPU(s): the region's threads spin at "
                             f"barriers, got {max(threads)}")


def _program_cell(program: Path, shape, prompt: list[int], max_new_tokens: int, threads: int) -> dict:
    """The program's decode in the native runner, beside the region, and its bytes per token."""
    from examples.generation.bytes_per_token import bytes_per_token, decode_position
    from examples.runner.text_generation_client import generate_tokens

    report = generate_tokens(program, prompt, max_new_tokens=max_new_tokens, threads=threads, timeout=600)
    accounting = bytes_per_token("executorch", program, shape, decode_position(len(prompt), max_new_tokens))
    return {"tok_s": report["decode_tok_s"], "bytes": accounting["total"]}


def measure(shape, group_size: int, threads: list[int], rounds: int, prompt_len: int, max_new_tokens: int,
            work_dir: Path, programs: list[Path] = (), progress=print) -> dict:
    """``{threads: [cell per round]}``, a cell ``{"probe_gb_s", "step_bytes", "region_ms",
    "region_fraction", "programs": {name: {"tok_s", "bytes", "fraction"}}}``: the bandwidth probe
    over the step's bytes just before, then the region over the benchmark's decode positions,
    then each program's decode (the order turning round by round)."""
    from examples.generation.bandwidth import fraction_of_limit, read_bandwidth
    from examples.generation.bytes_per_token import decode_position

    end = prompt_len + max_new_tokens
    step_shape = StepShape.of(shape, group_size, end)
    step_shape.check()
    weights_path = work_dir / "decode_probe_weights.bin"
    write_weights(weights_path, random_weights(step_shape))
    nbytes = step_bytes(step_shape, decode_position(prompt_len, max_new_tokens))
    prompt = [int(t) for t in np.random.default_rng(0).integers(1, shape.vocab_size, prompt_len)]
    cells = {n: [] for n in threads}
    for round_index in range(rounds):
        progress(f"round {round_index + 1}/{rounds}")
        for n in threads:
            probe = read_bandwidth(int(nbytes) // 64 * 64, n)["gb_s"]
            ms = statistics.median(time_steps(weights_path, n, prompt_len, end)["ms_per_step"])
            cell = {"probe_gb_s": probe, "step_bytes": nbytes, "region_ms": ms,
                    "region_fraction": fraction_of_limit(1e3 / ms, probe, nbytes), "programs": {}}
            turn = round_index % max(1, len(programs))
            for program in [*programs[turn:], *programs[:turn]]:
                run = _program_cell(program, shape, prompt, max_new_tokens, n)
                run["fraction"] = fraction_of_limit(run["tok_s"], probe, run["bytes"])
                cell["programs"][program.name] = run
            cells[n].append(cell)
    return cells


def summary_rows(cells: dict) -> list[list]:
    """Per thread count and row (the region; each program): medians over the rounds of ms per
    token, bytes per token and probe GB/s, decode / limit (median, range over rounds), and the
    row's speed over the region's (median of the rounds' ratios)."""
    rows = []
    for n, rounds in cells.items():
        probe = statistics.median(r["probe_gb_s"] for r in rounds)
        series = [("one region (probe)", [(r["region_ms"], r["step_bytes"], r["region_fraction"], r["region_ms"])
                                          for r in rounds])]
        series += [(name, [(1e3 / r["programs"][name]["tok_s"], r["programs"][name]["bytes"],
                            r["programs"][name]["fraction"], r["region_ms"]) for r in rounds])
                   for name in rounds[0]["programs"]]
        for name, values in series:
            fractions = [v[2] for v in values]
            speed = statistics.median(v[3] / v[0] for v in values)
            rows.append([n, name, f"{statistics.median(v[0] for v in values):.3f}",
                         f"{statistics.median(v[1] for v in values) / 1e6:.1f}", f"{probe:.1f}",
                         f"{100 * statistics.median(fractions):.0f} % ({100 * min(fractions):.0f}-"
                         f"{100 * max(fractions):.0f} %)", f"{speed:.2f}x"])
    return rows
