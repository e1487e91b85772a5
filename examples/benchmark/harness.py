"""Run the grid: models x backends x thread counts, one JSON record per cell.

A backend that fails (export, conversion, run) is recorded as ``failed`` with a one-line
error and the others still run; a peer whose packages are missing is ``not installed``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from examples.benchmark import peers, runner
from examples.common.metrics import compare
from examples.benchmark.backends import BACKENDS, EXECUTORCH_XNNPACK, PEERS, Iterations
from examples.benchmark.cache import ArtifactCache, tensors_digest, weights_id
from examples.benchmark.machine import machine_info, package_versions
from examples.common.stats import split_iterations, summarize

SCHEMA = "xnnpack-toolkit/benchmark"
SCHEMA_VERSION = 1


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
    timeout_s: float = 1800.0
    rounds: int = 1  # interleaved repetitions of every measurement; figures are medians over rounds
    quant_recipe: str | None = None  # None: each model's recipe from the zoo
    verbose: bool = False

    def iterations_for(self, backend: str) -> Iterations:
        return self.portable_iterations if backend == "portable" else self.iterations


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(error).__name__


def _progress(text: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"[benchmark] {text}\n")
    sys.stderr.flush()


@dataclass
class ModelContext:
    """What every backend of one model shares: the eager model, inputs, reference outputs."""

    name: str
    spec: object
    model: object
    inputs: tuple
    weights: str
    reference: list
    workdir: Path
    calibration: object | None = None  # CalibrationSet, loaded on first need
    artifacts: dict = field(default_factory=dict)


@dataclass
class Prepared:
    path: Path | None = None
    size_bytes: int | None = None
    export_seconds: float | None = None
    reused: bool = False
    conversion: str = ""
    info: dict = field(default_factory=dict)


# ---------------------------------------------------------------- preparing (export / convert)

def _calibration(ctx: ModelContext, settings: Settings):
    if ctx.calibration is None:
        from examples.quantization.calibration import load_calibration

        ctx.calibration = load_calibration(ctx.spec, ctx.inputs, settings.calibration_data,
                                           settings.num_calibration_samples, model=ctx.model)
    return ctx.calibration


def _common_fields(ctx: ModelContext) -> dict:
    return {"weights": weights_id(ctx.weights, ctx.spec),
            "inputs": [list(t.shape) for t in ctx.inputs],
            "reference": ctx.name}


def _prepare_executorch(backend: str, ctx: ModelContext, settings: Settings, cache: ArtifactCache) -> Prepared:
    from examples.common.quiet import quiet_stdio
    from examples.export.lowering import export_program
    from examples.quantization.recipes import recipe_for

    variant = BACKENDS[backend].variant
    recipe = recipe_for(ctx.spec, settings.quant_recipe, ctx.model, ctx.inputs) if variant == "q8" else None
    fields = _common_fields(ctx)
    calibration = None
    if recipe is not None:
        fields["recipe"] = recipe.name
        if recipe.needs_calibration:
            calibration = _calibration(ctx, settings)
            fields["calibration"] = tensors_digest(calibration.batches)

    def build(path: Path) -> dict:
        with quiet_stdio(settings.verbose):
            result = export_program(ctx.model, ctx.inputs, delegate=variant != "portable", recipe=recipe,
                                    calibration=calibration.batches if calibration else None)
        from examples.export.lowering import save_program

        save_program(result, path)
        return {"seconds": result.seconds, "delegated": result.delegated, "quantized": result.quantized,
                "calibration_batches": result.calibration_batches}

    artifact = cache.get(ctx.spec.name, variant, ".pte", fields, build)
    if variant == "portable":
        conversion = "to_edge_transform_and_lower, no partitioner (portable kernels)"
    elif recipe is None:
        conversion = "to_edge_transform_and_lower + XnnpackPartitioner, fp32"
    else:
        calib = (f", calibrated on {calibration.source}" if calibration else ", dynamic (no calibration)")
        conversion = f"XNNPACKQuantizer recipe {recipe.name} (PT2E){calib} + XnnpackPartitioner"
    return Prepared(artifact.path, artifact.size_bytes, artifact.build_seconds, artifact.reused, conversion,
                    artifact.info)


def _prepare_onnx(backend: str, ctx: ModelContext, settings: Settings, cache: ArtifactCache) -> Prepared:
    from examples.quantization.recipes import recipe_for

    extra = [Path(peers.__file__).resolve()]
    fields = _common_fields(ctx)
    fp32 = ctx.artifacts.get("onnx_fp32")
    if fp32 is None:
        fp32 = cache.get(ctx.spec.name, "onnx_fp32", ".onnx", fields,
                         lambda path: peers.export_onnx(ctx.model, ctx.inputs, path),
                         packages=("torch", "onnx", "onnxscript"), extra_sources=extra)
        ctx.artifacts["onnx_fp32"] = fp32
    export_desc = f"{fp32.info.get('exporter')}, opset {fp32.info.get('opset')}, static shapes"
    if backend == "ort_fp32":
        return Prepared(fp32.path, fp32.size_bytes, fp32.build_seconds, fp32.reused, export_desc, fp32.info)
    recipe = recipe_for(ctx.spec, settings.quant_recipe, ctx.model, ctx.inputs)
    calibration = _calibration(ctx, settings)
    names = fp32.info.get("input_names") or peers.input_names(len(ctx.inputs))
    fields = dict(fields, fp32=fp32.path.name, per_channel=recipe.per_channel,
                  calibration=tensors_digest(calibration.batches))
    int8 = cache.get(ctx.spec.name, "onnx_int8", ".onnx", fields,
                     lambda path: peers.quantize_onnx(fp32.path, path, calibration.batches, names, recipe.per_channel),
                     packages=("torch", "onnx", "onnxscript", "onnxruntime"), extra_sources=extra)
    q = int8.info
    desc = (f"{export_desc}; quantize_static {q.get('quant_format')} {q.get('activation_type')} activations / "
            f"{q.get('weight_type')} weights, per_channel={q.get('per_channel')}, {q.get('calibrate_method')} "
            f"calibration on {calibration.source}")
    seconds = (fp32.build_seconds or 0.0) + (int8.build_seconds or 0.0)
    return Prepared(int8.path, int8.size_bytes, seconds, int8.reused and fp32.reused, desc, int8.info)


def _prepare_eager(backend: str, ctx: ModelContext, settings: Settings, cache: ArtifactCache) -> Prepared:
    return Prepared(conversion="eager torch.nn.Module under torch.inference_mode, "
                               "torch.set_num_threads(T), set_num_interop_threads(1)")


def prepare(backend: str, ctx: ModelContext, settings: Settings, cache: ArtifactCache) -> Prepared:
    kind = BACKENDS[backend]
    if kind.kind == "executorch":
        return _prepare_executorch(backend, ctx, settings, cache)
    if backend == "eager":
        return _prepare_eager(backend, ctx, settings, cache)
    return _prepare_onnx(backend, ctx, settings, cache)


# ---------------------------------------------------------------- measuring

def _measure_executorch(backend: str, ctx: ModelContext, prepared: Prepared, threads: int, settings: Settings) -> dict:
    iters = settings.iterations_for(backend)
    inputs = runner.write_input_files(ctx.inputs, ctx.workdir / "runner_inputs")
    out = ctx.workdir / f"{backend}_t{threads}_output"
    m = runner.run_program(settings.runner_path, prepared.path, iters=iters.measured, warmup=iters.warmup,
                           threads=threads, inputs=inputs, output_path=out, timeout=settings.timeout_s)
    ttfr = None
    if m.load_ms is not None and m.init_ms is not None:
        ttfr = m.load_ms + m.init_ms + m.first_ms
    return {"first_iteration_ms": m.first_ms, "mean_ms": m.mean_ms, "median_ms": m.median_ms, "p90_ms": m.p90_ms,
            "min_ms": m.min_ms, "max_ms": m.max_ms, "load_ms": m.load_ms, "init_ms": m.init_ms,
            "time_to_first_result_ms": ttfr, "peak_rss_bytes": m.peak_rss_bytes,
            "version": f"executorch {package_versions(('executorch',))['executorch']} (native runner)",
            "outputs": m.outputs}


def _measure_peer(backend: str, ctx: ModelContext, prepared: Prepared, threads: int, settings: Settings) -> dict:
    iters = settings.iterations_for(backend)
    inputs = peers.save_inputs(ctx.inputs, ctx.workdir / "peer_inputs")
    request = {"threads": threads, "warmup": iters.warmup, "iters": iters.measured}
    if backend == "eager":
        request.update(kind="eager", model=ctx.name, weights=ctx.weights)
    else:
        request.update(kind="ort", onnx_path=str(prepared.path),
                       input_names=prepared.info.get("input_names") or peers.input_names(len(ctx.inputs)))
        fp32 = ctx.artifacts.get("onnx_fp32")
        if fp32 is not None:
            request["input_names"] = fp32.info.get("input_names") or request["input_names"]
    result = peers.run_worker(request, inputs, ctx.workdir / f"{backend}_t{threads}", timeout=settings.timeout_s)
    first, measured = split_iterations(result.times_ms, iters.warmup)
    summary = summarize(measured)
    name = "onnxruntime" if backend != "eager" else "torch"
    return {"first_iteration_ms": first, "mean_ms": summary["mean"], "median_ms": summary["median"],
            "p90_ms": summary["p90"], "min_ms": summary["min"], "max_ms": summary["max"],
            "load_ms": result.load_ms, "init_ms": None, "time_to_first_result_ms": result.load_ms + first,
            "peak_rss_bytes": result.peak_rss_bytes, "version": f"{name} {result.version} (subprocess)",
            "outputs": result.outputs}


def measure(backend: str, ctx: ModelContext, prepared: Prepared, threads: int, settings: Settings) -> dict:
    if BACKENDS[backend].kind == "executorch":
        return _measure_executorch(backend, ctx, prepared, threads, settings)
    return _measure_peer(backend, ctx, prepared, threads, settings)


# ---------------------------------------------------------------- records

RECORD_KEYS = (
    "model", "backend", "label", "kind", "threads", "status", "error", "warmup_iters", "measured_iters",
    "first_iteration_ms", "mean_ms", "median_ms", "p90_ms", "min_ms", "max_ms",
    "load_ms", "init_ms", "time_to_first_result_ms", "peak_rss_bytes",
    "program_file", "program_size_bytes", "export_seconds", "export_reused", "conversion", "version",
    "max_abs_error", "sqnr_db", "accuracy_reference", "speedup_vs_1_thread",
)


def new_record(model: str, backend: str, threads: int, settings: Settings) -> dict:
    record = dict.fromkeys(RECORD_KEYS)
    iters = settings.iterations_for(backend)
    record.update(model=model, backend=backend, label=BACKENDS[backend].label, kind=BACKENDS[backend].kind,
                  threads=threads, status="ok", warmup_iters=iters.warmup, measured_iters=iters.measured)
    return record


def _apply_prepared(record: dict, prepared: Prepared) -> None:
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


def comparisons(records: list[dict]) -> list[dict]:
    """Per model and thread count: best ExecuTorch XNNPACK (fp32/q8) mean / best peer mean."""
    out = []
    cells = sorted({(r["model"], r["threads"]) for r in records}, key=lambda c: (c[0], c[1]))
    for model, threads in cells:
        ok = [r for r in records if r["model"] == model and r["threads"] == threads and r["status"] == "ok"]
        ours = [r for r in ok if r["backend"] in EXECUTORCH_XNNPACK]
        theirs = [r for r in ok if r["backend"] in PEERS]
        if not ours or not theirs:
            continue
        best = min(ours, key=lambda r: r["mean_ms"])
        peer = min(theirs, key=lambda r: r["mean_ms"])
        ratio = best["mean_ms"] / peer["mean_ms"] if peer["mean_ms"] > 0 else None
        out.append({"model": model, "threads": threads, "executorch_backend": best["backend"],
                    "executorch_mean_ms": best["mean_ms"], "peer_backend": peer["backend"],
                    "peer_mean_ms": peer["mean_ms"], "ratio": ratio})
    return out


# ---------------------------------------------------------------- the grid

def _load_model_context(name: str, settings: Settings, workdir: Path) -> ModelContext:
    import torch

    from examples.benchmark.peer_worker import flatten_torch_outputs
    from examples.export.export_cli import load_eager
    from examples.models.zoo import resolve_model

    spec = resolve_model(name)
    loaded = load_eager(spec, settings.weights, settings.verbose)
    with torch.inference_mode():
        reference = flatten_torch_outputs(loaded.model(*loaded.example_inputs))
    return ModelContext(name, spec, loaded.model, tuple(loaded.example_inputs), loaded.weights, reference, workdir)


def run_benchmark(settings: Settings, progress: Callable[[str], None] = _progress) -> dict:
    """Run the grid; returns the JSON document (see :mod:`examples.benchmark.report`)."""
    cache = ArtifactCache(settings.cache_dir)
    records: list[dict] = []
    models: dict[str, dict] = {}
    started = time.time()
    for name in settings.models:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            progress(f"{name}: loading (weights: {settings.weights})")
            with warnings.catch_warnings():
                if not settings.verbose:
                    warnings.simplefilter("ignore")
                ctx = _load_model_context(name, settings, Path(tmp))
            models[name] = {"weights": ctx.weights, "random_weights": ctx.weights == "random",
                            "description": ctx.spec.description, "quant_recipe": settings.quant_recipe or ctx.spec.quant_recipe or "chosen from the graph",
                            "inputs": [list(t.shape) for t in ctx.inputs], "calibration": None}
            records.extend(_run_model(ctx, settings, cache, progress))
            if ctx.calibration is not None:
                models[name]["calibration"] = ctx.calibration.source
                models[name]["random_calibration"] = ctx.calibration.random
    add_speedups(records)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_seconds": time.time() - started,
        "machine": machine_info(),
        "packages": package_versions(),
        "settings": {
            "models": settings.models, "backends": settings.backends, "threads": settings.threads,
            "warmup_iters": settings.iterations.warmup, "num_iters": settings.iterations.measured,
            "portable_warmup_iters": settings.portable_iterations.warmup,
            "portable_iters": settings.portable_iterations.measured,
            "rounds": settings.rounds,
            "weights": settings.weights, "calibration_data": settings.calibration_data,
            "runner": str(settings.runner_path) if settings.runner_path else None,
        },
        "models": models,
        "records": records,
        "comparisons": comparisons(records),
    }


def _prepare_backend(backend: str, ctx: ModelContext, settings: Settings, cache: ArtifactCache,
                     progress: Callable[[str], None]) -> tuple[list[dict], Prepared | None]:
    """The backend's records (one per thread count) and its prepared artifact; None (with the
    records marked) when the backend is not installed or failed to prepare."""
    label = BACKENDS[backend].label
    rows = [new_record(ctx.name, backend, t, settings) for t in settings.threads]
    missing = peers.missing_packages(backend) if BACKENDS[backend].kind == "peer" else []
    if missing:
        progress(f"{ctx.name}: {label}: not installed ({', '.join(missing)})")
        for r in rows:
            r.update(status="not installed", error=f"{', '.join(missing)} not installed")
        return rows, None
    try:
        progress(f"{ctx.name}: {label}: preparing")
        prepared = prepare(backend, ctx, settings, cache)
        if prepared.path is not None:
            how = "reused" if prepared.reused else f"built in {prepared.export_seconds:.1f} s"
            progress(f"{ctx.name}: {label}: {prepared.path.name} ({how})")
    except Exception as error:  # noqa: BLE001 - recorded, the other backends still run
        progress(f"{ctx.name}: {label}: FAILED to prepare: {_first_line(error)}")
        for r in rows:
            r.update(status="failed", error=f"prepare: {_first_line(error)}")
        return rows, None
    for record in rows:
        _apply_prepared(record, prepared)
    return rows, prepared


# Per-round figures combined by their median across rounds; peak RSS by the maximum.
_ROUND_MEDIAN_KEYS = ("first_iteration_ms", "mean_ms", "median_ms", "p90_ms", "min_ms", "max_ms",
                      "load_ms", "init_ms", "time_to_first_result_ms")


def combine_rounds(results: list[dict]) -> dict:
    """One backend x thread count measured in several interleaved rounds -> one result."""
    combined = dict(results[-1])
    for key in _ROUND_MEDIAN_KEYS:
        values = [r[key] for r in results if r.get(key) is not None]
        combined[key] = statistics.median(values) if values else None
    rss = [r["peak_rss_bytes"] for r in results if r.get("peak_rss_bytes") is not None]
    combined["peak_rss_bytes"] = max(rss) if rss else None
    return combined


def _run_model(ctx: ModelContext, settings: Settings, cache: ArtifactCache,
               progress: Callable[[str], None]) -> list[dict]:
    """Prepare every backend, then measure them: ``settings.rounds`` times, interleaved
    (round 1 of every backend, then round 2 ...), so that a transient slowdown of the machine
    hits one round of one backend, not a whole row; figures are the medians over rounds."""
    records: list[dict] = []
    runnable: list[tuple[str, Prepared, list[dict]]] = []
    for backend in settings.backends:
        rows, prepared = _prepare_backend(backend, ctx, settings, cache, progress)
        records.extend(rows)
        if prepared is not None:
            runnable.append((backend, prepared, rows))
    results: dict[int, list[dict]] = {}
    for round_index in range(settings.rounds):
        suffix = f" (round {round_index + 1}/{settings.rounds})" if settings.rounds > 1 else ""
        for backend, prepared, rows in runnable:
            label = BACKENDS[backend].label
            for record in rows:
                if record["status"] != "ok":
                    continue  # a failed round ends this backend x thread count
                iters = settings.iterations_for(backend)
                progress(f"{ctx.name}: {label}: running, {record['threads']} thread(s), {iters.describe()}{suffix}")
                try:
                    result = measure(backend, ctx, prepared, record["threads"], settings)
                except Exception as error:  # noqa: BLE001 - recorded, the others still run
                    progress(f"{ctx.name}: {label}: FAILED: {_first_line(error)}")
                    record.update(status="failed", error=_first_line(error))
                    continue
                results.setdefault(id(record), []).append(result)
                progress(f"{ctx.name}: {label}: first {result['first_iteration_ms']:.2f} ms, "
                         f"mean {result['mean_ms']:.2f} ms")
    for backend, _, rows in runnable:
        for record in rows:
            if record["status"] == "ok" and id(record) in results:
                _finish_record(record, backend, combine_rounds(results[id(record)]), ctx)
    return records


def _finish_record(record: dict, backend: str, result: dict, ctx: ModelContext) -> None:
    outputs = result.pop("outputs", None)
    record.update(result)
    if backend == "eager":
        record.update(max_abs_error=0.0, accuracy_reference="itself (reference)")
    elif outputs is not None:
        try:
            record.update(compare(ctx.reference, outputs), accuracy_reference="eager pytorch")
        except ValueError as error:
            record["accuracy_reference"] = f"not compared: {error}"
