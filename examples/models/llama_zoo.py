"""Language models of the zoo (Llama architecture) and their weights.

Each entry is the shape of a published model, written as the ``params.json`` that
ExecuTorch's Llama exporter reads. Weights are either a checkpoint the user has (llama2.c
``.pt``/``.bin`` or Meta ``consolidated.00.pth``) or seeded random weights (normal(0, 0.02),
norms at one) written as a checkpoint: the exporter's own default initialisation is all
zeros, which makes every generated token 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

RANDOM_WARNING = (
    "using RANDOM weights for '{name}': generated tokens are noise; latency figures are valid, "
    "text quality and quantization agreement are not"
)


class LlamaWeightsError(ValueError):
    """A checkpoint that cannot be read or does not fit the model's shape."""


@dataclass(frozen=True)
class LlamaShape:
    """The ``params.json`` of a Llama model (the fields ExecuTorch's ModelArgs reads)."""

    dim: int
    n_layers: int
    n_heads: int
    vocab_size: int
    n_kv_heads: int | None = None
    multiple_of: int = 32
    ffn_dim_multiplier: float | None = None
    norm_eps: float = 1e-5
    rope_theta: float | None = None
    use_scaled_rope: bool = False
    hidden_dim: int | None = None

    def params(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None and v is not False}

    def ffn_hidden_dim(self) -> int:
        """The SwiGLU width, computed as llama_transformer.FeedForward does."""
        if self.hidden_dim is not None:
            return self.hidden_dim
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)


@dataclass(frozen=True)
class LlamaModel:
    name: str
    shape: LlamaShape
    description: str
    model_class: str = "llama2"  # ExecuTorch's ModelType: its RoPE scaling rules
    needs_checkpoint: bool = False  # too big for random weights to be useful: offered with --weights PATH
    tags: tuple[str, ...] = field(default_factory=lambda: ("llm",))


LLM_MODELS: dict[str, LlamaModel] = {
    m.name: m
    for m in (
        LlamaModel("stories15m", LlamaShape(dim=288, n_layers=6, n_heads=6, vocab_size=32000),
                   "llama2.c TinyStories 15M (dim 288, 6 layers)"),
        LlamaModel("stories110m", LlamaShape(dim=768, n_layers=12, n_heads=12, vocab_size=32000),
                   "llama2.c TinyStories 110M (dim 768, 12 layers, hidden 2048)"),
        LlamaModel("llama3_2_1b",
                   LlamaShape(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, vocab_size=128256,
                              multiple_of=256, ffn_dim_multiplier=1.5, rope_theta=500000.0,
                              use_scaled_rope=True),
                   "Llama 3.2 1B (needs --weights PATH to Meta's consolidated.00.pth)",
                   model_class="llama3_2", needs_checkpoint=True),
    )
}

# For tests and development: exports in seconds.
TINY = LlamaShape(dim=64, n_layers=2, n_heads=4, vocab_size=512)


def is_llm(name: str | None) -> bool:
    return bool(name) and name in LLM_MODELS


def random_state_dict(shape: LlamaShape, seed: int = 0) -> dict:
    """Seeded normal(0, 0.02) weights in Meta's key names, norms at one."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    head_dim = shape.dim // shape.n_heads
    kv_dim = (shape.n_kv_heads or shape.n_heads) * head_dim
    hidden = shape.ffn_hidden_dim()

    def normal(*size):
        return torch.randn(*size, generator=generator) * 0.02

    state = {"tok_embeddings.weight": normal(shape.vocab_size, shape.dim),
             "norm.weight": torch.ones(shape.dim), "output.weight": normal(shape.vocab_size, shape.dim)}
    for i in range(shape.n_layers):
        p = f"layers.{i}."
        state.update({
            p + "attention.wq.weight": normal(shape.dim, shape.dim),
            p + "attention.wk.weight": normal(kv_dim, shape.dim),
            p + "attention.wv.weight": normal(kv_dim, shape.dim),
            p + "attention.wo.weight": normal(shape.dim, shape.dim),
            p + "feed_forward.w1.weight": normal(hidden, shape.dim),
            p + "feed_forward.w2.weight": normal(shape.dim, hidden),
            p + "feed_forward.w3.weight": normal(hidden, shape.dim),
            p + "attention_norm.weight": torch.ones(shape.dim),
            p + "ffn_norm.weight": torch.ones(shape.dim),
        })
    return state


def weight_names(n_layers: int) -> list[str]:
    per_layer = ("attention.wq", "attention.wk", "attention.wv", "attention.wo", "feed_forward.w1",
                 "feed_forward.w2", "feed_forward.w3", "attention_norm", "ffn_norm")
    return ["tok_embeddings.weight", "norm.weight"] + [
        f"layers.{i}.{name}.weight" for i in range(n_layers) for name in per_layer]


def read_llama2c_bin(path: Path) -> tuple[LlamaShape, dict]:
    """A llama2.c ``.bin`` (the legacy ``export.py`` format: a 7-int header, then fp32 arrays)."""
    import numpy as np
    import torch

    raw = path.read_bytes()
    if len(raw) < 28:
        raise LlamaWeightsError(f"{path} is too short to be a llama2.c checkpoint")
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = (int(v) for v in np.frombuffer(raw[:28], np.int32))
    shared = vocab > 0
    vocab = abs(vocab)
    if min(dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len) <= 0 or dim % n_heads:
        raise LlamaWeightsError(f"{path} has no valid llama2.c header")
    head = dim // n_heads
    kv = n_kv_heads * head
    data = np.frombuffer(raw, np.float32, offset=28)
    offset = 0

    def take(*size):
        nonlocal offset
        count = int(np.prod(size))
        if offset + count > data.size:
            raise LlamaWeightsError(f"{path} ends early: not a llama2.c checkpoint of the shape its header states")
        tensor = torch.from_numpy(data[offset:offset + count].copy()).reshape(size)
        offset += count
        return tensor

    state = {"tok_embeddings.weight": take(vocab, dim)}
    per_layer = [("attention_norm.weight", (dim,)), ("attention.wq.weight", (dim, dim)),
                 ("attention.wk.weight", (kv, dim)), ("attention.wv.weight", (kv, dim)),
                 ("attention.wo.weight", (dim, dim)), ("ffn_norm.weight", (dim,)),
                 ("feed_forward.w1.weight", (hidden, dim)), ("feed_forward.w2.weight", (dim, hidden)),
                 ("feed_forward.w3.weight", (hidden, dim))]
    for name, size in per_layer:  # llama2.c stores each kind for all layers in a row
        for i in range(n_layers):
            state[f"layers.{i}.{name}"] = take(*size)
    state["norm.weight"] = take(dim)
    take(seq_len * head // 2)  # RoPE tables (cos, sin): recomputed by the model
    take(seq_len * head // 2)
    state["output.weight"] = state["tok_embeddings.weight"] if shared else take(vocab, dim)
    found = LlamaShape(dim=dim, n_layers=n_layers, n_heads=n_heads, vocab_size=vocab,
                       n_kv_heads=n_kv_heads if n_kv_heads != n_heads else None, hidden_dim=hidden)
    return found, state


def read_checkpoint(path: Path) -> dict:
    """A state_dict in Meta's key names from a llama2.c (.pt/.bin) or Meta (.pth) checkpoint."""
    import torch

    if not path.is_file():
        raise LlamaWeightsError(f"weights file not found: {path}")
    if path.suffix == ".bin":
        return read_llama2c_bin(path)[1]
    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise LlamaWeightsError(f"cannot read weights file {path}: {str(error).strip().splitlines()[0]}") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # llama2.c training checkpoints: {"model": ..., "model_args": ...}
    if not isinstance(state, dict):
        raise LlamaWeightsError(f"weights file {path} does not hold a state_dict")
    return {k.removeprefix("_orig_mod."): v for k, v in state.items() if hasattr(v, "shape")}


