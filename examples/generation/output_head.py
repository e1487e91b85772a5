"""The output projection (classifier) of an 8da4w program in 8 bits: int8 weights, one scale per
output channel, int8 dynamic activations (the LLM exporter's 8da8w scheme), every other linear
staying 4-bit.

Why a variant: the classifier maps the last hidden state to every token's logit, so its error
lands on the logits directly; llama.cpp's Q4_K_M files keep it in 6 bits (Q6_K), its Q4_0 files
in 4. In 8 bits it reads about twice its 4-bit bytes per token (for stories110m 24.7 instead of
about 14 MB of the 71 MB a token reads): the benchmark shows what that costs and what it buys.

The LLM exporter quantizes every linear with one scheme, so this is a pair of source transforms
around its own: the first remembers the classifier's fp32 weight, the last (after the exporter's
8da4w) puts back a linear with that weight quantized in 8 bits.
"""

from __future__ import annotations

import torch
from torch import nn

OUTPUT_MODULE = "output"  # the classifier's name in ExecuTorch's Llama Transformer


class OutputHeadIn8Bits:
    """``first`` and ``last``: the two source transforms of one export (they share the weight)."""

    def __init__(self) -> None:
        self._weight: torch.Tensor | None = None

    def first(self, model: nn.Module) -> nn.Module:
        head = getattr(model, OUTPUT_MODULE, None)
        if not isinstance(head, nn.Linear) or head.bias is not None:
            raise ValueError(f"output head in 8 bits: the model has no bias-free linear '{OUTPUT_MODULE}'")
        self._weight = head.weight.detach().clone()
        return model

    def last(self, model: nn.Module) -> nn.Module:
        from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
        from torchao.quantization.granularity import PerAxis

        if self._weight is None:
            raise ValueError("output head in 8 bits: the first transform did not run")
        # The model's dtype now: the exporter casts a bf16 or fp16 checkpoint to its dtype override
        # (fp32) in its last transform, after ``first`` copied the weight.
        norm = getattr(model, "norm", None)
        dtype = norm.weight.dtype if norm is not None and hasattr(norm, "weight") else torch.float32
        out_features, in_features = self._weight.shape
        head = nn.Linear(in_features, out_features, bias=False, dtype=dtype)
        with torch.no_grad():
            head.weight.copy_(self._weight.to(dtype))
        quantize_(head, Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int8, weight_granularity=PerAxis(0)))
        setattr(model, OUTPUT_MODULE, head)
        return model
