"""Run the grid: models x backends x thread counts, one JSON record per cell.

A backend that fails (export, conversion, run) is recorded as ``failed`` with a one-line
error and the others still run; a peer whose packages are missing is ``not installed``.
Ctrl-C ends the grid early: the cells measured so far are kept and the document is marked
``partial`` (cells never measured say ``not run``).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path

from examples.benchmark import peers
from examples.benchmark.backends import BACKENDS, Iterations, RunPlan
from examples.benchmark.cache import ArtifactCache
from examples.benchmark.measure import combine_rounds, measure
from examples.benchmark.prepare import prepare
from examples.benchmark.programs import ModelContext, PrepareOptions, Prepared, load_model_context
from examples.benchmark.progress import GridProgress
from examples.benchmark.records import (add_speedups, apply_prepared, comparisons, finish_record, mark_duplicates,
                                        new_record, new_twin)
from examples.common import machine
from examples.common.result_format import METHOD_VERSION, SCHEMA, SCHEMA_VERSION
from examples.common.stats import MIN_VERDICT_ROUNDS, PERCENTILE_METHOD
from examples.quantization.cpu_caps import detect as detect_int8


# Held-out selection chooses rows on half the rounds and judges on the other half, and a
# verdict needs stats.MIN_VERDICT_ROUNDS judged rounds: this many rounds give every cell one.
DEFAULT_ROUNDS = 2 * MIN_VERDICT_ROUNDS
DEFAULT_ITERATIONS = Iterations(warmup=10, measured=20)


@dataclass
class Settings:
    models: list[str]
    backends: list[str]
    threads: list[int] = field(default_factory=lambda: [1])
    iterations: Iterations = DEFAULT_ITERATIONS
    portable_iterations: Iterations = Iterations(warmup=0, measured=3)
    weights: str = "auto"
    calibration_data: str | None = None
    num_calibration_samples: int | None = None
    cache_dir: Path = Path("benchmark-out/programs")
    runner_path: Path | None = None  # resolved runner binary (None: no ExecuTorch backend asked)
    amx_runner: str | None = None  # --amx_runner: the AMX build's binary (None: cmake-out-amx/)
    timeout_s: float = 1800.0
    rounds: int = DEFAULT_ROUNDS  # interleaved repetitions of every measurement; figures are medians over rounds
    order_seed: int = 0  # seeds each round's random backend order (recorded in the results)
    aa_twin: bool = True  # measure one row twice (A/A): the run's own noise floor
    quant_recipe: str | None = None  # None: each model's recipe from the zoo
    verbose: bool = False
    argv: list[str] = field(default_factory=lambda: list(sys.argv))
    # How the tuned row is prepared, model context -> Prepared: tune's, handed in by the benchmark
    # command (examples.tune.tuned_row.preparer); tune sits above the benchmark.
    prepare_tuned: Callable[[ModelContext], Prepared] | None = None

    def runner_for(self, backend: str) -> Path:
        """The runner binary an ExecuTorch backend runs in (its build: ``Backend.runner``)."""
        from examples.runner import client

        if BACKENDS[backend].runner == "source+amx":
            return client.find_amx_runner(self.amx_runner)
        return self.runner_path

    def iterations_for(self, backend: str) -> Iterations:
        return self.portable_iterations if backend == "portable" else self.iterations

    def run_plan(self, backend: str) -> RunPlan:
        runner = self.runner_for(backend) if BACKENDS[backend].kind == "executorch" else None
        return RunPlan(runner, self.iterations_for(backend), self.timeout_s)

    @property
    def preparation(self) -> PrepareOptions:
        return PrepareOptions(self.quant_recipe, self.calibration_data, self.num_calibration_samples, self.verbose)


def _amx_runner(settings: Settings) -> str | None:
    """The AMX build's binary when a row asked for it and it is built (the result names it)."""
    from examples.runner.client import RunnerNotBuilt

    rows = [b for b in settings.backends if BACKENDS[b].runner == "source+amx"]
    try:
        return str(settings.runner_for(rows[0])) if rows else None
    except RunnerNotBuilt:
        return None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(error).__name__


