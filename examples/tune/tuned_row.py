"""The benchmark's tuned row: tune run on the model, its winner at each thread count.

The benchmark sits below tune, so it does not import this: the benchmark command hands
:func:`preparer`'s function to the benchmark (``Settings.prepare_tuned``) when the tuned row is asked for.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

from examples.benchmark.programs import ModelContext, Prepared
from examples.benchmark.progress import GridProgress
from examples.tune.candidates import candidates_for
from examples.tune.report import write_outputs
from examples.tune.tuner import TuneSettings, tune


def preparer(settings) -> Callable[[ModelContext], Prepared]:
    """The tuned row's preparation for a benchmark run's settings (same cache, thread counts,
    calibration, rounds and iterations as the benchmark)."""
    same = dict(threads=list(settings.threads), output_dir=settings.cache_dir, runner_path=settings.runner_path,
                cache_dir=settings.cache_dir, calibration_data=settings.calibration_data,
                num_calibration_samples=settings.num_calibration_samples, timeout_s=settings.timeout_s,
                verbose=settings.verbose, rounds=settings.rounds, warmup=settings.iterations.warmup,
                iterations=settings.iterations.measured)
    return functools.partial(prepare_tuned, same)


def prepare_tuned(same: dict, ctx: ModelContext) -> Prepared:
    """Run tune on the model and take its winner for each thread count; tune's own report goes
    to ``<output_dir>/tune-<model>/``."""
    tune_settings = TuneSettings(model=ctx.name, weights=ctx.weights, **same)
    doc, winners = tune(tune_settings, candidates_for(["xnnpack", "openvino"]), ctx, GridProgress("tune", bar=False))
    write_outputs(doc, winners, Path(same["cache_dir"]).parent / f"tune-{ctx.spec.name}", ctx.spec.name)
    if not winners:
        raise RuntimeError("tune found no candidate inside the accuracy budget")
    per_thread = {t: w.program for t, w in winners.items()}
    names = ", ".join(f"{t}T {w.candidate.name}" for t, w in sorted(winners.items()))
    first = winners[min(winners)]
    return Prepared(first.program, first.size_bytes, sum(r["export_seconds"] or 0 for r in doc["candidates"]),
                    False, f"tune winner per thread count ({names}); SQNR budget "
                    f"{tune_settings.min_sqnr_db:g} dB", {"per_thread": per_thread, "tune": doc["winners"],
                     "precisions": {t: w.candidate.precision for t, w in winners.items()}})
