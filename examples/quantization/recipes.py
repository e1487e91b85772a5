"""Quantization recipes: the one table that says how each kind of model is quantized.

A model's entry in the zoo names a recipe from :data:`RECIPES`; a model that names none
(a user's ``module:factory``) gets one chosen from its graph's structure
(:mod:`examples.quantization.recipe_choice`). Nothing else branches on the model.
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
    # Quantize linear layers only: embeddings, norms, softmax and attention matmuls stay fp32,
    # where they are accurate (transformers).
    linear_only: bool = False

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
        QuantRecipe(
            "dynamic_per_channel_linear",
            per_channel=True,
            dynamic=True,
            description="dynamic_per_channel on linear layers only; embeddings, norms, softmax stay fp32 (transformers)",
            linear_only=True,
        ),
    )
}


def recipe_for(spec, override: str | None = None, model=None, example_inputs=None) -> QuantRecipe:
    """The recipe a model is quantized with: ``override`` (a --quant_recipe flag), the zoo's
    choice, or (a model that names none) the one its structure calls for."""
    if override or spec.quant_recipe:
        return get_recipe(override or spec.quant_recipe)
    if model is None:
        raise ValueError(f"'{spec.name}' names no quantization recipe; the model is needed to choose one")
    from examples.quantization.recipe_choice import choose_recipe

    return choose_recipe(model, example_inputs).recipe


def get_recipe(name: str) -> QuantRecipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown quantization recipe '{name}' (known: {', '.join(RECIPES)})") from None
