"""Post-training quantization with ExecuTorch's XNNPACK quantizer (PT2E flow)."""

from __future__ import annotations

from typing import Iterable, Sequence

import torch

from examples.quantization.recipes import QuantRecipe


def make_quantizer(recipe: QuantRecipe):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    config = get_symmetric_quantization_config(is_per_channel=recipe.per_channel, is_dynamic=recipe.dynamic)
    quantizer = XNNPACKQuantizer().set_global(config)
    if getattr(recipe, "fp32_depthwise", False):
        quantizer.set_filter_function(lambda node: not is_depthwise_conv(node))
    if getattr(recipe, "linear_only", False):
        quantizer.set_filter_function(is_linear_or_not_an_op)
    return quantizer


def is_linear_or_not_an_op(node: torch.fx.Node) -> bool:
    """Filter of linear-only recipes: the quantizer rejects a pattern when any of its
    operator nodes fails it, so everything but ``linear`` stays fp32."""
    return node.op != "call_function" or node.target == torch.ops.aten.linear.default


def is_depthwise_conv(node: torch.fx.Node) -> bool:
    """A conv node of an exported graph whose groups equal its input channels (> 1)."""
    if node.op != "call_function" or getattr(node.target, "__name__", "").split(".")[0] not in ("conv2d", "conv1d", "convolution"):
        return False
    name = node.target.__name__.split(".")[0]
    groups_index = 8 if name == "convolution" else 6
    groups = node.args[groups_index] if len(node.args) > groups_index else node.kwargs.get("groups", 1)
    if not isinstance(groups, int) or groups <= 1:
        return False
    weight = node.args[1]
    shape = weight.meta.get("val").shape if isinstance(weight, torch.fx.Node) and "val" in weight.meta else None
    # depthwise: one input channel per group (weight [out, in/groups = 1, kh, kw])
    return shape is None or shape[1] == 1


_SCALAR_FORMS = {
    torch.ops.aten.add.Tensor: torch.ops.aten.add.Scalar,
    torch.ops.aten.sub.Tensor: torch.ops.aten.sub.Scalar,
    torch.ops.aten.mul.Tensor: torch.ops.aten.mul.Scalar,
}


def keep_integer_scalar_arithmetic(graph: torch.fx.GraphModule) -> int:
    """Integer tensor (op) Python scalar -> the op's ``.Scalar`` form. prepare_pt2e turns the
    scalar operand of ``add/sub/mul.Tensor`` into a float tensor constant, so integer positions
    become float: Hugging Face BERT's attention mask (``arange(n) + 0`` used as an index) then
    fails with "tensors used as indices must be long". Returns the number of nodes changed."""
    changed = 0
    for node in graph.graph.nodes:
        scalar_form = _SCALAR_FORMS.get(node.target) if node.op == "call_function" else None
        if scalar_form is None or len(node.args) != 2 or not isinstance(node.args[1], (int, float)):
            continue
        val = getattr(node.args[0], "meta", {}).get("val")
        if isinstance(val, torch.Tensor) and not val.dtype.is_floating_point and not val.dtype.is_complex:
            node.target = scalar_form
            changed += 1
    if changed:
        graph.recompile()
    return changed


def quantize(
    model: torch.nn.Module,
    example_inputs: tuple,
    recipe: QuantRecipe,
    calibration: Iterable[Sequence[torch.Tensor]] | None = None,
    dynamic_shapes=None,
) -> tuple[torch.fx.GraphModule, int]:
    """Return the quantized (converted) graph module and the number of calibration batches used.

    Static recipes run ``calibration`` (default: the example inputs) through the observers.
    Dynamic recipes quantize activations at run time and ignore ``calibration``; they still
    need one forward pass so that the weight observers see the weights (count returned: 0).
    ``dynamic_shapes`` (torch.export's) keeps sizes such as the sequence length symbolic.
    """
    from executorch.backends.transforms.duplicate_dynamic_quant_chain import (
        DuplicateDynamicQuantChainPass,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(model, example_inputs, dynamic_shapes=dynamic_shapes, strict=True).module()
    keep_integer_scalar_arithmetic(graph)
    prepared = prepare_pt2e(graph, make_quantizer(recipe))
    used = 0
    with torch.no_grad():
        if recipe.needs_calibration:
            for batch in calibration if calibration is not None else [example_inputs]:
                prepared(*batch)
                used += 1
        else:
            prepared(*example_inputs)
    converted = convert_pt2e(prepared)
    if recipe.dynamic:
        # Each consumer gets its own dynamic quant chain, as XNNPACK's partitioner expects.
        DuplicateDynamicQuantChainPass()(converted)
    return converted, used