def run_benchmark(settings: Settings, progress: GridProgress | None = None) -> dict:
    """Run the grid; returns the JSON document (see :mod:`examples.benchmark.report`)."""
    progress = progress or GridProgress()
    cache = ArtifactCache(settings.cache_dir)
    records: list[dict] = []
    models: dict[str, dict] = {}
    started = time.time()
    partial = False
    with progress:
        try:
            for name in settings.models:
                with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
                    progress.log(f"{name}: loading (weights: {settings.weights})")
                    with warnings.catch_warnings():
                        if not settings.verbose:
                            warnings.simplefilter("ignore")
                        ctx = load_model_context(name, settings.weights, Path(tmp), settings.verbose)
                    models[name] = {"weights": ctx.weights, "random_weights": ctx.weights == "random",
                                    "description": ctx.spec.description,
                                    "quant_recipe": settings.quant_recipe or ctx.spec.quant_recipe or "chosen from the graph",
                                    "inputs": [list(t.shape) for t in ctx.inputs], "calibration": None}
                    try:
                        _run_model(ctx, settings, cache, progress, records)
                    finally:
                        if ctx.calibration is not None:
                            models[name]["calibration"] = ctx.calibration.source
                            models[name]["random_calibration"] = ctx.calibration.random
        except KeyboardInterrupt:
            partial = True
            progress.log("interrupted: keeping the cells measured so far")
    for record in records:
        if record["status"] == "ok" and record["median_ms"] is None:
            record.update(status="not run", error="interrupted before it was measured")
    add_speedups(records)
    mark_duplicates(records)
    ended = time.time()
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "method_version": METHOD_VERSION,
        "partial": partial,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_seconds": ended - started,
        "machine": machine.fingerprint(settings.argv, started, ended, threads=settings.threads,
                                       int8=detect_int8().as_dict()),
        "packages": machine.package_versions(),
        "settings": {
            "models": settings.models, "backends": settings.backends, "threads": settings.threads,
            "warmup_iters": settings.iterations.warmup, "num_iters": settings.iterations.measured,
            "portable_warmup_iters": settings.portable_iterations.warmup,
            "portable_iters": settings.portable_iterations.measured,
            "rounds": settings.rounds, "percentile_method": PERCENTILE_METHOD,
            "order": f"random per round (seed {settings.order_seed})",
            "aa_twin": settings.aa_twin,
            "weights": settings.weights, "calibration_data": settings.calibration_data,
            "runner": str(settings.runner_path) if settings.runner_path else None,
            "amx_runner": _amx_runner(settings),
        },
        "models": models,
        "records": records,
        "comparisons": comparisons(records),
    }


def _prepare_backend(backend: str, ctx: ModelContext, settings: Settings, cache: ArtifactCache,
                     progress: GridProgress) -> tuple[list[dict], Prepared | None]:
    """The backend's records (one per thread count) and its prepared artifact; None (with the
    records marked) when the backend is not installed or failed to prepare."""
    label = BACKENDS[backend].label
    rows = [new_record(ctx.name, backend, t, settings.iterations_for(backend)) for t in settings.threads]
    missing = peers.missing_packages(backend) if BACKENDS[backend].kind == "peer" else []
    if BACKENDS[backend].runner != "wheel":
        from examples.runner.client import RunnerNotBuilt

        try:
            settings.runner_for(backend)
        except RunnerNotBuilt as error:
            progress.log(f"{ctx.name}: {label}: {error}")
            for r in rows:
                r.update(status="not installed", error=str(error))
            return rows, None
    if missing:
        progress.log(f"{ctx.name}: {label}: not installed ({', '.join(missing)})")
        for r in rows:
            r.update(status="not installed", error=f"{', '.join(missing)} not installed")
        return rows, None
    try:
        progress.step(f"{ctx.name}: {label}: preparing")
        prepared = _prepare(backend, ctx, settings, cache)
        if prepared.path is not None:
            how = "reused" if prepared.reused else f"built in {prepared.export_seconds:.1f} s"
            progress.log(f"{ctx.name}: {label}: {prepared.path.name} ({how})")
    except Exception as error:  # noqa: BLE001 - recorded, the other backends still run
        progress.log(f"{ctx.name}: {label}: FAILED to prepare: {_first_line(error)}")
        for r in rows:
            r.update(status="failed", error=f"prepare: {_first_line(error)}")
        return rows, None
    for record in rows:
        apply_prepared(record, prepared)
    return rows, prepared


