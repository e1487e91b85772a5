"""A real labelled dataset that ships with a package: scikit-learn's handwritten digits.

No pretrained weights can be downloaded here, so the accuracy pipeline is proven on the
digits: :func:`write_digits_imagefolder` writes them (8x8 grey, upscaled) as PNGs in the
ImageFolder layout users have, and :func:`train_digits_classifier` trains a small convolution
network (three conv + batch-norm blocks, 10 classes; seconds on one core) on the training
split, deterministically and cached on disk by a hash of its configuration.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from examples.evaluation.dataset import DEFAULT_CROP_FRACTION, ImageFolderDataset, Preprocess

# The zoo's (ImageNet) normalization: the digits model then needs no special preprocessing, and
# ``--model_name examples.evaluation.digits:digits_cnn`` in the CLIs preprocesses it right.
DIGITS_MEAN = (0.485, 0.456, 0.406)
DIGITS_STD = (0.229, 0.224, 0.225)
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / ".cache" / "digits"


def write_digits_imagefolder(root: str | Path, *, image_size: int = 16, test_fraction: float = 0.2,
                             seed: int = 0) -> dict[str, Path]:
    """Write ``root/train/<digit>/*.png`` and ``root/test/<digit>/*.png``; returns both folders.

    The split is stratified and seeded, so it is the same on every run.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = (digits.images * (255.0 / 16.0)).round().clip(0, 255).astype("uint8")
    index = list(range(len(pixels)))
    train_idx, test_idx = train_test_split(index, test_size=test_fraction, random_state=seed,
                                           stratify=digits.target)
    root = Path(root)
    folders = {}
    for split, indices in (("train", train_idx), ("test", test_idx)):
        folder = root / split
        for i in sorted(indices):
            image = _digit_image(pixels[i], image_size)
            label_dir = folder / str(int(digits.target[i]))
            label_dir.mkdir(parents=True, exist_ok=True)
            image.save(label_dir / f"{i:04d}.png")
        folders[split] = folder
    return folders


def _digit_image(pixels, image_size: int):
    """An RGB PNG-ready image: the digit upscaled to the central 7/8 of a black square.

    The border is what the standard center crop (``image_size / 0.875`` then ``image_size``)
    takes away, so after the model's usual preprocessing the digit fills the frame.
    """
    from PIL import Image

    inner = max(8, round(image_size * DEFAULT_CROP_FRACTION))
    digit = Image.fromarray(pixels, mode="L").resize((inner, inner), Image.BILINEAR)
    canvas = Image.new("L", (image_size, image_size), 0)
    offset = (image_size - inner) // 2
    canvas.paste(digit, (offset, offset))
    return canvas.convert("RGB")


@dataclass(frozen=True)
class TrainConfig:
    image_size: int = 16
    width: int = 16  # channels of the first conv block (then 2x, 4x)
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-2
    weight_decay: float = 1e-4
    seed: int = 0
    augment_shift: int = 2  # random translation (pixels) during training

    def key(self) -> str:
        text = json.dumps({**asdict(self), "torch": torch.__version__.split("+")[0], "v": 3}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def digits_preprocess(config: TrainConfig = TrainConfig()) -> Preprocess:
    # The standard preprocessing (resize to size/0.875, center crop), as for any zoo model.
    return Preprocess(config.image_size, DIGITS_MEAN, DIGITS_STD)


def digits_cnn():
    """``module:factory`` entry for the CLIs: the (untrained) digits CNN and its input.

    Pair it with ``--weights`` pointing at a trained state_dict (see :func:`train_digits_classifier`).
    """
    config = TrainConfig()
    return build_model(config).eval(), (torch.zeros(1, 3, config.image_size, config.image_size),)


def build_model(config: TrainConfig) -> torch.nn.Module:
    torch.manual_seed(config.seed)
    w = config.width

    def block(cin: int, cout: int) -> list[torch.nn.Module]:
        return [torch.nn.Conv2d(cin, cout, 3, padding=1), torch.nn.BatchNorm2d(cout), torch.nn.ReLU()]

    return torch.nn.Sequential(
        *block(3, w), torch.nn.MaxPool2d(2),
        *block(w, 2 * w), torch.nn.MaxPool2d(2),
        *block(2 * w, 4 * w), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(4 * w, 10),
    )


@dataclass
class TrainedDigits:
    model: torch.nn.Module  # eval mode
    config: TrainConfig
    train_seconds: float  # 0.0 when loaded from the cache
    cached: bool
    path: Path | None


def train_digits_classifier(train_dir: str | Path, config: TrainConfig = TrainConfig(), *,
                            cache_dir: str | Path | None = DEFAULT_CACHE, log=None) -> TrainedDigits:
    """Train (or load from ``cache_dir``) the digits CNN on the ImageFolder ``train_dir``."""
    model = build_model(config)
    path = Path(cache_dir) / f"digits_cnn_{config.key()}.pt" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return TrainedDigits(model.eval(), config, 0.0, True, path)
        except Exception:  # a stale or damaged cache entry: train again
            pass
    images, labels = ImageFolderDataset(train_dir, digits_preprocess(config)).tensors()
    start = time.perf_counter()
    threads = torch.get_num_threads()
    # One thread: deterministic sums, and on a busy shared machine far faster than
    # oversubscribed OpenMP threads spinning against each other.
    torch.set_num_threads(1)
    try:
        _train(model, images, labels, config, log)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start
    model.eval()
    if path is not None:
        from examples.common.atomic_write import write_bytes_atomic
        import io

        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        write_bytes_atomic(path, buffer.getvalue())
    return TrainedDigits(model, config, seconds, False, path)


def _train(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig,
           log=None) -> None:
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = (len(images) + config.batch_size - 1) // config.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                    total_steps=config.epochs * steps_per_epoch, pct_start=0.15)
    loss_fn = torch.nn.CrossEntropyLoss()
    background = images.amin()  # the normalized value of a black pixel
    model.train()
    for epoch in range(config.epochs):
        started, total = time.perf_counter(), 0.0
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), config.batch_size):
            batch = order[start:start + config.batch_size]
            if len(batch) < 2:  # BatchNorm needs more than one sample
                continue
            x = _shift(images[batch], config.augment_shift, generator, background)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), labels[batch])
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(batch)
        if log is not None:
            log(f"epoch {epoch + 1}/{config.epochs}: loss {total / len(images):.4f} "
                f"({time.perf_counter() - started:.1f}s)")


def _shift(x: torch.Tensor, amount: int, generator: torch.Generator, fill: torch.Tensor) -> torch.Tensor:
    """Translate the whole batch by a random offset of at most ``amount`` pixels (cheap augmentation)."""
    if amount <= 0:
        return x
    dx, dy = (int(v) for v in torch.randint(-amount, amount + 1, (2,), generator=generator))
    padded = torch.nn.functional.pad(x, (amount, amount, amount, amount), value=float(fill))
    h, w = x.shape[-2:]
    return padded[..., amount + dy:amount + dy + h, amount + dx:amount + dx + w]
