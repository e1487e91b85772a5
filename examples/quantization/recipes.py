"""Quantization recipes: the one table that says how each kind of model is quantized.

A model's entry in the zoo names a recipe from :data:`RECIPES`; nothing else in the code
branches on the model to decide how to quantize it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuantRecipe:
    name: str
    per_channel: bool  # one scale per output channel of each weight (vs one per tensor)
    dynamic: bool  # activations quantized at run time, per batch (no calibration needed)
    description: str
    # Leave depthwise convolutions (groups == in_channels > 1) in fp32. For CPUs whose int8
    # depthwise kernels are slower than fp32 (AVX2 without VNNI); see docs/PERFORMANCE.md.
    fp32_depthwise: bool = False

    @property
    def needs_calibration(self) -> bool:
        return not self.dynamic


RECIPES: dict[str, QuantRecipe] = {
    r.name: r
    for r in (
        QuantRecipe(
            "static_per_channel",
            per_channel=True,
            dynamic=False,
            description="int8 weights per channel, int8 activations calibrated ahead of time (conv nets)",
        ),
        QuantRecipe(
            "static_per_tensor",
            per_channel=False,
            dynamic=False,
            description="int8 weights per tensor, int8 activations calibrated ahead of time",
        ),
        QuantRecipe(
            "static_per_channel_fp32_dw",
            per_channel=True,
            dynamic=False,
            description="static_per_channel, but depthwise convs stay fp32 (CPUs without int8 dot products)",
            fp32_depthwise=True,
        ),
        QuantRecipe(
            "dynamic_per_channel",
            per_channel=True,
            dynamic=True,
            description="int8 weights per channel, activations quantized at run time (linear/transformer models)",
        ),
    )
}


def recipe_for(spec, override: str | None = None) -> QuantRecipe:
    """The recipe a model is quantized with: ``override`` (a --quant_recipe flag) or the zoo's choice."""
    return get_recipe(override or spec.quant_recipe)


def get_recipe(name: str) -> QuantRecipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown quantization recipe '{name}' (known: {', '.join(RECIPES)})") from None
