"""The same Llama weights as a GGUF file for llama.cpp (the peer of the generation benchmark).

Weights are written in Meta's layout (llama2.c and ``consolidated.00.pth`` use it, and so
does GGUF: llama.cpp's converters undo Hugging Face's q/k permutation to get it), so no
permutation is applied. ``F32``, ``Q8_0`` and ``Q4_0`` are the llama.cpp types compared;
norms stay F32 as llama.cpp's own converter keeps them. Without a tokenizer the vocabulary is
a placeholder (``<unk> <s> </s>``, 256 byte tokens, then ``t<N>``): the benchmark feeds token ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from examples.common.atomic_write import atomic_output
from examples.models.llama_zoo import LlamaShape

GGUF_TYPES = ("F32", "Q8_0", "Q4_0")
# llama.cpp's LLAMA_FTYPE values for the file's general.file_type.
_FILE_TYPE = {"F32": 0, "Q8_0": 7, "Q4_0": 2}
_NAMES = {
    "attention.wq": "attn_q", "attention.wk": "attn_k", "attention.wv": "attn_v", "attention.wo": "attn_output",
    "feed_forward.w1": "ffn_gate", "feed_forward.w2": "ffn_down", "feed_forward.w3": "ffn_up",
    "attention_norm": "attn_norm", "ffn_norm": "ffn_norm",
}


class GgufExportError(ValueError):
    """A model or type this converter does not handle."""


def gguf_tensor_name(meta_name: str) -> str:
    if meta_name == "tok_embeddings.weight":
        return "token_embd.weight"
    if meta_name == "norm.weight":
        return "output_norm.weight"
    if meta_name == "output.weight":
        return "output.weight"
    _, layer, rest = meta_name.split(".", 2)
    return f"blk.{layer}.{_NAMES[rest.removesuffix('.weight')]}.weight"


def placeholder_vocab(vocab_size: int) -> tuple[list[str], list[float], list[int]]:
    import gguf

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    if vocab_size < len(tokens) + 1:
        raise GgufExportError(f"vocabulary of {vocab_size} is too small for a GGUF placeholder vocabulary")
    tokens += [f"t{i}" for i in range(len(tokens), vocab_size)]
    types += [gguf.TokenType.NORMAL] * (vocab_size - len(types))
    return tokens, [0.0] * vocab_size, [int(t) for t in types]


def write_gguf(state: dict, shape: LlamaShape, path: Path, gguf_type: str = "F32", context_length: int = 2048,
               name: str = "model") -> Path:
    """Write ``state`` (Meta key names) as a llama-architecture GGUF file, atomically."""
    import gguf

    if gguf_type not in GGUF_TYPES:
        raise GgufExportError(f"unknown GGUF type {gguf_type} (one of {', '.join(GGUF_TYPES)})")
    if shape.use_scaled_rope:
        raise GgufExportError("scaled RoPE (Llama 3.x) needs llama.cpp's rope_freqs tensor: not converted here")
    head_dim = shape.dim // shape.n_heads
    qtype = getattr(gguf.GGMLQuantizationType, gguf_type)
    path = Path(path)
    with atomic_output(path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), "llama")
        writer.add_name(name)
        writer.add_context_length(context_length)
        writer.add_embedding_length(shape.dim)
        writer.add_block_count(shape.n_layers)
        writer.add_feed_forward_length(shape.ffn_hidden_dim())
        writer.add_rope_dimension_count(head_dim)
        writer.add_head_count(shape.n_heads)
        writer.add_head_count_kv(shape.n_kv_heads or shape.n_heads)
        writer.add_layer_norm_rms_eps(shape.norm_eps)
        if shape.rope_theta:
            writer.add_rope_freq_base(shape.rope_theta)
        writer.add_file_type(_FILE_TYPE[gguf_type])
        tokens, scores, types = placeholder_vocab(shape.vocab_size)
        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(0)
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(2)
        for meta_name, tensor in state.items():
            data = tensor.detach().float().contiguous().numpy()
            if data.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
                writer.add_tensor(gguf_tensor_name(meta_name), data.astype(np.float32))
            else:
                writer.add_tensor(gguf_tensor_name(meta_name), gguf.quants.quantize(data, qtype), raw_dtype=qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return path


# llama.cpp's own k-quant mixes (the gguf package cannot write Q4_K / Q6_K blocks).
LLAMA_CPP_FTYPES = {"Q4_K_M": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "Q4_K_S": "LLAMA_FTYPE_MOSTLY_Q4_K_S"}


def quantize_with_llama_cpp(source: Path, path: Path, ftype: str = "Q4_K_M", threads: int = 0) -> Path:
    """``source`` (an F32 GGUF file) quantized by llama.cpp's ``llama_model_quantize`` into
    ``path`` (atomically): Q4_K_M is what most llama.cpp users download (Q4_K blocks, Q6_K for the
    output projection and half of the attention value / feed-forward down projections)."""
    import ctypes

    try:
        import llama_cpp
    except ImportError:
        raise GgufExportError("Q4_K_M needs llama.cpp's quantizer: pip install '.[compare-llm]'") from None
    if ftype not in LLAMA_CPP_FTYPES:
        raise GgufExportError(f"unknown llama.cpp quantization {ftype} (one of {', '.join(LLAMA_CPP_FTYPES)})")
    path = Path(path)
    with atomic_output(path) as tmp:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, LLAMA_CPP_FTYPES[ftype])
        params.nthread = threads
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params))
        if status != 0:
            raise GgufExportError(f"llama.cpp could not quantize {source} to {ftype} (status {status})")
    return path
