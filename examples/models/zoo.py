"""The model zoo: every model the toolkit knows by name, with its inputs and quantization recipe.

``resolve_model("mv2")`` looks a model up; ``resolve_model("my_pkg.my_module:factory")``
wraps a user's factory (a callable with no arguments returning ``(model, example_inputs)``).
"""

from __future__ import annotations

import difflib
import importlib
from functools import partial

from examples.models.llama_zoo import LLM_MODELS
from examples.models.model_spec import TEXT_SEQ_LEN, ModelSpec, deferred

# Factories are imported when a model is built (deferred): naming a model, listing the zoo and
# rejecting bad flags do not import torch.
classifier_factory = partial(deferred, "examples.models.torchvision_models", "classifier_factory")
segmentation_factory = partial(deferred, "examples.models.torchvision_models", "segmentation_factory")
toy = partial(deferred, "examples.models.toy_models")
bert = partial(deferred, "examples.models.bert_models")

_IMG = (1, 3, 224, 224)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("mv2", classifier_factory("mobilenet_v2", 224), (_IMG,), "static_per_channel",
                  "torchvision MobileNet V2", "MobileNet_V2_Weights.IMAGENET1K_V1", image_size=224),
        ModelSpec("mv3", classifier_factory("mobilenet_v3_small", 224), (_IMG,), "static_per_channel_fp32_dw",
                  "torchvision MobileNet V3 (small)", "MobileNet_V3_Small_Weights.IMAGENET1K_V1", image_size=224),
        ModelSpec("resnet18", classifier_factory("resnet18", 224), (_IMG,), "static_per_channel",
                  "torchvision ResNet-18", "ResNet18_Weights.IMAGENET1K_V1", image_size=224),
        ModelSpec("resnet50", classifier_factory("resnet50", 224), (_IMG,), "static_per_channel",
                  "torchvision ResNet-50", "ResNet50_Weights.IMAGENET1K_V2", image_size=224),
        ModelSpec("ic3", classifier_factory("inception_v3", 299, aux_logits=True, init_weights=False),
                  ((1, 3, 299, 299),), "static_per_channel",
                  "torchvision Inception V3", "Inception_V3_Weights.IMAGENET1K_V1", image_size=299,
                  mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        ModelSpec("vit", classifier_factory("vit_b_16", 224), (_IMG,), "dynamic_per_channel",
                  "torchvision ViT-B/16", "ViT_B_16_Weights.IMAGENET1K_V1", image_size=224,
                  random_init_revision=1),  # 1: random head (torchvision's is zero: constant outputs)
        ModelSpec("dl3", segmentation_factory("deeplabv3_resnet50", 224), (_IMG,), "static_per_channel",
                  "torchvision DeepLabV3 ResNet-50 (segmentation)",
                  "DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1"),
        ModelSpec("bert_tiny", bert("bert_tiny"), ((1, TEXT_SEQ_LEN),) * 2,
                  "dynamic_per_channel_linear",
                  "BERT-tiny text classifier (transformers; 2 layers, hidden 128; ids + mask)",
                  tags=("text",), folder_loader=bert("load_hf_folder")),
        ModelSpec("add", toy("add"), ((1, 8), (1, 8)), "static_per_tensor", "toy: x + y", tags=("toy",)),
        ModelSpec("mul", toy("mul"), ((3, 2), (3, 2)), "static_per_tensor", "toy: x * y", tags=("toy",)),
        ModelSpec("add_mul", toy("add_mul"), ((2, 2),) * 3, "static_per_tensor", "toy: a @ x + b",
                  tags=("toy",)),
        ModelSpec("linear", toy("linear"), ((4, 32),), "dynamic_per_channel", "toy: Linear(32, 16)",
                  tags=("toy",)),
        ModelSpec("softmax", toy("softmax"), ((1, 10),), "static_per_tensor", "toy: softmax", tags=("toy",)),
        ModelSpec("tiny_conv", toy("tiny_conv"), ((1, 3, 16, 16),), "static_per_channel",
                  "toy: conv, depthwise conv, pool, linear (a CNN in microseconds)", tags=("toy",)),
    )
}


class ModelLookupError(ValueError):
    """A model name that is neither in the zoo nor a usable ``module:factory`` reference."""


def resolve_model(name: str) -> ModelSpec:
    if name in MODELS:
        return MODELS[name]
    if ":" in name:
        return _user_model(name)
    if name in LLM_MODELS:
        raise ModelLookupError(f"'{name}' is a language model: export it with examples.backend.xnnpack_examples")
    close = difflib.get_close_matches(name, [*MODELS, *LLM_MODELS], n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ModelLookupError(
        f"unknown model '{name}'.{hint} Run with --list_models to see the zoo, "
        "or pass my_pkg.my_module:factory for your own model."
    )


def _torchvision_fix() -> None:
    from examples.models.torchvision_compat import import_torchvision

    try:
        import_torchvision()
    except ImportError:  # torchvision not installed: nothing to fix
        pass


def _user_model(reference: str) -> ModelSpec:
    module_name, _, attr = reference.partition(":")
    # A user module may `import torchvision` at its top: the CUDA-build fix must run before
    # that import, and this is the one place where user modules are imported.
    _torchvision_fix()
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ModelLookupError(f"cannot load factory '{reference}': {error}") from None
    if not callable(factory):
        raise ModelLookupError(f"'{reference}' is not callable")

    def build(weights):
        import torch

        result = factory()
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.nn.Module)):
            raise ModelLookupError(
                f"factory '{reference}' must return (torch.nn.Module, example_inputs tuple), "
                + (f"got a tuple starting with a {type(result[0]).__name__}" if isinstance(result, tuple) and result
                   else f"got {type(result).__name__}")
            )
        model, inputs = result
        inputs = inputs if isinstance(inputs, tuple) else (inputs,)
        if not all(isinstance(t, torch.Tensor) for t in inputs):
            raise ModelLookupError(f"factory '{reference}' returned example inputs that are not tensors")
        return model.eval(), inputs

    return ModelSpec(user_model_name(module_name, attr), build, (), None, f"user model {reference}", tags=("user",))


def user_model_name(module_name: str, attr: str) -> str:
    """The name a user model's files carry: module and function, ``my_pkg.models:factory`` ->
    ``my_pkg_models_factory`` (two modules' ``factory`` functions get different files)."""
    parts = [p for p in module_name.split(".") if p] + [attr]
    name = "_".join("".join(c if c.isalnum() or c == "_" else "_" for c in part) for part in parts)
    return name if name.isidentifier() else f"user_{name}"


def describe_zoo() -> str:
    """The --list_models table: name, input shapes, quantization recipe, description."""
    rows = [("model", "inputs", "quant recipe", "description")]
    for spec in MODELS.values():
        shapes = " ".join("x".join(map(str, s)) for s in spec.input_shapes)
        rows.append((spec.name, shapes, spec.quant_recipe, spec.description))
    # Language models: ExecuTorch's LLM exporter; their --quantize is 8da4w.
    rows += [(m.name, "tokens 1xN", "8da4w", m.description) for m in LLM_MODELS.values()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows
    )
