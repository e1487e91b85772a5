"""Calibration data for static quantization: image folders, tensor files, or random inputs.

* a folder of images (searched recursively, ImageFolder layouts work), read with the toolkit's
  one image preprocessing (:mod:`examples.models.preprocessing`);
* a ``.pt``/``.pth`` file holding either a tensor ``N x C x H x W`` (cut into batches of the
  example input's batch size) or a list of input tuples (one tuple per forward call);
* nothing: random inputs shaped like the example inputs (then quantization error figures
  say nothing about real data, and the caller says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from examples.models.model_spec import ModelSpec, random_inputs
from examples.models.preprocessing import NotAnImageModel, Preprocess

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff")
TENSOR_SUFFIXES = (".pt", ".pth")
DEFAULT_RANDOM_SAMPLES = 8


class CalibrationError(ValueError):
    """Calibration data that cannot be used for this model."""


@dataclass
class CalibrationSet:
    batches: list[tuple[torch.Tensor, ...]]
    source: str  # human readable: "12 images from /data/calib", "8 random inputs"
    random: bool


def _shapes(example_inputs: Sequence[torch.Tensor]) -> list[tuple[int, ...]]:
    return [tuple(t.shape) for t in example_inputs]


def random_calibration(example_inputs: Sequence[torch.Tensor], count: int = DEFAULT_RANDOM_SAMPLES) -> CalibrationSet:
    batches = [random_inputs(*_shapes(example_inputs), seed=1000 + i) for i in range(count)]
    return CalibrationSet(batches, f"{count} random input{'s' if count != 1 else ''}", random=True)


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def spread_over_folders(files: list[Path], limit: int) -> list[Path]:
    """Take ``limit`` files round-robin over their folders (the classes of an ImageFolder),
    so that a small calibration set still sees every class, not just the first one or two."""
    groups: dict[Path, list[Path]] = {}
    for path in files:
        groups.setdefault(path.parent, []).append(path)
    queues = list(groups.values())
    picked: list[Path] = []
    depth = 0
    while len(picked) < limit and any(depth < len(q) for q in queues):
        picked.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return picked[:limit]


def _preprocess(spec: ModelSpec, example_inputs: Sequence[torch.Tensor]) -> Preprocess:
    try:
        return Preprocess.for_spec(spec, example_inputs)
    except NotAnImageModel as error:
        raise CalibrationError(f"an image folder needs one square 3-channel image input: {error} "
                               "(pass a .pt file of input tensors instead)") from None


def _load_images(files: list[Path], preprocess: Preprocess) -> list[torch.Tensor]:
    images = []
    for path in files:
        try:
            images.append(preprocess.load(path).unsqueeze(0))
        except (OSError, ValueError) as error:
            raise CalibrationError(f"cannot read calibration image {path}: {error}") from None
    return images


def load_image_folder(folder: Path, spec: ModelSpec, example_inputs, limit: int | None = None) -> CalibrationSet:
    preprocess = _preprocess(spec, example_inputs)
    files = image_files(folder)
    if not files:
        raise CalibrationError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in calibration folder {folder}")
    files = spread_over_folders(files, limit) if limit else files
    batch = example_inputs[0].shape[0]
    stacked = torch.cat(_load_images(files, preprocess))
    batches = [(stacked[i:i + batch],) for i in range(0, len(stacked) - batch + 1, batch)]
    if not batches:
        raise CalibrationError(f"{len(files)} image(s) in {folder} are fewer than one batch of {batch}")
    return CalibrationSet(batches, f"{len(files)} image{'s' if len(files) != 1 else ''} from {folder}", random=False)


def _check_batch(batch, example_inputs, where: str) -> tuple[torch.Tensor, ...]:
    batch = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
    if not all(isinstance(t, torch.Tensor) for t in batch):
        raise CalibrationError(f"{where}: calibration samples must be tensors")
    if _shapes(batch) != _shapes(example_inputs):
        raise CalibrationError(
            f"{where}: sample shapes {_shapes(batch)} do not match the model's inputs {_shapes(example_inputs)}"
        )
    return tuple(t.to(e.dtype) for t, e in zip(batch, example_inputs))


def load_tensor_file(path: Path, example_inputs, limit: int | None = None) -> CalibrationSet:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise CalibrationError(f"cannot read calibration file {path}: {str(error).splitlines()[0]}") from None
    if isinstance(data, torch.Tensor):
        example = example_inputs[0]
        if len(example_inputs) != 1 or data.dim() != example.dim() or data.shape[1:] != example.shape[1:]:
            raise CalibrationError(
                f"{path}: tensor of shape {tuple(data.shape)} does not fit the model's inputs "
                f"{_shapes(example_inputs)} (expected N x {' x '.join(map(str, example.shape[1:]))})"
            )
        step = example.shape[0]
        batches = [(data[i:i + step].to(example.dtype),) for i in range(0, data.shape[0] - step + 1, step)]
    elif isinstance(data, (list, tuple)):
        batches = [_check_batch(b, example_inputs, f"{path} sample {i}") for i, b in enumerate(data)]
    else:
        raise CalibrationError(f"{path} holds a {type(data).__name__}; expected a tensor or a list of input tuples")
    if not batches:
        raise CalibrationError(f"calibration file {path} holds no samples")
    batches = batches[:limit] if limit else batches
    return CalibrationSet(batches, f"{len(batches)} sample{'s' if len(batches) != 1 else ''} from {path}", random=False)


def load_calibration(
    spec: ModelSpec,
    example_inputs: Sequence[torch.Tensor],
    data: str | Path | None = None,
    num_samples: int | None = None,
) -> CalibrationSet:
    """Calibration batches for ``spec``: from ``data`` when given, else random inputs.

    ``num_samples`` caps the samples taken from ``data`` (default: all of them) and sets the
    number of random inputs (default :data:`DEFAULT_RANDOM_SAMPLES`).
    """
    if num_samples is not None and num_samples < 1:
        raise CalibrationError(f"--num_calibration_samples must be at least 1, got {num_samples}")
    if data is None or data == "":
        return random_calibration(example_inputs, num_samples or DEFAULT_RANDOM_SAMPLES)
    path = Path(data)
    if path.is_dir():
        return load_image_folder(path, spec, example_inputs, num_samples)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return load_image_folder_files([path], spec, example_inputs)
        return load_tensor_file(path, example_inputs, num_samples)
    raise CalibrationError(f"calibration data not found: {path} (expected a folder of images or a .pt file)")


def load_image_folder_files(files: list[Path], spec: ModelSpec, example_inputs) -> CalibrationSet:
    """A single image file given as calibration data: treated like a folder holding only it."""
    preprocess = _preprocess(spec, example_inputs)
    if example_inputs[0].shape[0] != 1:
        raise CalibrationError("a single calibration image needs a model with batch size 1")
    batches = [(image,) for image in _load_images(files, preprocess)]
    return CalibrationSet(batches, f"{len(files)} image from {files[0]}", random=False)
