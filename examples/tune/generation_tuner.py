"""Tune for language models: the fastest correct generation program of a Llama-architecture model
for this CPU, per thread count.

Builds every ExecuTorch variant once (:mod:`examples.benchmark.generation_runs`, the generation
benchmark's programs and cache), feeds each the same teacher-forced sequence and holds its
logits to eager PyTorch fp32 (SQNR, and how often its greedy choice is eager's), times the ones
inside the budget in the native runner at every thread count (interleaved rounds, each run its
own process), and picks a winner per thread count on the even rounds, judged against the default
program (``8da4w``, what ``xnnpack_examples --quantize`` writes) on the odd rounds.

The budget is relative: 4-bit weights move logits by a model-dependent amount (random weights:
about 7 dB SQNR on stories110m), so a candidate may be at most ``max_sqnr_loss_db`` further from
eager than the default program; a candidate whose logits carry no signal (SQNR <= 0 dB) never passes.
Identical programs (same bytes) are one candidate. ``8da4w-2m`` and ``8da4w-fused-merged-forms-2m``
are ``8da4w``'s and ``8da4w-fused-merged-forms``'s programs run with the native runner's
``--huge_pages`` (their packed weights in 2 MiB pages): runner options, so a
program and the flags it is to be run with are what wins (``winner_runner_flags`` in tune.json).
``8da4w-region`` (the layers one DecodeRegionBackend delegate) runs in the native runner only:
its accuracy check is the native runner's teacher-forced logits (``--forced_tokens``,
``--logits_out``), the others' ExecuTorch's Python runtime.
Which variant wins depends on the CPU: an fp32 prefill method can pay off where the 4-bit GEMM lacks
int8 dot products, fused projections where dispatch costs more than streaming.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from examples.benchmark.generation_runs import rss_growth_mib
from examples.benchmark.generation_variants import EXPORTER_PROGRAM, VARIANTS
from examples.benchmark.progress import GridProgress
from examples.common import stats

DEFAULT_PROGRAM = EXPORTER_PROGRAM
# The -2m rows run another row's program with the native runner's --huge_pages: runner options,
# not other programs.
CANDIDATES = ("fp32", "8da4w", "8da4w-2m", "8da4w-g128", "8da4w-pc", "8da4w-fused", "8da4w-g128-fused",
              "8da4w-kv8", "8da4w-emb4", "8da4w-merged-forms", "8da4w-emb4-merged-forms", "8da4w-fused-merged-forms",
              "8da4w-fused-merged-forms-2m", "8da4w-out8",
              "8da4w-fp32prefill", "8da4w-region")
# What each objective minimizes: a per-round figure from the runner's report (rounds resampled) or
# a figure of the program.
OBJECTIVES = {"latency": "decode ms per token", "first_result": "time to first token (ms)",
              "memory": "RSS growth (MiB)", "size": "file size (MB)"}
OBJECTIVE_UNITS = {"latency": "ms/token", "first_result": "ms", "memory": "MiB", "size": "MB"}
CHECK_SEED = 7000  # the accuracy check's prompt: other ids than the timing prompt's
CHECK_TOKENS = 16  # teacher-forced positions of the accuracy check


@dataclass
class GenerationTuneSettings:
    threads: list[int]
    output_dir: Path
    cache_dir: Path  # programs are built into <cache_dir>/<model> (generation_bench's layout)
    weights: str = "auto"
    variants: tuple[str, ...] = CANDIDATES
    objective: str = "latency"
    rounds: int = 2 * stats.MIN_VERDICT_ROUNDS
    prompt_len: int = 64
    max_new_tokens: int = 128
    max_seq_len: int = 192
    max_sqnr_loss_db: float = 1.0
    check_tokens: int = CHECK_TOKENS
    timeout_s: float = 1800.0


@dataclass
class LmCandidate:
    variant: str
    # pending -> built -> accepted -> winner / unproven / not chosen; or failed / rejected / duplicate
    status: str = "pending"
    reason: str = ""
    program: Path | None = None
    size_bytes: int | None = None
    digest: str | None = None  # the program card's digest of the file
    sqnr_db: float | None = None
    greedy_agreement: float | None = None  # positions where its greedy choice is eager's
    reports: dict = field(default_factory=dict)  # threads -> the runner's report per round
    runner_flags: tuple[str, ...] = ()  # the native runner's options it runs with (same program, other run)

    @classmethod
    def of(cls, variant: str) -> "LmCandidate":
        return cls(variant, runner_flags=VARIANTS[variant].native_flags)

    def figure(self, threads: int, objective: str) -> float | None:
        rounds = per_round(self, threads, objective)
        return stats.pooled_median(rounds) if rounds else None

    def to_dict(self, threads: list[int]) -> dict:
        return {"name": self.variant, "status": self.status, "reason": self.reason,
                "program": self.program.name if self.program else None, "runner_flags": list(self.runner_flags),
                "size_bytes": self.size_bytes,
                "digest": self.digest, "greedy_agreement": self.greedy_agreement,
                # JSON has no infinity: a program equal to eager is said so
                "sqnr_db": self.sqnr_db if self.sqnr_db is not None and math.isfinite(self.sqnr_db) else None,
                "identical_to_eager": self.sqnr_db == math.inf,
                "figures": {str(t): {o: self.figure(t, o) for o in OBJECTIVES} for t in threads if self.reports.get(t)},
                "rounds": {str(t): [_round_fields(r) for r in self.reports.get(t, [])] for t in threads}}


def _round_fields(report: dict) -> dict:
    keep = ("decode_tok_s", "prefill_tok_s", "time_to_first_token_ms", "load_ms", "peak_rss_kb", "baseline_rss_kb")
    return {k: report.get(k) for k in keep}


# A round without decoded tokens: slower than any real one and still finite, so intervals stay numbers.
STALLED_MS = 1e12


def per_round(candidate: LmCandidate, threads: int, objective: str) -> list[list[float]]:
    """The objective's figure of every timed round, one sample per round (lower is better)."""
    reports = candidate.reports.get(threads, [])
    if objective == "latency":
        return [[1e3 / r["decode_tok_s"] if r["decode_tok_s"] else STALLED_MS] for r in reports]
    if objective == "first_result":
        return [[r["time_to_first_token_ms"]] for r in reports]
    if objective == "memory":  # a report without the baseline counts the whole peak
        return [[rss_growth_mib(r) or r["peak_rss_kb"] / 1024] for r in reports]
    return [[candidate.size_bytes / 1e6]] * len(reports)


