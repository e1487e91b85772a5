"""RMSNorm and the rotary embedding in forms the XNNPACK delegate takes whole.

Why: a decode step of the LLM exporter's program leaves each norm's ``mean`` (XNNPACK lowers
``mean.dim`` only over the two inner dims of a 4D tensor) and each rotary embedding's pair split
(``reshape(..., -1, 2).unbind(-1)``: slices of a dynamic shape, which XNNPACK refuses) to portable
kernels. Every such op ends a delegate partition, so a block is cut into many delegate calls,
each with its fixed cost, run on one thread between the thread pool's jobs.

- The norm's mean of squares becomes a sum by an fp32 linear with a row of ones, divided by the
  width: the same sum in another order.
- The rotary embedding takes tables interleaved to the head width (cosine ``c c``, sine ``-s s``
  per pair) and a constant pair-swap linear: ``x * cos + swap(x) * sin``. Per pair that is
  ``x_r c - x_i s`` and ``x_i c + x_r s``, the products and sums of the original formula (the swap
  multiplies by one and adds zeros): the same floats for finite inputs (an inf or NaN in a head
  spreads over that head through the swap's zeros; a -0.0 may come out +0.0).

Apply before quantization or after: the new linears are functional (``F.linear`` of a buffer),
which the 8da4w quantizer, swapping ``nn.Linear`` modules, leaves in fp32.

- Views whose shape names the sequence length (``view(batch, seq, heads, head_dim)``, a symbolic
  size) are refused by XNNPACK's reshape, which infers one dimension but takes no symbols:
  ``examples.export.xnnpack_decompositions.infer_single_dynamic_dim``, an edge pass, writes that
  one dimension as ``-1``, so the projections and the rotary embedding after them share a partition.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNormBySum(nn.Module):
    """``executorch.examples.models.llama.norm.RMSNorm`` with its mean as a linear."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.dim, self.eps, self.add_unit_offset = norm.dim, norm.eps, norm.add_unit_offset
        self.weight = norm.weight
        self.register_buffer("ones", torch.ones(1, norm.dim, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_float = x.float()
        mean_square = F.linear(x_float * x_float, self.ones) / self.dim
        output = (x_float * torch.rsqrt(mean_square + self.eps)).type_as(x)
        if self.add_unit_offset:
            return output * (1.0 + self.weight.float()).type_as(x)
        return output * self.weight.type_as(x)


class RotaryByPairSwap(nn.Module):
    """Rotary embedding on interleaved tables: ``cos`` holds ``c c`` and ``sin`` holds ``-s s``
    for each pair of a head's dims; called as the exporter's ``RotaryEmbedding`` is."""

    def __init__(self, head_dim: int):
        super().__init__()
        swap = torch.zeros(head_dim, head_dim, dtype=torch.float32)
        pairs = torch.arange(0, head_dim, 2)
        swap[pairs, pairs + 1] = 1.0
        swap[pairs + 1, pairs] = 1.0
        self.register_buffer("swap", swap, persistent=False)

    def rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x_float = x.float()
        return (x_float * cos + F.linear(x_float, self.swap) * sin).type_as(x)

    def forward(self, xq, xk, freqs_cos, freqs_sin):
        # As upstream's reshape_for_broadcast: one table row per position, one column per dim.
        assert freqs_cos.shape == (xq.shape[1], xq.shape[-1]) == freqs_sin.shape
        shape = (1, freqs_cos.shape[0], 1, freqs_cos.shape[1])  # [seq, head_dim] -> broadcast over batch, heads
        cos, sin = freqs_cos.view(shape), freqs_sin.view(shape)
        return self.rotate(xq, cos, sin), self.rotate(xk, cos, sin)


def interleaved_tables(freqs_cos: torch.Tensor, freqs_sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[positions, head_dim / 2]`` tables to ``[positions, head_dim]``: ``c c`` and ``-s s``."""
    cos = freqs_cos.repeat_interleave(2, dim=-1)
    sin = torch.stack([-freqs_sin, freqs_sin], dim=-1).flatten(-2)
    return cos.contiguous(), sin.contiguous()


def _swap_rope(model: nn.Module) -> int:
    from executorch.examples.models.llama.rope import Rope, RotaryEmbedding

    swapped = 0
    for rope in [m for m in model.modules() if type(m) is Rope]:
        if type(rope.apply_rotary_emb) is not RotaryEmbedding:  # the HF layout (rotate_half): leave it
            continue
        cos, sin = interleaved_tables(rope.freqs_cos, rope.freqs_sin)
        rope.register_buffer("freqs_cos", cos, persistent=False)
        rope.register_buffer("freqs_sin", sin, persistent=False)
        rope.apply_rotary_emb = RotaryByPairSwap(cos.shape[-1])
        swapped += 1
    return swapped


def _swap_norms(model: nn.Module) -> int:
    from executorch.examples.models.llama.norm import RMSNorm

    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is RMSNorm:
                setattr(parent, name, RMSNormBySum(child))
                swapped += 1
    return swapped


def xnnpack_forms(model: nn.Module) -> nn.Module:
    """Every RMSNorm and the rotary embedding of a model built by the LLM exporter's
    ``llama_transformer`` in the forms above (a source transform). A model that lacks either (its
    norms of another class, a rotary embedding in the Hugging Face layout) is refused: a program
    named for both forms has both."""
    norms, ropes = _swap_norms(model), _swap_rope(model)
    if not norms or not ropes:
        missing = " and ".join(what for what, count in (("RMSNorm", norms), ("interleaved rotary embedding", ropes))
                               if not count)
        raise ValueError(f"xnnpack_forms: no {missing} of the LLM exporter's model to rewrite")
    return model


def forms_edge_passes(options) -> list:
    """The edge passes a program with the forms needs before lowering (its views' one symbolic
    size as -1, see above); none without them. Both export paths take them from here."""
    from examples.export.xnnpack_decompositions import infer_single_dynamic_dim

    return [infer_single_dynamic_dim] if options.xnnpack_forms else []
