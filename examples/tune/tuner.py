"""Tune: build every candidate program once, check its accuracy against eager PyTorch, time the
ones inside the budget in the native runner at every thread count (interleaved rounds,
medians), and pick a winner per thread count.

Every candidate keeps its status and reason (``failed``: export or run failed; ``rejected``:
outside the accuracy budget; ``duplicate``: the same bytes as another candidate; ``slower``:
measured, not written; ``unproven``: fastest on the choosing rounds, not proven faster than the
default program; ``winner``), so a reader sees why the written program won. The default program
is also timed as a row of its own (A/A, the noise floor). Ctrl-C keeps what was measured (the
document says ``partial``)."""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from examples.common import machine
from examples.benchmark.cache import ArtifactCache
from examples.benchmark.programs import ModelContext, Prepared, calibration_for, executorch_program
from examples.benchmark.progress import GridProgress
from examples.common import stats
from examples.common.metrics import DEFAULT_MIN_SQNR_DB, sqnr_db
from examples.runner import client
from examples.tune.candidates import Candidate

OBJECTIVES = ("latency", "first_result", "memory", "size")
HELD_OUT_SEED = 7000  # calibration uses other seeds: accuracy is judged on inputs it never saw


@dataclass
class TuneSettings:
    model: str
    threads: list[int]
    output_dir: Path
    runner_path: Path
    cache_dir: Path
    weights: str = "auto"
    calibration_data: str | None = None
    num_calibration_samples: int | None = None
    eval_data: str | None = None
    eval_limit: int | None = None
    max_top1_drop: float = 1.0  # percentage points
    min_sqnr_db: float = DEFAULT_MIN_SQNR_DB
    objective: str = "latency"
    warmup: int = 5
    iterations: int = 10
    rounds: int = 2 * stats.MIN_VERDICT_ROUNDS  # even rounds choose the winner, odd rounds judge it
    held_out: int = 4
    timeout_s: float = 600.0
    verbose: bool = False


@dataclass
class CandidateResult:
    candidate: Candidate
    # pending -> built -> accepted -> winner / slower / unproven; or failed / rejected / duplicate; A/A (the twin)
    status: str = "pending"
    reason: str = ""
    program: Path | None = None
    size_bytes: int | None = None
    export_seconds: float | None = None
    conversion: str = ""
    sqnr_db: float | None = None
    top1: float | None = None
    top1_drop: float | None = None
    runs: dict = field(default_factory=dict)  # threads -> list of per-round measurements

    def figure(self, threads: int, key: str) -> float | None:
        values = [r[key] for r in self.runs.get(threads, []) if r.get(key) is not None]
        return stats.median(values) if values else None

    def to_dict(self) -> dict:
        c = self.candidate
        times = {}
        for threads, rounds in self.runs.items():
            times[str(threads)] = {
                "median_ms": self.figure(threads, "median_ms"),
                "p90_ms": self.figure(threads, "p90_ms"),
                "first_result_ms": self.figure(threads, "first_result_ms"),
                "peak_rss_bytes": max((r["peak_rss_bytes"] or 0) for r in rounds) or None,
                "rounds_samples_ms": [r["samples_ms"] for r in rounds],
            }
        return {"name": c.name, "delegate": c.delegate, "precision": c.precision, "recipe": c.recipe,
                "description": c.description, "status": self.status, "reason": self.reason,
                "program": self.program.name if self.program else None, "size_bytes": self.size_bytes,
                "export_seconds": self.export_seconds, "conversion": self.conversion,
                "sqnr_db": None if self.sqnr_db is None or math.isinf(self.sqnr_db) else self.sqnr_db,
                "identical_to_eager": self.sqnr_db is not None and math.isinf(self.sqnr_db),
                "top1": self.top1, "top1_drop_points": self.top1_drop, "times": times}


