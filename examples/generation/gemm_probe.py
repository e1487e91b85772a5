"""XNNPACK's 4-bit GEMM alone against the read-bandwidth probe over the same bytes.

    python -m examples.backend.gemm_probe --model stories110m --group_size 32 --threads 1,2 \\
        [--schedules per_operator,one_region] [--rounds 5] [--json out.json]
        (the command: examples/backend/gemm_probe.py)

A decode step's profile (:mod:`examples.generation.step_profile`) times the GEMM inside the
step, where the KV cache, the activations and the runtime share the cache with the weights.
This runs the same XNNPACK operator (``cmake-out/xnnpack_gemm_probe``: int8 dynamic activations
x int4 weights in groups of ``--group_size``, 0 per channel, bf16 scales) over the model's
linear layers, nothing else, and probes read bandwidth over a buffer of the same bytes just
before, round by round. The ratio says how close XNNPACK's kernel can stream the weights on
this CPU: what a decode step could reach if everything around the GEMM cost nothing.

Two schedules share the threads (the binary's ``--schedule``): ``per_operator``, one pool job
per linear joined before the next, as a program's delegate runs them; and ``one_region``, one
pool job a token in which each thread multiplies its own slice of every linear's rows and the
threads meet at a spin barrier wherever the next linears read the previous ones' whole output
(:func:`decode_groups`): what a decode step with one parallel region per block could reach.
"""

from __future__ import annotations

import json
import statistics
import os
import subprocess
from pathlib import Path

from examples.common import cli
from examples.runner.client import REPO_ROOT

GEMM_PROBE = REPO_ROOT / "cmake-out" / "xnnpack_gemm_probe"


SCHEDULES = ("per_operator", "one_region")


def decode_groups(shape) -> list[list[tuple[int, int]]]:
    """``(out_features, in_features)`` of every linear a decode step multiplies, in order, in
    groups that need only the previous groups' outputs: per layer (q, k, v), (o), (w1, w3), (w2),
    then the output projection."""
    head_dim = shape.dim // shape.n_heads
    kv_dim = (shape.n_kv_heads or shape.n_heads) * head_dim
    hidden = shape.ffn_hidden_dim()
    layer = [[(shape.dim, shape.dim), (kv_dim, shape.dim), (kv_dim, shape.dim)], [(shape.dim, shape.dim)],
             [(hidden, shape.dim), (hidden, shape.dim)], [(shape.dim, hidden)]]
    return layer * shape.n_layers + [[(shape.vocab_size, shape.dim)]]


def linear_shapes(shape) -> list[tuple[int, int]]:
    """The linears of :func:`decode_groups`, one list: per layer q, k, v, o, w1, w3, w2, then the
    output projection."""
    return [linear for group in decode_groups(shape) for linear in group]


def shapes_spec(groups) -> str:
    """The binary's ``--shapes``: a group's linears joined by ``,``, groups by ``;`` (a barrier)."""
    return ";".join(",".join(f"{n}x{k}" for n, k in group) for group in groups)


def too_many_to_spin(threads) -> int | None:
    """The usable CPUs where a region of ``max(threads)`` spinning threads would outnumber them
    (it would time the scheduler: a waiting thread spins while the one it waits for has no CPU),
    else None."""
    import os

    usable = len(os.sched_getaffinity(0))
    return usable if max(threads) > usable else None


def check_region_threads(schedules, threads) -> None:
    """``one_region``'s threads spin at its barriers (:func:`too_many_to_spin`)."""
    usable = too_many_to_spin(threads) if "one_region" in schedules else None
    if usable:
        raise cli.UsageError(f"--schedules one_region needs --threads at most the {usable} usable CPU(s): its "
                             f"threads spin at barriers, got {max(threads)}")


def check_group_size(shapes, group_size: int) -> None:
    """XNNPACK's blockwise int4 GEMM takes blocks of a multiple of 32 that divide every K (per
    channel: the block is K)."""
    widths = sorted({k for _, k in shapes})
    if group_size and (group_size % 32 or any(k % group_size for k in widths)):
        raise cli.UsageError(f"--group_size must be 0 or a multiple of 32 dividing every input width "
                             f"({', '.join(map(str, widths))}), got {group_size}")
    if not group_size and any(k % 32 for k in widths):
        raise cli.UsageError(f"per channel needs input widths that are multiples of 32, got {', '.join(map(str, widths))}")


