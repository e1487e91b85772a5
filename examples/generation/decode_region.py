"""The weights of a Llama-style model as one block of bytes for runtime/decode_region (one decode
step in one parallel region), and the same math in numpy.

The block (runtime/decode_region/decode_region.h): every fp32 norm (per layer attention then
feed-forward, then the output norm), then per layer q, k, v, o, w1, w3, w2 and the output
projection, each int4 values (two a byte, the even input in the low nibble, value + 8) then
bf16 scales, one per ``block`` inputs of a row. The fp32 token embedding is kept apart (the
probe's file puts it before the block; a program gathers from it outside the delegate). The math: RMSNorm (eps
1e-5), per-row asymmetric uint8 activations, rotary embedding on adjacent pairs (theta 10000),
causal attention over an fp32 KV cache, SwiGLU, output projection. :func:`reference_logits` is
it in numpy, float64 sums; the tests hold the native step to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from examples.common import cli

ROPE_THETA, NORM_EPS = 10000.0, 1e-5


@dataclass(frozen=True)
class StepShape:
    """The sizes the binary's header holds (multi-head attention: as many KV heads as heads)."""

    dim: int
    hidden: int
    n_layers: int
    n_heads: int
    vocab: int
    block: int
    max_seq: int

    @classmethod
    def of(cls, shape, group_size: int, max_seq: int) -> "StepShape":
        """A zoo model's shape (:class:`examples.models.llama_zoo.LlamaShape`); models the step
        does not compute the same way are refused."""
        if (shape.n_kv_heads or shape.n_heads) != shape.n_heads:
            raise cli.UsageError("the decode region runs multi-head attention only (as many KV heads as heads)")
        if shape.norm_eps != NORM_EPS or (shape.rope_theta or ROPE_THETA) != ROPE_THETA or shape.use_scaled_rope:
            raise cli.UsageError(f"the decode region computes RMSNorm with eps {NORM_EPS} and the rotary embedding "
                                 f"with theta {ROPE_THETA:g}, unscaled")
        return cls(shape.dim, shape.ffn_hidden_dim(), shape.n_layers, shape.n_heads, shape.vocab_size,
                   group_size or shape.dim, max_seq)

    def dims(self) -> list[int]:
        """The seven sizes in the order decode_region_dims_t holds them."""
        return [self.dim, self.hidden, self.n_layers, self.n_heads, self.vocab, self.block, self.max_seq]

    def linears(self) -> list[tuple[int, int]]:
        """``(n, k)`` in the file's order: per layer q, k, v, o, w1, w3, w2, then the output."""
        d, h = self.dim, self.hidden
        return [(d, d)] * 4 + [(h, d), (h, d), (d, h)]

    def check(self) -> None:
        head_dim = self.dim // self.n_heads
        if self.block % 32 or self.dim % self.block or self.hidden % self.block:
            raise cli.UsageError(f"--group_size must be a multiple of 32 dividing {self.dim} and {self.hidden}")
        if self.dim % self.n_heads or head_dim % 16 or self.hidden % 16:
            raise cli.UsageError("the decode region needs head widths and hidden sizes that are multiples of 16")
        limits = {"dim": (self.dim, 1 << 16), "hidden": (self.hidden, 1 << 18), "n_layers": (self.n_layers, 1024),
                  "vocab": (self.vocab, 1 << 20), "max_seq": (self.max_seq, 1 << 16)}
        over = [f"{name} {value} > {bound}" for name, (value, bound) in limits.items() if value > bound]
        if over:  # runtime/decode_region's bounds (decode_region_check_dims)
            raise cli.UsageError(f"the decode region takes smaller models: {', '.join(over)}")


@dataclass
class StepWeights:
    """Every tensor of the file, as numpy arrays: ``linears[layer][j]`` and ``output`` are
    ``(nibbles uint8 [n, k], scales float32 [n, k / block])`` with the scales already rounded to
    bf16; nibbles 0..15 stand for nibble - 8."""

    shape: StepShape
    embedding: np.ndarray
    norms: np.ndarray  # [layers, 2, dim]
    out_norm: np.ndarray
    linears: list
    output: tuple


