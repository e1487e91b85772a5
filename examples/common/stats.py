"""The one definition of every latency statistic in the toolkit.

Percentiles use numpy's default method (linear interpolation between closest ranks), which
is what readers assume; every report says so through :data:`PERCENTILE_METHOD`. The native
runner reports raw samples only; the benchmark, profiler, tune and compare compute their
figures here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Sequence

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


def _pooled_medians(rounds: Sequence[Sequence[float]], picks: np.ndarray) -> np.ndarray:
    """Median of the samples of the rounds in each row of ``picks`` (round indices), exactly
    as ``np.median`` of those rounds concatenated, without building each resample: a resample
    is a count per round, so its median is found in the samples sorted once, each weighted by
    its round's count (the bootstrap's hot loop: thousands of resamples per verdict)."""
    arrays = [_array(r) for r in rounds]
    values = np.concatenate(arrays)
    if np.isnan(values).any() or picks.shape[0] == 0:  # np.median's answer: NaN wherever it is
        return np.array([np.median(np.concatenate([arrays[i] for i in row])) for row in picks])
    order = np.argsort(values, kind="stable")
    round_of = np.repeat(np.arange(len(arrays)), [a.size for a in arrays])[order]
    # upto[r, j]: samples of round r among the j+1 smallest values
    upto = np.cumsum(round_of[None, :] == np.arange(len(arrays))[:, None], axis=1, dtype=np.float64)
    rows = max(1, _MEDIAN_BLOCK_ELEMENTS // values.size)  # bounds the per-resample arrays
    values = values[order]
    return np.concatenate([_weighted_medians(values, upto, picks[i:i + rows])
                           for i in range(0, picks.shape[0], rows)])


_MEDIAN_BLOCK_ELEMENTS = 1 << 22


def _weighted_medians(values: np.ndarray, upto: np.ndarray, picks: np.ndarray) -> np.ndarray:
    resamples, n_rounds = picks.shape
    counts = np.bincount((np.arange(resamples)[:, None] * n_rounds + picks).ravel(),
                         minlength=resamples * n_rounds).reshape(resamples, n_rounds)
    covered = counts.astype(np.float64) @ upto  # per resample: its samples among the j+1 smallest
    total = covered[:, -1]
    # One search for all resamples: each row shifted above the previous one keeps the whole sorted.
    shift = np.arange(resamples) * (total.max() + 1)
    flat = (covered + shift[:, None]).ravel()
    row_start = np.arange(resamples) * values.size

    def value_at(rank: np.ndarray) -> np.ndarray:  # the rank-th (0-based) sample of each resample
        return values[np.searchsorted(flat, rank + shift, side="right") - row_start]

    return (value_at((total - 1) // 2) + value_at(total // 2)) / 2


def pooled_median(rounds: Sequence[Sequence[float]]) -> float:
    """The median of all samples of all rounds."""
    return median(np.concatenate([_array(r) for r in rounds]))


# --- verdicts ------------------------------------------------------------------------------
# The one rule every verdict in the toolkit follows (benchmark summary lines, the published
# peers / int8 / AMX tables, tune, compare): a ratio of medians over whole interleaved rounds,
# an expanded-percentile bootstrap interval (percentile bootstrap intervals are too narrow
# with few rounds; Hesterberg's expansion widens them to the t interval's width), a minimum
# number of rounds below which there is no verdict, and a noise floor the whole interval must
# clear.

FASTER, SLOWER, WITHIN_NOISE, TOO_FEW_ROUNDS = "faster", "slower", "within noise", "not enough rounds"
NO_VERDICT = "no verdict"  # a median or an interval end is not a finite positive number
# Fewest judged rounds for a verdict: with fewer, chance alone gives false verdicts more often
# than the calibration test (tests/test_verdict_calibration.py) allows.
MIN_VERDICT_ROUNDS = 5


@dataclass(frozen=True)
class Verdict:
    """``new`` against ``base``: ``ratio`` = median(new) / median(base) (below 1: new faster)."""

    ratio: float
    low: float | None
    high: float | None
    word: str  # FASTER, SLOWER, WITHIN_NOISE, TOO_FEW_ROUNDS or NO_VERDICT
    rounds: int  # rounds judged
    floor: float = 0.0  # relative effect the ratio had to exceed (noise floor), e.g. 0.03

    @property
    def decided(self) -> bool:
        return self.word in (FASTER, SLOWER)

    def interval_text(self) -> str:
        return "-" if self.low is None else f"[{self.low:.2f}, {self.high:.2f}]"

    def describe(self) -> str:
        """``"not enough rounds for a verdict (need 5, have 3)"`` or the word itself."""
        if self.word == TOO_FEW_ROUNDS:
            return f"not enough rounds for a verdict (need {MIN_VERDICT_ROUNDS}, have {self.rounds})"
        if self.word == NO_VERDICT:
            return "no verdict: a median or an interval end is not a number"
        return self.word

    def as_dict(self) -> dict:
        return {"ratio": self.ratio, "ci_low": self.low, "ci_high": self.high, "verdict": self.word,
                "rounds_judged": self.rounds, "noise_floor": self.floor}


def _expanded_tail(n: int, confidence: float) -> float:
    """Tail probability (%) of Hesterberg's expanded percentile interval for ``n`` units."""
    from scipy import stats as scipy_stats

    if n < 2:
        return (1.0 - confidence) / 2 * 100
    t = scipy_stats.t.ppf(1 - (1 - confidence) / 2, n - 1)
    return float(scipy_stats.norm.sf(np.sqrt(n / (n - 1)) * t)) * 100


