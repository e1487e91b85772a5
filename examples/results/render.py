"""Markdown and JSON of a comparison (``python -m examples.backend.compare``)."""

from __future__ import annotations

import json

from tabulate import tabulate

from examples.common.machine import describe
from examples.results.compare import Comparison, Plan, machines_table
from examples.common.stats import MIN_VERDICT_ROUNDS
from examples.results.schema import Run

COMPARE_SCHEMA = "xnnpack-toolkit/compare"
COMPARE_SCHEMA_VERSION = 1


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def md_table(header: list[str], rows: list[list], numeric_from: int = 1, text_last: bool = False) -> list[str]:
    """A GitHub Markdown table: text columns left, numbers right (and the last column left
    when ``text_last``)."""
    align = ["left"] * numeric_from + ["right"] * (len(header) - numeric_from)
    if text_last:
        align[-1] = "left"
    return tabulate(rows, headers=header, tablefmt="github", colalign=align, disable_numparse=True).splitlines()


def run_line(run: Run) -> str:
    if run.repeats:
        return "; ".join(run_line(r) for r in run.repeats) + f" (pooled: {len(run.repeats)} runs of one side)"
    git = run.machine.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (" (dirty tree)" if git.get("dirty") else "")
    return f"`{run.label}`: {describe(run.machine)}; {run.date}; commit {commit}"


def _comparison_md(c: Comparison, confidence: float) -> list[str]:
    where = ("**cross-machine** (different machines: the verdict mixes machine and code)" if c.cross_machine
             else "same machine")
    lines = [f"## `{c.run.label}` vs `{c.baseline.label}` ({where})", "",
             f"Noise floor a verdict must beat: {c.floor_source}.", ""]
    rows = [[cell.key[0], cell.key[1], str(cell.key[2]), fmt_ms(cell.baseline_median_ms), fmt_ms(cell.median_ms),
             f"{cell.ratio:.3f}", "-" if cell.low is None else f"[{cell.low:.3f}, {cell.high:.3f}]",
             ("cross-machine: " if c.cross_machine else "") + cell.verdict] for cell in c.cells]
    lines += md_table(["model", "backend", "threads", "baseline median (ms)", "median (ms)", "ratio",
                       f"{confidence:.0%} interval", "verdict"], rows, numeric_from=3,
                      text_last=True)
    return lines + [""]


def machines_md(runs: list[Run]) -> list[str]:
    ordered, keys, medians = machines_table(runs)
    header = ["model", "backend", "threads"] + [f"{r.isa_class}: `{r.label}`" for r in ordered]
    rows = [[k[0], k[1], str(k[2])] + [fmt_ms(medians.get((i, k))) for i in range(len(ordered))] for k in keys]
    lines = ["## Runs on different machines (median ms, no verdicts)", ""]
    lines += md_table(header, rows, numeric_from=3) + [""]
    return lines + [f"- {run_line(r)}" for r in ordered] + [""]


def render_markdown(runs: list[Run], result: Plan, confidence: float, resamples: int, seed: int,
                    regressed=None, pct: float | None = None) -> str:
    lines = ["# Benchmark comparison", "",
             f"Ratio: median / baseline median over all measured iterations (below 1: faster). "
             f"{confidence:.0%} interval: expanded-percentile bootstrap of the ratio of medians resampling whole "
             f"rounds ({resamples or 'automatic'} resamples, seed {seed}); a verdict needs {MIN_VERDICT_ROUNDS} rounds a side, "
             "an interval that excludes 1 and an effect beyond the noise floor. Verdicts only between runs on the "
             "same machine.", "",
             "Runs:", ""] + [f"- {run_line(r)}" for r in runs] + [""]
    for c in result.comparisons:
        lines += _comparison_md(c, confidence)
    if len({r.machine_id for r in runs}) > 1:
        lines += machines_md(runs)
    if pct is not None:
        lines += [f"## Regressions over {pct:g} %", ""]
        lines += [f"- {cell.name}: {cell.ratio:.3f}x [{cell.low:.3f}, {cell.high:.3f}] (drift floor "
                  f"{cell.floor:.1%}) in `{c.run.label}`"
                  for c, cell in regressed] or ["none"]
        lines.append("")
    return "\n".join(lines)


def render_json(runs: list[Run], result: Plan, confidence: float, resamples: int, seed: int,
                regressed=None, pct: float | None = None) -> str:
    doc = {
        "schema": COMPARE_SCHEMA, "schema_version": COMPARE_SCHEMA_VERSION,
        "confidence": confidence, "resamples": resamples, "seed": seed,
        "runs": [{"path": str(r.path), "machine_id": r.machine_id, "isa_class": r.isa_class,
                  "machine": describe(r.machine), "date": r.date} for r in runs],
        "comparisons": [{"baseline": str(c.baseline.path), "run": str(c.run.path), "cross_machine": c.cross_machine,
                         "noise_floor_source": c.floor_source,
                         "cells": [cell.as_dict() for cell in c.cells]} for c in result.comparisons],
    }
    if pct is not None:
        doc["fail_on_regression_pct"] = pct
        doc["regressions"] = [dict(cell.as_dict(), run=str(c.run.path)) for c, cell in regressed]
    return json.dumps(doc, indent=2) + "\n"