def _bf16(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 -> (bf16 bits rounded to nearest even, the float32 they stand for)."""
    bits = values.astype(np.float32).view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return rounded, (rounded.astype(np.uint32) << 16).view(np.float32)


def random_weights(shape: StepShape, seed: int = 0) -> StepWeights:
    """Weights whose activations keep their scale through the layers (outputs carry signal)."""
    rng = np.random.default_rng(seed)

    def linear(n: int, k: int) -> tuple:
        nibbles = rng.integers(0, 16, size=(n, k), dtype=np.uint8)
        scales = rng.uniform(0.5, 1.5, size=(n, k // shape.block)) / (4.6 * np.sqrt(k))
        return nibbles, _bf16(scales)[1]

    return StepWeights(
        shape,
        rng.standard_normal((shape.vocab, shape.dim), dtype=np.float32),
        (1 + 0.1 * rng.standard_normal((shape.n_layers, 2, shape.dim))).astype(np.float32),
        (1 + 0.1 * rng.standard_normal(shape.dim)).astype(np.float32),
        [[linear(n, k) for n, k in shape.linears()] for _ in range(shape.n_layers)],
        linear(shape.vocab, shape.dim))


def _packed(nibbles: np.ndarray) -> np.ndarray:
    """Two int4 values a byte along k: the even one in the low nibble."""
    return (nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)).astype(np.uint8)


def weights_block(weights: StepWeights) -> bytes:
    """The block runtime/decode_region reads (the module docstring), without the embedding."""
    parts = [weights.norms.astype("<f4").tobytes(), weights.out_norm.astype("<f4").tobytes()]
    for nibbles, scales in [lin for layer in weights.linears for lin in layer] + [weights.output]:
        parts += [_packed(nibbles).tobytes(), _bf16(scales)[0].astype("<u2").tobytes()]
    return b"".join(parts)


def split_block(block: bytes, shape: StepShape) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    """:func:`weights_block` back into the norms and every linear, as ``(layer, index, bytes)``
    (index 0..6: q, k, v, o, w1, w3, w2; the output projection is layer ``n_layers``, index 0)."""
    norms = (2 * shape.n_layers + 1) * shape.dim * 4
    sizes = [(i, j, n, k) for i in range(shape.n_layers) for j, (n, k) in enumerate(shape.linears())]
    sizes.append((shape.n_layers, 0, shape.vocab, shape.dim))
    linears, at = [], norms
    for layer, index, n, k in sizes:
        size = n * k // 2 + n * (k // shape.block) * 2
        linears.append((layer, index, block[at:at + size]))
        at += size
    if at != len(block):
        raise ValueError(f"a weights block of {len(block)} bytes is not one of {shape}")
    return block[:norms], linears


def _int4_groups(weight, block: int) -> tuple[np.ndarray, np.ndarray]:
    """A linear's weight ``[n, k]`` (a torch tensor) in int4 groups of ``block`` as the LLM
    exporter's 8da4w makes them: torchao's ``Int8DynamicActivationIntxWeightConfig`` with the
    exporter's default HQQ scale search (``use_hqq``), as (nibbles, bf16-rounded scales)."""
    import torch
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerGroup

    linear = torch.nn.Sequential(torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False))
    with torch.no_grad():
        linear[0].weight.copy_(weight.float())
    quantize_(linear, Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4, weight_granularity=PerGroup(block),
                                                            intx_choose_qparams_algorithm="hqq_scale_only"))
    quantized = linear[0].weight
    if quantized.zero_point is not None and bool(quantized.zero_point.any()):
        raise ValueError("torchao's int4 groups came with zero points: the region takes symmetric groups only")
    nibbles = (quantized.qdata.to(torch.int16) + 8).to(torch.uint8).numpy()
    return nibbles, _bf16(quantized.scale.float().numpy())[1]


def weights_from_state_dict(state: dict, shape: StepShape) -> StepWeights:
    """A checkpoint in Meta's key names (``tok_embeddings.weight``, ``layers.0.attention.wq.weight``,
    ...) as the block's weights, every linear in int4 groups of ``shape.block``, 8da4w's own."""
    def array(name: str) -> np.ndarray:
        return state[name].detach().float().numpy()

    names = ("attention.wq", "attention.wk", "attention.wv", "attention.wo", "feed_forward.w1", "feed_forward.w3",
             "feed_forward.w2")
    return StepWeights(
        shape, array("tok_embeddings.weight"),
        np.stack([[array(f"layers.{i}.attention_norm.weight"), array(f"layers.{i}.ffn_norm.weight")]
                  for i in range(shape.n_layers)]),
        array("norm.weight"),
        [[_int4_groups(state[f"layers.{i}.{name}.weight"], shape.block) for name in names]
         for i in range(shape.n_layers)],
        _int4_groups(state["output.weight"], shape.block))


