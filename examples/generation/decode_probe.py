"""A whole decode step in one parallel region, against the read-bandwidth probe over its bytes.

    python -m examples.backend.decode_probe --model stories110m --group_size 32 --threads 1,2 \\
        [--prompt_len 64 --max_new_tokens 128] [--rounds 5] [--json out.json]
        (the command: examples/backend/decode_probe.py)

A program's decode step joins the thread pool after every XNNPACK operator and runs what lies
between the GEMMs on one thread; :mod:`examples.generation.gemm_probe` showed the GEMMs alone in
one region stream at the probe's pace. This times the whole step the same way
(``cmake-out/xnnpack_decode_probe``): the same 4-bit XNNPACK operators per thread slice, plus
RMSNorm, activation quantization, rotary embedding, the KV cache and attention split by heads,
SwiGLU and residuals, with five barriers a layer. Its fraction of the bandwidth limit says what
a fused decode operator (one such region per step inside a program) could reach on this CPU.

Random weights in the binary's file format (:func:`write_weights`); :func:`reference_logits` is
the same math in numpy, which the tests hold the binary to.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from examples.common import cli
from examples.runner.client import REPO_ROOT

DECODE_PROBE = REPO_ROOT / "cmake-out" / "xnnpack_decode_probe"
MAGIC = b"TGSTEP1\n"
ROPE_THETA, NORM_EPS = 10000.0, 1e-5


@dataclass(frozen=True)
class StepShape:
    """The sizes the binary's header holds (multi-head attention: as many KV heads as heads)."""

    dim: int
    hidden: int
    n_layers: int
    n_heads: int
    vocab: int
    block: int
    max_seq: int

    @classmethod
    def of(cls, shape, group_size: int, max_seq: int) -> "StepShape":
        if (shape.n_kv_heads or shape.n_heads) != shape.n_heads:
            raise cli.UsageError("the decode probe runs multi-head attention only (as many KV heads as heads)")
        return cls(shape.dim, shape.ffn_hidden_dim(), shape.n_layers, shape.n_heads, shape.vocab_size,
                   group_size or shape.dim, max_seq)

    def linears(self) -> list[tuple[int, int]]:
        """``(n, k)`` in the file's order: per layer q, k, v, o, w1, w3, w2, then the output."""
        d, h = self.dim, self.hidden
        return [(d, d)] * 4 + [(h, d), (h, d), (d, h)]

    def check(self) -> None:
        head_dim = self.dim // self.n_heads
        if self.block % 32 or self.dim % self.block or self.hidden % self.block:
            raise cli.UsageError(f"--group_size must be a multiple of 32 dividing {self.dim} and {self.hidden}")
        if self.dim % self.n_heads or head_dim % 16 or self.hidden % 16:
            raise cli.UsageError("the decode probe needs head widths and hidden sizes that are multiples of 16")


@dataclass
class StepWeights:
    """Every tensor of the file, as numpy arrays: ``linears[layer][j]`` and ``output`` are
    ``(nibbles uint8 [n, k], scales float32 [n, k / block])`` with the scales already rounded to
    bf16; nibbles 0..15 stand for nibble - 8."""

    shape: StepShape
    embedding: np.ndarray
    norms: np.ndarray  # [layers, 2, dim]
    out_norm: np.ndarray
    linears: list
    output: tuple