def build(result: CandidateResult, ctx: ModelContext, settings: TuneSettings, cache: ArtifactCache) -> None:
    c = result.candidate
    try:
        if c.delegate == "xnnpack":
            from examples.quantization.recipes import get_recipe

            recipe = get_recipe(c.recipe) if c.recipe else None
            calibration = None
            if recipe is not None and recipe.needs_calibration:
                calibration = calibration_for(ctx, settings.calibration_data, settings.num_calibration_samples)
            prepared = executorch_program(ctx, cache, variant=c.name, recipe=recipe, calibration=calibration,
                                          verbose=settings.verbose)
        else:
            from examples.benchmark.openvino_backend import openvino_program

            prepared = openvino_program(ctx, cache, candidate=c, options=settings)
    except Exception as error:  # noqa: BLE001 - kept as the candidate's reason, the others go on
        result.status, result.reason = "failed", f"export failed: {type(error).__name__}: {_line(error)}"
        return
    _take(result, prepared)


DEFAULT_CANDIDATE = "xnnpack_fp32"


def default_program(results: list[CandidateResult]) -> CandidateResult | None:
    """What every winner is judged against: XNNPACK fp32, or the first candidate where the
    delegates leave XNNPACK out."""
    return next((r for r in results if r.candidate.name == DEFAULT_CANDIDATE), results[0] if results else None)


def mark_duplicates(results: list[CandidateResult]) -> None:
    """Byte-identical programs (two recipes that quantize a model the same way) are one
    candidate: the first keeps the name, the others say whose program they are."""
    from examples.integrity.card import file_digest

    seen: dict[str, str] = {}
    for r in [r for r in results if r.status == "built"]:
        try:
            digest = file_digest(r.program)[1]
        except OSError as error:
            r.status, r.reason = "failed", f"program unreadable: {error}"
            continue
        if digest in seen:
            r.status, r.reason = "duplicate", f"the same program as {seen[digest]}"
        else:
            seen[digest] = r.candidate.name


def aa_twin(results: list[CandidateResult]) -> CandidateResult | None:
    """The default program as a row of its own, timed every round: the run's noise floor (A/A),
    never a winner."""
    baseline = default_program(results)
    if baseline is None or baseline.status != "accepted":
        return None
    c = baseline.candidate
    return CandidateResult(Candidate(f"{c.name} (A/A)", c.delegate, c.precision, c.description, c.recipe,
                                     c.openvino_precision), status="accepted",
                           reason="the default program timed again: the noise floor", program=baseline.program,
                           size_bytes=baseline.size_bytes, conversion=baseline.conversion)


def _take(result: CandidateResult, prepared: Prepared) -> None:
    result.program, result.size_bytes = prepared.path, prepared.size_bytes
    result.export_seconds, result.conversion = prepared.export_seconds, prepared.conversion
    result.status = "built"


def _line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else ""


def held_out_inputs(ctx: ModelContext, count: int) -> list[tuple]:
    """Random inputs like the model's own: dtype, shape and value range (token ids, masks)."""
    from examples.models.input_specs import infer_input_specs, random_inputs_for

    specs = infer_input_specs(ctx.inputs, ctx.model)
    return [random_inputs_for(specs, seed=HELD_OUT_SEED + i) for i in range(count)]


def check_accuracy(result: CandidateResult, ctx: ModelContext, settings: TuneSettings, held_out: list[tuple],
                   references: list[list]) -> None:
    """SQNR of the program's outputs vs eager on held-out inputs (all of them together)."""
    outputs = []
    try:
        for i, inputs in enumerate(held_out):
            files = client.write_input_files(inputs, ctx.workdir / f"held_out_{i}")
            m = client.run_program(settings.runner_path, result.program, iters=1, warmup=0, threads=1, inputs=files,
                                   output_path=ctx.workdir / f"{result.candidate.name}_{i}", timeout=settings.timeout_s)
            outputs.extend(m.outputs)
    except client.RunnerFailed as error:
        result.status, result.reason = "failed", f"run failed: {error}"
        return
    reference = [r for ref in references for r in ref]
    try:
        result.sqnr_db = sqnr_db(reference, outputs)
    except ValueError as error:
        result.status, result.reason = "failed", f"outputs do not match eager: {error}"
        return
    if math.isnan(result.sqnr_db) or result.sqnr_db < settings.min_sqnr_db:
        result.status = "rejected"
        result.reason = f"SQNR {result.sqnr_db:.1f} dB < budget {settings.min_sqnr_db:g} dB"
        return
    result.status = "accepted"


