"""Benchmark records: one JSON object per model x backend x thread count, and the summary
comparisons across them."""

from __future__ import annotations

from examples.benchmark.backends import BACKENDS, EXECUTORCH_CONTENDERS, PEERS, Iterations
from examples.benchmark.programs import ModelContext, Prepared
from examples.common import stats
from examples.common.metrics import DEFAULT_MIN_SQNR_DB, compare


RECORD_KEYS = (
    "model", "backend", "label", "kind", "threads", "status", "error", "warmup_iters", "measured_iters",
    "first_iteration_ms", "mean_ms", "median_ms", "p90_ms", "min_ms", "max_ms",
    "load_ms", "init_ms", "time_to_first_result_ms", "peak_rss_bytes",
    "program_file", "program_size_bytes", "export_seconds", "export_reused", "conversion", "version",
    "max_abs_error", "sqnr_db", "accuracy_reference", "speedup_vs_1_thread",
    "rounds_samples_ms",  # one list of measured-iteration times (ms) per interleaved round
    "precision",  # the precision the engine really ran in (OpenVINO rows: INFERENCE_PRECISION_HINT)
    "cpu_ms", "wall_ms",  # CPU time vs wall time of the measured iterations, where the engine reports them
    "artifact_digest",  # BLAKE3 of the files the row ran (program, ONNX / OpenVINO model); eager: none
    "aa_of",  # the A/A twin only: the backend it repeats
    "same_as",  # the earlier row of the cell with the same identity (engine, artifact, precision), if any
)


def new_record(model: str, backend: str, threads: int, iters: Iterations) -> dict:
    record = dict.fromkeys(RECORD_KEYS)
    record.update(model=model, backend=backend, label=BACKENDS[backend].label, kind=BACKENDS[backend].kind,
                  threads=threads, status="ok", warmup_iters=iters.warmup, measured_iters=iters.measured)
    return record


def apply_prepared(record: dict, prepared: Prepared) -> None:
    record.update(program_file=str(prepared.path) if prepared.path else None, program_size_bytes=prepared.size_bytes,
                  export_seconds=prepared.export_seconds, export_reused=prepared.reused,
                  conversion=prepared.conversion, artifact_digest=artifact_digest(prepared, record["threads"]))


def artifact_digest(prepared: Prepared, threads: int) -> str | None:
    """BLAKE3 of what the row runs: its program (tuned: this thread count's winner), or the
    peer's model files (OpenVINO IR: .xml and .bin). None: nothing on disk (eager)."""
    from examples.integrity.card import file_digest

    path = prepared.info.get("per_thread", {}).get(threads, prepared.path)
    if path is None:
        return None
    files = [path] + ([path.with_suffix(".bin")] if path.suffix == ".xml" else [])
    return "+".join(file_digest(f)[1] for f in files)


def new_twin(record: dict) -> dict:
    """The A/A twin of ``record``: the same program measured as an independent row."""
    twin = dict(record, backend=AA_BACKEND, label=f"A/A twin of {record['label']}", aa_of=record["backend"])
    return twin


def add_speedups(records: list[dict]) -> None:
    """``speedup_vs_1_thread`` = mean at 1 thread / mean at T (same model and backend)."""
    base = {(r["model"], r["backend"]): r["mean_ms"] for r in records
            if r["threads"] == 1 and r["status"] == "ok" and r["mean_ms"]}
    for r in records:
        one = base.get((r["model"], r["backend"]))
        if r["status"] == "ok" and one and r["mean_ms"]:
            r["speedup_vs_1_thread"] = one / r["mean_ms"]


FP32_CLASS_MIN_SQNR_DB = 40.0  # at or above: as exact as fp32 for any use; below: a reduced-precision result
# "in-budget": every row inside tune's default accuracy budget (SQNR vs eager >= 20 dB), so that a
# peer whose int8 output is broken (random calibration) does not set the bar for the tuned program.
CLASSES = ("overall", "in-budget", "fp32-class", "int8-class")


def in_budget(record: dict) -> bool:
    """Inside the default accuracy budget: fp32-class, or SQNR vs eager >= DEFAULT_MIN_SQNR_DB."""
    cls = accuracy_class(record)
    return cls == "fp32-class" or (cls == "int8-class" and record["sqnr_db"] >= DEFAULT_MIN_SQNR_DB)


def accuracy_class(record: dict) -> str | None:
    """``fp32-class`` (SQNR vs eager >= 40 dB, or identical) or ``int8-class``; None: not compared."""
    if record["backend"] == "eager" or (record["sqnr_db"] is None and record["max_abs_error"] == 0.0):
        return "fp32-class"
    if record["sqnr_db"] is None:
        return None
    return "fp32-class" if record["sqnr_db"] >= FP32_CLASS_MIN_SQNR_DB else "int8-class"


def _in_class(record: dict, cls: str) -> bool:
    if cls == "overall":
        return True
    return in_budget(record) if cls == "in-budget" else accuracy_class(record) == cls


AA_BACKEND = "aa_twin"  # the A/A row: one program measured again as an independent row


def identity(record: dict) -> tuple:
    """What makes two rows the same measurement: engine, artifact digest, precision. Rows
    with one identity are one row (the first in report order); the A/A twin never merges."""
    if record["backend"] == AA_BACKEND:
        return (AA_BACKEND,)
    return (record.get("version") or record["backend"], record.get("artifact_digest") or record["backend"],
            record.get("precision"))