def build(candidates: list[LmCandidate], model, settings: GenerationTuneSettings, progress: GridProgress) -> None:
    """Each variant's program through the generation benchmark's builder (its cache), one at a
    time so that one failed export fails one candidate; byte-identical programs run with the same
    runner options are one."""
    from examples.benchmark.generation_runs import build_artifacts
    from examples.integrity.card import file_digest

    seen: dict[tuple, str] = {}
    for c in candidates:
        progress.step(f"{model.name}: exporting {c.variant}")
        artifact = VARIANTS[c.variant].artifact  # 8da4w-2m runs 8da4w's program
        try:
            path = build_artifacts(model, settings.weights, settings.cache_dir / model.name, settings.max_seq_len,
                                   False, variants=[c.variant])[artifact]
        except Exception as error:  # noqa: BLE001 - kept as the candidate's reason, the others go on
            c.status, c.reason = "failed", f"export failed: {type(error).__name__}: {_line(error)}"
            progress.log(f"{c.variant}: {c.reason}")
            continue
        c.program = path
        c.size_bytes, c.digest = file_digest(path)
        identity = (c.digest, c.runner_flags)
        if identity in seen:
            c.status, c.reason = "duplicate", f"the same program as {seen[identity]}"
        else:
            seen[identity], c.status = c.variant, "built"


def _line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else ""


def check_prompt(model, length: int) -> list[int]:
    rng = np.random.default_rng(CHECK_SEED)
    return [1] + [int(t) for t in rng.integers(3, model.shape.vocab_size, length - 1)]


def eager_logits(model, settings: GenerationTuneSettings, prompt: list[int]) -> tuple[list[int], np.ndarray]:
    """Eager fp32's greedy continuation of ``prompt`` and its logits at every teacher-forced position."""
    import torch

    from examples.generation.eager_reference import build_eager, greedy_tokens
    from examples.models.llama_zoo import prepare_weights

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the export warned about random weights already
        weights = prepare_weights(model, settings.weights, settings.cache_dir / model.name / "weights")
    eager = build_eager(weights.params, weights.checkpoint, settings.max_seq_len)
    continuation = greedy_tokens(eager, prompt, settings.check_tokens)
    sequence, rows = prompt + continuation, []
    with torch.no_grad():
        for end in range(len(prompt), len(sequence)):
            out = eager(torch.tensor([sequence[:end]], dtype=torch.long))
            out = out[0] if isinstance(out, tuple) else out
            rows.append(out.reshape(-1, out.shape[-1])[-1].numpy())
    return continuation, np.stack(rows)


