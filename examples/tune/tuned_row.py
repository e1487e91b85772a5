"""The benchmark's tuned row: tune run on the model, its winner at each thread count.

The benchmark sits below tune, so it does not import this: the benchmark command hands
:func:`prepare_tuned` to the benchmark (``Settings.prepare_tuned``) when the tuned row is asked for.
"""

from __future__ import annotations

from examples.benchmark.programs import ModelContext, Prepared
from examples.benchmark.progress import GridProgress
from examples.tune.candidates import candidates_for
from examples.tune.report import write_outputs
from examples.tune.tuner import TuneSettings, tune


def prepare_tuned(ctx: ModelContext, settings) -> Prepared:
    """Run tune on the model (same cache, thread counts and calibration as the benchmark) and
    take its winner for each thread count; tune's own report goes to ``<output_dir>/tune-<model>/``."""
    tune_settings = TuneSettings(
        model=ctx.name, threads=list(settings.threads), output_dir=settings.cache_dir, runner_path=settings.runner_path,
        cache_dir=settings.cache_dir, weights=ctx.weights, calibration_data=settings.calibration_data,
        num_calibration_samples=settings.num_calibration_samples, timeout_s=settings.timeout_s,
        verbose=settings.verbose, rounds=settings.rounds, warmup=settings.iterations.warmup,
        iterations=settings.iterations.measured)
    doc, winners = tune(tune_settings, candidates_for(["xnnpack", "openvino"]), ctx, GridProgress("tune", bar=False))
    write_outputs(doc, winners, settings.cache_dir.parent / f"tune-{ctx.spec.name}", ctx.spec.name)  # tune.md/json
    if not winners:
        raise RuntimeError("tune found no candidate inside the accuracy budget")
    per_thread = {t: w.program for t, w in winners.items()}
    names = ", ".join(f"{t}T {w.candidate.name}" for t, w in sorted(winners.items()))
    first = winners[min(winners)]
    return Prepared(first.program, first.size_bytes, sum(r["export_seconds"] or 0 for r in doc["candidates"]),
                    False, f"tune winner per thread count ({names}); SQNR budget "
                    f"{tune_settings.min_sqnr_db:g} dB", {"per_thread": per_thread, "tune": doc["winners"],
                     "precisions": {t: w.candidate.precision for t, w in winners.items()}})
