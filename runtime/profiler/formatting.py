"""Render a :class:`~runtime.profiler.decode.ProfileReport` as text, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Optional

from runtime.profiler.decode import ProfileReport

CSV_COLUMNS = (
    "section", "name", "kind", "delegated", "backend", "count", "total_ms", "mean_ms",
    "median_ms", "p90_ms", "min_ms", "max_ms", "per_iter_ms", "share_pct", "source_ops",
)


def _ms(x: Optional[float], width: int = 10) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-".rjust(width)
    return f"{x:{width}.3f}"


def _clip(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "~"


def format_text(report: ProfileReport, *, top: int = 0) -> str:
    rm = report.run_model
    out = []
    w = out.append
    w(f"ETDump: {report.source}")
    if report.etrecord:
        w(f"ETRecord: {report.etrecord}")
    label = f'"{rm.source}"'
    if rm.warmup_dropped:
        w(f"Iterations: {rm.iterations_recorded} {label} events; first {rm.warmup_dropped} dropped as warm-up, "
          f"{rm.measured.count} measured")
    else:
        w(f"Iterations: {rm.iterations_recorded} {label} events; none dropped as warm-up "
          f"(--warmup_iters={rm.warmup_iters}), {rm.measured.count} measured")
    w("")
    w(f"{label} time (ms)")
    w(f"  first iteration {_ms(rm.first_ms)}")
    for key in ("mean", "median", "p90", "min", "max"):
        w(f"  {key:<15} {_ms(getattr(rm.measured, key + '_ms'))}")
    if report.init_ms:
        w("  " + ", ".join(f"{k} {v:.3f}" for k, v in report.init_ms.items()) + " (once)")

    if report.operators:
        n = report.measured_executions
        w("")
        w(f"Operators over {n} measured execution(s) (total = sum over them; share of Method::execute)")
        rows = report.operators if top <= 0 else report.operators[:top]
        name_w = max(24, min(48, max(len(r.name) for r in rows)))
        show_src = any(r.source_ops for r in rows)
        head = f"  {'name':<{name_w}} {'delegated':<14} {'count':>7} {'total ms':>10} {'mean ms':>10} {'share %':>8}"
        w(head + ("  source ops" if show_src else ""))
        w("  " + "-" * (len(head) - 2 + (12 if show_src else 0)))
        for r in rows:
            deleg = (r.backend or "yes") if r.delegated else "no"
            line = (f"  {_clip(r.name, name_w):<{name_w}} {_clip(deleg, 14):<14} {r.count:>7} {_ms(r.total_ms)} "
                    f"{_ms(r.mean_ms)} {r.share_pct:>8.1f}")
            if show_src and r.source_ops:
                line += "  " + _source_ops_text(r.source_ops)
            w(line)
        if top > 0 and len(report.operators) > top:
            w(f"  ... {len(report.operators) - top} more row(s) (--top=0 shows all)")

    if report.delegates:
        w("")
        w("Delegate calls (per call site)")
        for d in report.delegates:
            w(f"  instruction {d.instruction_id} ({d.backend or 'delegate'}): {d.count} call(s), "
              f"{d.total_ms:.3f} ms total, per-operator events {d.ops_total_ms:.3f} ms "
              f"({d.op_events_per_call:.0f} per call)")

    if report.overhead:
        o = report.overhead
        w("")
        w("Framework overhead (Method::execute time outside operator and delegate calls)")
        w(f"  per iteration {_ms(o.overhead_per_iter_ms)} ms  ({o.share_pct:.1f}% of Method::execute, "
          f"mean {o.execute_mean_ms:.3f} ms)")
        if o.runner_overhead_per_iter_ms is not None:
            w(f"  runner ('run model' minus Method::execute) {_ms(o.runner_overhead_per_iter_ms)} ms per iteration")

    if report.notes:
        w("")
        w("Notes:")
        for note in report.notes:
            w(f"  - {note}")
    return "\n".join(out) + "\n"


def _source_ops_text(ops: list[str], limit: int = 3) -> str:
    """Source ops for the text table: (de)quantize nodes dropped, at most ``limit`` shown."""
    shown = [o for o in ops if not o.startswith("quantized_decomposed.")] or ops
    more = len(shown) - limit
    return ", ".join(shown[:limit]) + (f" (+{more} more)" if more > 0 else "")


def _nan_to_none(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


def format_json(report: ProfileReport) -> str:
    return json.dumps(_nan_to_none(report.to_dict()), indent=2, allow_nan=False) + "\n"


def csv_rows(report: ProfileReport) -> list[dict]:
    rm = report.run_model
    rows = [
        {"section": "run_model", "name": f"{rm.source} (first iteration)", "count": 1, "total_ms": rm.first_ms,
         "mean_ms": rm.first_ms, "median_ms": rm.first_ms, "p90_ms": rm.first_ms, "min_ms": rm.first_ms,
         "max_ms": rm.first_ms},
        {"section": "run_model", "name": f"{rm.source} (measured)", "count": rm.measured.count,
         "total_ms": rm.measured.mean_ms * rm.measured.count, "mean_ms": rm.measured.mean_ms,
         "median_ms": rm.measured.median_ms, "p90_ms": rm.measured.p90_ms, "min_ms": rm.measured.min_ms,
         "max_ms": rm.measured.max_ms},
    ]
    for r in report.operators:
        rows.append({"section": "operator", "name": r.name, "kind": r.kind, "delegated": r.delegated,
                     "backend": r.backend or "", "count": r.count, "total_ms": r.total_ms, "mean_ms": r.mean_ms,
                     "per_iter_ms": r.per_iter_ms, "share_pct": r.share_pct,
                     "source_ops": ";".join(r.source_ops)})
    if report.overhead:
        o = report.overhead
        rows.append({"section": "framework_overhead", "name": "Method::execute outside operator/delegate calls",
                     "count": report.measured_executions, "total_ms": o.overhead_total_ms,
                     "mean_ms": o.overhead_per_iter_ms, "per_iter_ms": o.overhead_per_iter_ms,
                     "share_pct": o.share_pct})
    return rows


def format_csv(report: ProfileReport) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(report):
        clean = {}
        for k in CSV_COLUMNS:
            v = row.get(k, "")
            if isinstance(v, float):
                v = "" if math.isnan(v) else f"{v:.6f}"
            clean[k] = v
        writer.writerow(clean)
    return buf.getvalue()