def program_logits(program: Path, prompt: list[int], continuation: list[int], native: bool = False) -> np.ndarray:
    """The program's logits after the prompt and after each fed token of ``continuation``
    (ExecuTorch's Python runtime: the prompt through a ``prefill`` method where there is one;
    with ``native``, the native runner, for programs only it runs)."""
    from examples.generation.decoder import ProgramDecoder
    from examples.runner.text_generation_client import teacher_forced_logits

    if native:
        return teacher_forced_logits(program, prompt, continuation, timeout=600)

    decoder = ProgramDecoder(program)
    rows = [decoder.forward(prompt, 0)]
    rows += [decoder.forward([token], len(prompt) + i) for i, token in enumerate(continuation[:-1])]
    return np.stack(rows)


def check_accuracy(candidates: list[LmCandidate], model, settings: GenerationTuneSettings,
                   progress: GridProgress) -> None:
    from examples.common.metrics import sqnr_db

    prompt = check_prompt(model, min(settings.prompt_len, settings.max_seq_len - settings.check_tokens))
    continuation, reference = eager_logits(model, settings, prompt)
    if not np.std(reference) > 0:
        raise ValueError("eager PyTorch's logits carry no signal (all equal): nothing to hold programs to")
    checked: dict[str, np.ndarray] = {}  # digest -> logits: runner options do not change a program's numbers
    for c in [c for c in candidates if c.status == "built"]:
        progress.step(f"{model.name}: accuracy of {c.variant}")
        try:
            logits = checked[c.digest] if c.digest in checked else \
                program_logits(c.program, prompt, continuation, native=VARIANTS[c.variant].native_backend)
        except Exception as error:  # noqa: BLE001 - kept as the candidate's reason
            c.status, c.reason = "failed", f"run failed: {type(error).__name__}: {_line(error)}"
            continue
        if c.digest is not None:
            checked[c.digest] = logits
        c.sqnr_db = float(sqnr_db(reference, logits))
        c.greedy_agreement = float(np.mean(logits.argmax(1) == reference.argmax(1)))
    apply_budget(candidates, settings.max_sqnr_loss_db)


def apply_budget(candidates: list[LmCandidate], max_loss_db: float) -> None:
    """Accept the checked candidates whose SQNR is at most ``max_loss_db`` below the default
    program's and above 0 dB; without a checked default program, none (nothing to hold them to)."""
    checked = [c for c in candidates if c.status == "built" and c.sqnr_db is not None]
    default = next((c for c in checked if c.variant == DEFAULT_PROGRAM), None)
    if default is None:
        for c in checked:
            c.status, c.reason = "rejected", f"no checked {DEFAULT_PROGRAM} program to hold it to"
        return
    floor = default.sqnr_db - max_loss_db
    for c in checked:
        if not c.sqnr_db > 0:
            c.status, c.reason = "rejected", f"SQNR {c.sqnr_db:.1f} dB: its logits carry no signal of eager's"
        elif c.sqnr_db < floor:
            c.status = "rejected"
            c.reason = (f"SQNR {c.sqnr_db:.1f} dB, more than {max_loss_db:g} dB below {DEFAULT_PROGRAM}'s "
                        f"{default.sqnr_db:.1f} dB")
        else:
            c.status = "accepted"


def aa_twin(candidates: list[LmCandidate]) -> LmCandidate | None:
    """The default program as a row of its own (A/A: the run's noise floor, never a winner)."""
    default = next((c for c in candidates if c.variant == DEFAULT_PROGRAM and c.status == "accepted"), None)
    if default is None:
        return None
    return LmCandidate(f"{DEFAULT_PROGRAM} (A/A)", "accepted", "the default program timed again: the noise floor",
                       program=default.program, size_bytes=default.size_bytes, digest=default.digest)


