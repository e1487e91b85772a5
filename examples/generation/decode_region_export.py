"""A language model program whose layers are one delegate, ``DecodeRegionBackend``: each token
one parallel region (runtime/decode_region), instead of a graph of XNNPACK delegate calls and
portable / custom kernels joined by the thread pool after each.

``forward(tokens, input_pos)`` gathers the tokens' rows of the fp32 embedding (a plain constant,
so a run reads only the rows it needs) and hands them to ``decode_region::layers``, which the
partitioner (:mod:`examples.generation.decode_region_backend`) lowers with its weights block
(:mod:`examples.generation.decode_region`: the norms and every linear in int4 groups with bf16
scales, quantized as the LLM exporter's 8da4w does). The backend makes the region and packs the
weights when the program loads, then frees the block; it keeps the KV cache itself. The program
keeps the LLM exporter's metadata methods, so ``text_generation_runner`` (which registers the
backend) runs it like any exported Llama program; a prompt runs in one call. ExecuTorch's Python
runtime has no such backend: only the native runner runs these programs.
"""

from __future__ import annotations

from pathlib import Path

OP_NAMESPACE = "decode_region"
_library = None


def define_op() -> None:
    """``decode_region::layers(hidden [1, seq, dim], input_pos [1], weights, dims) -> logits [1,
    vocab]``, with a fake kernel for export: the call is always delegated, never run as an op."""
    global _library
    if _library is not None:
        return
    import torch

    library = torch.library.Library(OP_NAMESPACE, "DEF")
    library.define("layers(Tensor hidden, Tensor input_pos, Tensor weights, int[] dims) -> Tensor")

    def fake_layers(hidden, input_pos, weights, dims):
        return hidden.new_empty((1, dims[4]), dtype=torch.float32)

    library.impl("layers", fake_layers, "Meta")
    torch.library.register_fake(f"{OP_NAMESPACE}::layers", fake_layers, lib=library)
    _library = library


def region_module(weights, shape):
    """The ``nn.Module`` export traces: ``forward(tokens [1, seq], input_pos [1]) -> logits [1, vocab]``,
    for :class:`examples.generation.decode_region.StepWeights` ``weights``."""
    import numpy as np
    import torch

    from examples.generation.decode_region import weights_block

    define_op()

    class DecodeRegionModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("tok_embeddings", torch.from_numpy(np.ascontiguousarray(weights.embedding, np.float32)))
            self.register_buffer("weights", torch.from_numpy(np.frombuffer(weights_block(weights), np.uint8).copy()))
            self.dims = shape.dims()

        def forward(self, tokens, input_pos):
            hidden = torch.nn.functional.embedding(tokens, self.tok_embeddings)
            return torch.ops.decode_region.layers(hidden, input_pos, self.weights, self.dims)

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
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

    from examples.generation.decode_region import weights_from_state_dict
    from examples.generation.decode_region_backend import DecodeRegionPartitioner

    module = region_module(weights_from_state_dict(state, shape), shape)
    example = (torch.zeros((1, 2), dtype=torch.long), torch.zeros((1,), dtype=torch.long))
    seq = torch.export.Dim("seq", min=1, max=shape.max_seq - 1)
    exported = torch.export.export(module, example, dynamic_shapes=({1: seq}, None), strict=False)
    edge = to_edge_transform_and_lower(exported, partitioner=[DecodeRegionPartitioner()],
                                       compile_config=EdgeCompileConfig(_check_ir_validity=False),
                                       constant_methods=metadata(shape))
    output.write_bytes(edge.to_executorch().buffer)
    return output
