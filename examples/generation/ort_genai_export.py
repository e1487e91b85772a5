"""The same Llama weights as an ONNX Runtime GenAI model (the int4 peer of the generation benchmark).

ONNX Runtime GenAI's model builder reads a Hugging Face folder, so the weights (Meta layout, as
llama2.c and ``consolidated.00.pth`` keep them) are first written as a local
``LlamaForCausalLM`` folder: ``config.json``, ``model.safetensors`` with Hugging Face's q/k row
permutation (the one ``gguf_export`` does not need, since GGUF keeps Meta's layout) and a
word-level ``tokenizer.json`` over placeholder tokens (the benchmark feeds token ids; the builder
wants a tokenizer in the folder). Then::

    python -m onnxruntime_genai.models.builder -i <hf_dir> -o <out> -p int4 -e cpu \\
        --extra_options int4_block_size=32 int4_accuracy_level=4

writes ``model.onnx`` (+ ``.data``) and ``genai_config.json``. The builder runs in its own
process; it imports transformers, whose image utilities import torchvision when it is present,
so the child blocks that import (torchvision plays no part in a text model).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from examples.models.llama_zoo import LlamaShape

INSTALL = "pip install onnxruntime-genai==0.18.0"
# int4_accuracy_level 4: int8 activations in the 4-bit MatMul (MatMulNBits), the analogue of
# ExecuTorch's 8da4w and llama.cpp's Q8 activations; block 32 as Q4_0 and the default 8da4w.
DEFAULT_BLOCK_SIZE = 32
DEFAULT_ACCURACY_LEVEL = 4


class OrtGenaiExportError(RuntimeError):
    """The model builder failed (its last line says why)."""


def hf_permute(weight, n_heads: int):
    """Meta's q/k rows -> Hugging Face's (the inverse of llama.cpp's converter's unpermute):
    within each head, interleaved rotary pairs become two halves."""
    rows, cols = weight.shape
    return weight.reshape(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def hf_state_dict(state: dict, shape: LlamaShape) -> dict:
    """Meta key names and layout -> ``LlamaForCausalLM``'s."""
    kv_heads = shape.n_kv_heads or shape.n_heads
    names = {"attention.wq": "self_attn.q_proj", "attention.wk": "self_attn.k_proj",
             "attention.wv": "self_attn.v_proj", "attention.wo": "self_attn.o_proj",
             "feed_forward.w1": "mlp.gate_proj", "feed_forward.w2": "mlp.down_proj",
             "feed_forward.w3": "mlp.up_proj", "attention_norm": "input_layernorm",
             "ffn_norm": "post_attention_layernorm"}
    out = {}
    for key, tensor in state.items():
        tensor = tensor.detach().float().contiguous()
        if key == "tok_embeddings.weight":
            out["model.embed_tokens.weight"] = tensor
        elif key == "norm.weight":
            out["model.norm.weight"] = tensor
        elif key == "output.weight":
            out["lm_head.weight"] = tensor
        else:
            _, layer, rest = key.split(".", 2)
            rest = rest.removesuffix(".weight")
            if rest == "attention.wq":
                tensor = hf_permute(tensor, shape.n_heads)
            elif rest == "attention.wk":
                tensor = hf_permute(tensor, kv_heads)
            out[f"model.layers.{layer}.{names[rest]}.weight"] = tensor.contiguous()
    return out


def hf_config(shape: LlamaShape, context_length: int) -> dict:
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": shape.dim,
            "intermediate_size": shape.ffn_hidden_dim(), "num_hidden_layers": shape.n_layers,
            "num_attention_heads": shape.n_heads, "num_key_value_heads": shape.n_kv_heads or shape.n_heads,
            "head_dim": shape.dim // shape.n_heads, "vocab_size": shape.vocab_size,
            "max_position_embeddings": context_length, "rms_norm_eps": shape.norm_eps,
            "rope_theta": shape.rope_theta or 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "torch_dtype": "float32",
            "attention_bias": False, "mlp_bias": False}


def write_placeholder_tokenizer(folder: Path, vocab_size: int) -> None:
    """A word-level tokenizer over ``<unk> <s> </s> t3 t4 ...``: ids in, ids out."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"t{i}": i for i in range(3, vocab_size)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "pad_token": "<unk>", "model_max_length": 1 << 20}))


def write_hf_folder(state: dict, shape: LlamaShape, folder: Path, context_length: int) -> Path:
    from safetensors.torch import save_file

    if shape.use_scaled_rope:
        raise OrtGenaiExportError("scaled RoPE (Llama 3.x) is not converted here")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config(shape, context_length), indent=1))
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
    save_file(hf_state_dict(state, shape), str(folder / "model.safetensors"), metadata={"format": "pt"})
    write_placeholder_tokenizer(folder, shape.vocab_size)
    return folder


# The builder's child: transformers must not import torchvision (see the module docstring).
_BUILDER = ("import runpy, sys; sys.modules['torchvision'] = None; "
            "sys.argv = ['builder'] + sys.argv[1:]; "
            "runpy.run_module('onnxruntime_genai.models.builder', run_name='__main__')")


def build_int4(state: dict, shape: LlamaShape, output: Path, context_length: int,
               block_size: int = DEFAULT_BLOCK_SIZE, accuracy_level: int = DEFAULT_ACCURACY_LEVEL,
               timeout: float = 3600) -> Path:
    """``output/`` holds the int4 CPU model and its ``genai_config.json`` (replaced atomically)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        hf = write_hf_folder(state, shape, scratch / "hf", context_length)
        built = scratch / "onnx"
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        done = subprocess.run([sys.executable, "-c", _BUILDER, "-i", str(hf), "-o", str(built), "-p", "int4",
                               "-e", "cpu", "-c", str(scratch / "cache"), "--extra_options",
                               f"int4_block_size={block_size}", f"int4_accuracy_level={accuracy_level}"],
                              capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode != 0 or not (built / "genai_config.json").is_file():
            lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            raise OrtGenaiExportError("onnxruntime_genai's model builder failed: "
                                      + (lines[-1] if lines else f"exit {done.returncode}"))
        config = json.loads((built / "genai_config.json").read_text())
        search = config.setdefault("search", {})
        search.update({"do_sample": False, "max_length": context_length, "num_beams": 1})
        (built / "genai_config.json").write_text(json.dumps(config, indent=1))
        if output.exists():
            shutil.rmtree(output)
        os.replace(built, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return output
