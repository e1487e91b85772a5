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


def _pooled_medians(rounds: Sequence[Sequence[float]], picks: np.ndarray) -> np.ndarray:
    """Median of the samples of the rounds in each row of ``picks`` (round indices)."""
    arrays = [_array(r) for r in rounds]
    if len({a.size for a in arrays}) == 1:  # the usual case: one vectorised median
        stacked = np.stack(arrays)
        return np.median(stacked[picks].reshape(picks.shape[0], -1), axis=1)
    return np.array([np.median(np.concatenate([arrays[i] for i in row])) for row in picks])


def pooled_median(rounds: Sequence[Sequence[float]]) -> float:
    """The median of all samples of all rounds."""
    return median(np.concatenate([_array(r) for r in rounds]))


def bootstrap_ratio_of_medians(baseline_rounds: Sequence[Sequence[float]], rounds: Sequence[Sequence[float]],
                               confidence: float = 0.95, resamples: int = 2000,
                               seed: int = 0) -> tuple[float, float, float]:
    """``(ratio, low, high)``: median(rounds) / median(baseline_rounds) over all samples, and
    its bootstrap percentile interval.

    Each side resamples whole rounds with replacement (its rounds are the independent unit;
    consecutive iterations inside a round are correlated, so resampling them would make the
    interval too narrow). Seeded: the same inputs give the same interval.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not baseline_rounds or not rounds:
        raise ValueError("no rounds")
    rng = np.random.default_rng(seed)
    base = _pooled_medians(baseline_rounds, rng.integers(0, len(baseline_rounds), (resamples, len(baseline_rounds))))
    new = _pooled_medians(rounds, rng.integers(0, len(rounds), (resamples, len(rounds))))
    ratios = new / base
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return pooled_median(rounds) / pooled_median(baseline_rounds), float(low), float(high)