def _prepare(backend: str, ctx: ModelContext, settings: Settings, cache: ArtifactCache) -> Prepared:
    if backend == "tuned":  # tune sits above the benchmark: the command hands its preparation in
        if settings.prepare_tuned is None:
            raise RuntimeError("the tuned row needs tune's preparation (Settings.prepare_tuned)")
        return settings.prepare_tuned(ctx)
    return prepare(backend, ctx, settings.preparation, cache)


def _aa_source(runnable: list[tuple[str, Prepared, list[dict]]]) -> int | None:
    """Which prepared backend the A/A twin repeats: XNNPACK fp32 when it runs, else the first."""
    names = [backend for backend, _, _ in runnable]
    if not names:
        return None
    return names.index("xnnpack_fp32") if "xnnpack_fp32" in names else 0


def _run_model(ctx: ModelContext, settings: Settings, cache: ArtifactCache, progress: GridProgress,
               records: list[dict]) -> None:
    """Prepare every backend, then measure them: ``settings.rounds`` times, interleaved
    (round 1 of every row, then round 2 ...), each round in a fresh random order (a fixed
    order would measure order effects), plus an A/A twin of one row that measures the noise.
    Records are appended to ``records`` as they are made, so an interruption keeps them."""
    runnable: list[tuple[str, Prepared, list[dict]]] = []
    progress.start(f"{ctx.name}: preparing", total=len(settings.backends))
    for backend in settings.backends:
        rows, prepared = _prepare_backend(backend, ctx, settings, cache, progress)
        records.extend(rows)
        if prepared is not None:
            runnable.append((backend, prepared, rows))
    source = _aa_source(runnable) if settings.aa_twin else None
    if source is not None:
        backend, prepared, rows = runnable[source]
        twins = [new_twin(r) for r in rows]
        records.extend(twins)
        runnable.append((backend, prepared, twins))
    units = [(backend, prepared, record) for backend, prepared, rows in runnable for record in rows]
    results: dict[int, list[dict]] = {}
    progress.start(f"{ctx.name}: measuring", total=settings.rounds * len(units))
    try:
        for round_index in range(settings.rounds):
            order = random.Random(settings.order_seed * 1_000_003 + round_index).sample(units, len(units))
            for backend, prepared, record in order:
                _measure_unit(backend, prepared, record, ctx, settings, progress, round_index, results)
    finally:  # also on Ctrl-C: the rounds measured so far make the cells' figures
        for backend, _, record in units:
            if record["status"] == "ok" and id(record) in results:
                finish_record(record, backend, combine_rounds(results[id(record)]), ctx)


def _measure_unit(backend: str, prepared: Prepared, record: dict, ctx: ModelContext, settings: Settings,
                  progress: GridProgress, round_index: int, results: dict[int, list[dict]]) -> None:
    """One round of one row; a failed round ends that row (recorded, the others still run)."""
    suffix = f" (round {round_index + 1}/{settings.rounds})" if settings.rounds > 1 else ""
    label = record["label"]
    progress.step(f"{ctx.name}: {label}, {record['threads']} thread(s){suffix}")
    if record["status"] != "ok":
        return
    try:
        result = measure(backend, ctx, prepared, record["threads"], settings.run_plan(backend))
    except Exception as error:  # noqa: BLE001 - recorded, the others still run
        progress.log(f"{ctx.name}: {label}: FAILED: {_first_line(error)}")
        record.update(status="failed", error=_first_line(error))
        return
    results.setdefault(id(record), []).append(result)
    progress.log(f"{ctx.name}: {label}: {record['threads']} thread(s){suffix}: first "
                 f"{result['first_iteration_ms']:.2f} ms, median {result['median_ms']:.2f} ms")
