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


STORY = """Once upon a time there was a little girl named Lily. She liked to play in the park with her dog.
One day the sun was warm and the sky was blue, so Lily and her dog ran to the big tree by the pond.
They saw a small bird in the tree. The bird sang a happy song, and Lily sang with it.
Her mom called her home for dinner. Lily said goodbye to the bird and walked home with her dog.
At home they ate soup and bread. Then Lily went to bed and dreamed of the park, the pond and the bird.
The next morning the bird was at her window. It sang the same song, and Lily smiled."""


def train_sentencepiece(path: Path, vocab_size: int = 200) -> Path:
    """A SentencePiece model trained on the story above (llama2.c style: bos 1, eos 2)."""
    from examples.generation.train_tokenizer import train_sentencepiece as train

    return train(STORY.splitlines() * 4, path, vocab_size)


def train_hf_tokenizer(path: Path, vocab_size: int = 400) -> Path:
    """A Hugging Face byte-level BPE tokenizer.json trained on the story, with <s> and </s>."""
    from examples.generation.train_tokenizer import train_huggingface

    return train_huggingface(STORY.splitlines(), path, vocab_size)