def _bf16(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 -> (bf16 bits rounded to nearest even, the float32 they stand for)."""
    bits = values.astype(np.float32).view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return rounded, (rounded.astype(np.uint32) << 16).view(np.float32)


def random_weights(shape: StepShape, seed: int = 0) -> StepWeights:
    """Weights whose activations keep their scale through the layers (outputs carry signal)."""
    rng = np.random.default_rng(seed)

    def linear(n: int, k: int) -> tuple:
        nibbles = rng.integers(0, 16, size=(n, k), dtype=np.uint8)
        scales = rng.uniform(0.5, 1.5, size=(n, k // shape.block)) / (4.6 * np.sqrt(k))
        return nibbles, _bf16(scales)[1]

    return StepWeights(
        shape,
        rng.standard_normal((shape.vocab, shape.dim), dtype=np.float32),
        (1 + 0.1 * rng.standard_normal((shape.n_layers, 2, shape.dim))).astype(np.float32),
        (1 + 0.1 * rng.standard_normal(shape.dim)).astype(np.float32),
        [[linear(n, k) for n, k in shape.linears()] for _ in range(shape.n_layers)],
        linear(shape.vocab, shape.dim))


def _packed(nibbles: np.ndarray) -> np.ndarray:
    """Two int4 values a byte along k: the even one in the low nibble."""
    return (nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)).astype(np.uint8)


def write_weights(path, weights: StepWeights) -> None:
    """The binary's file: header, fp32 embedding, fp32 norms, then every linear's int4 values
    ``[n][k/2]`` and bf16 scales ``[n][k/block]`` (q, k, v, o, w1, w3, w2 per layer; output)."""
    s = weights.shape
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(np.array([s.dim, s.hidden, s.n_layers, s.n_heads, s.vocab, s.block, s.max_seq], "<i4").tobytes())
        f.write(weights.embedding.astype("<f4").tobytes())
        f.write(weights.norms.astype("<f4").tobytes())
        f.write(weights.out_norm.astype("<f4").tobytes())
        for nibbles, scales in [lin for layer in weights.linears for lin in layer] + [weights.output]:
            f.write(_packed(nibbles).tobytes())
            f.write(_bf16(scales)[0].astype("<u2").tobytes())


def step_bytes(shape: StepShape, position: float) -> float:
    """What a step reads: int4 values and bf16 scales of every linear, the norms, one
    embedding row, and the fp32 K and V of ``position`` cached tokens in every layer."""
    linears = shape.linears() * shape.n_layers + [(shape.vocab, shape.dim)]
    weights = sum(n * k // 2 + n * (k // shape.block) * 2 for n, k in linears)
    return weights + 4 * (2 * shape.n_layers + 2) * shape.dim + 2 * shape.n_layers * position * shape.dim * 4


# ---------------------------------------------------------------- the numpy reference

def _quantize(x: np.ndarray) -> tuple[np.ndarray, np.float32, np.float32]:
    """The binary's activation quantization: uint8 values, zero point and scale of the row."""
    low, high = min(np.float32(0), x.min()), max(np.float32(0), x.max())
    scale = (high - low) / np.float32(255) if high > low else np.float32(1)
    inverse = np.float32(1) / scale
    zero_point = np.clip(np.rint(-low * inverse), 0, 255)
    return np.clip(np.rint(x * inverse) + zero_point, 0, 255), zero_point, scale


def _linear(x: np.ndarray, weights: tuple, block: int) -> np.ndarray:
    values, zero_point, scale = _quantize(x)
    nibbles, scales = weights
    k = nibbles.shape[1]
    blocks = ((nibbles.astype(np.float64) - 8) * (values - zero_point)).reshape(-1, k // block, block).sum(axis=2)
    return (scale * (blocks * scales).sum(axis=1)).astype(np.float32)


def _rms_norm(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return (x / np.sqrt(np.mean(x.astype(np.float64) ** 2) + NORM_EPS) * weight).astype(np.float32)


def _rotate(x: np.ndarray, position: int, head_dim: int) -> np.ndarray:
    angle = position * ROPE_THETA ** (-2.0 * np.arange(head_dim // 2) / head_dim)
    cos, sin = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    pairs = x.reshape(-1, head_dim // 2, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    return np.stack([a * cos - b * sin, a * sin + b * cos], axis=-1).reshape(x.shape)


def reference_logits(weights: StepWeights, tokens: list[int]) -> np.ndarray:
    """Each step's logits, tokens fed from position 0: the binary's math, summed in float64."""
    s = weights.shape
    head_dim = s.dim // s.n_heads
    caches = [([], []) for _ in range(s.n_layers)]
    out = []
    for position, token in enumerate(tokens):
        x = weights.embedding[token].astype(np.float32)
        for layer, (wq, wk, wv, wo, w1, w3, w2) in enumerate(weights.linears):
            xn = _rms_norm(x, weights.norms[layer, 0])
            q = _rotate(_linear(xn, wq, s.block), position, head_dim).reshape(s.n_heads, head_dim)
            k = _rotate(_linear(xn, wk, s.block), position, head_dim).reshape(s.n_heads, head_dim)
            caches[layer][0].append(k)
            caches[layer][1].append(_linear(xn, wv, s.block).reshape(s.n_heads, head_dim))
            keys, values = np.stack(caches[layer][0], 1), np.stack(caches[layer][1], 1)  # [heads, pos, hd]
            scores = np.einsum("hd,hpd->hp", q.astype(np.float64), keys) / np.sqrt(head_dim)
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            attention = (np.einsum("hp,hpd->hd", p, values) / p.sum(axis=1, keepdims=True)).astype(np.float32)
            x = x + _linear(attention.reshape(-1), wo, s.block)
            xn = _rms_norm(x, weights.norms[layer, 1])
            a, b = _linear(xn, w1, s.block), _linear(xn, w3, s.block)
            x = x + _linear((a / (1 + np.exp(-a.astype(np.float64))) * b).astype(np.float32), w2, s.block)
        out.append(_linear(_rms_norm(x, weights.out_norm), weights.output, s.block))
    return np.stack(out)


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


def probe_logits(weights_path, shape: StepShape, tokens: list[int], threads: int, out_path) -> np.ndarray:
    """The binary's logits for ``tokens`` fed from position 0, ``[len(tokens), vocab]``."""
    _run(["--weights", str(weights_path), "--threads", str(threads), "--tokens", ",".join(map(str, tokens)),
          "--logits_out", str(out_path)])
    return np.fromfile(out_path, dtype="<f4").reshape(len(tokens), shape.vocab)


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
    """The region's threads spin at barriers: more of them than usable CPUs would time the
    scheduler."""
    usable = len(os.sched_getaffinity(0))
    if max(threads) > usable:
        raise cli.UsageError(f"--threads must be at most the {usable} usable CPU(s): the region's threads spin at "
                             f"barriers, got {max(threads)}")


def _program_cell(program: Path, shape, prompt: list[int], max_new_tokens: int, threads: int) -> dict:
    """The program's decode in the native runner, beside the region, and its bytes per token."""
    from examples.generation.bytes_per_token import bytes_per_token, decode_position
    from examples.runner.text_generation_client import generate_tokens

    report = generate_tokens(program, prompt, max_new_tokens=max_new_tokens, threads=threads, timeout=600)
    accounting = bytes_per_token("executorch", program, shape, decode_position(len(prompt), max_new_tokens))
    return {"program_tok_s": report["decode_tok_s"], "program_bytes": accounting["total"]}


def measure(shape, group_size: int, threads: list[int], rounds: int, prompt_len: int, max_new_tokens: int,
            work_dir: Path, program: Path | None = None, progress=print) -> dict:
    """``{threads: [cell per round]}``, a cell ``{"probe_gb_s", "step_bytes", "region_ms",
    "region_fraction"}`` (and ``"program_tok_s"``, ``"program_bytes"``, ``"program_fraction"``
    with ``program``): the bandwidth probe over the step's bytes just before, then the region
    over the benchmark's decode positions, then the program's decode."""
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
                    "region_fraction": fraction_of_limit(1e3 / ms, probe, nbytes)}
            if program:
                cell.update(_program_cell(program, shape, prompt, max_new_tokens, n))
                cell["program_fraction"] = fraction_of_limit(cell["program_tok_s"], probe, cell["program_bytes"])
            cells[n].append(cell)
    return cells


def summary_rows(cells: dict) -> list[list]:
    """Per thread count and row (the region; the program): medians over the rounds of ms per
    token, bytes per token and probe GB/s, and decode / limit (median, range over rounds)."""
    rows = []
    for n, rounds in cells.items():
        probe = statistics.median(r["probe_gb_s"] for r in rounds)
        for name, ms, nbytes, key in (("one region (probe)", lambda r: r["region_ms"], "step_bytes", "region_fraction"),
                                      ("program (runner)", lambda r: 1e3 / r["program_tok_s"], "program_bytes",
                                       "program_fraction")):
            if key not in rounds[0]:
                continue
            fractions = [r[key] for r in rounds]
            rows.append([n, name, f"{statistics.median(ms(r) for r in rounds):.3f}",
                         f"{statistics.median(r[nbytes] for r in rounds) / 1e6:.1f}", f"{probe:.1f}",
                         f"{100 * statistics.median(fractions):.0f} % ({100 * min(fractions):.0f}-"
                         f"{100 * max(fractions):.0f} %)"])
    return rows