def check_fits(state: dict, shape: LlamaShape, name: str, source: str) -> None:
    """One readable line when a checkpoint is for another model (the exporter loads non-strictly)."""
    missing = [k for k in weight_names(shape.n_layers) if k not in state]
    if missing:
        raise LlamaWeightsError(f"{source} does not fit '{name}': missing {missing[0]} (and {len(missing) - 1} more)"
                                if len(missing) > 1 else f"{source} does not fit '{name}': missing {missing[0]}")
    emb = tuple(state["tok_embeddings.weight"].shape)
    if emb != (shape.vocab_size, shape.dim):
        raise LlamaWeightsError(f"{source} does not fit '{name}': token embedding is {emb[0]}x{emb[1]}, "
                                f"the model needs {shape.vocab_size}x{shape.dim}")
    hidden = tuple(state["layers.0.feed_forward.w1.weight"].shape)
    if hidden != (shape.ffn_hidden_dim(), shape.dim):
        raise LlamaWeightsError(f"{source} does not fit '{name}': feed-forward weight is {hidden[0]}x{hidden[1]}, "
                                f"the model needs {shape.ffn_hidden_dim()}x{shape.dim}")


@dataclass(frozen=True)
class PreparedWeights:
    checkpoint: Path  # a .pth in Meta key names, at a path ExecuTorch will not mistake for pre-quantized
    params: Path
    source: str  # "random (seed N)" or the user's path


def prepare_weights(model: LlamaModel, weights: str, work_dir: Path, seed: int = 0) -> PreparedWeights:
    """Write params.json and a checkpoint for the exporter into ``work_dir``.

    ``weights``: ``auto``/``random`` (seeded random, with a warning), or a checkpoint path.
    """
    import warnings

    import torch

    from examples.common.atomic_write import write_bytes_atomic

    work_dir.mkdir(parents=True, exist_ok=True)
    if weights in ("auto", "random"):
        if model.needs_checkpoint:
            raise LlamaWeightsError(f"'{model.name}' is offered only with its checkpoint: --weights PATH "
                                    "(random weights of this size are not useful)")
        warnings.warn(RANDOM_WARNING.format(name=model.name), UserWarning, stacklevel=2)
        state = random_state_dict(model.shape, seed)
        source = f"random (seed {seed})"
    elif weights == "pretrained":
        raise LlamaWeightsError(f"no pretrained weights for '{model.name}' are available offline; "
                                "pass --weights PATH to a llama2.c (.pt/.bin) or Meta (.pth) checkpoint")
    else:
        path = Path(weights).expanduser()
        state = read_checkpoint(path)
        check_fits(state, model.shape, model.name, str(path))
        source = str(path)
    state = {k: v.contiguous() for k, v in state.items()}
    if "output.weight" not in state:
        state["output.weight"] = state["tok_embeddings.weight"]
    digest = hashlib.sha1(f"{model.name}|{source}".encode()).hexdigest()[:10]
    # The exporter reads "int8"/"8da4w" in a checkpoint path as "pre-quantized": never use such names.
    checkpoint = work_dir / f"{model.name}_weights_{digest}.pth"
    params = work_dir / f"{model.name}_params.json"
    with tempfile.NamedTemporaryFile(dir=work_dir, suffix=".tmp", delete=False) as handle:
        torch.save(state, handle)
    os.replace(handle.name, checkpoint)
    write_bytes_atomic(params, json.dumps(model.shape.params(), indent=1).encode())
    return PreparedWeights(checkpoint, params, source)