# Paired rounds up to this many: the bootstrap distribution is enumerated, every multiset of round
# indices with its probability (C(2n - 1, n) of them: 6435 at 8 rounds), so the interval depends
# on no seed. Its tails are thin there (0.1 % of each side at 5 rounds): a few thousand random
# resamples put a handful of draws in them, and the interval's end moved with the seed.
EXACT_BOOTSTRAP_MAX_ROUNDS = 8
# Random resamples otherwise: at least this many draws beyond each end of the interval.
_DRAWS_PER_TAIL = 100


@functools.lru_cache(maxsize=None)
def _every_resample(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every multiset of ``n`` round indices drawn with replacement (rows of sorted indices) and
    its bootstrap probability, n! / (prod count! n^n)."""
    from itertools import combinations_with_replacement
    from math import lgamma, log

    rows = np.array(list(combinations_with_replacement(range(n), n)), dtype=np.int64)
    counts = np.stack([np.bincount(row, minlength=n) for row in rows])
    log_weight = lgamma(n + 1) - n * log(n) - np.vectorize(lambda c: lgamma(c + 1))(counts).sum(axis=1)
    weights = np.exp(log_weight)
    rows.setflags(write=False)  # cached: shared by every later call
    weights.setflags(write=False)
    return rows, weights


# Unpaired rounds are never enumerated; with 2-4 of them the tails are so thin that 100 draws
# beyond each end would take billions of resamples: the count stops here.
_MAX_RANDOM_RESAMPLES = 100_000


def random_resamples(tail_percent: float) -> int:
    """Random bootstrap resamples that put at least ``_DRAWS_PER_TAIL`` draws beyond each end of an
    interval whose tails hold ``tail_percent`` each (never fewer than 4000, never more than
    ``_MAX_RANDOM_RESAMPLES``)."""
    return int(min(_MAX_RANDOM_RESAMPLES, max(4000, np.ceil(_DRAWS_PER_TAIL / (tail_percent / 100)))))


def _ratio(new: float, base: float) -> float:
    """new / base, with inf or NaN (not an exception) where base is 0: judge gives no verdict."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(new) / np.float64(base))


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, tail_percent: float) -> tuple[float, float]:
    """The ``tail_percent`` and ``100 - tail_percent`` quantiles of a discrete distribution: the
    least value whose cumulative probability reaches each."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order]) / weights.sum()
    at = np.searchsorted(cumulative, [tail_percent / 100, 1 - tail_percent / 100])
    return tuple(float(values[order][min(i, len(values) - 1)]) for i in at)


def ratio_interval(base_rounds: Sequence[Sequence[float]], new_rounds: Sequence[Sequence[float]], *,
                   paired: bool, confidence: float = 0.95, resamples: int | None = None,
                   seed: int = 0) -> tuple[float, float, float]:
    """``(ratio, low, high)``: pooled median of ``new_rounds`` / that of ``base_rounds`` and its
    expanded-percentile bootstrap interval over whole rounds.

    ``paired``: the rounds were interleaved (round i of both sides ran in the same pass), so
    both sides resample the same round indices and a slow pass slows both; otherwise each side
    resamples its own rounds. Iterations inside a round are never resampled (they are
    correlated). Paired rounds up to ``EXACT_BOOTSTRAP_MAX_ROUNDS``: the exact bootstrap
    distribution; otherwise ``resamples`` random ones (None: enough for 100 draws beyond each
    end), seeded, so the same inputs give the same interval.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not base_rounds or not new_rounds:
        raise ValueError("no rounds")
    if paired and len(base_rounds) != len(new_rounds):
        raise ValueError(f"paired rounds differ in number: {len(base_rounds)} vs {len(new_rounds)}")
    tail = _expanded_tail(min(len(base_rounds), len(new_rounds)), confidence)
    ratio = _ratio(pooled_median(new_rounds), pooled_median(base_rounds))
    if paired and len(base_rounds) <= EXACT_BOOTSTRAP_MAX_ROUNDS:
        picks, weights = _every_resample(len(base_rounds))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = _pooled_medians(new_rounds, picks) / _pooled_medians(base_rounds, picks)
        return (ratio, *_weighted_quantiles(ratios, weights, tail))
    if resamples is None:
        resamples = random_resamples(tail)
    rng = np.random.default_rng(seed)
    base_picks = rng.integers(0, len(base_rounds), (resamples, len(base_rounds)))
    new_picks = base_picks if paired else rng.integers(0, len(new_rounds), (resamples, len(new_rounds)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = _pooled_medians(new_rounds, new_picks) / _pooled_medians(base_rounds, base_picks)
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return ratio, float(low), float(high)


def median_interval(rounds: Sequence[Sequence[float]], *, confidence: float = 0.95, resamples: int | None = None,
                    seed: int = 0) -> tuple[float, float, float]:
    """``(median, low, high)``: the pooled median of ``rounds`` and its expanded-percentile
    bootstrap interval over whole rounds (:func:`ratio_interval` against rounds of ones), for a
    figure that is already a per-round ratio, e.g. each round's decode against its own probe."""
    ones = [[1.0] for _ in rounds]
    return ratio_interval(ones, rounds, paired=True, confidence=confidence, resamples=resamples, seed=seed)


def judge(base_rounds: Sequence[Sequence[float]], new_rounds: Sequence[Sequence[float]], *, paired: bool,
          floor: float = 0.0, min_rounds: int = MIN_VERDICT_ROUNDS, confidence: float = 0.95,
          resamples: int | None = None, seed: int = 0) -> Verdict:
    """The verdict on ``new`` against ``base``: faster / slower when the whole interval lies
    beyond the noise band ``[1 / (1 + floor), 1 + floor]`` (``floor``: the measured noise, A/A
    spread or run-to-run drift; 0: the interval must exclude 1), else within noise; no verdict
    from fewer than ``min_rounds`` rounds on a side, or from figures that are not numbers."""
    rounds = min(len(base_rounds), len(new_rounds))
    if rounds < min_rounds:
        ratio = _ratio(pooled_median(new_rounds), pooled_median(base_rounds)) if rounds else float("nan")
        return Verdict(ratio, None, None, TOO_FEW_ROUNDS, rounds, floor)
    ratio, low, high = ratio_interval(base_rounds, new_rounds, paired=paired, confidence=confidence,
                                      resamples=resamples, seed=seed)
    if not all(np.isfinite(v) and v > 0 for v in (ratio, low, high)):
        return Verdict(ratio, None, None, NO_VERDICT, rounds, floor)
    band = 1.0 + floor  # an interval end inside the band could be noise alone
    word = WITHIN_NOISE
    if high < 1.0 / band:
        word = FASTER
    elif low > band:
        word = SLOWER
    return Verdict(ratio, low, high, word, rounds, floor)


def noise_floor(verdict: Verdict) -> float:
    """The relative spread an A/A pair (one program measured as two rows) showed: the farthest
    of its ratio and interval ends from 1. A verdict's whole interval must clear it. An A/A
    verdict without an interval (too few rounds, figures that are not numbers) measured no floor:
    a ValueError, so that it is never taken for a floor of 0."""
    ends = (verdict.ratio, verdict.low, verdict.high)
    if verdict.low is None or not all(np.isfinite(v) and v > 0 for v in ends):
        raise ValueError(f"the A/A verdict measured no noise floor ({verdict.describe()})")
    return float(np.expm1(max(abs(np.log(v)) for v in ends)))


def floor_on(base_rounds: Sequence[Sequence[float]], again_rounds: Sequence[Sequence[float]],
             indices: Sequence[int]) -> float | None:
    """The noise floor of one program timed as two rows (A/A) on the rounds ``indices``: those the
    verdict it serves judges. None where a row lacks one of those rounds, where they are too few
    for a verdict (then the verdict it serves has none either) or gave no number. The one home of
    the A/A floor: every verdict's floor comes from here."""
    indices = list(indices)
    if not indices or max(indices) >= min(len(base_rounds), len(again_rounds)):
        return None
    aa = judge([base_rounds[i] for i in indices], [again_rounds[i] for i in indices], paired=True)
    return noise_floor(aa) if aa.low is not None else None


def judging_rounds_floor(base_rounds: Sequence[Sequence[float]], again_rounds: Sequence[Sequence[float]],
                         count: int) -> float | None:
    """:func:`floor_on` the judging (odd) rounds among the first ``count``: the rounds a held-out
    verdict uses."""
    return floor_on(base_rounds, again_rounds, selection_rounds(min(count, len(base_rounds), len(again_rounds)))[1])


GOAL_MET, GOAL_NOT_MET, GOAL_UNDECIDED = "met", "not met", "undecided"


def against_goal(low: float | None, high: float | None, goal: float) -> str:
    """Whether a figure whose interval is ``[low, high]`` (higher is better) reaches ``goal``:
    met when the whole interval does, not met when none of it does, undecided when it
    straddles the goal (the rounds cannot tell; more of them or a quieter machine would).
    A point estimate alone never decides: without an interval the answer is undecided."""
    if low is None or high is None:
        return GOAL_UNDECIDED
    if low >= goal:
        return GOAL_MET
    if high < goal:
        return GOAL_NOT_MET
    return GOAL_UNDECIDED


def selection_rounds(count: int) -> tuple[list[int], list[int]]:
    """Held-out selection: ``(choose, judge)`` round indices, even rounds choose, odd judge. Rounds
    count from 0 here and in every text that says "even rounds": the 1st, 3rd, 5th ... rounds run
    choose, the 2nd, 4th, 6th ... judge."""
    return list(range(0, count, 2)), list(range(1, count, 2))


def held_out_choice(names: Sequence[str], score: Callable[[str, list[int]], float],
                    count: int) -> tuple[str, list[int], bool]:
    """``(name, judged rounds, held out)``: one name is judged on every round; of several, the one
    with the highest ``score(name, choosing rounds)`` on the even rounds is judged on the odd ones."""
    names = list(names)
    if len(names) == 1:
        return names[0], list(range(count)), False
    choose, judged = selection_rounds(count)
    return max(names, key=lambda name: score(name, choose)), judged, True


def keep_default_unless_faster(challenger: str, default: str, verdict_word: str | None) -> str:
    """What a tuner writes: the challenger only where its verdict against the default program
    says faster (beyond the noise floor); a challenger within noise, slower or without a
    verdict leaves the default program in place. The rule of both tuners (examples/tune)."""
    return challenger if challenger == default or verdict_word == FASTER else default


@dataclass(frozen=True)
class Selection:
    """The row each side fields and the verdict on them (``ours`` against ``theirs``)."""

    ours: str
    theirs: str
    verdict: Verdict
    held_out: bool  # True: rows chosen on other rounds than the judged ones


def select_and_judge(ours: dict[str, Sequence[Sequence[float]]], theirs: dict[str, Sequence[Sequence[float]]],
                     *, floor: float | Callable[[list[int]], float] = 0.0, min_rounds: int = MIN_VERDICT_ROUNDS,
                     confidence: float = 0.95, seed: int = 0) -> Selection:
    """Each side's fastest row against the other's, without the winner's curse.

    Rows are ``{name: rounds}``, all from one interleaved run (round i of every row ran in
    the same pass). When a side has several rows, each side's row is chosen on the even
    rounds and the verdict is made on the odd rounds only, so chance in the choice cannot
    flatter the verdict; with one row per side every round is judged. ``floor``: the noise floor,
    or a function of the judged round indices that measures it on those rounds (an A/A pair's).
    """
    if not ours or not theirs:
        raise ValueError("each side needs at least one row")
    count = min(len(r) for r in (*ours.values(), *theirs.values()))
    held_out = len(ours) > 1 or len(theirs) > 1
    choose, judged = selection_rounds(count) if held_out else (list(range(count)), list(range(count)))

    def pick(side: dict) -> str:
        if len(side) == 1:
            return next(iter(side))
        return min(side, key=lambda name: pooled_median([side[name][i] for i in choose]))

    mine, peer = pick(ours), pick(theirs)
    floor = floor(judged) if callable(floor) else floor
    if not judged:  # a single round: nothing left to judge on; the ratio is shown, no verdict
        ratio = pooled_median(ours[mine]) / pooled_median(theirs[peer])
        return Selection(mine, peer, Verdict(ratio, None, None, TOO_FEW_ROUNDS, 0, floor), held_out)
    verdict = judge([theirs[peer][i] for i in judged], [ours[mine][i] for i in judged], paired=True,
                    floor=floor, min_rounds=min_rounds, confidence=confidence, seed=seed)
    return Selection(mine, peer, verdict, held_out)
