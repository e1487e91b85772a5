"""Render a :class:`~runtime.profiler.report.ProfileReport` as text (tabulate), JSON or CSV."""

from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd
from tabulate import tabulate

from examples.common.stats import SUMMARY_KEYS
from runtime.profiler.report import EXECUTE, ProfileReport

OPERATOR_COLUMNS = ("name", "kind", "backend", "count", "total_ms", "mean_ms", "share_pct", "source_ops")


def _source_ops_text(ops: list[str], limit: int = 3) -> str:
    """Source ops for the text table: (de)quantize nodes left out, at most ``limit`` shown."""
    shown = [op for op in ops if not op.startswith("quantized_decomposed.")] or ops
    more = len(shown) - limit
    return ", ".join(shown[:limit]) + (f" (+{more} more)" if more > 0 else "")


def format_text(report: ProfileReport, *, top: int = 0) -> str:
    it = report.iterations
    lines = [f"ETDump: {report.source}"]
    if report.etrecord:
        lines.append(f"ETRecord: {report.etrecord}")
    dropped = (f"first {it.warmup_dropped} dropped as warm-up" if it.warmup_dropped
               else f"none dropped as warm-up (--warmup_iters={it.warmup_iters})")
    lines += [f'Iterations: {it.recorded} "{it.event}" events; {dropped}, {it.measured["count"]} measured', "",
              f'"{it.event}" time (ms; percentiles: {report.percentile_method})']
    stats_rows = [("first iteration", it.first_ms)] + [(key, it.measured[key]) for key in SUMMARY_KEYS]
    lines += ["  " + line for line in tabulate(stats_rows, tablefmt="plain", floatfmt=".3f").splitlines()]
    if report.load_ms:
        lines.append("  " + ", ".join(f"{name} {ms:.3f}" for name, ms in report.load_ms.items()) + " (once)")
    if report.runner_overhead_ms is not None:
        lines.append(f"  runner (\"run model\" minus {EXECUTE}, mean) {report.runner_overhead_ms:.3f}")

    if report.operators:
        rows = report.operators if top <= 0 else report.operators[:top]
        show_source = any(row.source_ops for row in rows)
        table = [[row.name, row.backend or "no", row.count, row.total_ms, row.mean_ms, row.share_pct]
                 + ([_source_ops_text(row.source_ops)] if show_source else []) for row in rows]
        headers = ["operator", "delegated", "count", "total ms", "mean ms", "share %"] + (
            ["source ops"] if show_source else [])
        lines += ["", f"Operators over the {it.measured['count']} measured iteration(s) "
                      f"(total: summed over them; share: of {EXECUTE})"]
        lines += ["  " + line for line in tabulate(table, headers, floatfmt=("", "", "", ".3f", ".4f", ".1f"))
                  .splitlines()]
        if top > 0 and len(report.operators) > top:
            lines.append(f"  ... {len(report.operators) - top} more row(s) (--top=0 shows all)")

    if report.notes:
        lines += ["", "Notes:"] + [f"  - {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def _nan_to_none(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def format_json(report: ProfileReport) -> str:
    return json.dumps(_nan_to_none(report.to_dict()), indent=2, allow_nan=False) + "\n"


def format_csv(report: ProfileReport) -> str:
    """The operator table, one row per operator (source ops joined by ';')."""
    table = pd.DataFrame([dataclasses.asdict(row) for row in report.operators], columns=list(OPERATOR_COLUMNS))
    table["source_ops"] = table["source_ops"].map(";".join)
    return table.to_csv(index=False, float_format="%.6f", lineterminator="\n")