def distinct_rows(rows: list[dict]) -> list[dict]:
    """``rows`` without the repeats of an identity (report order kept)."""
    seen, out = set(), []
    for r in rows:
        key = identity(r)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def mark_duplicates(records: list[dict]) -> None:
    """``same_as``: the earlier row of a cell that ran the same artifact in the same engine and
    precision (e.g. the tuned row and the program tune picked): one row for every verdict."""
    first: dict[tuple, str] = {}
    for r in records:
        if r["status"] != "ok":
            continue
        key = (r["model"], r["threads"], *identity(r))
        owner = first.setdefault(key, r["backend"])
        r["same_as"] = owner if owner != r["backend"] else None


def _aa_pair(rows: list[dict]) -> tuple[list, list] | None:
    """The rounds of one cell's A/A pair (the twin and the row it repeats), paired by index."""
    twin = next((r for r in rows if r["backend"] == AA_BACKEND and r.get("rounds_samples_ms")), None)
    original = twin and next((r for r in rows if r["backend"] == twin.get("aa_of") and r.get("rounds_samples_ms")),
                             None)
    return tuple(_common_rounds(original, twin)) if original else None


def aa_check(rows: list[dict]) -> stats.Verdict | None:
    """The A/A pair of one model x threads cell over all its rounds, as the A/A line shows it
    (from 2 rounds); the floor a verdict uses is :func:`aa_floor`'s."""
    pair = _aa_pair(rows)
    return stats.judge(*pair, paired=True, min_rounds=2) if pair else None


def aa_floor(rows: list[dict], rounds: list[int] | None = None) -> float:
    """The cell's A/A noise floor on ``rounds`` (indices; None: all), the rounds the verdict it
    serves judges (:func:`examples.common.stats.floor_on`); 0 without an A/A twin or where the
    twin has no floor on those rounds (too few, or fewer than the verdict judges)."""
    pair = _aa_pair(rows)
    if pair is None:
        return 0.0
    a, b = pair
    return stats.floor_on(a, b, range(len(a)) if rounds is None else rounds) or 0.0


def _common_rounds(*rows: dict) -> list[list[list[float]]]:
    """Each row's rounds, cut to the rounds every row has (paired by index)."""
    count = min(len(r["rounds_samples_ms"]) for r in rows)
    return [r["rounds_samples_ms"][:count] for r in rows]


def judge_sides(rows: list[dict], aa_rows: list[dict] | None = None) -> dict | None:
    """The best ExecuTorch row against the best peer row of ``rows`` (one cell), chosen and
    judged by :func:`examples.common.stats.select_and_judge`, beyond the A/A floor of ``aa_rows``
    (the cell's rows) on the rounds the verdict judges; None: a side is missing."""
    rows = distinct_rows([r for r in rows if r.get("rounds_samples_ms")])
    ours = [r for r in rows if r["backend"] in EXECUTORCH_CONTENDERS]
    theirs = [r for r in rows if r["backend"] in PEERS]
    if not ours or not theirs:
        return None
    rounds = dict(zip([id(r) for r in ours + theirs], _common_rounds(*ours, *theirs)))
    by_id = {id(r): r for r in ours + theirs}
    selection = stats.select_and_judge({id(r): rounds[id(r)] for r in ours}, {id(r): rounds[id(r)] for r in theirs},
                                       floor=lambda judged: aa_floor(aa_rows or [], judged))
    best, peer = by_id[selection.ours], by_id[selection.theirs]
    return {"executorch_backend": best["backend"], "executorch_median_ms": best["median_ms"],
            "peer_backend": peer["backend"], "peer_median_ms": peer["median_ms"],
            "held_out_selection": selection.held_out, **selection.verdict.as_dict()}


def comparisons(records: list[dict]) -> list[dict]:
    """Per model and thread count, and per accuracy class (overall, in budget, fp32-class,
    int8-class): the best ExecuTorch program against the best peer (ratio below 1: ExecuTorch
    faster) with the one verdict rule and the cell's A/A noise floor, so that a bf16 or int8
    peer is never set against an fp32 program unknowingly."""
    out = []
    cells = sorted({(r["model"], r["threads"]) for r in records}, key=lambda c: (c[0], c[1]))
    for model, threads in cells:
        ok = [r for r in records if r["model"] == model and r["threads"] == threads and r["status"] == "ok"
              and r["median_ms"] is not None]
        aa = aa_check(ok)
        for cls in CLASSES:
            judged = judge_sides([r for r in ok if _in_class(r, cls)], ok)
            if judged is not None:
                out.append({"model": model, "threads": threads, "accuracy_class": cls,
                            "aa": aa.as_dict() if aa else None, **judged,
                            "peers_out_of_budget": peers_out_of_budget(ok) if cls == "in-budget" else []})
    return out


def peers_out_of_budget(rows: list[dict]) -> list[str]:
    """Peer rows left out of an in-budget verdict for accuracy ("ov_int8 at 16 dB"): a verdict
    against the peer's slower in-budget row must say that its faster int8 did not qualify."""
    return [f"{r['backend']} at {r['sqnr_db']:.0f} dB" for r in rows
            if r["backend"] in PEERS and not in_budget(r) and r.get("sqnr_db") is not None]


def finish_record(record: dict, backend: str, result: dict, ctx: ModelContext) -> None:
    outputs = result.pop("outputs", None)
    record.update(result)
    if backend == "eager":
        record.update(max_abs_error=0.0, accuracy_reference="itself (reference)")
    elif outputs is not None:
        try:
            record.update(compare(ctx.reference, outputs), accuracy_reference="eager pytorch")
        except ValueError as error:
            record["accuracy_reference"] = f"not compared: {error}"