def measure_round(result: CandidateResult, ctx: ModelContext, settings: TuneSettings, threads: int) -> None:
    files = client.write_input_files(ctx.inputs, ctx.workdir / "timing_inputs")
    try:
        m = client.run_program(settings.runner_path, result.program, iters=settings.iterations,
                               warmup=settings.warmup, threads=threads, inputs=files, timeout=settings.timeout_s)
    except client.RunnerFailed as error:
        result.status, result.reason = "failed", f"run failed at {threads} thread(s): {error}"
        return
    first_result = None
    if m.load_ms is not None and m.init_ms is not None:
        first_result = m.load_ms + m.init_ms + m.first_ms
    result.runs.setdefault(threads, []).append({
        "median_ms": m.median_ms, "p90_ms": m.p90_ms, "first_result_ms": first_result,
        "peak_rss_bytes": m.peak_rss_bytes, "samples_ms": list(m.samples_ms)})


def objective_value(result: CandidateResult, threads: int, objective: str) -> float | None:
    if objective == "latency":
        return result.figure(threads, "median_ms")
    if objective == "first_result":
        return result.figure(threads, "first_result_ms")
    if objective == "memory":
        rss = [r["peak_rss_bytes"] for r in result.runs.get(threads, []) if r["peak_rss_bytes"]]
        return float(max(rss)) if rss else None
    return float(result.size_bytes) if result.size_bytes else None


def pick_winners(results: list[CandidateResult], threads: list[int], objective: str) -> dict[int, CandidateResult]:
    """The best measured candidate per thread count, chosen on the even timing rounds only
    (ties: the lower median latency): the odd rounds stay free to judge it (:func:`judge_winner`)."""
    winners = {}
    for t in threads:
        timed = [r for r in results if r.status in ("accepted", "slower", "winner") and r.runs.get(t)]
        if timed:
            winners[t] = min(timed, key=lambda r: (_choice_value(r, t, objective), _choice_latency(r, t)))
    for r in results:
        won = [t for t, w in winners.items() if w is r]
        if won:
            r.status, r.reason = "winner", f"fastest ({objective}) at {', '.join(map(str, won))} thread(s)"
        elif r.status in ("accepted", "winner") and r.runs:
            r.status = "slower"
            r.reason = "; ".join(f"{t}T: {(r.figure(t, 'median_ms') or 0):.3g} ms vs {w.candidate.name} "
                                 f"{(w.figure(t, 'median_ms') or 0):.3g} ms" for t, w in winners.items())
    return winners


def _choosing_rounds(result: CandidateResult, threads: int) -> list[list[float]]:
    rounds = [r["samples_ms"] for r in result.runs.get(threads, [])]
    choose, _ = stats.selection_rounds(len(rounds))
    return [rounds[i] for i in choose] or rounds


def _choice_latency(result: CandidateResult, threads: int) -> float:
    rounds = _choosing_rounds(result, threads)
    return stats.pooled_median(rounds) if rounds else math.inf


def _choice_value(result: CandidateResult, threads: int, objective: str) -> float:
    """The objective on the choosing (even) rounds only; file size has no rounds."""
    if objective == "latency":
        return _choice_latency(result, threads)
    if objective == "size":
        return objective_value(result, threads, objective) or math.inf
    runs = result.runs.get(threads, [])
    choose, _ = stats.selection_rounds(len(runs))
    if objective == "first_result":
        values = [runs[i]["first_result_ms"] for i in choose if runs[i]["first_result_ms"] is not None]
        return stats.median(values) if values else math.inf
    rss = [runs[i]["peak_rss_bytes"] for i in choose if runs[i]["peak_rss_bytes"]]
    return float(max(rss)) if rss else math.inf


