"""Where a zoo model's weights come from: ``pretrained``, ``random``, ``auto`` or a state_dict file.

``pretrained`` never downloads: it uses torchvision's weights only when they are already in
the torch hub cache (``$TORCH_HOME/hub/checkpoints``), so it behaves the same offline.
``auto`` (the default) is ``pretrained`` when cached, else ``random`` with a warning.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from examples.models.model_spec import ModelSpec
from examples.models.torchvision_compat import import_torchvision

CHOICES = ("auto", "pretrained", "random")
RANDOM_WARNING = (
    "using RANDOM weights for '{name}': latency figures are valid, accuracy figures "
    "(and quantization error) are meaningless"
)


class WeightsError(ValueError):
    """The weights asked for cannot be had."""


@dataclass(frozen=True)
class LoadedModel:
    model: torch.nn.Module
    example_inputs: tuple
    weights: str  # "pretrained", "random" or the state_dict path


def _pretrained_entry(spec: ModelSpec):
    if spec.pretrained is None:
        return None
    return import_torchvision().models.get_weight(spec.pretrained)


def cached_checkpoint(spec: ModelSpec) -> Path | None:
    """The torch hub cache file of the model's pretrained weights, if it is there."""
    entry = _pretrained_entry(spec)
    if entry is None:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(entry.url)
    return path if path.is_file() else None


def load_model(spec: ModelSpec, weights: str = "auto") -> LoadedModel:
    if weights == "auto":
        weights = "pretrained" if cached_checkpoint(spec) else "random"
    if weights == "pretrained":
        if cached_checkpoint(spec) is None:
            where = Path(torch.hub.get_dir()) / "checkpoints"
            reason = "has no pretrained weights" if spec.pretrained is None else f"weights are not cached in {where}"
            raise WeightsError(
                f"pretrained weights for '{spec.name}' are not available offline ({reason}); "
                "use --weights random, or --weights PATH to a state_dict file"
            )
        model, inputs = spec.factory(_pretrained_entry(spec))
        return LoadedModel(model, inputs, "pretrained")
    if weights == "random":
        if not {"toy", "user"} & set(spec.tags):  # toys and user factories pick their own
            warnings.warn(RANDOM_WARNING.format(name=spec.name), UserWarning, stacklevel=2)
        model, inputs = spec.factory(None)
        return LoadedModel(model, inputs, "random")
    return _load_state_dict_file(spec, Path(weights))


def _load_state_dict_file(spec: ModelSpec, path: Path) -> LoadedModel:
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path} (expected pretrained, random, auto or a state_dict file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise WeightsError(f"cannot read weights file {path}: {str(error).splitlines()[0]}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"weights file {path} does not hold a state_dict")
    model, inputs = spec.factory(None)
    target = model.model if hasattr(model, "model") and not any(k.startswith("model.") for k in state) else model
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise WeightsError(
            f"weights file {path} does not fit '{spec.name}': {str(error).splitlines()[0].strip()}"
        ) from None
    return LoadedModel(model.eval(), inputs, str(path))


def load_eager(spec, weights: str, verbose: bool):
    """Load the model; our own warnings (random weights) become ``warning:`` lines on stderr."""
    from examples.common import cli

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_model(spec, weights)
    for warning in caught:
        if str(warning.message).startswith("using RANDOM weights"):
            cli.warning_line(str(warning.message))
        elif verbose:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    if not isinstance(loaded.model, torch.nn.Module):
        raise cli.UsageError(f"model '{spec.name}' is a {type(loaded.model).__name__}, not a torch.nn.Module")
    return loaded
