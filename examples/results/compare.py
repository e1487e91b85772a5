"""Comparing benchmark runs: cells joined by (model, backend, threads), the ratio of medians
with a bootstrap interval, and a verdict only between runs on the same machine.

A run is compared with the baseline of its machine (``--baseline`` when it ran on that machine,
else the machine's first run). Runs from other machines are only shown side by side, unless
``cross_machine`` asks for verdicts against the baseline (then labelled cross-machine).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from examples.common import stats
from examples.common.stats import pooled_median
from examples.results.schema import CellKey, Run, cell_name

FASTER, SLOWER, NO_CHANGE = stats.FASTER, stats.SLOWER, "no change (within noise)"
DRIFT_DIR = "drift"  # results/<cpu-class>/drift/<date>.json: back-to-back runs of one build


@dataclass
class CellComparison:
    key: CellKey
    baseline_median_ms: float
    median_ms: float
    ratio: float  # median / baseline median: above 1 is slower
    low: float | None
    high: float | None
    verdict: str
    floor: float = 0.0  # the drift the effect had to exceed

    @property
    def name(self) -> str:
        return cell_name(self.key)

    def as_dict(self) -> dict:
        model, backend, threads = self.key
        return {"model": model, "backend": backend, "threads": threads,
                "baseline_median_ms": self.baseline_median_ms, "median_ms": self.median_ms,
                "ratio": self.ratio, "ci_low": self.low, "ci_high": self.high, "verdict": self.verdict,
                "noise_floor": self.floor}


@dataclass
class Comparison:
    baseline: Run
    run: Run
    cross_machine: bool
    cells: list[CellComparison] = field(default_factory=list)
    floor_source: str = ""  # where the drift floor came from, said in the report


@dataclass
class Plan:
    comparisons: list[Comparison]
    problems: list[str]  # one line per unusable input


def verdict_word(v: stats.Verdict) -> str:
    return {stats.WITHIN_NOISE: NO_CHANGE}.get(v.word, v.describe())


def pool_runs(runs: list[Run]) -> Run:
    """Several runs of one build on one machine as one side: their rounds pooled per cell,
    and ``drift`` per cell: the largest ratio between any two of them (what repeats showed)."""
    if len(runs) == 1:
        return runs[0]
    ids = {r.machine_id for r in runs}
    if len(ids) > 1:
        raise ValueError(f"{', '.join(str(r.path) for r in runs)}: the runs of one side come from "
                         f"{len(ids)} machines; pool only repeats on one machine")
    keys = set.intersection(*(set(r.cells) for r in runs))
    pooled = Run(runs[0].path, runs[0].doc, runs[0].machine,
                 {k: [rnd for r in runs for rnd in r.cells[k]] for k in keys})
    pooled.repeats = runs
    pooled.drift = {k: max(abs(math.log(pooled_median(a.cells[k]) / pooled_median(b.cells[k])))
                           for a, b in itertools.combinations(runs, 2)) for k in keys}
    return pooled


def compare_runs(baseline: Run, run: Run, cross_machine: bool = False, confidence: float = 0.95,
                 resamples: int | None = None, seed: int = 0, drift: float | None = None,
                 drift_source: str = "") -> Comparison:
    """Every cell both runs have: the ratio of pooled medians, its interval (rounds of the two
    runs resampled independently: they did not run interleaved) and the one verdict rule.
    The noise floor is the drift between runs: what the repeats of either side showed when a
    side pools several runs, else ``drift`` (measured by back-to-back runs on this machine)."""
    repeated = [side for side in (baseline, run) if getattr(side, "drift", None)]
    comparison = Comparison(baseline, run, cross_machine)
    comparison.floor_source = ("the drift between the repeated runs of each side" if repeated
                               else drift_source or "none (no drift measurement)")
    for key in sorted(set(baseline.cells) & set(run.cells)):
        floor = max([side.drift[key] for side in repeated] or [math.log1p(drift or 0.0)])
        v = stats.judge(baseline.cells[key], run.cells[key], paired=False, floor=math.expm1(floor),
                        confidence=confidence, resamples=resamples, seed=seed)
        comparison.cells.append(CellComparison(key, pooled_median(baseline.cells[key]),
                                               pooled_median(run.cells[key]), v.ratio, v.low, v.high,
                                               verdict_word(v), math.expm1(floor)))
    return comparison


def measured_drift(results_dir: Path, cpu_class: str) -> tuple[float | None, str]:
    """``(floor, source)``: the run-to-run drift measured on this CPU class (its newest drift
    file), else the largest measured on any class, else None."""
    files = sorted((results_dir / cpu_class / DRIFT_DIR).glob("*.json"))
    if files:
        doc = json.loads(files[-1].read_text())
        return float(doc["drift_floor"]), f"{doc['drift_floor']:.1%} drift measured on this CPU class ({files[-1].name})"
    known = [(json.loads(f.read_text())["drift_floor"], f) for f in sorted(results_dir.glob(f"*/{DRIFT_DIR}/*.json"))]
    if known:
        value, path = max(known)
        return float(value), (f"{value:.1%} drift, the largest measured on any CPU class "
                              f"({path.parent.parent.name}; none measured on this one)")
    return None, ""


def drift_report(runs: list[Run]) -> dict:
    """Back-to-back runs of one build: the largest ratio between any two runs, per cell and
    overall. That is the floor a verdict between two single runs must beat."""
    keys = sorted(set.intersection(*(set(r.cells) for r in runs)))
    cells = {cell_name(k): max(abs(math.log(pooled_median(a.cells[k]) / pooled_median(b.cells[k])))
                               for a, b in itertools.combinations(runs, 2)) for k in keys}
    worst = max(cells.values()) if cells else 0.0
    runs_info = [{"started": r.machine.get("started"), "commit": (r.machine.get("git") or {}).get("commit"),
                  "method_version": r.doc.get("method_version")} for r in runs]
    machine = {k: v for k, v in runs[0].machine.items() if k not in ("command", "started", "ended")}
    from examples.results.publish import without_local_paths

    command = without_local_paths(runs[0].machine.get("command") or [])
    return {"schema": "xnnpack-toolkit/drift", "runs": runs_info, "pairs": len(runs) * (len(runs) - 1) // 2,
            "command": command, "machine": machine, "date": runs[0].date, "drift_floor": math.expm1(worst),
            "cells": {k: math.expm1(v) for k, v in cells.items()},
            "method": "largest |log ratio| of pooled medians between any two of the runs, per cell"}
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
    """Same-machine cells judged slower (interval above 1, effect beyond the drift floor) by
    more than ``pct`` percent."""
    return [(c, cell) for c in comparisons if not c.cross_machine for cell in c.cells
            if cell.verdict == SLOWER and cell.ratio > 1.0 + pct / 100.0]


def machines_table(runs: list[Run]) -> tuple[list[Run], list[CellKey], dict[tuple[int, CellKey], float]]:
    """Runs as columns (grouped by ISA class), the union of their cells as rows, pooled medians."""
    ordered = sorted(runs, key=lambda r: (r.isa_class, r.machine_id))
    keys = sorted({key for r in runs for key in r.cells})
    medians = {(i, key): pooled_median(run.cells[key]) for i, run in enumerate(ordered) for key in run.cells}
    return ordered, keys, medians
