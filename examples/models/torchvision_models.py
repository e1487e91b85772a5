"""Factories for the torchvision models of the zoo (classification and segmentation)."""

from __future__ import annotations

import torch

from examples.models.model_spec import random_inputs
from examples.models.torchvision_compat import import_torchvision


def settle_batchnorm(model: torch.nn.Module, image_size: int, batches: int = 2, batch_size: int = 4) -> None:
    """Give a randomly initialised model the BatchNorm statistics of its own activations.

    Fresh BatchNorm layers hold mean 0 / variance 1, which do not match what random
    convolutions produce: signals then shrink layer by layer (random MobileNet V2 outputs
    are around 1e-15), int8 quantization rounds everything to zero, and every error figure
    becomes meaningless. Re-estimating the statistics on random images (cumulative average,
    no gradient) keeps activations at unit scale while the weights stay random.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average over the batches below
    generator = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch_size, 3, image_size, image_size, generator=generator))
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


def randomize_zero_heads(model: torch.nn.Module) -> list[str]:
    """Give Linear layers that torchvision initialises to zero (ViT's classifier head) random
    weights; returns their names.

    A zero head makes every output exactly its (zero) bias whatever the input: every program,
    int8 or not, then matches eager "exactly" and accuracy checks judge nothing.
    """
    changed = []
    generator = torch.Generator().manual_seed(2)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not module.weight.detach().any():
            with torch.no_grad():
                bound = module.in_features ** -0.5
                module.weight.copy_(torch.empty_like(module.weight).uniform_(-bound, bound, generator=generator))
            changed.append(name)
    return changed


def classifier_factory(builder: str, image_size: int, **kwargs):
    """A factory for ``torchvision.models.<builder>`` taking a single NCHW image batch."""

    def factory(weights):
        tv = import_torchvision()
        torch.manual_seed(0)  # random initialisation is reproducible
        model = getattr(tv.models, builder)(weights=weights, **kwargs)
        if weights is None:
            randomize_zero_heads(model)
            settle_batchnorm(model, image_size)
        return model.eval(), random_inputs((1, 3, image_size, image_size))

    return factory


class SegmentationLogits(torch.nn.Module):
    """Returns the ``"out"`` tensor of a torchvision segmentation model (it returns a dict)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def segmentation_factory(builder: str, image_size: int):
    def factory(weights):
        tv = import_torchvision()
        torch.manual_seed(0)
        # weights_backbone=None: never fetch backbone weights behind the user's back.
        model = getattr(tv.models.segmentation, builder)(weights=weights, weights_backbone=None, aux_loss=None)
        if weights is None:
            settle_batchnorm(model, image_size, batches=1, batch_size=2)
        return SegmentationLogits(model).eval(), random_inputs((1, 3, image_size, image_size))

    return factory
