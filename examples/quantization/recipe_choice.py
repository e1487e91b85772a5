"""Choose a quantization recipe from a model's structure when nothing names one.

A user's ``module:factory`` model has no zoo entry to name a recipe, and a name says little
anyway. This module looks at the exported graph instead:

* integer inputs feeding embeddings, or attention / layer norms around linear layers (a
  transformer) -> ``dynamic_per_channel_linear``: int8 linears, with embeddings, norms and
  softmax left in fp32, where they stay accurate (static int8 activations across softmax and
  layer norms lose too much);
* convolutions -> ``static_per_channel`` (the conv-net recipe of the zoo);
* anything else -> ``static_per_channel``.

:func:`candidate_recipes` lists the recipes worth trying for the structure, best guess first
(for a tuner).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import torch

from examples.quantization.recipes import QuantRecipe, get_recipe

_CONV = ("conv1d", "conv2d", "conv3d", "convolution", "conv_transpose1d", "conv_transpose2d")
_ATTENTION = ("scaled_dot_product_attention", "_native_multi_head_attention", "softmax", "_softmax")
_NORM = ("layer_norm", "native_layer_norm", "rms_norm", "group_norm")


@dataclass(frozen=True)
class RecipeChoice:
    recipe: QuantRecipe
    reason: str  # one line: what was found and what it implies
    candidates: tuple[str, ...]


def op_counts(graph: torch.fx.Graph) -> Counter:
    """Operator name (``linear``, ``conv2d``, ...) -> count of call_function nodes."""
    return Counter(getattr(n.target, "__name__", str(n.target)).split(".")[0]
                   for n in graph.nodes if n.op == "call_function")


def _embedding_inputs(exported) -> int:
    from examples.models.input_specs import embedding_bounds

    return len(embedding_bounds(exported.graph))


def _count(counts: Counter, names: Sequence[str]) -> int:
    return sum(counts[n] for n in names)


def choose_from_graph(exported) -> RecipeChoice:
    counts = op_counts(exported.graph)
    linear = counts["linear"] + counts["addmm"]
    conv = _count(counts, _CONV)
    attention = _count(counts, _ATTENTION)
    norms = _count(counts, _NORM)
    embedded = _embedding_inputs(exported)
    found = (f"{linear} linear, {conv} conv, {attention} attention/softmax, {norms} norm, "
             f"{counts['embedding']} embedding ({embedded} fed by integer inputs)")
    if linear and linear >= conv and (embedded or attention or norms):
        name, why = "dynamic_per_channel_linear", "transformer-like: int8 linears, embeddings/norms/softmax kept fp32"
        candidates = ("dynamic_per_channel_linear", "dynamic_per_channel", "static_per_channel")
    elif conv:
        name, why = "static_per_channel", "convolution net: static int8 (calibrated activations)"
        candidates = ("static_per_channel", "static_per_channel_fp32_dw", "dynamic_per_channel")
    else:
        name, why = "static_per_channel", "no convolution or transformer structure: the default static recipe"
        candidates = ("static_per_channel", "dynamic_per_channel", "static_per_tensor")
    return RecipeChoice(get_recipe(name), f"{found} -> {why}", candidates)


def choose_recipe(model: torch.nn.Module, example_inputs: Sequence[torch.Tensor]) -> RecipeChoice:
    """Export ``model`` (non-strict, no grad) and choose from its graph."""
    with torch.no_grad():
        exported = torch.export.export(model.eval(), tuple(example_inputs), strict=False)
    return choose_from_graph(exported)


def candidate_recipes(model: torch.nn.Module, example_inputs: Sequence[torch.Tensor]) -> tuple[str, ...]:
    return choose_recipe(model, example_inputs).candidates