def measure(candidates: list[LmCandidate], twin: LmCandidate | None, model, settings: GenerationTuneSettings,
            progress: GridProgress) -> None:
    """Every accepted candidate and the A/A ``twin`` at every thread count once per round in the
    native runner, each run its own process, rounds interleaved in a new seeded order each round."""
    import random

    from examples.generation.token_ids import prompt_tokens
    from examples.runner.client import RunnerFailed
    from examples.runner.text_generation_client import generate_tokens

    rows = [c for c in candidates if c.status == "accepted"] + ([twin] if twin else [])
    prompt = prompt_tokens(settings.prompt_len, model.shape.vocab_size)
    order = random.Random(0)
    progress.start(f"{model.name}: timing", total=settings.rounds * len(settings.threads) * len(rows))
    for round_index in range(settings.rounds):
        for t in settings.threads:
            for c in order.sample(rows, len(rows)):
                progress.step(f"{model.name}: {c.variant}, {t} thread(s), round {round_index + 1}/{settings.rounds}")
                if c.status != "accepted":
                    continue
                try:
                    report = generate_tokens(c.program, prompt, runner="native", threads=t,
                                             max_new_tokens=settings.max_new_tokens, timeout=settings.timeout_s,
                                             extra_flags=c.runner_flags)
                except RunnerFailed as error:
                    c.status, c.reason = "failed", f"run failed at {t} thread(s): {error}"
                    continue
                c.reports.setdefault(t, []).append(report)


def noise_floor(default: LmCandidate, twin: LmCandidate | None, threads: int, objective: str, rounds: int) -> float:
    """The spread between the default program and its A/A twin on the judging rounds of the
    first ``rounds`` rounds (those the verdict uses)."""
    if twin is None or not twin.reports.get(threads):
        return 0.0
    floor = stats.judging_rounds_floor(per_round(default, threads, objective), per_round(twin, threads, objective),
                                       rounds)
    return floor or 0.0


def pick_winners(candidates: list[LmCandidate], threads: list[int], objective: str,
                 twin: LmCandidate | None = None) -> dict[int, dict]:
    """Per thread count: the candidate with the lowest objective on the even rounds, judged on
    the odd rounds against the default program (:func:`examples.common.stats.select_and_judge`),
    beyond the A/A ``twin``'s noise floor."""
    out = {}
    for t in threads:
        timed = {c.variant: per_round(c, t, objective) for c in candidates
                 if c.status == "accepted" and c.reports.get(t)}
        if not timed:
            continue
        if DEFAULT_PROGRAM not in timed:  # failed in a run: no program can be proven better than it
            out[t] = {"winner": None, "verdict": {
                "against": None, "verdict": f"{DEFAULT_PROGRAM} was not timed here: nothing to judge against"}}
            continue
        rounds = min(len(r) for r in timed.values())
        floor = noise_floor(_by_name(candidates, DEFAULT_PROGRAM), twin, t, objective, rounds)
        choice = stats.select_and_judge(timed, {DEFAULT_PROGRAM: timed[DEFAULT_PROGRAM]}, floor=floor)
        out[t] = _decide(choice)
    return out


def _decide(choice: stats.Selection) -> dict:
    """The winner only where its verdict says faster beyond the noise floor; else the default
    program stays, and the verdict says which candidate came closest."""
    if choice.ours == DEFAULT_PROGRAM:
        return {"winner": DEFAULT_PROGRAM, "verdict": {"against": None, "verdict": "the default program won",
                                                       "noise_floor": choice.verdict.floor}}
    judged = {"against": DEFAULT_PROGRAM, **choice.verdict.as_dict(), "text": choice.verdict.describe()}
    if stats.keep_default_unless_faster(choice.ours, DEFAULT_PROGRAM, choice.verdict.word) == choice.ours:
        return {"winner": choice.ours, "verdict": judged}
    v = choice.verdict
    interval = "" if v.low is None else f" [{v.low:.2f}, {v.high:.2f}]"
    floor = f", noise floor {100 * v.floor:.1f} %" if v.floor else ""
    kept = (f"{DEFAULT_PROGRAM} kept: {choice.ours} was best on the choosing rounds, but on the judging rounds "
            f"against {DEFAULT_PROGRAM}: {v.ratio:.2f}x{interval}, {v.describe()}{floor}")
    return {"winner": DEFAULT_PROGRAM, "closest": choice.ours,
            "verdict": {**judged, "against": None, "verdict": kept, "challenger": choice.ours}}


def mark_winners(candidates: list[LmCandidate], winners: dict[int, dict], objective: str) -> None:
    """Statuses of the timed candidates: ``winner`` somewhere, else ``unproven`` (lowest on the
    choosing rounds somewhere, not proven on the judging ones) or ``not chosen``; the reason says
    why at each thread count, with the figures of the choosing rounds (those that decided)."""
    for c in [c for c in candidates if c.status == "accepted"]:
        if any(w["winner"] == c.variant for w in winners.values()):
            c.status = "winner"
        else:
            c.status = "unproven" if any(w.get("closest") == c.variant for w in winners.values()) else "not chosen"
        c.reason = "; ".join(_note(c, candidates, t, w, objective) for t, w in sorted(winners.items()))


