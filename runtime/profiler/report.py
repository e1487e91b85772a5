"""Build a :class:`ProfileReport` from an ``executorch.devtools.Inspector``.

The Inspector already merges the iterations: runs with the same events form one event
block, and each event's ``perf_data.raw`` holds one time per run, in ms, with ``start_time``
beside it. This module only chooses the runs after the warm-up,
names the rows and sums them (pandas); every statistic comes from ``examples.common.stats``.

Events (docs/PROFILE_FORMAT.md): ``run model`` (the profiling runner, one per iteration;
absent in ETDumps from the Python bindings, whose iterations are then the
``Method::execute`` events), ``Method::execute``, ``OPERATOR_CALL`` preceded by its kernel's
``native_call_<kernel>``, and ``DELEGATE_CALL`` preceded by the delegate's own per-operator
events (named after ``delegate_debug_identifier``, e.g. ``Convolution (NHWC, F32) IGEMM #1``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from examples.common import stats
from runtime.profiler.etdump_reader import ProfileError

RUN_MODEL = "run model"
EXECUTE = "Method::execute"
OPERATOR_CALL = "OPERATOR_CALL"
DELEGATE_CALL = "DELEGATE_CALL"
KERNEL_PREFIX = "native_call_"
LOAD_EVENTS = ("Program::load_method", "Method::init")
FRAMEWORK_OVERHEAD = "(framework overhead)"
DELEGATE_OVERHEAD = "(delegate call overhead)"
SCHEMA_VERSION = 2

_INSTANCE_SUFFIX = re.compile(r"\s+#\d+$")


@dataclass
class Iterations:
    event: str  # RUN_MODEL, or EXECUTE when the ETDump has no "run model" events
    recorded: int
    warmup_iters: int  # as asked
    warmup_dropped: int  # as done: 0 when too few iterations were recorded
    first_ms: float
    measured: dict[str, float]  # stats.summarize keys, plus "count"


@dataclass
class OperatorRow:
    name: str
    kind: str  # "operator" | "delegated_operator" | "delegate_overhead" | "framework_overhead"
    backend: Optional[str]  # delegate backend (ETRecord name, else "delegate"); None when not delegated
    count: int  # calls over the measured iterations
    total_ms: float
    mean_ms: float  # per call
    share_pct: float  # of Method::execute over the measured iterations
    source_ops: list[str] = field(default_factory=list)  # from the ETRecord


@dataclass
class ProfileReport:
    source: str
    etrecord: Optional[str]
    percentile_method: str
    iterations: Iterations
    load_ms: dict[str, float]
    execute_mean_ms: Optional[float]
    runner_overhead_ms: Optional[float]  # mean "run model" minus mean Method::execute
    operators: list[OperatorRow]
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def event_table(inspector) -> pd.DataFrame:
    """The Inspector's events, one row per event and block (``block``: its index; blocks of
    different runs may share a name), in recording order. Built from the events' public
    fields rather than ``Inspector.to_dataframe()``, which shortens an op list of 5 or more
    source ops to display text."""
    rows = [{"block": index, "event_name": event.name, "raw": list(event.perf_data.raw),
             "start_time": list(event.start_time), "op_types": [str(op) for op in event.op_types or []],
             "delegate_debug_identifier": event.delegate_debug_identifier,
             "delegate_backend_name": event.delegate_backend_name}
            for index, block in enumerate(inspector.event_blocks) for event in block.events
            if event.perf_data is not None and event.perf_data.raw]
    return pd.DataFrame(rows, columns=["block", "event_name", "raw", "start_time", "op_types",
                                       "delegate_debug_identifier", "delegate_backend_name"])


def _iteration_event(table: pd.DataFrame) -> str:
    for name in (RUN_MODEL, EXECUTE):
        if (table["event_name"] == name).any():
            return name
    found = table["event_name"].value_counts().head(6)
    listed = ", ".join(f"{name} x{n}" for name, n in found.items()) or "no profiling events at all"
    raise ProfileError(f'no "{RUN_MODEL}" or "{EXECUTE}" profiling events (found: {listed}); '
                       "was the model run with profiling enabled?")


def _run_masks(table: pd.DataFrame, event: str, warmup: int) -> tuple[list[float], dict[int, np.ndarray]]:
    """All iteration times in run order, and per block which of its runs are measured."""
    rows = table[table["event_name"] == event]
    runs = sorted((start, ms, block) for _, row in rows.iterrows()
                  for start, ms, block in zip(row["start_time"], row["raw"], [row["block"]] * len(row["raw"])))
    times = [ms for _, ms, _ in runs]
    cutoff = runs[warmup][0] if warmup < len(runs) else -math.inf
    masks = {row["block"]: np.asarray(row["start_time"]) >= cutoff for _, row in rows.iterrows()}
    return times, masks


def _source_ops(row) -> list[str]:
    return list(dict.fromkeys(str(op) for op in (row["op_types"] or [])))


def _calls(table: pd.DataFrame, masks: dict[int, np.ndarray], per_instance: bool) -> pd.DataFrame:
    """One row per (event, measured run): name, kind, backend, ms. Kernel and delegate-op
    events precede their OPERATOR_CALL / DELEGATE_CALL, so one pass pairs them."""
    out = []
    for block, events in table.groupby("block", sort=False):
        if block not in masks:
            continue
        mask = masks[block]
        kernel, delegate_ops = None, []
        for _, row in events.iterrows():
            ms = np.asarray(row["raw"], dtype=np.float64)
            name = row["event_name"]
            if pd.notna(row["delegate_debug_identifier"]):
                delegate_ops.append((row, ms))
            elif name.startswith(KERNEL_PREFIX):
                kernel = name[len(KERNEL_PREFIX):]
            elif name == OPERATOR_CALL:
                label = kernel or "+".join(_source_ops(row)) or OPERATOR_CALL
                out.append((label, "operator", None, _source_ops(row), ms[mask]))
                kernel = None
            elif name == DELEGATE_CALL:
                backend = row["delegate_backend_name"] or "delegate"
                inside = np.zeros_like(ms)
                for op, op_ms in delegate_ops:
                    op_name = str(op["delegate_debug_identifier"])
                    op_name = op_name if per_instance else _INSTANCE_SUFFIX.sub("", op_name)
                    # Without the delegate's debug-handle map, an operator gets the call's source ops.
                    out.append((op_name, "delegated_operator", backend, _source_ops(op) or _source_ops(row),
                                op_ms[mask]))
                    inside += op_ms
                out.append((DELEGATE_OVERHEAD if delegate_ops else f"({backend} call, no per-operator events)",
                            "delegate_overhead", backend, _source_ops(row), (ms - inside)[mask]))
                delegate_ops = []
            elif name == EXECUTE:
                out.append((EXECUTE, "execute", None, [], ms[mask]))
    return pd.DataFrame(out, columns=["name", "kind", "backend", "source_ops", "ms"])


def _operator_rows(calls: pd.DataFrame) -> list[OperatorRow]:
    """Sum the measured calls per (name, kind, backend); add the framework overhead row."""
    samples = calls.explode("ms").dropna(subset=["ms"]).astype({"ms": np.float64})
    is_execute = samples["kind"] == "execute"
    execute_total, runs = float(samples.loc[is_execute, "ms"].sum()), int(is_execute.sum())
    parts = samples[~is_execute]

    def share(total_ms: float) -> float:
        return 100.0 * total_ms / execute_total if execute_total else math.nan

    grouped = parts.groupby(["name", "kind", "backend"], dropna=False, sort=False).agg(
        count=("ms", "size"), total_ms=("ms", "sum"),
        source_ops=("source_ops", lambda lists: list(dict.fromkeys(op for ops in lists for op in ops))))
    rows = [OperatorRow(name, kind, None if pd.isna(backend) else backend, int(g["count"]), float(g["total_ms"]),
                        float(g["total_ms"]) / g["count"], share(float(g["total_ms"])), g["source_ops"])
            for (name, kind, backend), g in grouped.iterrows()]
    if runs:
        overhead = execute_total - float(parts["ms"].sum())
        rows.append(OperatorRow(FRAMEWORK_OVERHEAD, "framework_overhead", None, runs, overhead, overhead / runs,
                                share(overhead)))
    return sorted(rows, key=lambda row: (-row.total_ms, row.name))


def _delegate_notes(calls: pd.DataFrame) -> list[str]:
    notes = []
    kinds = set(calls["kind"])
    if "delegate_overhead" in kinds and "delegated_operator" not in kinds:
        notes.append("the delegate emitted no per-operator events (runtime built without event tracing "
                     "in the XNNPACK backend?): delegate calls are shown whole")
    op_ms = np.concatenate([*calls.loc[calls["kind"] == "delegated_operator", "ms"], np.zeros(0)])
    if op_ms.size and np.allclose(op_ms * 1000, np.round(op_ms * 1000), atol=1e-6):
        notes.append("delegate per-operator times have 1 us resolution (XNNPACK's profiler): short operators "
                     f"read as 0 and the rest of each call shows as {DELEGATE_OVERHEAD}")
    return notes


def build_report(inspector, *, source: str, warmup_iters: int = 10, etrecord: Optional[str] = None,
                 per_instance: bool = False) -> ProfileReport:
    """Iteration statistics (first iteration alone, the rest after ``warmup_iters``) and the
    operator table over the measured iterations, whose rows partition ``Method::execute``."""
    if warmup_iters < 0:
        raise ValueError("warmup_iters must be >= 0")
    table = event_table(inspector)
    event = _iteration_event(table)
    notes = []
    if event == EXECUTE:
        notes.append(f'no "{RUN_MODEL}" events (ETDump not written by the profiling runner, e.g. from the '
                     f"Python bindings): the iterations are the {EXECUTE} events")
    times, _ = _run_masks(table, event, 0)
    dropped = warmup_iters if len(times) > warmup_iters else 0
    if warmup_iters and not dropped:
        notes.append(f"only {len(times)} iteration(s) recorded, not more than --warmup_iters={warmup_iters}: "
                     f"no warm-up dropped, the statistics use all {len(times)}")
    first, measured = stats.split_iterations(times, dropped)
    iterations = Iterations(event, len(times), warmup_iters, dropped, first,
                            {"count": len(measured), **stats.summarize(measured)})

    _, masks = _run_masks(table, event, dropped)
    calls = _calls(table, masks, per_instance)
    operators = _operator_rows(calls) if len(calls) else []
    notes += _delegate_notes(calls)
    execute_ms = np.concatenate([*calls.loc[calls["kind"] == "execute", "ms"], np.zeros(0)])
    execute_mean = stats.summarize(execute_ms)["mean"] if execute_ms.size else None
    runner_overhead = None
    if event == RUN_MODEL and execute_mean is not None:
        if execute_ms.size == len(measured):
            runner_overhead = iterations.measured["mean"] - execute_mean
        else:
            notes.append(f'{len(times)} "{RUN_MODEL}" events but a different number of {EXECUTE} events')
    load = table[table["event_name"].isin(LOAD_EVENTS)]
    load_ms = {row["event_name"]: float(row["raw"][0]) for _, row in load.iterrows()}
    return ProfileReport(source=source, etrecord=etrecord, percentile_method=stats.PERCENTILE_METHOD,
                         iterations=iterations, load_ms=load_ms, execute_mean_ms=execute_mean,
                         runner_overhead_ms=runner_overhead, operators=operators, notes=notes)
