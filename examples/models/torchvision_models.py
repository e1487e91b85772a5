"""Factories for the torchvision models of the zoo (classification and segmentation)."""

from __future__ import annotations

import torch

from examples.models.model_spec import random_inputs
from examples.models.torchvision_compat import import_torchvision


def classifier_factory(builder: str, image_size: int, **kwargs):
    """A factory for ``torchvision.models.<builder>`` taking a single NCHW image batch."""

    def factory(weights):
        tv = import_torchvision()
        torch.manual_seed(0)  # random initialisation is reproducible
        model = getattr(tv.models, builder)(weights=weights, **kwargs).eval()
        return model, random_inputs((1, 3, image_size, image_size))

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
        return SegmentationLogits(model).eval(), random_inputs((1, 3, image_size, image_size))

    return factory