def step_bytes(shape: StepShape, position: float) -> float:
    """What a step reads: int4 values and bf16 scales of every linear, the norms, one
    embedding row, and the fp32 K and V of ``position`` cached tokens in every layer."""
    linears = shape.linears() * shape.n_layers + [(shape.vocab, shape.dim)]
    weights = sum(n * k // 2 + n * (k // shape.block) * 2 for n, k in linears)
    return weights + 4 * (2 * shape.n_layers + 2) * shape.dim + 2 * shape.n_layers * position * shape.dim * 4


# ---------------------------------------------------------------- the numpy reference

def _quantize(x: np.ndarray) -> tuple[np.ndarray, np.float32, np.float32]:
    """The binary's activation quantization: uint8 values, zero point and scale of the row."""
    low, high = min(np.float32(0), x.min()), max(np.float32(0), x.max())
    scale = (high - low) / np.float32(255) if high > low else np.float32(1)
    inverse = np.float32(1) / scale
    zero_point = np.clip(np.rint(-low * inverse), 0, 255)
    return np.clip(np.rint(x * inverse) + zero_point, 0, 255), zero_point, scale


def _linear(x: np.ndarray, weights: tuple, block: int) -> np.ndarray:
    values, zero_point, scale = _quantize(x)
    nibbles, scales = weights
    k = nibbles.shape[1]
    blocks = ((nibbles.astype(np.float64) - 8) * (values - zero_point)).reshape(-1, k // block, block).sum(axis=2)
    return (scale * (blocks * scales).sum(axis=1)).astype(np.float32)


def _rms_norm(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return (x / np.sqrt(np.mean(x.astype(np.float64) ** 2) + NORM_EPS) * weight).astype(np.float32)


def _rotate(x: np.ndarray, position: int, head_dim: int) -> np.ndarray:
    angle = position * ROPE_THETA ** (-2.0 * np.arange(head_dim // 2) / head_dim)
    cos, sin = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    pairs = x.reshape(-1, head_dim // 2, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    return np.stack([a * cos - b * sin, a * sin + b * cos], axis=-1).reshape(x.shape)


def reference_logits(weights: StepWeights, tokens: list[int]) -> np.ndarray:
    """Each step's logits, tokens fed from position 0: the binary's math, summed in float64."""
    s = weights.shape
    head_dim = s.dim // s.n_heads
    caches = [([], []) for _ in range(s.n_layers)]
    out = []
    for position, token in enumerate(tokens):
        x = weights.embedding[token].astype(np.float32)
        for layer, (wq, wk, wv, wo, w1, w3, w2) in enumerate(weights.linears):
            xn = _rms_norm(x, weights.norms[layer, 0])
            q = _rotate(_linear(xn, wq, s.block), position, head_dim).reshape(s.n_heads, head_dim)
            k = _rotate(_linear(xn, wk, s.block), position, head_dim).reshape(s.n_heads, head_dim)
            caches[layer][0].append(k)
            caches[layer][1].append(_linear(xn, wv, s.block).reshape(s.n_heads, head_dim))
            keys, values = np.stack(caches[layer][0], 1), np.stack(caches[layer][1], 1)  # [heads, pos, hd]
            scores = np.einsum("hd,hpd->hp", q.astype(np.float64), keys) / np.sqrt(head_dim)
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            attention = (np.einsum("hp,hpd->hd", p, values) / p.sum(axis=1, keepdims=True)).astype(np.float32)
            x = x + _linear(attention.reshape(-1), wo, s.block)
            xn = _rms_norm(x, weights.norms[layer, 1])
            a, b = _linear(xn, w1, s.block), _linear(xn, w3, s.block)
            x = x + _linear((a / (1 + np.exp(-a.astype(np.float64))) * b).astype(np.float32), w2, s.block)
        out.append(_linear(_rms_norm(x, weights.out_norm), weights.output, s.block))
    return np.stack(out)