def weight_bytes(shapes, group_size: int) -> int:
    """What one sweep reads, as the program file holds it: int4 values and a bf16 scale per group."""
    return sum(n * k // 2 + n * (k // (group_size or k)) * 2 for n, k in shapes)


MAX_THREADS = 256  # the probe binary's bound
# glibc (2.35+) asks for 2 MiB pages for its large blocks: the packed weights sit in them, as the
# bandwidth probe's buffer does and the text generation runner's do with --huge_pages
# (runtime/executor_runner/huge_pages.h). A request: the kernel may still give 4 KiB pages.
HUGE_PAGE_MALLOC = "glibc.malloc.hugetlb=1"


def _with_tunable(current: str | None) -> str:
    """The caller's glibc tunables with HUGE_PAGE_MALLOC added (tunables are colon-separated)."""
    return f"{current}:{HUGE_PAGE_MALLOC}" if current else HUGE_PAGE_MALLOC


def check_built(binary=GEMM_PROBE) -> None:
    if not Path(binary).is_file():
        raise cli.UsageError(f"{binary} is not built (./setup.sh builds it)")


def run_gemm(groups, group_size: int, threads: int, schedule: str = "per_operator", binary=GEMM_PROBE) -> dict:
    """One run of the probe binary (5 timed passes) over ``groups`` (:func:`decode_groups`); the
    outputs of its last pass must add up to what the weights say (the timed product was
    computed), else an error."""
    check_built(binary)
    try:
        proc = subprocess.run([str(binary), "--shapes", shapes_spec(groups), "--block_size", str(group_size),
                               "--threads", str(threads), "--schedule", schedule, "--passes", "5"],
                              capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, GLIBC_TUNABLES=_with_tunable(os.environ.get("GLIBC_TUNABLES"))))
    except subprocess.TimeoutExpired:
        raise cli.CliError("xnnpack_gemm_probe took more than 600 s") from None
    if proc.returncode != 0:
        message = cli.first_line(proc.stderr).removeprefix("error: ")
        raise cli.CliError(message or f"xnnpack_gemm_probe exited {proc.returncode}")
    try:
        result = json.loads(proc.stdout)
        result["output_sum"], result["expected_sum"], result["xnnpack_build"], result["ms_per_sweep"]
        if result["schedule"] != schedule:
            raise KeyError("schedule")
    except (ValueError, KeyError, TypeError):
        raise cli.CliError(f"{binary} printed no result this version reads (rebuild it: ./setup.sh)") from None
    if abs(result["output_sum"] - result["expected_sum"]) > 1e-6 * max(1.0, abs(result["expected_sum"])):
        raise cli.CliError(f"XNNPACK's outputs add up to {result['output_sum']}, the weights say "
                           f"{result['expected_sum']}: the probe does not compute the product it times")
    return result


def measure(groups, group_size: int, threads: list[int], rounds: int, schedules=SCHEDULES,
            progress=print) -> tuple[dict, dict]:
    """``{threads: [{"probe_gb_s", "weight_bytes", then per schedule "<schedule>_ms" and
    "<schedule>_gb_s"} per round]}``: the bandwidth probe taken just before the GEMM runs over the
    bytes they read, the schedules one after the other; and how both were measured
    (``{"probe": method, "xnnpack_build": ...}``)."""
    from examples.generation.bandwidth import read_bandwidth

    cells, how = {n: [] for n in threads}, {}
    nbytes = weight_bytes([linear for group in groups for linear in group], group_size)
    for round_index in range(rounds):
        progress(f"round {round_index + 1}/{rounds}")
        for n in threads:
            probe = read_bandwidth(nbytes // 64 * 64, n)
            cell = {"probe_gb_s": probe["gb_s"], "weight_bytes": nbytes}
            for schedule in schedules:
                gemm = run_gemm(groups, group_size, n, schedule)
                ms = statistics.median(gemm["ms_per_sweep"])
                cell.update({f"{schedule}_ms": ms, f"{schedule}_gb_s": nbytes / ms / 1e6})
            cells[n].append(cell)
            how = {"probe": probe["method"], "xnnpack_build": gemm["xnnpack_build"]}
    return cells, how


def summary_rows(cells: dict, schedules=SCHEDULES) -> list[list]:
    """Per thread count and schedule: medians over the rounds of ms per token, GB/s and the
    probe's GB/s, and GEMM / probe (median, range); a schedule after the first also gets its
    per-round speed over the first's (median, range)."""
    rows = []
    for n, rounds in cells.items():
        for schedule in schedules:
            ratios = [r[f"{schedule}_gb_s"] / r["probe_gb_s"] for r in rounds]
            speedups = [r[f"{schedules[0]}_ms"] / r[f"{schedule}_ms"] for r in rounds]
            rows.append([n, schedule, f"{statistics.median(r[f'{schedule}_ms'] for r in rounds):.2f}",
                         f"{statistics.median(r[f'{schedule}_gb_s'] for r in rounds):.1f}",
                         f"{statistics.median(r['probe_gb_s'] for r in rounds):.1f}",
                         f"{100 * statistics.median(ratios):.0f} % ({100 * min(ratios):.0f}-{100 * max(ratios):.0f} %)",
                         "-" if schedule == schedules[0] else
                         f"{statistics.median(speedups):.2f}x ({min(speedups):.2f}-{max(speedups):.2f})"])
    return rows
