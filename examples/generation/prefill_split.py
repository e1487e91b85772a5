"""A language model program whose prompt runs on other weights than its decode steps: method
``prefill`` (fp32 linears) beside ``forward`` (8da4w), one KV cache shared by both.

Why: on CPUs without int8 dot products (AVX2 without VNNI) XNNPACK's 4-bit GEMM is slower than
its fp32 GEMM, which costs the prompt (many rows, compute decides), not the decode steps (one
row, the bytes streamed decide). Both methods are exported by ExecuTorch's LLM exporter and
lowered together as its multi-method export does (``export_llama_lib._export_llama_multimethod``,
which varies only LoRA weights per method), with ``share_mutable_buffers``: the memory planner
gives the KV cache buffers of both methods one place, and a runtime ``Module`` built with
``share_memory_arenas`` hands both methods the same memory. ``text_generation_runner`` runs the
prompt through ``prefill`` where a program has it. The file holds both sets of weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

PREFILL_METHOD = "prefill"


def export_fp32_prefill_program(model, weights, options, output: Path) -> Path:
    """Export ``options`` (8da4w) as ``forward`` and the same options in fp32 as ``prefill`` into
    ``output`` (written by the exporter's own save; the caller moves it into place)."""
    from executorch.examples.models.llama import export_llama_lib
    from executorch.exir import to_edge_transform_and_lower

    from examples.generation.llama_export import llm_config

    fp32 = dataclasses.replace(options, quantize=False, fp32_prefill=False)
    decode_config = llm_config(model, weights, options, output)
    programs, first = {}, None
    for method, config in (("forward", decode_config), (PREFILL_METHOD, llm_config(model, weights, fp32, output))):
        builder = export_llama_lib._prepare_for_llama_export(config).export()
        builder.run_canonical_optimizations()
        programs[method] = builder._export(builder.pre_autograd_graph_module)
        first = first or builder
    # The decode config's partitioners: the dynamically quantized linears first, then the rest
    # (the fp32 method has no quantized linears for the first one to take).
    first.edge_manager = to_edge_transform_and_lower(
        programs, partitioner=export_llama_lib._get_xnnpack_partitioners(decode_config),
        compile_config=first._get_edge_config(), constant_methods=first.metadata)
    first.to_executorch(share_mutable_buffers=True).save_to_pte(str(output))
    return output
