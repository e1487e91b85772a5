"""What the zoo knows about a model: how to build it, its inputs, and how to quantize it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # torch only where a model is built: naming models and flags stays fast
    import torch

# A factory builds the eager model (in eval mode) for a torchvision weights entry or None
# (random initialisation), and returns it with its example inputs.
Factory = Callable[[object | None], "tuple[torch.nn.Module, tuple]"]

# The text models' default sequence length (bert_models' inputs and the zoo's shapes).
TEXT_SEQ_LEN = 128


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Factory
    input_shapes: tuple[tuple[int, ...], ...]
    # A key of examples.quantization.recipes.RECIPES; None: chosen from the graph's structure.
    quant_recipe: str | None
    description: str
    # torchvision weights entry ("MobileNet_V2_Weights.IMAGENET1K_V1"); None: no pretrained weights.
    pretrained: str | None = None
    # Image preprocessing for calibration / evaluation folders (classifiers only).
    image_size: int | None = None
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    tags: tuple[str, ...] = field(default_factory=tuple)
    # Builds (model, example_inputs) from a local folder of weights (--weights FOLDER), e.g. a
    # Hugging Face save_pretrained folder; None: only state_dict files.
    folder_loader: Callable[[object], "tuple[torch.nn.Module, tuple]"] | None = None
    # Bumped when the factory's random initialisation changes, so cached programs built from the
    # old random weights are not reused (they are keyed by "random" plus this, not by a digest).
    random_init_revision: int = 0


def random_inputs(*shapes: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Deterministic example inputs: the same tensors in every process."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(shape, generator=generator) for shape in shapes)


def deferred(module: str, name: str, *args, **kwargs) -> Callable:
    """``module.name`` (called with ``args`` first when given: a factory maker), imported on
    first call: the zoo lists its models without importing torch, torchvision or transformers."""

    def call(*call_args):
        target = getattr(importlib.import_module(module), name)
        return (target(*args, **kwargs) if args or kwargs else target)(*call_args)

    call.__qualname__ = f"{module}.{name}"
    call.target = (module, name)  # checked by the zoo's test: a misspelled name fails there
    return call
