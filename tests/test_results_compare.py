"""Comparing benchmark runs: bootstrap intervals, verdicts, regressions, bad inputs, the CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from examples.common.stats import ratio_interval


def bootstrap_ratio_of_medians(a, b, seed=0):
    return ratio_interval(a, b, paired=False, seed=seed)
from examples.results import compare
from examples.results.schema import ResultFileError, load_run, parse_run
from tests.helpers_results import ZEN4_FLAGS, machine, run_doc, write_run

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "-m", "examples.backend.compare", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_bootstrap_is_seeded_and_covers_the_true_ratio():
    rng = np.random.default_rng(1)
    a = [list(2.0 * (1 + 0.05 * np.abs(rng.standard_normal(40)))) for _ in range(5)]
    b = [list(np.asarray(r) * 1.2) for r in a]
    ratio, low, high = bootstrap_ratio_of_medians(a, b, seed=3)
    assert ratio == pytest.approx(1.2)
    assert low <= 1.2 <= high and low > 1.0
    assert bootstrap_ratio_of_medians(a, b, seed=3) == (ratio, low, high)


def test_bootstrap_resamples_whole_rounds():
    # Rounds at different levels (a shared machine): the spread between rounds must show up in
    # the interval; resampling single iterations would hide it behind 400 tight samples.
    levels = [1.0, 1.08, 0.95, 1.05]
    a = [[lvl] * 100 for lvl in levels]
    b = [[lvl] * 100 for lvl in reversed(levels)]
    ratio, low, high = bootstrap_ratio_of_medians(a, b, seed=0)
    assert low < 1.0 < high and high - low > 0.05
    with pytest.raises(ValueError):
        bootstrap_ratio_of_medians([], b)


def test_same_build_passes_and_a_slowed_cell_is_named(tmp_path):
    base = write_run(tmp_path / "a.json", run_doc(seed=1))
    again = write_run(tmp_path / "b.json", run_doc(seed=2))
    runs = [load_run(base), load_run(again)]
    result = compare.plan(runs[1:], runs[0])
    assert not result.problems and len(result.comparisons) == 1
    assert compare.regressions(result.comparisons, 10) == []

    slowed = json.loads(base.read_text())
    cell = next(r for r in slowed["records"] if (r["model"], r["backend"], r["threads"]) == ("mv2", "xnnpack_q8", 2))
    cell["rounds_samples_ms"] = [[t * 1.15 for t in r] for r in cell["rounds_samples_ms"]]
    slow_run = parse_run(tmp_path / "slow.json", slowed)
    result = compare.plan([slow_run], runs[0])
    bad = compare.regressions(result.comparisons, 10)
    assert [c.name for _, c in bad] == ["mv2 xnnpack_q8 2T"]
    assert bad[0][1].ratio == pytest.approx(1.15) and bad[0][1].verdict == compare.SLOWER
    others = [c for c in result.comparisons[0].cells if c.name != "mv2 xnnpack_q8 2T"]
    assert all(c.verdict == compare.NO_CHANGE and c.ratio == pytest.approx(1.0) for c in others)


def test_cli_exit_codes_for_same_build_and_regression(tmp_path):
    base = write_run(tmp_path / "a.json", run_doc(seed=1))
    again = write_run(tmp_path / "b.json", run_doc(seed=2))
    ok = _cli(base, again, "--fail_on_regression", 10, "--output_dir", tmp_path / "out")
    assert ok.returncode == 0, ok.stderr
    assert "no change (within noise)" in ok.stdout and "Regressions over 10 %" in ok.stdout
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"compare.md", "compare.json", "compare.png"}
    assert (tmp_path / "out" / "compare.png").read_bytes()[:4] == b"\x89PNG"

    doc = run_doc(seed=1, slow={("mv2", "ort_fp32", 1): 1.15})
    slowed = write_run(tmp_path / "slow.json", doc)
    bad = _cli(slowed, "--baseline", base, "--fail_on_regression", 10, "--format", "json")
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: regression: mv2 ort_fp32 1T is 1.150x")
    report = json.loads(bad.stdout)
    assert [(r["model"], r["backend"], r["threads"]) for r in report["regressions"]] == [("mv2", "ort_fp32", 1)]
    assert report["resamples"] is None  # automatic: enough for the interval's tails (stats.random_resamples)


def test_measure_drift_refuses_the_comparing_flags(tmp_path):
    """--measure_drift writes the drift file and compares nothing: a flag of the comparison given
    with it is one error line (exit 2) and nothing is written."""
    runs = [write_run(tmp_path / f"r{seed}.json", run_doc(seed=seed)) for seed in (1, 2, 3)]
    out = tmp_path / "drift.json"
    done = _cli("--measure_drift", out, *runs, "--format", "json", "--fail_on_regression", 5, "--seed", 3,
                "--results_dir", tmp_path)
    assert done.returncode == 2 and done.stdout == "" and not out.exists()
    assert done.stderr == ("error: --format, --fail_on_regression, --seed, --results_dir do not apply to "
                           "--measure_drift (it writes the drift file and compares nothing)\n")
    one = _cli("--measure_drift", out, *runs, "--output_dir", tmp_path / "out")
    assert one.returncode == 2 and one.stderr == ("error: --output_dir does not apply to --measure_drift "
                                                  "(it writes the drift file and compares nothing)\n")
    ok = _cli("--measure_drift", out, *runs)
    assert ok.returncode == 0 and ok.stdout.startswith("drift over 3 pairs of runs: "), ok.stderr
    assert json.loads(out.read_text())["pairs"] == 3


def test_other_machines_are_columns_without_verdicts(tmp_path):
    zen2 = write_run(tmp_path / "zen2.json", run_doc(seed=1))
    zen3 = write_run(tmp_path / "zen3.json", run_doc(seed=2, machine_info=machine(family=25, model=1)))
    zen4 = write_run(tmp_path / "zen4.json", run_doc(seed=3, machine_info=machine(family=25, model=17,
                                                                                  flags=ZEN4_FLAGS)))
    runs = [load_run(p) for p in (zen2, zen3, zen4)]
    assert runs[1].machine_id != runs[2].machine_id  # both "AMD EPYC": family/model tell them apart
    assert compare.plan(runs[1:], runs[0]).comparisons == []
    done = _cli(zen2, zen3, zen4, "--fail_on_regression", 0)
    assert done.returncode == 0, done.stderr
    assert "Runs on different machines" in done.stdout and "slower" not in done.stdout
    table = done.stdout.split("Runs on different machines")[1]
    assert table.index("AVX-512 VNNI+BF16: `zen4.json`") < table.index("AVX2: `zen2.json`")

    crossed = compare.plan(runs[1:], runs[0], cross_machine=True)
    assert [c.cross_machine for c in crossed.comparisons] == [True, True]
    done = _cli(zen2, zen4, "--cross_machine")
    assert done.returncode == 0 and "cross-machine: " in done.stdout


def test_bad_inputs_one_line_each(tmp_path):
    good = write_run(tmp_path / "good.json", run_doc(seed=1))
    old = run_doc(seed=2)
    old["schema_version"] = 1
    old_path = write_run(tmp_path / "old.json", old)
    other = write_run(tmp_path / "other.json", {"schema": "something/else"})
    done = _cli(good, tmp_path / "missing.json", old_path, other)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)
    assert "missing.json: no such file" in lines[0]
    assert "schema_version 1" in lines[1] and "re-run the benchmark" in lines[1]
    assert "not a benchmark result file" in lines[2]

    disjoint = write_run(tmp_path / "disjoint.json", run_doc(seed=3, cells={("mv3", "xnnpack_fp32", 1): 1.0}))
    done = _cli(good, disjoint)
    assert done.returncode == 2 and done.stderr.strip() == (
        f"error: {disjoint}: no cells in common with {good}")
    assert _cli(good).returncode == 2


def test_version_1_file_refused_by_loader(tmp_path):
    doc = copy.deepcopy(run_doc(seed=1))
    doc["schema_version"] = 1
    with pytest.raises(ResultFileError, match="schema_version 1"):
        parse_run(tmp_path / "x.json", doc)
