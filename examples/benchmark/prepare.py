"""Preparing one backend of one model: the ExecuTorch program (through :mod:`.programs`), the
ONNX model for ONNX Runtime, or nothing (eager)."""

from __future__ import annotations

from pathlib import Path

from examples.benchmark import openvino_backend, peers
from examples.benchmark.backends import BACKENDS
from examples.benchmark.cache import ArtifactCache, tensors_digest
from examples.benchmark.programs import ModelContext, Prepared, calibration_for, executorch_program


def _prepare_executorch(backend: str, ctx: ModelContext, settings, cache: ArtifactCache) -> Prepared:
    from examples.quantization.recipes import recipe_for

    variant = BACKENDS[backend].variant
    recipe = recipe_for(ctx.spec, settings.quant_recipe, ctx.model, ctx.inputs) if variant == "q8" else None
    calibration = None
    if recipe is not None and recipe.needs_calibration:
        calibration = calibration_for(ctx, settings.calibration_data, settings.num_calibration_samples)
    return executorch_program(ctx, cache, variant=variant, recipe=recipe, calibration=calibration,
                              verbose=settings.verbose)


def _prepare_onnx(backend: str, ctx: ModelContext, settings, cache: ArtifactCache) -> Prepared:
    from examples.quantization.recipes import recipe_for

    extra = [Path(peers.__file__).resolve()]
    fields = ctx.fields()
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
    calibration = calibration_for(ctx, settings.calibration_data, settings.num_calibration_samples)
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


def _prepare_eager(backend: str, ctx: ModelContext, settings, cache: ArtifactCache) -> Prepared:
    return Prepared(conversion="eager torch.nn.Module under torch.inference_mode, "
                               "torch.set_num_threads(T), set_num_interop_threads(1)")


def _prepare_tuned(ctx: ModelContext, settings) -> Prepared:
    """Run tune on the model (same cache, thread counts and calibration as the benchmark) and
    take its winner for each thread count; tune's own report goes to ``<output_dir>/tune-<model>/``."""
    from examples.benchmark.progress import GridProgress
    from examples.tune.candidates import candidates_for
    from examples.tune.report import write_outputs
    from examples.tune.tuner import TuneSettings, tune

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


def prepare(backend: str, ctx: ModelContext, settings, cache: ArtifactCache) -> Prepared:
    kind = BACKENDS[backend].kind
    if backend == "tuned":
        return _prepare_tuned(ctx, settings)
    if backend in openvino_backend.NAMES:
        return openvino_backend.prepare(backend, ctx, settings, cache)
    if kind == "executorch":
        return _prepare_executorch(backend, ctx, settings, cache)
    if backend == "eager":
        return _prepare_eager(backend, ctx, settings, cache)
    return _prepare_onnx(backend, ctx, settings, cache)
