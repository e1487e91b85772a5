"""Run the grid: models x backends x thread counts, one JSON record per cell.

A backend that fails (export, conversion, run) is recorded as ``failed`` with a one-line
error and the others still run; a peer whose packages are missing is ``not installed``.
Ctrl-C ends the grid early: the cells measured so far are kept and the document is marked
``partial`` (cells never measured say ``not run``).
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from examples.benchmark import machine, peers
from examples.benchmark.backends import BACKENDS, Iterations
from examples.benchmark.cache import ArtifactCache
from examples.benchmark.measure import combine_rounds, measure
from examples.benchmark.prepare import prepare
from examples.benchmark.programs import ModelContext, Prepared, load_model_context
from examples.benchmark.progress import GridProgress
from examples.benchmark.records import add_speedups, apply_prepared, comparisons, finish_record, new_record
from examples.common.stats import PERCENTILE_METHOD
from examples.quantization.cpu_caps import detect as detect_int8
from examples.results.schema import SCHEMA, SCHEMA_VERSION


@dataclass
class Settings:
    models: list[str]
    backends: list[str]
    threads: list[int] = field(default_factory=lambda: [1])
    iterations: Iterations = Iterations(warmup=10, measured=50)
    portable_iterations: Iterations = Iterations(warmup=0, measured=3)
    weights: str = "auto"
    calibration_data: str | None = None
    num_calibration_samples: int | None = None
    cache_dir: Path = Path("benchmark-out/programs")
    runner_path: Path | None = None  # resolved runner binary (None: no ExecuTorch backend asked)
    amx_runner: str | None = None  # --amx_runner: the AMX build's binary (None: cmake-out-amx/)
    timeout_s: float = 1800.0
    rounds: int = 1  # interleaved repetitions of every measurement; figures are medians over rounds
    quant_recipe: str | None = None  # None: each model's recipe from the zoo
    verbose: bool = False
    argv: list[str] = field(default_factory=lambda: list(sys.argv))

    def runner_for(self, backend: str) -> Path:
        """The runner binary an ExecuTorch backend runs in (its build: ``Backend.runner``)."""
        from examples.runner import client

        if BACKENDS[backend].runner == "source+amx":
            return client.find_amx_runner(self.amx_runner)
        return self.runner_path

    def iterations_for(self, backend: str) -> Iterations:
        return self.portable_iterations if backend == "portable" else self.iterations


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
    ended = time.time()
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
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
    rows = [new_record(ctx.name, backend, t, settings) for t in settings.threads]
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
        prepared = prepare(backend, ctx, settings, cache)
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


def _run_model(ctx: ModelContext, settings: Settings, cache: ArtifactCache, progress: GridProgress,
               records: list[dict]) -> None:
    """Prepare every backend, then measure them: ``settings.rounds`` times, interleaved
    (round 1 of every backend, then round 2 ...), so that a transient slowdown of the machine
    hits one round of one backend, not a whole row; figures are the medians over rounds.
    Records are appended to ``records`` as they are made, so an interruption keeps them."""
    runnable: list[tuple[str, Prepared, list[dict]]] = []
    progress.start(f"{ctx.name}: preparing", total=len(settings.backends))
    for backend in settings.backends:
        rows, prepared = _prepare_backend(backend, ctx, settings, cache, progress)
        records.extend(rows)
        if prepared is not None:
            runnable.append((backend, prepared, rows))
    results: dict[int, list[dict]] = {}
    progress.start(f"{ctx.name}: measuring", total=settings.rounds * sum(len(rows) for _, _, rows in runnable))
    try:
        for round_index in range(settings.rounds):
            suffix = f" (round {round_index + 1}/{settings.rounds})" if settings.rounds > 1 else ""
            for backend, prepared, rows in runnable:
                label = BACKENDS[backend].label
                for record in rows:
                    progress.step(f"{ctx.name}: {label}, {record['threads']} thread(s){suffix}")
                    if record["status"] != "ok":
                        continue  # a failed round ends this backend x thread count
                    try:
                        result = measure(backend, ctx, prepared, record["threads"], settings)
                    except Exception as error:  # noqa: BLE001 - recorded, the others still run
                        progress.log(f"{ctx.name}: {label}: FAILED: {_first_line(error)}")
                        record.update(status="failed", error=_first_line(error))
                        continue
                    results.setdefault(id(record), []).append(result)
                    progress.log(f"{ctx.name}: {label}: {record['threads']} thread(s){suffix}: first "
                                 f"{result['first_iteration_ms']:.2f} ms, median {result['median_ms']:.2f} ms")
    finally:  # also on Ctrl-C: the rounds measured so far make the cells' figures
        for backend, _, rows in runnable:
            for record in rows:
                if record["status"] == "ok" and id(record) in results:
                    finish_record(record, backend, combine_rounds(results[id(record)]), ctx)
