"""Preparing one backend of one model: the ExecuTorch program (through :mod:`.programs`), the
ONNX model for ONNX Runtime, or nothing (eager). The tuned row is prepared by tune
(:mod:`examples.tune.tuned_row`): the command hands it in (``Settings.prepare_tuned``)."""

from __future__ import annotations

from pathlib import Path

from examples.benchmark import openvino_backend, peers
from examples.benchmark.backends import BACKENDS
from examples.benchmark.cache import ArtifactCache, tensors_digest
from examples.benchmark.programs import ModelContext, PrepareOptions, Prepared, calibration_for, executorch_program


def _prepare_executorch(backend: str, ctx: ModelContext, options: PrepareOptions, cache: ArtifactCache) -> Prepared:
    from examples.quantization.recipes import recipe_for

    variant = BACKENDS[backend].variant
    recipe = recipe_for(ctx.spec, options.quant_recipe, ctx.model, ctx.inputs) if variant == "q8" else None
    calibration = None
    if recipe is not None and recipe.needs_calibration:
        calibration = calibration_for(ctx, options.calibration_data, options.num_calibration_samples)
    return executorch_program(ctx, cache, variant=variant, recipe=recipe, calibration=calibration,
                              verbose=options.verbose)


def _prepare_onnx(backend: str, ctx: ModelContext, options: PrepareOptions, cache: ArtifactCache) -> Prepared:
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
    recipe = recipe_for(ctx.spec, options.quant_recipe, ctx.model, ctx.inputs)
    calibration = calibration_for(ctx, options.calibration_data, options.num_calibration_samples)
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


def _prepare_eager(backend: str, ctx: ModelContext, options: PrepareOptions, cache: ArtifactCache) -> Prepared:
    return Prepared(conversion="eager torch.nn.Module under torch.inference_mode, "
                               "torch.set_num_threads(T), set_num_interop_threads(1)")


def prepare(backend: str, ctx: ModelContext, options: PrepareOptions, cache: ArtifactCache) -> Prepared:
    kind = BACKENDS[backend].kind
    if backend in openvino_backend.NAMES:
        return openvino_backend.prepare(backend, ctx, options, cache)
    if kind == "executorch":
        return _prepare_executorch(backend, ctx, options, cache)
    if backend == "eager":
        return _prepare_eager(backend, ctx, options, cache)
    return _prepare_onnx(backend, ctx, options, cache)
