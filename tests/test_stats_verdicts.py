"""The one verdict rule (examples/common/stats.py): rounds needed, the noise floor, pairing,
held-out selection, and identical programs counted once."""

from __future__ import annotations

import numpy as np
import pytest

from examples.common import stats
from tests.helpers_results import null_rounds


def _rows(levels, iters=20, sd=0.01, seed=0):
    rng = np.random.default_rng(seed)
    return [list(level * rng.lognormal(0, sd, iters)) for level in levels]


def test_fewer_rounds_than_the_minimum_give_no_verdict():
    base, new = _rows([2.0] * 10), _rows([1.0] * 10, seed=1)
    assert stats.judge(base, new, paired=True).word == stats.FASTER
    few = stats.judge(base[:4], new[:4], paired=True)
    assert few.word == stats.TOO_FEW_ROUNDS and few.low is None
    assert few.describe() == f"not enough rounds for a verdict (need {stats.MIN_VERDICT_ROUNDS}, have 4)"


def test_an_effect_inside_the_noise_floor_is_no_verdict():
    base, new = _rows([2.0] * 10), _rows([1.9] * 10, seed=1)
    clear = stats.judge(base, new, paired=True)
    assert clear.word == stats.FASTER and clear.high < 1
    assert stats.judge(base, new, paired=True, floor=0.08).word == stats.WITHIN_NOISE
    assert stats.judge(new, base, paired=True, floor=0.03).word == stats.SLOWER


def test_the_whole_interval_must_clear_the_noise_floor():
    """An interval that excludes 1 but reaches into the noise band [1 / (1 + f), 1 + f] could be
    noise alone: within noise, although the point estimate lies beyond the band."""
    base, new = _rows([2.0] * 10), _rows([1.9] * 10, seed=1, sd=0.03)
    v = stats.judge(base, new, paired=True)
    assert v.word == stats.FASTER
    floor = (1 / v.high - 1 + 1 / v.ratio - 1) / 2  # the band's edge between the interval's end and the ratio
    assert v.ratio < 1 / (1 + floor) < v.high
    assert stats.judge(base, new, paired=True, floor=floor).word == stats.WITHIN_NOISE
    assert stats.judge(new, base, paired=True, floor=floor).word == stats.WITHIN_NOISE
    clear = (1 / v.high - 1) / 2  # the whole interval beyond the band
    assert stats.judge(base, new, paired=True, floor=clear).word == stats.FASTER
    assert stats.judge(new, base, paired=True, floor=clear).word == stats.SLOWER


def test_figures_that_are_not_numbers_give_no_verdict_and_no_floor():
    base, new = _rows([2.0] * 10), _rows([1.0] * 10, seed=1)
    new[3] = [float("nan")] * len(new[3])
    v = stats.judge(base, new, paired=True)
    assert v.word == stats.NO_VERDICT and v.low is None and not v.decided
    assert "not a number" in v.describe()
    with pytest.raises(ValueError, match="no noise floor"):
        stats.noise_floor(v)
    with pytest.raises(ValueError, match="no noise floor"):
        stats.noise_floor(stats.judge(base[:3], new[:3], paired=True))


def test_a_floor_from_too_few_judging_rounds_is_none():
    base, again = _rows([2.0] * 10), _rows([2.0] * 10, seed=1)
    assert stats.judging_rounds_floor(base, again, 10) is not None  # 5 odd rounds
    assert stats.judging_rounds_floor(base, again, 9) is None  # 4 odd rounds: no verdict, no floor


def test_a_held_out_verdict_gets_the_aa_spread_of_its_own_rounds():
    """The cell's floor comes from the rounds the verdict judges: an A/A pair that agrees on the
    choosing rounds and spreads on the judging ones must not lend the verdict a narrow floor."""
    from examples.benchmark.records import aa_floor, judge_sides

    def rec(backend, rounds, digest, **extra):
        return {"backend": backend, "model": "m", "threads": 1, "status": "ok", "median_ms": 1.0,
                "rounds_samples_ms": rounds, "version": "executorch", "artifact_digest": digest, "precision": "fp32",
                **extra}

    fp32 = _rows([1.0] * 10)
    twin = [[x * {1: 1.15, 3: 0.88}.get(i, 1.0) for x in r] for i, r in enumerate(fp32)]  # two judging rounds off
    cell = [rec("xnnpack_fp32", fp32, "d1"), rec("xnnpack_q8", _rows([0.95] * 10, seed=3), "d2"),
            rec("ort_fp32", _rows([1.02] * 10, seed=4), "d3"), rec("aa_twin", twin, "d1", aa_of="xnnpack_fp32")]
    odd = stats.selection_rounds(10)[1]
    assert aa_floor(cell, odd) > 0.1 > 0.02 > aa_floor(cell)  # every round: a median that hides them
    judged = judge_sides(cell[:3], cell)
    assert judged["held_out_selection"] and judged["noise_floor"] == pytest.approx(aa_floor(cell, odd))
    assert judged["verdict"] == stats.WITHIN_NOISE


