"""Model -> program: every ExecuTorch program the benchmark and tune measure is built here,
once, and reused from the artifact cache while its inputs (model, weights, recipe,
calibration, package versions, toolkit sources) are unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from examples.benchmark.cache import ArtifactCache, tensors_digest, weights_id


@dataclass
class ModelContext:
    """What every program of one model shares: the eager model, inputs, reference outputs."""

    name: str
    spec: object
    model: object
    inputs: tuple
    weights: str
    reference: list
    workdir: Path
    calibration: object | None = None  # CalibrationSet, loaded on first need
    artifacts: dict = field(default_factory=dict)

    def fields(self) -> dict:
        """The cache key fields every artifact of this model shares."""
        return {"weights": weights_id(self.weights, self.spec), "inputs": [list(t.shape) for t in self.inputs],
                "reference": self.name}


@dataclass(frozen=True)
class PrepareOptions:
    """What building a row's artifact takes from the run's settings."""

    quant_recipe: str | None = None  # None: each model's recipe
    calibration_data: str | None = None
    num_calibration_samples: int | None = None
    verbose: bool = False


@dataclass
class Prepared:
    path: Path | None = None
    size_bytes: int | None = None
    export_seconds: float | None = None
    reused: bool = False
    conversion: str = ""
    info: dict = field(default_factory=dict)


def load_model_context(name: str, weights: str, workdir: Path, verbose: bool = False) -> ModelContext:
    """Load a zoo or ``module:factory`` model and its eager reference outputs."""
    import torch

    from examples.benchmark.peer_worker import flatten_torch_outputs
    from examples.models.weights import load_eager
    from examples.models.zoo import resolve_model

    spec = resolve_model(name)
    loaded = load_eager(spec, weights, verbose)
    with torch.inference_mode():
        reference = flatten_torch_outputs(loaded.model(*loaded.example_inputs))
    return ModelContext(name, spec, loaded.model, tuple(loaded.example_inputs), loaded.weights, reference, workdir)


def calibration_for(ctx: ModelContext, data: str | None, samples: int | None):
    """The model's calibration set (loaded once per model)."""
    if ctx.calibration is None:
        from examples.quantization.calibration import load_calibration

        ctx.calibration = load_calibration(ctx.spec, ctx.inputs, data, samples, model=ctx.model)
    return ctx.calibration


def executorch_program(ctx: ModelContext, cache: ArtifactCache, *, variant: str, recipe=None, calibration=None,
                       verbose: bool = False) -> Prepared:
    """An XNNPACK (``variant`` fp32 / q8 / a tune candidate's name) or portable program of the
    model, quantized with ``recipe`` when given."""
    from examples.common.quiet import quiet_stdio
    from examples.export.lowering import export_program, save_program

    delegate = variant != "portable"
    fields = ctx.fields()
    if recipe is not None:
        fields["recipe"] = recipe.name
        if recipe.needs_calibration and calibration is not None:
            fields["calibration"] = tensors_digest(calibration.batches)
    batches = calibration.batches if (recipe is not None and recipe.needs_calibration and calibration) else None

    def build(path: Path) -> dict:
        with quiet_stdio(verbose):
            result = export_program(ctx.model, ctx.inputs, delegate=delegate, recipe=recipe, calibration=batches)
        save_program(result, path, model=ctx.name)
        return {"seconds": result.seconds, "delegated": result.delegated, "quantized": result.quantized,
                "calibration_batches": result.calibration_batches}

    # Named by what the file is, not by who asks: tune's candidate for the model's own recipe is
    # the benchmark's q8 program, built once.
    kind = "portable" if not delegate else ("fp32" if recipe is None else f"q8_{recipe.name}")
    artifact = cache.get(ctx.spec.name, kind, ".pte", fields, build)
    if not delegate:
        conversion = "to_edge_transform_and_lower, no partitioner (portable kernels)"
    elif recipe is None:
        conversion = "to_edge_transform_and_lower + XnnpackPartitioner, fp32"
    else:
        calib = f", calibrated on {calibration.source}" if batches else ", dynamic (no calibration)"
        conversion = f"XNNPACKQuantizer recipe {recipe.name} (PT2E){calib} + XnnpackPartitioner"
    return Prepared(artifact.path, artifact.size_bytes, artifact.build_seconds, artifact.reused, conversion,
                    artifact.info)
