"""Comparing benchmark runs: cells joined by (model, backend, threads), the ratio of medians
with a bootstrap interval, and a verdict only between runs on the same machine.

A run is compared with the baseline of its machine (``--baseline`` when it ran on that machine,
else the machine's first run). Runs from other machines are only shown side by side, unless
``cross_machine`` asks for verdicts against the baseline (then labelled cross-machine).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from examples.common.stats import bootstrap_ratio_of_medians, pooled_median
from examples.results.schema import CellKey, Run, cell_name

FASTER, SLOWER, NO_CHANGE = "faster", "slower", "no change (within noise)"


@dataclass
class CellComparison:
    key: CellKey
    baseline_median_ms: float
    median_ms: float
    ratio: float  # median / baseline median: above 1 is slower
    low: float
    high: float
    verdict: str

    @property
    def name(self) -> str:
        return cell_name(self.key)

    def as_dict(self) -> dict:
        model, backend, threads = self.key
        return {"model": model, "backend": backend, "threads": threads,
                "baseline_median_ms": self.baseline_median_ms, "median_ms": self.median_ms,
                "ratio": self.ratio, "ci_low": self.low, "ci_high": self.high, "verdict": self.verdict}


@dataclass
class Comparison:
    baseline: Run
    run: Run
    cross_machine: bool
    cells: list[CellComparison] = field(default_factory=list)


@dataclass
class Plan:
    comparisons: list[Comparison]
    problems: list[str]  # one line per unusable input


def verdict(low: float, high: float) -> str:
    if low > 1.0:
        return SLOWER
    if high < 1.0:
        return FASTER
    return NO_CHANGE


def compare_runs(baseline: Run, run: Run, cross_machine: bool = False, confidence: float = 0.95,
                 resamples: int = 2000, seed: int = 0) -> Comparison:
    comparison = Comparison(baseline, run, cross_machine)
    for key in sorted(set(baseline.cells) & set(run.cells)):
        ratio, low, high = bootstrap_ratio_of_medians(baseline.cells[key], run.cells[key], confidence,
                                                      resamples, seed)
        comparison.cells.append(CellComparison(key, pooled_median(baseline.cells[key]),
                                               pooled_median(run.cells[key]), ratio, low, high,
                                               verdict(low, high)))
    return comparison


def plan(runs: list[Run], baseline: Run | None = None, cross_machine: bool = False, **kwargs) -> Plan:
    """Who is compared with whom; ``runs`` excludes ``baseline`` (default: the first run)."""
    if baseline is None:
        baseline, runs = runs[0], runs[1:]
    problems = [f"{r.path}: no measured cells with per-round samples" for r in [baseline, *runs] if not r.cells]
    comparisons = []
    first_of_machine = {baseline.machine_id: baseline}
    for run in runs:
        if not run.cells:
            continue
        if cross_machine or run.machine_id == baseline.machine_id:
            reference = baseline
        else:
            reference = first_of_machine.setdefault(run.machine_id, run)
            if reference is run:
                continue  # the first run of its machine is that machine's baseline
        if not set(reference.cells) & set(run.cells):
            problems.append(f"{run.path}: no cells in common with {reference.path}")
            continue
        comparisons.append(compare_runs(reference, run, run.machine_id != reference.machine_id, **kwargs))
    return Plan(comparisons, problems)


def regressions(comparisons: list[Comparison], pct: float) -> list[tuple[Comparison, CellComparison]]:
    """Same-machine cells slower by more than ``pct`` percent whose interval excludes 1."""
    return [(c, cell) for c in comparisons if not c.cross_machine for cell in c.cells
            if cell.ratio > 1.0 + pct / 100.0 and cell.low > 1.0]


def machines_table(runs: list[Run]) -> tuple[list[Run], list[CellKey], dict[tuple[int, CellKey], float]]:
    """Runs as columns (grouped by ISA class), the union of their cells as rows, pooled medians."""
    ordered = sorted(runs, key=lambda r: (r.isa_class, r.machine_id))
    keys = sorted({key for r in runs for key in r.cells})
    medians = {(i, key): pooled_median(run.cells[key]) for i, run in enumerate(ordered) for key in run.cells}
    return ordered, keys, medians
