"""Labelled image folders (ImageFolder layout) read with a model's preprocessing.

Layout: ``DIR/<class_name>/<image>``; classes are the sub-folders in sorted order, so the
label of an image is the index of its folder in that order (as torchvision's ImageFolder).
Preprocessing is the classic classifier one: resize the shorter side to
``image_size / crop_fraction``, center crop ``image_size``, scale to [0, 1], normalize with
the model's mean/std. Only PIL and torch are used, so the result is the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
DEFAULT_CROP_FRACTION = 0.875  # 224 / 256: resize to 256, crop 224


class DatasetError(ValueError):
    """An evaluation folder that cannot be used (missing, empty, not ImageFolder layout)."""


@dataclass(frozen=True)
class Preprocess:
    image_size: int
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    crop_fraction: float = DEFAULT_CROP_FRACTION

    @classmethod
    def for_spec(cls, spec, example_inputs=None, *, crop_fraction: float = DEFAULT_CROP_FRACTION) -> "Preprocess":
        """The preprocessing of a zoo ``ModelSpec``.

        A spec without ``image_size`` (a user's ``module:factory`` model) takes it from its one
        square 3-channel example input, with the spec's (default: ImageNet) mean/std.
        """
        size = getattr(spec, "image_size", None)
        if size is None and example_inputs is not None and len(example_inputs) == 1:
            shape = tuple(example_inputs[0].shape)
            if len(shape) == 4 and shape[1] == 3 and shape[2] == shape[3]:
                size = shape[2]
        if size is None:
            raise DatasetError(
                f"model '{spec.name}' is not an image classifier with one square 3-channel input; "
                "cannot evaluate it on an image folder"
            )
        return cls(size, tuple(spec.mean), tuple(spec.std), crop_fraction)

    @property
    def resize(self) -> int:
        return max(self.image_size, int(round(self.image_size / self.crop_fraction)))

    def __call__(self, image) -> torch.Tensor:
        """PIL image -> float tensor (3, image_size, image_size), normalized."""
        from PIL import Image

        image = image.convert("RGB")
        width, height = image.size
        scale = self.resize / min(width, height)
        new_size = (max(self.image_size, round(width * scale)), max(self.image_size, round(height * scale)))
        image = image.resize(new_size, Image.BILINEAR)
        left = (new_size[0] - self.image_size) // 2
        top = (new_size[1] - self.image_size) // 2
        image = image.crop((left, top, left + self.image_size, top + self.image_size))
        data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        tensor = data.view(self.image_size, self.image_size, 3).permute(2, 0, 1).float().div_(255.0)
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return (tensor - mean) / std

    def load(self, path: str | Path) -> torch.Tensor:
        from PIL import Image

        try:
            with Image.open(path) as image:
                return self(image)
        except (OSError, ValueError) as error:
            raise DatasetError(f"cannot read image {path}: {error}") from None


class ImageFolderDataset:
    """The (path, label) samples of an ImageFolder tree, read lazily with ``preprocess``."""

    def __init__(self, root: str | Path, preprocess: Preprocess, *, limit: int | None = None):
        self.root = Path(root)
        self.preprocess = preprocess
        if not self.root.is_dir():
            raise DatasetError(f"evaluation folder not found: {self.root}")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not self.classes:
            raise DatasetError(
                f"{self.root} has no class sub-folders; expected ImageFolder layout DIR/<class>/<image>"
            )
        samples = []
        for label, name in enumerate(self.classes):
            for path in sorted((self.root / name).rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
                    samples.append((path, label))
        if not samples:
            raise DatasetError(f"{self.root} holds no images ({', '.join(IMAGE_EXTENSIONS)}) in its class folders")
        if limit is not None and limit < len(samples):
            # A spread over all classes, not the first classes only: every ``step``-th sample.
            step = len(samples) / limit
            samples = [samples[int(i * step)] for i in range(limit)]
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.preprocess.load(path), label

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int]]:
        for index in range(len(self)):
            yield self[index]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as one (N, 3, S, S) tensor and the labels as (N,)."""
        images, labels = zip(*self)
        return torch.stack(images), torch.tensor(labels)

    def calibration_batches(self, count: int | None = None) -> list[tuple[torch.Tensor]]:
        """``count`` single-image input tuples (batch 1) for a quantizer's calibration."""
        indices = range(len(self)) if count is None or count >= len(self) else [
            int(i * len(self) / count) for i in range(count)
        ]
        return [(self[i][0].unsqueeze(0),) for i in indices]
