"""Calibration of the one verdict rule (examples/common/stats.py) as each of its users applies
it: rows drawn from one distribution must rarely be called faster or slower.

Synthetic interleaved rounds (tests/helpers_results.null_rounds): a level per pass shared by
every row, a level per row and pass, iteration noise with spikes. Over 500 seeds, five
ExecuTorch rows against one peer row and the mirror case, false verdicts stay at or below 7 %
in each direction for the benchmark's summary lines, the published peers table, tune and
compare. The same data judged the old way (the fastest row of each side chosen and judged on
the same rounds, no noise floor) gives far more: the test shows the rule is what protects.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from examples.common import stats
from tests.helpers_results import machine, null_rounds

SEEDS = 500
MAX_FALSE = 0.07
ROUNDS = 2 * stats.MIN_VERDICT_ROUNDS
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fewer_resamples(monkeypatch):
    """500 resamples instead of 4000: the same rule, an eighth of the time."""
    original = stats.ratio_interval
    monkeypatch.setattr(stats, "ratio_interval", lambda *a, **k: original(*a, **dict(k, resamples=500)))


def _records(seed: int, ours: int, theirs: int) -> list[dict]:
    """One cell: ``ours`` ExecuTorch rows, ``theirs`` peer rows and an A/A twin, all equal."""
    et = ["xnnpack_fp32", "xnnpack_q8", "openvino_fp32", "openvino_int8", "tuned"][:ours]
    peers = ["ort_fp32", "ort_int8", "ov_default", "ov_f32", "ov_int8"][:theirs]
    rows = null_rounds(np.random.default_rng(seed), et + peers + ["aa_twin"], ROUNDS)
    if "xnnpack_fp32" not in et:  # the twin repeats a row of the cell
        rows["xnnpack_fp32"] = rows.pop(et[0])
        et[0] = "xnnpack_fp32"
    records = []
    for name, rounds in rows.items():
        records.append({"model": "m", "threads": 1, "status": "ok", "backend": name, "label": name,
                        "median_ms": stats.pooled_median(rounds), "rounds_samples_ms": rounds,
                        "sqnr_db": None, "max_abs_error": 0.0, "precision": "fp32", "version": "v",
                        "artifact_digest": name, "aa_of": "xnnpack_fp32" if name == "aa_twin" else None})
    return records


def _rates(words: list[str], faster: str, slower: str) -> tuple[float, float]:
    return words.count(faster) / len(words), words.count(slower) / len(words)


@pytest.mark.parametrize("ours,theirs", [(5, 1), (1, 5)])
def test_summary_lines_and_peers_table(ours, theirs, tmp_path):
    from examples.benchmark.records import comparisons
    from examples.results.publish import peers_table
    from examples.common.result_format import METHOD_VERSION, SCHEMA, SCHEMA_VERSION
    from examples.results.schema import parse_run

    summary, table = [], []
    for seed in range(SEEDS):
        records = _records(seed, ours, theirs)
        overall = next(c for c in comparisons(records) if c["accuracy_class"] == "overall")
        summary.append(overall["verdict"])
        if seed % 5 == 0:  # the table renders the same comparisons: a fifth of the seeds checks it
            doc = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "method_version": METHOD_VERSION,
                   "machine": machine(), "records": records, "settings": {"rounds": ROUNDS}}
            row = next(line for line in peers_table(parse_run(tmp_path / "r.json", doc), tmp_path)
                       if line.startswith("| m "))
            table.append(row.rstrip(" |").split("|")[-1].strip())
    faster, slower = _rates(summary, stats.FASTER, stats.SLOWER)
    assert faster <= MAX_FALSE and slower <= MAX_FALSE, (faster, slower)
    table_faster = sum(w.startswith("ExecuTorch") for w in table) / len(table)
    table_slower = sum(w.startswith("peer faster") for w in table) / len(table)
    assert table_faster <= MAX_FALSE and table_slower <= MAX_FALSE, (table_faster, table_slower)


def test_the_old_rule_fails_the_same_calibration():
    """Choose and judge on the same rounds, percentile interval, no floor: the winner's curse."""
    false = 0
    for seed in range(200):
        rows = null_rounds(np.random.default_rng(seed), ["o1", "o2", "o3", "o4", "o5", "t"], 3)
        best = min(("o1", "o2", "o3", "o4", "o5"), key=lambda n: stats.pooled_median(rows[n]))
        rng = np.random.default_rng(seed)
        picks = [rng.integers(0, 3, (2000, 3)) for _ in range(2)]
        ratios = stats._pooled_medians(rows[best], picks[0]) / stats._pooled_medians(rows["t"], picks[1])
        false += np.percentile(ratios, 97.5) < 1.0
    assert false / 200 > MAX_FALSE


def test_tune():
    """Tune's winner against the default program, chosen on even rounds, judged on odd ones:
    the default and five other candidates, all equal."""
    from examples.tune.candidates import Candidate
    from examples.tune.tuner import CandidateResult, judge_winner, pick_winners

    words = []
    for seed in range(SEEDS):
        rows = null_rounds(np.random.default_rng(seed), [f"c{i}" for i in range(6)], ROUNDS)
        results = []
        for name, rounds in rows.items():
            r = CandidateResult(Candidate(name, "xnnpack", "fp32", name), status="accepted")
            r.runs[1] = [{"median_ms": stats.median(x), "samples_ms": x} for x in rounds]
            results.append(r)
        winners = pick_winners(results, [1], "latency")
        words.append(judge_winner(results, winners)["1"]["verdict"])
    faster, slower = _rates(words, stats.FASTER, stats.SLOWER)
    assert faster <= MAX_FALSE and slower <= MAX_FALSE, (faster, slower)


def test_compare_between_single_runs_with_the_measured_drift():
    """Two runs of one build differ by a run-level drift the rounds cannot see: the drift floor,
    measured on ten back-to-back runs, keeps false regressions at or below 7 %."""
    from examples.results import compare
    from examples.results.schema import Run

    def run(rng) -> Run:
        drift = rng.lognormal(0.0, 0.03)
        rows = null_rounds(rng, ["x"], ROUNDS, ms=2.0 * drift)
        return Run(None, {}, machine(), {("m", "x", 1): rows["x"]})

    rng = np.random.default_rng(12345)
    floor = compare.drift_report([run(rng) for _ in range(10)])["drift_floor"]
    words = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        words.append(compare.compare_runs(run(rng), run(rng), drift=floor).cells[0].verdict)
    faster, slower = _rates(words, compare.FASTER, compare.SLOWER)
    assert faster <= MAX_FALSE and slower <= MAX_FALSE, (faster, slower, floor)
    # without the floor the same pairs alarm far more often: the drift is what the floor is for
    plain = [compare.compare_runs(run(np.random.default_rng(s)), run(np.random.default_rng(s + 10**6))).cells[0]
             for s in range(100)]
    assert sum(c.verdict != compare.NO_CHANGE for c in plain) / 100 > MAX_FALSE
    assert not math.isnan(floor)