def _note(c: LmCandidate, candidates: list[LmCandidate], threads: int, decision: dict, objective: str) -> str:
    winner = decision["winner"]
    if winner is None:
        return f"{threads}T: no winner ({decision['verdict']['verdict']})"
    if winner == c.variant:
        if decision.get("closest"):
            return f"{threads}T: kept, {decision['closest']} not proven lower"
        return f"{threads}T: lowest {OBJECTIVES[objective]}" + ("" if winner == DEFAULT_PROGRAM else
                                                                 f", proven against {DEFAULT_PROGRAM}")
    mine, theirs = _choosing_figure(c, threads, objective), _choosing_figure(_by_name(candidates, winner), threads,
                                                                             objective)
    text = f"{threads}T: {_fmt(mine)} vs {_fmt(theirs)} {OBJECTIVE_UNITS[objective]} ({winner}) on the choosing rounds"
    if decision.get("closest") == c.variant:
        text += ", lowest there, not proven on the judging rounds"
    return text


def _choosing_figure(c: LmCandidate, threads: int, objective: str) -> float | None:
    rounds = per_round(c, threads, objective)
    choose, _ = stats.selection_rounds(len(rounds))
    return stats.pooled_median([rounds[i] for i in choose]) if rounds else None


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _by_name(candidates: list[LmCandidate], name: str) -> LmCandidate:
    return next(c for c in candidates if c.variant == name)


def tune_language_model(model, settings: GenerationTuneSettings,
                        progress: GridProgress | None = None) -> tuple[dict, dict[int, LmCandidate]]:
    """Run the whole tune; returns the tune.json document and the winning candidate per thread count."""
    from examples.common import machine

    progress = progress or GridProgress("tune")
    candidates = [LmCandidate.of(v) for v in dict.fromkeys(settings.variants)]
    started, partial, twin = time.time(), False, None
    with progress:
        try:
            progress.start(f"{model.name}: exporting", total=len(candidates))
            build(candidates, model, settings, progress)
            progress.start(f"{model.name}: accuracy", total=sum(c.status == "built" for c in candidates))
            check_accuracy(candidates, model, settings, progress)
            twin = aa_twin(candidates)
            measure(candidates, twin, model, settings, progress)
        except KeyboardInterrupt:
            partial = True
            progress.log("interrupted: keeping what was measured")
    if twin is not None and twin.status == "accepted":
        twin.status = "A/A"
    winners = pick_winners(candidates, settings.threads, settings.objective, twin)
    mark_winners(candidates, winners, settings.objective)
    doc = {
        "schema": "xnnpack-toolkit/tune", "schema_version": 1, "kind": "language-model", "partial": partial,
        "model": model.name, "weights": "random" if settings.weights in ("auto", "random") else settings.weights,
        "machine": machine.fingerprint(sys.argv, started, time.time(), threads=settings.threads),
        "packages": machine.package_versions(),
        "budget": {"max_sqnr_loss_db": settings.max_sqnr_loss_db, "against": DEFAULT_PROGRAM,
                   "check": f"logits vs eager PyTorch fp32 over {settings.check_tokens} teacher-forced positions"},
        "objective": settings.objective, "objective_figure": OBJECTIVES[settings.objective],
        "threads": settings.threads,
        "timing": {"runner": "native", "prompt_len": settings.prompt_len, "max_new_tokens": settings.max_new_tokens,
                   "max_seq_len": settings.max_seq_len, "rounds": settings.rounds,
                   "selection": "winner chosen on even rounds, judged against the default program on odd rounds, "
                                "beyond the noise floor of the default program timed twice (A/A)"},
        "candidates": [c.to_dict(settings.threads) for c in candidates],
        "aa": twin.to_dict(settings.threads) if twin else None,
        "winners": {str(t): w["winner"] for t, w in winners.items() if w["winner"]},
        # what the written program is to be run with (the native runner's flags), where any
        "winner_runner_flags": {str(t): list(_by_name(candidates, w["winner"]).runner_flags)
                                for t, w in winners.items() if w["winner"]},
        "winner_verdicts": {str(t): w["verdict"] for t, w in winners.items()},
    }
    return doc, {t: _by_name(candidates, w["winner"]) for t, w in winners.items() if w["winner"]}