def test_few_paired_rounds_get_the_exact_bootstrap_interval(monkeypatch):
    """Up to EXACT_BOOTSTRAP_MAX_ROUNDS paired rounds the interval comes from every resample with
    its probability: no random number is drawn, and it equals the quantiles over all n^n ordered
    picks."""
    import itertools

    base, new = _rows([2.0, 2.1, 1.9, 2.05, 2.2], sd=0.05), _rows([1.8, 2.0, 1.7, 1.95, 1.9], seed=1, sd=0.05)
    sides = [(_rows([2.0] * n), _rows([1.9] * n, seed=1)) for n in (5, stats.EXACT_BOOTSTRAP_MAX_ROUNDS)]
    with monkeypatch.context() as patched:
        patched.setattr(stats.np.random, "default_rng", lambda *a: pytest.fail("random resamples drawn"))
        for a, b in sides:
            stats.ratio_interval(a, b, paired=True)
    picks = np.array(list(itertools.product(range(5), repeat=5)))  # all 3125 ordered picks, equally likely
    ratios = np.sort(stats._pooled_medians(new, picks) / stats._pooled_medians(base, picks))
    tail = stats._expanded_tail(5, 0.95) / 100
    expected = ratios[int(np.ceil(tail * len(ratios))) - 1], ratios[int(np.ceil((1 - tail) * len(ratios))) - 1]
    assert stats.ratio_interval(base, new, paired=True)[1:] == pytest.approx(expected)
    rows, weights = stats._every_resample(5)
    assert len(rows) == 126 and weights.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError):  # cached for every later call: read-only
        rows[0, 0] = 1


def test_more_rounds_get_enough_random_resamples_for_their_tails(monkeypatch):
    for n in (9, 10, 15, 30):
        tail = stats._expanded_tail(n, 0.95)
        assert stats.random_resamples(tail) * tail / 100 >= 100
    used = []
    monkeypatch.setattr(stats, "random_resamples", lambda tail: used.append(tail) or 4000)
    stats.ratio_interval(_rows([2.0] * 10), _rows([1.9] * 10, seed=1), paired=True)
    assert used == [pytest.approx(stats._expanded_tail(10, 0.95))]


def test_few_unpaired_rounds_stay_within_a_bounded_number_of_resamples():
    """Unpaired rounds are never enumerated; with 2-4 rounds the thin tails would ask for billions
    of resamples: the count is capped and the interval comes back."""
    import time

    start = time.perf_counter()
    for n in (2, 3, 4):
        ratio, low, high = stats.ratio_interval(_rows([2.0] * n), _rows([1.9] * n, seed=1), paired=False)
        assert low <= ratio <= high
    assert time.perf_counter() - start < 10
    assert stats.random_resamples(stats._expanded_tail(2, 0.95)) == stats._MAX_RANDOM_RESAMPLES


def test_a_zero_median_gives_no_verdict_not_an_exception():
    v = stats.judge([[0.0]] * 5, [[1.0]] * 5, paired=True)
    assert v.word == stats.NO_VERDICT and not v.decided


def test_pairing_cancels_a_slow_pass_shared_by_both_rows():
    levels = [1.0, 1.3, 0.9, 1.2, 1.0, 1.25, 0.95, 1.1, 1.0, 1.3]
    base = _rows([2.0 * x for x in levels])
    new = _rows([1.9 * x for x in levels], seed=1)
    paired = stats.judge(base, new, paired=True)
    unpaired = stats.judge(base, new, paired=False)
    assert paired.word == stats.FASTER and unpaired.word == stats.WITHIN_NOISE
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 3


def test_the_interval_is_wider_with_few_rounds_than_a_plain_percentile():
    """Hesterberg's expansion: at 5 rounds the tails sit near 0.1 %, not 2.5 %."""
    assert stats._expanded_tail(5, 0.95) < 0.2 and stats._expanded_tail(200, 0.95) == pytest.approx(2.5, abs=0.1)


