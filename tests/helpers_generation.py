"""Shared code of the generation tests: a tiny Llama, a llama2.c .bin writer, the exports."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from examples.models.llama_zoo import TINY, LlamaModel

TINY_MODEL = LlamaModel("tiny", TINY, "test: dim 64, 2 layers, vocab 512")
MAX_SEQ_LEN = 64
PROMPT = [1, 15, 27, 300]


def write_llama2c_bin(path: Path, state: dict, shape, seq_len: int = 16) -> None:
    """The llama2.c legacy export layout, written independently of the reader under test."""
    hidden = state["layers.0.feed_forward.w1.weight"].shape[0]
    kv_heads = shape.n_kv_heads or shape.n_heads
    head = shape.dim // shape.n_heads
    with open(path, "wb") as out:
        out.write(struct.pack("7i", shape.dim, hidden, shape.n_layers, shape.n_heads, kv_heads,
                              -shape.vocab_size, seq_len))  # negative vocab: separate classifier

        def put(tensor):
            out.write(np.ascontiguousarray(tensor.numpy(), dtype=np.float32).tobytes())

        put(state["tok_embeddings.weight"])
        for name in ("attention_norm", "attention.wq", "attention.wk", "attention.wv", "attention.wo",
                     "ffn_norm", "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"):
            for i in range(shape.n_layers):
                put(state[f"layers.{i}.{name}.weight"])
        put(state["norm.weight"])
        out.write(np.zeros(seq_len * head, np.float32).tobytes())  # RoPE cos + sin tables
        put(state["output.weight"])