def judge_winner(results: list[CandidateResult], winners: dict[int, CandidateResult],
                 twin: CandidateResult | None = None) -> dict[str, dict]:
    """Per thread count: the winner against the default program on the odd rounds, which did
    not choose it, beyond the noise floor of the default program timed twice (``twin``, A/A) on
    the same rounds; the one verdict rule of stats. ``noise_floor`` is None without an A/A row."""
    baseline = default_program(results)
    out = {}
    for t, winner in winners.items():
        if winner is baseline:
            out[str(t)] = {"against": None, "verdict": "the default program won"}
            continue
        if baseline is None or not baseline.runs.get(t):
            out[str(t)] = {"against": None, "verdict": "the default program was not timed here: nothing to judge against",
                           "untimed_default": True}
            continue
        base = [r["samples_ms"] for r in baseline.runs[t]]
        mine = [r["samples_ms"] for r in winner.runs[t]]
        again = [r["samples_ms"] for r in twin.runs.get(t, [])] if twin else []
        count = min(len(base), len(mine), len(again) or len(base))
        _, judged = stats.selection_rounds(count)
        floor = stats.judging_rounds_floor(base, again, count) if again else None
        v = stats.judge([base[i] for i in judged], [mine[i] for i in judged], paired=True, floor=floor or 0.0)
        out[str(t)] = {"against": baseline.candidate.name, **v.as_dict(), "noise_floor": floor, "text": v.describe()}
    return out


def keep_unproven_default(results: list[CandidateResult], winners: dict[int, CandidateResult],
                          verdicts: dict[str, dict], objective: str) -> dict[int, CandidateResult]:
    """Latency winners replace the default program only where their verdict says faster; elsewhere
    the default program stays (a within-noise int8 program would trade accuracy for nothing),
    and where the default program was not timed nothing is written."""
    if objective != "latency":
        return winners
    baseline = default_program(results)
    kept = {}
    for t, winner in winners.items():
        verdict = verdicts[str(t)]
        if winner is baseline or stats.keep_default_unless_faster(
                winner.candidate.name, baseline.candidate.name, verdict.get("verdict")) == winner.candidate.name:
            kept[t] = winner
        elif not verdict.get("untimed_default"):
            kept[t] = baseline
            verdict.update(kept_default=True, challenger=winner.candidate.name)
    return kept


def decide(results: list[CandidateResult], threads: list[int], objective: str,
           twin: CandidateResult | None) -> tuple[dict[int, CandidateResult], dict[str, dict]]:
    """The program written per thread count and the verdicts: chosen on the even rounds, judged
    on the odd ones against the default program beyond the A/A floor, kept only when proven."""
    chosen = pick_winners(results, threads, objective)
    verdicts = judge_winner(results, chosen, twin)
    written = keep_unproven_default(results, chosen, verdicts, objective)
    restate(results, chosen, written, threads, objective)
    return written, verdicts


def restate(results: list[CandidateResult], chosen: dict[int, CandidateResult], written: dict[int, CandidateResult],
            threads: list[int], objective: str) -> None:
    """Statuses and reasons of the timed candidates from what was written at each thread count:
    ``winner``, ``unproven`` (chosen somewhere, written nowhere) or ``slower``; the figures are
    those of the choosing rounds, which decided."""
    for r in [r for r in results if r.status in ("winner", "slower") and r.runs]:
        notes = []
        for t in threads:
            if written.get(t) is r:
                notes.append(f"{t}T: " + ("kept: no faster program proven" if chosen.get(t) is not r
                                           else f"fastest ({objective})"))
            elif t not in written:
                notes.append(f"{t}T: nothing written")
            else:
                w = written[t]
                notes.append(f"{t}T: {_fmt(_choice_value(r, t, objective), objective)} vs "
                             f"{_fmt(_choice_value(w, t, objective), objective)} ({w.candidate.name}) on the choosing rounds"
                             + (", not proven faster" if chosen.get(t) is r else ""))
        if any(w is r for w in written.values()):
            r.status = "winner"
        else:
            r.status = "unproven" if any(c is r for c in chosen.values()) else "slower"
        r.reason = "; ".join(notes)


def _fmt(value: float, objective: str) -> str:
    if value is None or math.isinf(value):
        return "-"
    return f"{value:.3g} ms" if objective in ("latency", "first_result") else f"{value / 1e6:.3g} MB"


