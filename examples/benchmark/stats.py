"""Latency summaries, the same for every backend (numpy-free: the peer worker imports it too)."""

from __future__ import annotations

import math
from typing import Sequence

SUMMARY_KEYS = ("mean", "median", "p90", "min", "max")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in (0, 100] (the native runner computes p90 the same way)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return ordered[max(math.ceil(q / 100.0 * len(ordered)), 1) - 1]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def summarize(times_ms: Sequence[float]) -> dict[str, float]:
    """``{"mean", "median", "p90", "min", "max"}`` of the measured iterations, in ms."""
    return {
        "mean": sum(times_ms) / len(times_ms),
        "median": median(times_ms),
        "p90": percentile(times_ms, 90),
        "min": min(times_ms),
        "max": max(times_ms),
    }


def split_iterations(times_ms: Sequence[float], warmup: int) -> tuple[float, list[float]]:
    """The classic methodology on a list of all iterations: ``(first, measured)``.

    Iteration 1 is reported alone; the first ``warmup`` iterations (iteration 1 included) are
    dropped; the rest are measured. With ``warmup == 0`` iteration 1 is also measured.
    """
    if len(times_ms) <= warmup:
        raise ValueError(f"{len(times_ms)} iteration(s) do not leave any after {warmup} warm-up")
    return times_ms[0], list(times_ms[warmup:])
