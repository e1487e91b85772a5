"""Turn an ETDump (ExecuTorch's event-tracer flatbuffer) into a :class:`ProfileReport`.

Reading is done by ExecuTorch's devtools (``executorch.devtools.etdump.serialize``; the
optional ETRecord mapping by ``executorch.devtools.Inspector``). Everything after
:func:`load_etdump` is a pure function of the deserialized events, so it can be tested on
synthetic event lists.

Event model (what ExecuTorch 1.5 writes; see docs/PROFILE_FORMAT.md for the runner's):

* one ``run_data`` block per ``Method::execute`` (named "Execute"), plus "Default" for loading;
* ``Method::execute``: one per execution of the method;
* ``OPERATOR_CALL``: one per non-delegated instruction, with a nested kernel event named
  ``native_call_<kernel>`` (same chain/instruction id, logged just before it);
* ``DELEGATE_CALL``: one per delegate call, preceded by the delegate's own per-operator events
  (no name; ``delegate_debug_id_str`` such as ``"Convolution (NHWC, F32) IGEMM #3"``);
* ``run model``: written by our profiling runner around each iteration (absent when the
  ETDump comes from the Python bindings; iterations then are the ``Method::execute`` events);
* ``Method::init`` / ``Program::load_method``: loading.

Timestamps are ExecuTorch ticks, nanoseconds on Linux (the runtime's default clock).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

RUN_MODEL = "run model"
EXECUTE = "Method::execute"
OPERATOR_CALL = "OPERATOR_CALL"
DELEGATE_CALL = "DELEGATE_CALL"
KERNEL_PREFIX = "native_call_"
INIT_EVENTS = ("Program::load_method", "Method::init")
DELEGATE_OP_EVENTS = "<delegate operator events>"

NS_PER_MS = 1e6
SCHEMA_VERSION = 1

_ETDUMP_IDENTIFIER = b"ED00"
_PTE_IDENTIFIER = re.compile(rb"ET\d\d")
_INSTANCE_SUFFIX = re.compile(r"\s+#\d+$")


class EtdumpError(Exception):
    """Input that is not a readable ETDump with profiling data (message is one line)."""


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass
class Stats:
    count: int
    mean_ms: float
    median_ms: float
    p90_ms: float
    min_ms: float
    max_ms: float


@dataclass
class RunModelSummary:
    source: str  # "run model" or "Method::execute" (fallback when the runner events are absent)
    iterations_recorded: int
    warmup_iters: int  # as requested
    warmup_dropped: int  # actually dropped (0 when too few iterations were recorded)
    first_ms: float
    measured: Stats


@dataclass
class OperatorRow:
    name: str
    kind: str  # "operator" | "delegated_operator" | "delegate_overhead"
    delegated: bool
    backend: Optional[str]
    count: int  # calls over the measured iterations
    calls_per_iter: float
    total_ms: float  # summed over the measured iterations
    mean_ms: float  # per call
    per_iter_ms: float
    share_pct: float  # of Method::execute time over the measured iterations
    source_ops: list[str] = field(default_factory=list)


@dataclass
class DelegateSummary:
    chain_index: int
    instruction_id: int
    backend: Optional[str]
    count: int
    total_ms: float  # DELEGATE_CALL time over the measured iterations
    ops_total_ms: float  # the delegate's per-operator events inside those calls
    op_events_per_call: float
    calls_where_ops_exceed_call: int
    source_ops: list[str] = field(default_factory=list)


@dataclass
class Overhead:
    execute_total_ms: float
    covered_ms: float  # OPERATOR_CALL + DELEGATE_CALL time
    overhead_total_ms: float
    overhead_per_iter_ms: float
    share_pct: float
    execute_mean_ms: float
    runner_overhead_per_iter_ms: Optional[float]  # "run model" - Method::execute, when both exist


@dataclass
class ProfileReport:
    source: str
    schema_version: int
    run_model: RunModelSummary
    operators: list[OperatorRow]
    delegates: list[DelegateSummary]
    overhead: Optional[Overhead]
    init_ms: dict[str, float]
    executions: int
    measured_executions: int
    delegate_op_events: bool
    etrecord: Optional[str]
    events_found: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def check_etdump_bytes(data: bytes, name: str = "input") -> bool:
    """Cheap header checks before handing bytes to flatc. Returns ``size_prefixed``.

    Raises :class:`EtdumpError` for empty, truncated and foreign files.
    """
    if len(data) == 0:
        raise EtdumpError(f"{name} is empty (0 bytes); expected an ETDump written by the profiling runner")
    if len(data) >= 8 and _PTE_IDENTIFIER.fullmatch(data[4:8]):
        raise EtdumpError(f"{name} is an ExecuTorch program (.pte), not an ETDump profile")
    if len(data) >= 12 and data[8:12] == _ETDUMP_IDENTIFIER:
        declared = int.from_bytes(data[0:4], "little")
        if declared + 4 > len(data):
            raise EtdumpError(
                f"{name} is truncated: the ETDump header declares {declared + 4} bytes, the file has {len(data)}"
            )
        return True
    if len(data) >= 8 and data[4:8] == _ETDUMP_IDENTIFIER:
        return False
    if len(data) < 12:
        raise EtdumpError(f"{name} is too short ({len(data)} bytes) to be an ETDump")
    raise EtdumpError(f"{name} is not an ETDump (no 'ED00' flatbuffer identifier)")


def load_etdump(path: str | Path):
    """Read and deserialize an ETDump file (``ETDumpFlatCC``) or raise :class:`EtdumpError`."""
    path = Path(path)
    if not path.exists():
        raise EtdumpError(f"{path}: no such file")
    if path.is_dir():
        raise EtdumpError(f"{path}: is a directory, expected an ETDump file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EtdumpError(f"{path}: cannot read ({e.strerror or e})") from None
    return parse_etdump_bytes(data, str(path))


def parse_etdump_bytes(data: bytes, name: str = "input"):
    size_prefixed = check_etdump_bytes(data, name)
    from executorch.devtools.etdump.serialize import deserialize_from_etdump_flatcc

    try:
        return deserialize_from_etdump_flatcc(data, size_prefixed=size_prefixed)
    except Exception as e:  # flatc failures (it may even crash on garbage), malformed tables
        import subprocess

        if isinstance(e, (subprocess.CalledProcessError, OSError)):
            reason = "flatc could not decode it"
        else:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EtdumpError(f"{name} is not a valid ETDump ({reason[:160]})") from None


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawEvent:
    """One profiling event, flattened out of the ETDump."""

    name: Optional[str]
    chain_index: int
    instruction_id: int
    start: int
    end: int
    block: int = 0
    delegate_id: Optional[str | int] = None  # set for a delegate's own (per-operator) events

    @property
    def duration(self) -> int:
        return self.end - self.start

    @property
    def key(self) -> tuple[int, int]:
        return (self.chain_index, self.instruction_id)


def raw_events(etdump) -> list[RawEvent]:
    """Flatten the profile events of an ``ETDumpFlatCC`` in file order."""
    out = []
    for bi, run in enumerate(etdump.run_data or []):
        for ev in run.events or []:
            p = ev.profile_event
            if p is None:
                continue
            did: Optional[str | int] = None
            if p.delegate_debug_id_str:
                did = p.delegate_debug_id_str
            elif p.delegate_debug_id_int is not None and p.delegate_debug_id_int != -1:
                did = p.delegate_debug_id_int
            out.append(RawEvent(p.name or None, p.chain_index, p.instruction_id, p.start_time, p.end_time, bi, did))
    return out


@dataclass
class Call:
    """A top-level instruction executed inside ``Method::execute``."""

    event: RawEvent  # OPERATOR_CALL or DELEGATE_CALL
    kernel: Optional[RawEvent] = None  # native_call_* inside an OPERATOR_CALL
    delegate_ops: list[RawEvent] = field(default_factory=list)

    @property
    def is_delegate(self) -> bool:
        return self.event.name == DELEGATE_CALL


@dataclass
class Execution:
    execute: RawEvent
    calls: list[Call]
    orphan_delegate_ops: list[RawEvent] = field(default_factory=list)


@dataclass
class Timeline:
    executions: list[Execution]
    run_model: list[RawEvent]
    init: dict[str, list[RawEvent]]
    events_found: Counter
    unattached_calls: int = 0


def build_timeline(events: Iterable[RawEvent]) -> Timeline:
    """Group events into executions. Nested events are logged before their parent ends, so a
    single pass with "pending" children keyed by (chain, instruction) is enough."""
    executions: list[Execution] = []
    run_model: list[RawEvent] = []
    init: dict[str, list[RawEvent]] = defaultdict(list)
    found: Counter = Counter()
    calls: list[Call] = []
    pending_kernels: dict[tuple[int, int], list[RawEvent]] = defaultdict(list)
    pending_ops: dict[tuple[int, int], list[RawEvent]] = defaultdict(list)

    for ev in events:
        if ev.delegate_id is not None and ev.name in (None, "", str(ev.delegate_id)):
            found[DELEGATE_OP_EVENTS] += 1
            pending_ops[ev.key].append(ev)
            continue
        found[ev.name or "<unnamed>"] += 1
        if ev.name == RUN_MODEL:
            run_model.append(ev)
        elif ev.name in INIT_EVENTS:
            init[ev.name].append(ev)
        elif ev.name == OPERATOR_CALL:
            kernels = pending_kernels.pop(ev.key, [])
            calls.append(Call(ev, kernel=kernels[-1] if kernels else None))
        elif ev.name == DELEGATE_CALL:
            calls.append(Call(ev, delegate_ops=pending_ops.pop(ev.key, [])))
        elif ev.name and ev.name.startswith(KERNEL_PREFIX):
            pending_kernels[ev.key].append(ev)
        elif ev.name == EXECUTE:
            orphans = []
            for key, ops in pending_ops.items():  # logged after their DELEGATE_CALL: attach late
                target = [c for c in calls if c.is_delegate and c.event.key == key]
                if target:
                    target[-1].delegate_ops.extend(ops)
                else:
                    orphans.extend(ops)
            executions.append(Execution(ev, calls, orphans))
            calls, pending_kernels, pending_ops = [], defaultdict(list), defaultdict(list)
    return Timeline(executions, run_model, dict(init), found, unattached_calls=len(calls))


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); q in [0, 100]."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def stats_ms(values_ms: Sequence[float]) -> Stats:
    n = len(values_ms)
    if n == 0:
        return Stats(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return Stats(n, sum(values_ms) / n, percentile(values_ms, 50), percentile(values_ms, 90),
                 min(values_ms), max(values_ms))


def split_warmup(n: int, warmup_iters: int) -> int:
    """How many leading iterations to drop: ``warmup_iters`` if enough remain, else none."""
    return warmup_iters if n > warmup_iters else 0


# --------------------------------------------------------------------------------------------
# Source-op annotations from an Inspector built with an ETRecord
# --------------------------------------------------------------------------------------------


@dataclass
class Annotations:
    """What an ETRecord adds: per instruction id, the source (edge) ops and delegate backend."""

    ops_by_instruction: dict[int, list[str]] = field(default_factory=dict)
    backend_by_instruction: dict[int, str] = field(default_factory=dict)
    ops_by_delegate_op: dict[tuple[int, str], list[str]] = field(default_factory=dict)


def annotations_from_inspector(inspector) -> Annotations:
    ann = Annotations()
    for block in getattr(inspector, "event_blocks", []) or []:
        for ev in block.events:
            iid = getattr(ev, "_instruction_id", None)
            if iid is None:
                continue
            ops = [str(o) for o in (ev.op_types or [])]
            if ev.delegate_debug_identifier is None:
                if ops and iid not in ann.ops_by_instruction:
                    ann.ops_by_instruction[iid] = _unique(ops)
                if ev.name == DELEGATE_CALL and ev.delegate_backend_name:
                    ann.backend_by_instruction[iid] = ev.delegate_backend_name
            else:
                if ops:
                    ann.ops_by_delegate_op[(iid, str(ev.delegate_debug_identifier))] = _unique(ops)
                if ev.delegate_backend_name and iid not in ann.backend_by_instruction:
                    ann.backend_by_instruction[iid] = ev.delegate_backend_name
    return ann


def _unique(xs: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(xs))


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def operator_name(call: Call, ann: Optional[Annotations]) -> str:
    if call.kernel is not None and call.kernel.name:
        return call.kernel.name[len(KERNEL_PREFIX):]
    if ann and (ops := ann.ops_by_instruction.get(call.event.instruction_id)):
        return "+".join(ops)
    return f"{OPERATOR_CALL}@instruction{call.event.instruction_id}"


def delegate_op_name(ev: RawEvent, per_instance: bool) -> str:
    if isinstance(ev.delegate_id, str):
        return ev.delegate_id if per_instance else _INSTANCE_SUFFIX.sub("", ev.delegate_id)
    return f"delegate op {ev.delegate_id}"


def decode_events(
    events: Sequence[RawEvent],
    *,
    source: str = "<etdump>",
    warmup_iters: int = 10,
    annotations: Optional[Annotations] = None,
    per_instance: bool = False,
    etrecord: Optional[str] = None,
) -> ProfileReport:
    if warmup_iters < 0:
        raise ValueError("warmup_iters must be >= 0")
    tl = build_timeline(events)
    notes: list[str] = []
    ann = annotations

    # 1. Iterations -----------------------------------------------------------------------
    if tl.run_model:
        it_source, it_events = RUN_MODEL, tl.run_model
    elif tl.executions:
        it_source, it_events = EXECUTE, [e.execute for e in tl.executions]
        notes.append(
            f'no "{RUN_MODEL}" events (ETDump not written by the profiling runner, e.g. from the '
            f"Python bindings): iterations are the {len(it_events)} {EXECUTE} events"
        )
    else:
        raise EtdumpError(
            f'{source} has no "{RUN_MODEL}" or "{EXECUTE}" profiling events '
            f"(found: {_describe(tl.events_found)}); was the model run with profiling enabled?"
        )
    durations = [e.duration / NS_PER_MS for e in it_events]
    n = len(durations)
    dropped = split_warmup(n, warmup_iters)
    if warmup_iters and dropped == 0:
        notes.append(
            f"only {n} iteration(s) recorded, not more than --warmup_iters={warmup_iters}: no warm-up "
            f"dropped, statistics use all {n} iteration(s)"
        )
    run_model = RunModelSummary(it_source, n, warmup_iters, dropped, durations[0], stats_ms(durations[dropped:]))

    # 2. Operators over the measured executions ---------------------------------------------
    n_exec = len(tl.executions)
    exec_dropped = split_warmup(n_exec, warmup_iters)
    measured = tl.executions[exec_dropped:]
    if tl.run_model and n_exec and n_exec != n:
        notes.append(f'{n} "{RUN_MODEL}" events but {n_exec} {EXECUTE} events')
    if tl.unattached_calls:
        notes.append(f"{tl.unattached_calls} operator/delegate call(s) after the last {EXECUTE} were ignored")

    rows: dict[tuple[str, str, Optional[str]], dict] = {}
    delegates: dict[tuple[int, int], dict] = {}
    exec_total = covered_total = 0
    any_delegate_ops = False

    def add(name: str, kind: str, backend: Optional[str], dur: int, src: list[str]):
        r = rows.setdefault((name, kind, backend), {"count": 0, "total": 0, "src": []})
        r["count"] += 1
        r["total"] += dur
        r["src"] = _unique(r["src"] + src)

    for ex in measured:
        exec_total += ex.execute.duration
        for call in ex.calls:
            covered_total += call.event.duration
            iid = call.event.instruction_id
            if not call.is_delegate:
                add(operator_name(call, ann), "operator", None, call.event.duration,
                    (ann.ops_by_instruction.get(iid, []) if ann else []))
                continue
            backend = ann.backend_by_instruction.get(iid) if ann else None
            parent_src = ann.ops_by_instruction.get(iid, []) if ann else []
            ops_dur = sum(op.duration for op in call.delegate_ops)
            for op in call.delegate_ops:
                any_delegate_ops = True
                src = (ann.ops_by_delegate_op.get((iid, str(op.delegate_id))) if ann else None) or parent_src
                add(delegate_op_name(op, per_instance), "delegated_operator", backend, op.duration, src)
            rest_name = "(delegate call overhead)" if call.delegate_ops else "(delegate call, no per-operator events)"
            add(rest_name, "delegate_overhead", backend, call.event.duration - ops_dur, parent_src)
            d = delegates.setdefault(call.event.key, {"count": 0, "total": 0, "ops": 0, "nops": 0, "exceed": 0,
                                                      "backend": backend, "src": parent_src})
            d["count"] += 1
            d["total"] += call.event.duration
            d["ops"] += ops_dur
            d["nops"] += len(call.delegate_ops)
            d["exceed"] += ops_dur > call.event.duration
        for op in ex.orphan_delegate_ops:
            any_delegate_ops = True
            add(delegate_op_name(op, per_instance), "delegated_operator", None, op.duration, [])
    orphans = sum(len(ex.orphan_delegate_ops) for ex in measured)
    if orphans:
        notes.append(f"{orphans} delegate operator event(s) had no matching {DELEGATE_CALL}")

    n_measured = len(measured)
    operators = []
    for (name, kind, backend), r in rows.items():
        operators.append(OperatorRow(
            name=name, kind=kind, delegated=kind != "operator", backend=backend, count=r["count"],
            calls_per_iter=r["count"] / n_measured,
            total_ms=r["total"] / NS_PER_MS, mean_ms=r["total"] / r["count"] / NS_PER_MS,
            per_iter_ms=r["total"] / n_measured / NS_PER_MS,
            share_pct=100.0 * r["total"] / exec_total if exec_total else math.nan,
            source_ops=r["src"],
        ))
    operators.sort(key=lambda r: (-r.total_ms, r.name))

    delegate_rows = [
        DelegateSummary(chain, iid, d["backend"], d["count"], d["total"] / NS_PER_MS, d["ops"] / NS_PER_MS,
                        d["nops"] / d["count"], d["exceed"], d["src"])
        for (chain, iid), d in sorted(delegates.items())
    ]
    if delegates and not any_delegate_ops:
        notes.append("the delegate emitted no per-operator events (runtime built without event tracing "
                     "in the XNNPACK backend?); delegate calls are shown whole")
    op_durations = [op.duration for ex in measured for c in ex.calls for op in c.delegate_ops]
    if op_durations and all(dur % 1000 == 0 for dur in op_durations):
        notes.append("delegate per-operator times have 1 us resolution (XNNPACK's profiler): short operators "
                     "read as 0 and the rest of the call shows up as (delegate call overhead)")
    if any(d.calls_where_ops_exceed_call for d in delegate_rows):
        notes.append("some delegate calls report per-operator time above the call time "
                     "(the XNNPACK profiler rounds to microseconds)")

    # 3. Framework overhead -------------------------------------------------------------------
    overhead = None
    if measured:
        runner_overhead = None
        if tl.run_model and n_exec == n:
            rm = tl.run_model[exec_dropped:]
            runner_overhead = sum(r.duration - e.execute.duration for r, e in zip(rm, measured)) / n_measured / NS_PER_MS
        overhead = Overhead(
            execute_total_ms=exec_total / NS_PER_MS,
            covered_ms=covered_total / NS_PER_MS,
            overhead_total_ms=(exec_total - covered_total) / NS_PER_MS,
            overhead_per_iter_ms=(exec_total - covered_total) / n_measured / NS_PER_MS,
            share_pct=100.0 * (exec_total - covered_total) / exec_total if exec_total else math.nan,
            execute_mean_ms=exec_total / n_measured / NS_PER_MS,
            runner_overhead_per_iter_ms=runner_overhead,
        )
    else:
        notes.append(f"no {EXECUTE} events: no operator table or framework overhead")

    init_ms = {name: evs[0].duration / NS_PER_MS for name, evs in tl.init.items()}
    return ProfileReport(
        source=source, schema_version=SCHEMA_VERSION, run_model=run_model, operators=operators,
        delegates=delegate_rows, overhead=overhead, init_ms=init_ms, executions=n_exec,
        measured_executions=n_measured, delegate_op_events=any_delegate_ops, etrecord=etrecord,
        events_found=dict(sorted(tl.events_found.items())), notes=notes,
    )


def _describe(found: Counter) -> str:
    if not found:
        return "no profiling events at all"
    return ", ".join(f"{k} x{v}" for k, v in found.most_common(6))


def decode_etdump(etdump, **kwargs) -> ProfileReport:
    """Decode a deserialized ``ETDumpFlatCC`` (see :func:`decode_events` for the options)."""
    return decode_events(raw_events(etdump), **kwargs)


def make_inspector(etdump_path: str | Path, etrecord: str | Path):
    """An ``executorch.devtools.Inspector`` on the ETDump with the ETRecord applied."""
    if not Path(etrecord).is_file():
        raise EtdumpError(f"{etrecord}: no such ETRecord file")
    from executorch.devtools import Inspector

    import warnings

    try:
        with warnings.catch_warnings():  # "Output Buffer not found": we read timings only
            warnings.simplefilter("ignore")
            return Inspector(etdump_path=str(etdump_path), etrecord=str(etrecord))
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise EtdumpError(f"{etrecord}: cannot use as ETRecord for this ETDump ({reason[:160]})") from None


def decode_file(
    path: str | Path, *, warmup_iters: int = 10, etrecord: Optional[str | Path] = None, per_instance: bool = False
) -> ProfileReport:
    """Read ``path`` and decode it; with ``etrecord``, map events back to source ops."""
    etdump = load_etdump(path)
    ann = annotations_from_inspector(make_inspector(path, etrecord)) if etrecord else None
    return decode_etdump(etdump, source=str(path), warmup_iters=warmup_iters, annotations=ann,
                         per_instance=per_instance, etrecord=str(etrecord) if etrecord else None)