def tune(settings: TuneSettings, candidates: list[Candidate], ctx: ModelContext,
         progress: GridProgress | None = None) -> tuple[dict, dict[int, CandidateResult]]:
    """Run the whole tune; returns the tune.json document and the winners."""
    progress = progress or GridProgress("tune")
    cache = ArtifactCache(settings.cache_dir)
    results = [CandidateResult(c) for c in candidates]
    started = time.time()
    partial, twin = False, None
    with progress:
        try:
            progress.start(f"{ctx.name}: exporting", total=len(results))
            for r in results:
                progress.step(f"{ctx.name}: exporting {r.candidate.name}")
                build(r, ctx, settings, cache)
                if r.status == "failed":
                    progress.log(f"{r.candidate.name}: {r.reason}")
            mark_duplicates(results)
            held_out = held_out_inputs(ctx, settings.held_out)
            references = [_eager(ctx, inputs) for inputs in held_out]
            built = [r for r in results if r.status == "built"]
            progress.start(f"{ctx.name}: accuracy", total=len(built))
            for r in built:
                progress.step(f"{ctx.name}: accuracy of {r.candidate.name}")
                check_accuracy(r, ctx, settings, held_out, references)
                if r.status != "accepted":
                    progress.log(f"{r.candidate.name}: {r.reason}")
            if settings.eval_data:
                _check_top1([r for r in results if r.status == "accepted"], ctx, settings, progress)
            timed = [r for r in results if r.status == "accepted"]
            twin = aa_twin(results)
            timed += [twin] if twin else []
            progress.start(f"{ctx.name}: timing", total=settings.rounds * len(settings.threads) * len(timed))
            order = random.Random(0)  # a new order each round: no program always runs first or last
            for round_index in range(settings.rounds):
                for t in settings.threads:
                    for r in order.sample(timed, len(timed)):
                        progress.step(f"{ctx.name}: {r.candidate.name}, {t} thread(s), "
                                      f"round {round_index + 1}/{settings.rounds}")
                        if r.status == "accepted":
                            measure_round(r, ctx, settings, t)
        except KeyboardInterrupt:
            partial = True
            progress.log("interrupted: keeping what was measured")
    if twin is not None and twin.status == "accepted":
        twin.status = "A/A"
    winners, verdicts = decide(results, settings.threads, settings.objective, twin)
    ended = time.time()
    doc = {
        "schema": "xnnpack-toolkit/tune", "schema_version": 1, "partial": partial,
        "model": settings.model, "weights": ctx.weights,
        "machine": machine.fingerprint(sys.argv, started, ended, threads=settings.threads), "packages": machine.package_versions(),
        "budget": {"min_sqnr_db": settings.min_sqnr_db,
                   "max_top1_drop_points": settings.max_top1_drop if settings.eval_data else None,
                   "eval_data": settings.eval_data, "held_out_inputs": settings.held_out},
        "objective": settings.objective, "threads": settings.threads,
        "timing": {"warmup_iters": settings.warmup, "num_iters": settings.iterations, "rounds": settings.rounds,
                   "selection": "winner chosen on even rounds, judged against the default program on odd rounds",
                   "percentile_method": stats.PERCENTILE_METHOD},
        "candidates": [r.to_dict() for r in results],
        "aa": twin.to_dict() if twin else None,
        "winners": {str(t): w.candidate.name for t, w in winners.items()},
        "winner_verdicts": verdicts,
    }
    return doc, winners


def _eager(ctx: ModelContext, inputs: tuple) -> list:
    import torch

    from examples.benchmark.peer_worker import flatten_torch_outputs

    with torch.inference_mode():
        return flatten_torch_outputs(ctx.model(*inputs))


def _check_top1(accepted: list[CandidateResult], ctx: ModelContext, settings: TuneSettings,
                progress: GridProgress) -> None:
    """Top-1 on the labelled folder, and each candidate's drop vs eager in points."""
    from examples.evaluation.accuracy import evaluate

    progress.log(f"evaluating {len(accepted)} candidate(s) on {settings.eval_data}")
    report = evaluate(ctx.spec, ctx.model, {r.candidate.name: r.program for r in accepted}, settings.eval_data,
                      engine="runner", runner=settings.runner_path, limit=settings.eval_limit,
                      example_inputs=ctx.inputs)
    eager = report["eager"].top1
    for r in accepted:
        r.top1 = report[r.candidate.name].top1
        r.top1_drop = 100.0 * (eager - r.top1)
        if r.top1_drop > settings.max_top1_drop:
            r.status = "rejected"
            r.reason = f"top-1 drop {r.top1_drop:.2f} points > budget {settings.max_top1_drop:g}"
