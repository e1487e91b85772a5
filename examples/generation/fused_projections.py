"""Fuse a Llama block's projections of one input into one linear: attention's ``wq``/``wk``/``wv``
and the feed-forward's ``w1``/``w3``.

Why: in a decode step every linear is a separate XNNPACK operator with its own dynamic
quantization of the activation row and its own dispatch to the thread pool; for one token row
those fixed costs, not the weight stream, are what grows with the thread count. One
``[q+k+v, dim]`` linear quantizes the row once and dispatches once. The numbers do not change:
8da4w quantizes weights per output row in groups along the input, and activations per row, so the
fused linear's rows and scales are the separate linears' rows and scales.

The model's own ``forward`` stays untouched: ``wq``/``wk``/``wv`` become views that slice the
fused output, computed once per input tensor (memoised on the tensor object and cleared after
each block's forward).
"""

from __future__ import annotations

import torch
from torch import nn


class FusedLinear(nn.Module):
    """One linear standing for several linears that read the same input."""

    def __init__(self, linears: list[nn.Linear]):
        super().__init__()
        first = linears[0]
        has_bias = first.bias is not None
        self.sizes = [linear.out_features for linear in linears]
        self.fused = nn.Linear(first.in_features, sum(self.sizes), bias=has_bias,
                               dtype=first.weight.dtype, device=first.weight.device)
        with torch.no_grad():
            self.fused.weight.copy_(torch.cat([linear.weight for linear in linears]))
            if has_bias:
                self.fused.bias.copy_(torch.cat([linear.bias for linear in linears]))
        self._input: torch.Tensor | None = None
        self._parts: tuple[torch.Tensor, ...] = ()

    def part(self, x: torch.Tensor, index: int) -> torch.Tensor:
        if self._input is not x:
            self._parts = torch.split(self.fused(x), self.sizes, dim=-1)
            self._input = x
        return self._parts[index]

    def forget(self, *_hook_args) -> None:
        self._input, self._parts = None, ()

    def __getstate__(self):  # a copy (deepcopy, pickle) starts without the memo
        state = dict(super().__getstate__())
        state.update(_input=None, _parts=())
        return state


class FusedPart(nn.Module):
    """Stands where one of the fused linears was; not a child of its owner (no module cycle)."""

    def __init__(self, owner: FusedLinear, index: int, out_features: int):
        super().__init__()
        object.__setattr__(self, "_owner", owner)
        self.index = index
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._owner.part(x, self.index)


def _plain_linears(module: nn.Module, names: tuple[str, ...]) -> list[nn.Linear] | None:
    linears = [getattr(module, name, None) for name in names]
    if not all(type(linear) is nn.Linear for linear in linears):  # LoRA or already quantized: leave
        return None
    if len({(linear.in_features, linear.bias is not None) for linear in linears}) != 1:
        return None
    return linears


def _fuse(module: nn.Module, names: tuple[str, ...], fused_name: str) -> bool:
    linears = _plain_linears(module, names)
    if linears is None:
        return False
    owner = FusedLinear(linears)
    setattr(module, fused_name, owner)
    for index, (name, linear) in enumerate(zip(names, linears)):
        setattr(module, name, FusedPart(owner, index, linear.out_features))
    # Bound methods, not closures: a deepcopy of the model rebinds them to the copy's owner.
    # Forgotten before and after each block's forward, so a forward that raised leaves nothing.
    module.register_forward_pre_hook(owner.forget)
    module.register_forward_hook(owner.forget)
    return True


def fuse_projections(model: nn.Module) -> nn.Module:
    """Fuse q/k/v and w1/w3 in every block that has them as plain linears (a source transform:
    apply it before quantization so the fused linear is quantized as one)."""
    fused = 0
    for module in list(model.modules()):
        if all(hasattr(module, n) for n in ("wq", "wk", "wv")):
            fused += _fuse(module, ("wq", "wk", "wv"), "wqkv")
        if all(hasattr(module, n) for n in ("w1", "w2", "w3")):
            fused += _fuse(module, ("w1", "w3"), "w13")
    if not fused:
        raise ValueError("fuse_projections: no block with plain wq/wk/wv or w1/w3 linears")
    return model
