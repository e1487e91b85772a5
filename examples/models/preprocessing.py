"""The one image preprocessing of the toolkit (calibration, evaluation, benchmark inputs).

The classic classifier pipeline, on torchvision.transforms.v2: resize the shorter side to
``image_size / crop_fraction`` (256 for 224), center crop ``image_size``, scale to [0, 1],
normalize with the model's mean/std.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from examples.models.torchvision_compat import import_torchvision

if TYPE_CHECKING:  # imported with torchvision, when a pipeline is built
    import torch

DEFAULT_CROP_FRACTION = 0.875  # 224 / 256: resize to 256, crop 224


class NotAnImageModel(ValueError):
    """A model without one square 3-channel image input: images cannot feed it."""


def image_size_of(spec, example_inputs=None) -> int:
    """The spec's ``image_size``, else the side of its one square 3-channel example input."""
    size = getattr(spec, "image_size", None)
    shapes = [tuple(t.shape) for t in example_inputs] if example_inputs is not None else []
    if len(shapes) == 1 and len(shapes[0]) == 4 and shapes[0][1] == 3 and shapes[0][2] == shapes[0][3]:
        if size is not None and size != shapes[0][2]:
            raise NotAnImageModel(f"'{spec.name}' image_size {size} does not match its input {shapes[0]}")
        return shapes[0][2]
    if size is None or shapes:
        taken = " ".join("x".join(map(str, s)) for s in shapes) or "no image"
        raise NotAnImageModel(f"model '{spec.name}' is not an image classifier with one square 3-channel "
                              f"input (it takes {taken})")
    return size


@dataclass(frozen=True)
class Preprocess:
    image_size: int
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    crop_fraction: float = DEFAULT_CROP_FRACTION

    @classmethod
    def for_spec(cls, spec, example_inputs=None, *, crop_fraction: float = DEFAULT_CROP_FRACTION) -> "Preprocess":
        """The preprocessing of a zoo ``ModelSpec`` (a user's model: its example input's size,
        the spec's mean/std)."""
        return cls(image_size_of(spec, example_inputs), tuple(spec.mean), tuple(spec.std), crop_fraction)

    @property
    def resize(self) -> int:
        return max(self.image_size, int(round(self.image_size / self.crop_fraction)))

    @cached_property
    def transform(self):
        import_torchvision()  # the CUDA-build fix first
        import torch
        import torchvision.transforms.v2 as v2

        return v2.Compose([
            v2.ToImage(),
            v2.RGB(),
            v2.Resize(self.resize, interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
            v2.CenterCrop(self.image_size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(self.mean), list(self.std)),
        ])

    def __call__(self, image) -> torch.Tensor:
        """PIL image -> float tensor (3, image_size, image_size), normalized."""
        import torch

        return self.transform(image).as_subclass(torch.Tensor)

    def load(self, path: str | Path) -> torch.Tensor:
        from PIL import Image

        with Image.open(path) as image:
            return self(image)
