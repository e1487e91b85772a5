"""A language model program whose prompt runs on other weights than its decode steps: method
``prefill`` (fp32 linears) beside ``forward`` (8da4w), one KV cache shared by both.

Why: on CPUs without int8 dot products (AVX2 without VNNI) XNNPACK's 4-bit GEMM may be slower
than its fp32 GEMM (expected, not measured here), which would cost the prompt (many rows:
compute decides), not the decode steps (one row: the bytes streamed decide). Both methods are
exported by ExecuTorch's LLM exporter and lowered together as its multi-method export does
(``export_llama_lib._export_llama_multimethod``, which varies only LoRA weights per method),
with ``share_mutable_buffers``: the memory planner
gives the KV cache buffers of both methods one place, and a runtime ``Module`` built with
``share_memory_arenas`` hands both methods the same memory. ``text_generation_runner`` runs the
prompt through ``prefill`` where a program has it. The file holds both sets of weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from examples.generation.decoder import GenerationError

PREFILL_METHOD = "prefill"


def export_fp32_prefill_program(model, weights, options, output: Path, share_kv_cache: bool = True) -> Path:
    """Export ``options`` (8da4w) as ``forward`` and the same options in fp32 as ``prefill`` into
    ``output`` (written by the exporter's own save; the caller moves it into place).
    ``share_kv_cache=False`` gives each method its own cache: a program the runners refuse."""
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
    from examples.generation.xnnpack_forms import forms_edge_passes

    first.edge_manager = to_edge_transform_and_lower(
        programs, partitioner=export_llama_lib._get_xnnpack_partitioners(decode_config),
        transform_passes=forms_edge_passes(options) or None,
        compile_config=first._get_edge_config(), constant_methods=first.metadata)
    first.to_executorch(share_mutable_buffers=share_kv_cache).save_to_pte(str(output))
    return output


class PrefillMethodError(GenerationError):
    """A prefill method that would write a KV cache forward does not read."""


def prefill_method_of(data: bytes, path) -> str:
    """``"prefill"`` where the program has that method and it shares forward's KV cache (both plan
    a mutable-state arena, memory id 2, of one size: exported with ``share_mutable_buffers``),
    ``"forward"`` where it has none; a prefill method with a cache of its own is refused. Reads
    the flatbuffer only (not the weights behind it). The native runner decides the same way."""
    from examples.generation.program_file import program_flatbuffer

    plans = {plan.name: list(plan.non_const_buffer_sizes) for plan in program_flatbuffer(data)[0].execution_plan}
    if PREFILL_METHOD not in plans:
        return "forward"
    forward, prefill = plans.get("forward", []), plans[PREFILL_METHOD]
    if len(prefill) != 3 or len(forward) != 3 or prefill[2] != forward[2]:
        raise PrefillMethodError(f"{path} has a 'prefill' method that does not share forward's KV cache (export "
                                 "both with share_mutable_buffers, as --fp32_prefill does)")
    return PREFILL_METHOD
