"""Rewrite transformer ops that ExecuTorch's XNNPACK partitioner rejects into ops it takes.

Measured on a 2-layer ``nn.TransformerEncoder`` (executorch 1.5.1): the default export cuts
the program into 15 delegated subgraphs because these ops fall out of XNNPACK, and each one
between two delegated parts costs a copy across the boundary:

* ``layer_norm``: the partitioner has no layer-norm config at all;
* ``scaled_dot_product_attention``: torch's math decomposition scales q and k with
  ``mul.Scalar`` (only ``mul.Tensor`` is supported), calls ``expand`` (no config) and adds a
  "safe softmax" guard (``eq``/``logical_not``/``any``/``where``) for fully masked rows;
* ``select`` / ``squeeze`` / ``unsqueeze`` (``nn.MultiheadAttention`` splitting its packed
  q/k/v projection): no config for select/squeeze, unsqueeze only on the last dimension;
* ``mean.dim``: XNNPACK only averages a 4D tensor over its two inner dimensions (keepdim).

:data:`DECOMPOSITIONS` maps each to an equivalent composition of supported ops (``view``,
``permute``, ``slice``, ``bmm``, ``mean`` over 4D inner dims, elementwise ops, ``_softmax``).
The embedding (a gather, which XNNPACK has no op for) stays outside; it is the first op, so
it adds no boundary inside the network.
"""

from __future__ import annotations

import math

import torch

aten = torch.ops.aten


def _inner_mean(x: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """Mean over ``dims`` (keepdim) as XNNPACK computes it: a 4D average over dims 2 and 3."""
    rank = x.dim()
    dims = sorted(d % rank for d in dims)
    order = [d for d in range(rank) if d not in dims] + dims
    moved = x if order == list(range(rank)) else aten.permute.default(x, order)
    reduced = 1
    for d in dims:
        reduced = reduced * x.shape[d]
    mean = aten.mean.dim(aten.reshape.default(moved, [1, -1, reduced, 1]), [2, 3], True)
    # kept dims are still in their order; the reduced ones have size 1, wherever they sit
    return aten.view.default(mean, [1 if d in dims else x.shape[d] for d in range(rank)])


def mean_dim(x, dim, keepdim=False, dtype=None):
    if dtype is not None or x.dim() == 0:
        return NotImplemented
    dims = [dim] if isinstance(dim, int) else list(dim or range(x.dim()))
    if x.dim() == 4 and sorted(d % 4 for d in dims) == [2, 3] and keepdim:
        return NotImplemented  # already what XNNPACK takes: traced as it is
    out = _inner_mean(x, dims)
    if keepdim:
        return out
    rank = x.dim()
    squeezed = [x.shape[d] for d in range(rank) if d not in {d % rank for d in dims}]
    return aten.view.default(out, squeezed)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    dims = list(range(x.dim() - len(normalized_shape), x.dim()))
    centered = x - _inner_mean(x, dims)
    variance = _inner_mean(centered * centered, dims)
    out = centered * aten.rsqrt.default(variance + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    if dropout_p != 0.0 or is_causal or enable_gqa or q.dim() != 4:
        return NotImplemented
    batch, heads, length, depth = q.shape
    k_length = k.shape[-2]
    q3 = aten.reshape.default(q, [batch * heads, length, depth])
    k3 = aten.reshape.default(k, [batch * heads, k_length, depth])
    v3 = aten.reshape.default(v, [batch * heads, k_length, v.shape[-1]])
    scores = aten.bmm.default(q3, aten.permute.default(k3, [0, 2, 1]))
    factor = scale if scale is not None else 1.0 / math.sqrt(depth)
    scores = aten.mul.Tensor(scores, factor)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            # True = attend. The additive form of the mask, as Hugging Face's eager attention
            # builds it (a fully masked row averages v instead of giving zeros); computed from
            # the inputs, off the data path, so it does not cut the delegated graph.
            keep = aten._to_copy.default(attn_mask, dtype=q.dtype)
            attn_mask = aten.mul.Tensor(aten.sub.Tensor(keep, 1.0), -torch.finfo(q.dtype).min)
        scores = aten.view.default(scores, [batch, heads, length, k_length]) + attn_mask
        scores = aten.view.default(scores, [batch * heads, length, k_length])
    probs = aten._softmax.default(scores, -1, False)
    out = aten.bmm.default(probs, v3)
    return aten.view.default(out, [batch, heads, length, v.shape[-1]])


def select_int(x, dim, index):
    dim = dim % x.dim()
    index = index % x.shape[dim]
    part = aten.slice.Tensor(x, dim, index, index + 1, 1)
    return aten.view.default(part, [s for d, s in enumerate(x.shape) if d != dim])


def squeeze_dims(x, dims):
    dims = [dims] if isinstance(dims, int) else list(dims)
    dims = {d % max(x.dim(), 1) for d in dims}
    return aten.view.default(x, [s for d, s in enumerate(x.shape) if not (d in dims and s == 1)])


def unsqueeze(x, dim):
    dim = dim % (x.dim() + 1)
    shape = list(x.shape)
    return aten.view.default(x, shape[:dim] + [1] + shape[dim:])


DECOMPOSITIONS = {
    aten.layer_norm.default: layer_norm,
    aten.scaled_dot_product_attention.default: scaled_dot_product_attention,
    aten.mean.dim: mean_dim,
    aten.select.int: select_int,
    aten.squeeze.dim: squeeze_dims,
    aten.squeeze.dims: squeeze_dims,
    aten.unsqueeze.default: unsqueeze,
}


# Ops whose presence says "transformer": only such graphs are rewritten by default, so conv
# nets keep exactly the programs they had.
_TRIGGERS = (aten.layer_norm.default, aten.scaled_dot_product_attention.default)


def needs_decompositions(exported: torch.export.ExportedProgram) -> bool:
    return any(n.op == "call_function" and n.target in _TRIGGERS for n in exported.graph.nodes)


def decompose_for_xnnpack(exported: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """``exported`` with :data:`DECOMPOSITIONS` applied (other ops untouched)."""
    return exported.run_decompositions(DECOMPOSITIONS)


def infer_single_dynamic_dim(graph_module: torch.fx.GraphModule):
    """Edge pass: a ``view_copy`` whose target shape has exactly one symbolic size (a dynamic
    sequence length) gets ``-1`` there instead. XNNPACK's partitioner rejects symbolic
    reshapes but takes one inferred dimension, and the result is the same tensor."""
    from executorch.exir.dialects._ops import ops as exir_ops
    from torch.fx.passes.infra.pass_base import PassResult

    changed = False
    for node in graph_module.graph.nodes:
        if node.op != "call_function" or node.target != exir_ops.edge.aten.view_copy.default:
            continue
        shape = list(node.args[1])
        symbolic = [i for i, size in enumerate(shape) if not isinstance(size, int)]
        if len(symbolic) == 1 and -1 not in shape:
            shape[symbolic[0]] = -1
            node.args = (node.args[0], shape, *node.args[2:])
            changed = True
    if changed:
        graph_module.graph.eliminate_dead_code()
        graph_module.recompile()
    return PassResult(graph_module, changed)
