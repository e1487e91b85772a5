"""The one definition of every latency statistic in the toolkit.

Percentiles use numpy's default method (linear interpolation between closest ranks), which
is what readers assume; every report says so through :data:`PERCENTILE_METHOD`. The native
runner reports raw samples only; the benchmark, profiler, tune and compare compute their
figures here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PERCENTILE_METHOD = "linear interpolation (numpy default)"
SUMMARY_KEYS = ("mean", "median", "p90", "min", "max")


def _array(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError("no values")
    return array


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (``q`` in [0, 100]), numpy's linear interpolation."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    return float(np.percentile(_array(values), q))


def median(values: Sequence[float]) -> float:
    return float(np.median(_array(values)))


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """``{"mean", "median", "p90", "min", "max"}`` of measured iterations, in ms."""
    a = _array(samples_ms)
    return {"mean": float(a.mean()), "median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "min": float(a.min()), "max": float(a.max())}


def split_iterations(times_ms: Sequence[float], warmup: int) -> tuple[float, list[float]]:
    """The classic methodology on a list of all iterations: ``(first, measured)``.

    Iteration 1 is reported alone; the first ``warmup`` iterations (iteration 1 included) are
    dropped; the rest are measured. With ``warmup == 0`` iteration 1 is also measured.
    """
    if len(times_ms) <= warmup:
        raise ValueError(f"{len(times_ms)} iteration(s) do not leave any after {warmup} warm-up")
    return float(times_ms[0]), [float(t) for t in times_ms[warmup:]]


def median_of_rounds(rounds: Sequence[Sequence[float]]) -> float:
    """The median over rounds of each round's median: interleaved rounds are the unit of
    repetition, so a transient slowdown moves one round's figure, not the result."""
    return median([median(r) for r in rounds])