def test_selection_and_judgement_use_different_rounds():
    choose, judged = stats.selection_rounds(10)
    assert not set(choose) & set(judged) and sorted(choose + judged) == list(range(10))
    # a row that is fastest only on the choosing rounds wins the choice and loses the verdict's edge
    rows = null_rounds(np.random.default_rng(0), ["a", "b", "peer"], 10, row_sd=0.0, pass_sd=0.0, iter_sd=0.001)
    rows["a"] = [[x * (0.5 if i % 2 == 0 else 1.0) for x in r] for i, r in enumerate(rows["a"])]
    selection = stats.select_and_judge({"a": rows["a"], "b": rows["b"]}, {"peer": rows["peer"]})
    assert selection.ours == "a" and selection.held_out and selection.verdict.word == stats.WITHIN_NOISE
    assert selection.verdict.rounds == 5


def test_one_row_a_side_is_judged_on_every_round():
    rows = null_rounds(np.random.default_rng(1), ["a", "peer"], 10)
    selection = stats.select_and_judge({"a": rows["a"]}, {"peer": rows["peer"]})
    assert not selection.held_out and selection.verdict.rounds == 10


def test_identical_programs_are_one_row_in_a_verdict():
    from examples.benchmark.records import judge_sides

    rows = null_rounds(np.random.default_rng(2), ["xnnpack_fp32", "ort_fp32"], 10)

    def rec(backend, rounds, digest):
        return {"backend": backend, "model": "m", "threads": 1, "status": "ok", "median_ms": 1.0,
                "rounds_samples_ms": rounds, "version": "executorch", "artifact_digest": digest, "precision": "fp32"}

    same = [rec("xnnpack_fp32", rows["xnnpack_fp32"], "d1"), rec("tuned", rows["xnnpack_fp32"], "d1"),
            rec("ort_fp32", rows["ort_fp32"], "d2")]
    assert judge_sides(same)["held_out_selection"] is False  # the tuned copy is not a second row
    other = same[:1] + [rec("tuned", rows["xnnpack_fp32"], "d3")] + same[2:]
    assert judge_sides(other)["held_out_selection"] is True


def test_noise_floor_is_the_aa_spread():
    v = stats.Verdict(1.02, 0.97, 1.05, stats.WITHIN_NOISE, 10)
    assert stats.noise_floor(v) == pytest.approx(0.05)
    assert stats.noise_floor(stats.Verdict(0.9, 0.88, 0.93, stats.FASTER, 10)) == pytest.approx(1 / 0.88 - 1)


@pytest.mark.parametrize("equal_sizes", [True, False])
@pytest.mark.parametrize("blocks", ["one block", "many blocks"])
def test_resampled_medians_are_the_medians_of_the_picked_rounds(equal_sizes, blocks, monkeypatch):
    """The bootstrap's weighted-count median against its definition: the median of the picked
    rounds' samples concatenated, with ties, odd and even totals, rounds of unequal size, inf
    and NaN samples, and the resamples split into blocks (as many samples are)."""
    if blocks == "many blocks":
        monkeypatch.setattr(stats, "_MEDIAN_BLOCK_ELEMENTS", 7)
    rng = np.random.default_rng(3)
    for trial in range(60):
        n_rounds = int(rng.integers(1, 9))
        sizes = np.full(n_rounds, rng.integers(1, 6)) if equal_sizes else rng.integers(1, 6, n_rounds)
        rounds = [list(np.round(rng.random(size) * 3, 1 if trial % 2 else 6)) for size in sizes]
        if trial % 10 == 3:  # a stalled round (inf) or a broken one (NaN): as np.median has them
            rounds[0][0] = np.inf if trial % 20 == 3 else np.nan
        picks = rng.integers(0, n_rounds, (200, n_rounds))
        definition = [np.median(np.concatenate([rounds[i] for i in row])) for row in picks]
        assert np.array_equal(stats._pooled_medians(rounds, picks), definition, equal_nan=True), trial


def test_a_tuner_keeps_the_default_program_unless_the_challenger_is_proven_faster():
    """examples.common.stats.keep_default_unless_faster: the one rule of both tuners."""
    from examples.common import stats

    assert stats.keep_default_unless_faster("q8", "fp32", stats.FASTER) == "q8"
    for word in (stats.WITHIN_NOISE, stats.SLOWER, stats.TOO_FEW_ROUNDS, None):
        assert stats.keep_default_unless_faster("q8", "fp32", word) == "fp32"
    assert stats.keep_default_unless_faster("fp32", "fp32", None) == "fp32"
