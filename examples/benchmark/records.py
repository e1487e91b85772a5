"""Benchmark records: one JSON object per model x backend x thread count, and the summary
comparisons across them."""

from __future__ import annotations

from examples.benchmark.backends import BACKENDS, EXECUTORCH_CONTENDERS, PEERS
from examples.benchmark.programs import ModelContext, Prepared
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
)


def new_record(model: str, backend: str, threads: int, settings) -> dict:
    record = dict.fromkeys(RECORD_KEYS)
    iters = settings.iterations_for(backend)
    record.update(model=model, backend=backend, label=BACKENDS[backend].label, kind=BACKENDS[backend].kind,
                  threads=threads, status="ok", warmup_iters=iters.warmup, measured_iters=iters.measured)
    return record


def apply_prepared(record: dict, prepared: Prepared) -> None:
    record.update(program_file=str(prepared.path) if prepared.path else None, program_size_bytes=prepared.size_bytes,
                  export_seconds=prepared.export_seconds, export_reused=prepared.reused,
                  conversion=prepared.conversion)


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


def fastest_pair(rows: list[dict]) -> tuple[dict, dict] | None:
    """The fastest ExecuTorch row and the fastest peer row of ``rows`` (None: a side is missing)."""
    ours = [r for r in rows if r["backend"] in EXECUTORCH_CONTENDERS]
    theirs = [r for r in rows if r["backend"] in PEERS]
    if not ours or not theirs:
        return None
    return min(ours, key=lambda r: r["median_ms"]), min(theirs, key=lambda r: r["median_ms"])


def comparisons(records: list[dict]) -> list[dict]:
    """Per model and thread count, and per accuracy class (overall, fp32-class, int8-class): the
    best ExecuTorch program's median / the best peer's median (below 1: ExecuTorch faster), so
    that a bf16 or int8 peer is never set against an fp32 program unknowingly."""
    out = []
    cells = sorted({(r["model"], r["threads"]) for r in records}, key=lambda c: (c[0], c[1]))
    for model, threads in cells:
        ok = [r for r in records if r["model"] == model and r["threads"] == threads and r["status"] == "ok"
              and r["median_ms"] is not None]
        for cls in CLASSES:
            pair = fastest_pair([r for r in ok if _in_class(r, cls)])
            if pair is None:
                continue
            best, peer = pair
            ratio = best["median_ms"] / peer["median_ms"] if peer["median_ms"] > 0 else None
            out.append({"model": model, "threads": threads, "accuracy_class": cls,
                        "executorch_backend": best["backend"], "executorch_median_ms": best["median_ms"],
                        "peer_backend": peer["backend"], "peer_median_ms": peer["median_ms"], "ratio": ratio})
    return out


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
