"""A language model program whose ``forward`` is one kernel, ``decode_region::step``: each token
one parallel region (runtime/decode_region), instead of a graph of XNNPACK delegate calls and
portable / custom kernels joined by the thread pool after each.

The program holds the weights as one constant block (:mod:`examples.generation.decode_region`:
the fp32 embedding and norms, every linear in int4 groups with bf16 scales, quantized as
torchao's 8da4w quantizer does), the KV cache as two mutable buffers ``[n_layers, max_seq,
dim]`` the kernel writes in place (as ``llama::update_cache`` does), and the LLM exporter's
metadata methods, so ``text_generation_runner`` (which registers the kernel,
runtime/decode_region/op_decode_step.cpp) runs it like any exported Llama program. A prompt
runs in one call, its GEMMs over all its rows. ExecuTorch's Python runtime has no such kernel:
only the native runner runs these programs.
"""

from __future__ import annotations

from pathlib import Path

OP_NAMESPACE = "decode_region"
_library = None


def define_op() -> None:
    """``decode_region::step`` and its out variant, with fake kernels for export (the real one is
    native)."""
    global _library
    if _library is not None:
        return
    import torch

    library = torch.library.Library(OP_NAMESPACE, "DEF")
    arguments = "Tensor tokens, Tensor input_pos, Tensor weights, Tensor(a!) k_cache, Tensor(b!) v_cache, int[] dims"
    library.define(f"step({arguments}) -> Tensor")
    library.define(f"step.out({arguments}, *, Tensor(c!) out) -> Tensor(c!)")

    def fake_step(tokens, input_pos, weights, k_cache, v_cache, dims):
        return tokens.new_empty((1, dims[4]), dtype=torch.float32)

    def fake_step_out(tokens, input_pos, weights, k_cache, v_cache, dims, *, out):
        return out

    for name, kernel in (("step", fake_step), ("step.out", fake_step_out)):
        library.impl(name, kernel, "Meta")
        torch.library.register_fake(f"{OP_NAMESPACE}::{name}", kernel, lib=library)
    _library = library


def region_module(block: bytes, shape):
    """The ``nn.Module`` export traces: ``forward(tokens [1, seq], input_pos [1]) -> logits [1, vocab]``."""
    import numpy as np
    import torch

    define_op()

    class DecodeRegionModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("weights", torch.from_numpy(np.frombuffer(block, dtype=np.uint8).copy()))
            cache = (shape.n_layers, shape.max_seq, shape.dim)
            self.register_buffer("k_cache", torch.zeros(cache))
            self.register_buffer("v_cache", torch.zeros(cache))
            self.dims = shape.dims()

        def forward(self, tokens, input_pos):
            return torch.ops.decode_region.step(tokens, input_pos, self.weights, self.k_cache, self.v_cache, self.dims)

    return DecodeRegionModel()


def metadata(shape) -> dict:
    """The LLM exporter's metadata methods the runners read."""
    return {"get_max_seq_len": shape.max_seq, "get_max_context_len": shape.max_seq, "get_n_layers": shape.n_layers,
            "get_vocab_size": shape.vocab, "use_kv_cache": True, "use_sdpa_with_kv_cache": True,
            "enable_dynamic_shape": True}


def export_region_program(state: dict, shape, output: Path) -> Path:
    """Write the program for a checkpoint ``state`` (Meta key names) of ``shape``
    (:class:`examples.generation.decode_region.StepShape`) to ``output``."""
    import torch
    from executorch.exir import EdgeCompileConfig, to_edge

    from examples.generation.decode_region import weights_block, weights_from_state_dict

    module = region_module(weights_block(weights_from_state_dict(state, shape)), shape)
    example = (torch.zeros((1, 2), dtype=torch.long), torch.zeros((1,), dtype=torch.long))
    seq = torch.export.Dim("seq", min=1, max=shape.max_seq - 1)
    exported = torch.export.export(module, example, dynamic_shapes=({1: seq}, None), strict=False)
    edge = to_edge(exported, compile_config=EdgeCompileConfig(_check_ir_validity=False),
                   constant_methods=metadata(shape))
    output.write_bytes(edge.to_executorch().buffer)
    return output
