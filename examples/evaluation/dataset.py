"""Labelled image folders (ImageFolder layout) read with a model's preprocessing.

Layout: ``DIR/<class_name>/<image>``; classes are the sub-folders in sorted order, so the
label of an image is the index of its folder in that order (as torchvision's ImageFolder).
Preprocessing is the toolkit's one pipeline, :class:`examples.models.preprocessing.Preprocess`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from examples.models.preprocessing import DEFAULT_CROP_FRACTION, NotAnImageModel, Preprocess  # noqa: F401 (re-exported)

if TYPE_CHECKING:  # torch where tensors are made: a bad folder is reported without it
    import torch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # ImageFolder's


class DatasetError(ValueError):
    """An evaluation folder that cannot be used (missing, empty, not ImageFolder layout)."""


class ImageFolderDataset:
    """The (path, label) samples of an ImageFolder tree, read lazily with ``preprocess``."""

    def __init__(self, root: str | Path, preprocess: Preprocess, *, limit: int | None = None):
        self.root = Path(root)
        self.preprocess = preprocess
        if not self.root.is_dir():
            raise DatasetError(f"evaluation folder not found: {self.root}")
        from examples.models.torchvision_compat import import_torchvision

        import_torchvision()  # the CUDA-build fix before any torchvision module
        from torchvision.datasets import ImageFolder

        try:
            folder = ImageFolder(str(self.root), allow_empty=True)
        except FileNotFoundError:
            raise DatasetError(
                f"{self.root} has no class sub-folders; expected ImageFolder layout DIR/<class>/<image>"
            ) from None
        self.classes = folder.classes
        samples = [(Path(path), label) for path, label in folder.samples]
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
        try:
            return self.preprocess.load(path), label
        except (OSError, ValueError) as error:
            raise DatasetError(f"cannot read image {path}: {error}") from None

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int]]:
        for index in range(len(self)):
            yield self[index]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as one (N, 3, S, S) tensor and the labels as (N,)."""
        images, labels = zip(*self)
        import torch

        return torch.stack(images), torch.tensor(labels)

    def calibration_batches(self, count: int | None = None) -> list[tuple[torch.Tensor]]:
        """``count`` single-image input tuples (batch 1) for a quantizer's calibration."""
        indices = range(len(self)) if count is None or count >= len(self) else [
            int(i * len(self) / count) for i in range(count)
        ]
        return [(self[i][0].unsqueeze(0),) for i in indices]
