"""The export CLI's language-model path: ``xnnpack_examples --model_name stories15m [--quantize]``.

Zoo language models go through ExecuTorch's LLM exporter (KV cache, SDPA-with-KV-cache op,
XNNPACK), not the image-model path; ``--quantize`` means 8da4w (int8 dynamic activations,
int4 weights in groups of ``--group_size``), ``--max_seq_len`` is the KV cache length and
``--quantize_kv_cache`` keeps that cache in int8 and ``--one_call_per_block`` lowers each block in one
XNNPACK delegate call.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from examples.common import cli

FLAGS = flags.FLAGS
cli.register_usage_errors("examples.models.llama_zoo", "LlamaWeightsError")
cli.register_usage_errors("examples.generation.llama_export", "LlamaExportError")


def define_llm_flags() -> None:
    if "group_size" in FLAGS:
        return
    from examples.generation.llama_export import DEFAULT_GROUP_SIZE

    flags.DEFINE_integer("group_size", DEFAULT_GROUP_SIZE,
                         "Language models with --quantize (8da4w): int4 weight group size; "
                         "0: one scale per output channel.")
    flags.DEFINE_integer("weights_seed", 0, "Language models with random weights: the seed.")
    flags.DEFINE_bool("quantize_kv_cache", False,
                      "Language models: the KV cache in int8, a scale and zero point per token and head (the LLM "
                      "exporter's quantize_kv_cache): a quarter of the fp32 cache's bytes; faster decode for long "
                      "contexts (docs/GENERATION.md).")
    flags.DEFINE_bool("fp32_prefill", False,
                      "Language models with --quantize: also an fp32 'prefill' method for the prompt, sharing the KV "
                      "cache with the 8da4w 'forward' (for CPUs where 4-bit GEMM may be slower than fp32, e.g. AVX2 "
                      "without VNNI; the file holds both weights; docs/GENERATION.md).")
    flags.DEFINE_bool("one_call_per_block", False,
                      "Language models with --quantize: lower each block in one XNNPACK delegate call (greedy "
                      "partitions; RMSNorm and RoPE in forms XNNPACK takes) instead of the exporter's ten; a few per "
                      "cent faster decode and prefill where measured (results/intel-f6-m207-s2-amx/generation/NOTES.md, 'Fewer delegate calls').")


def is_llm(name: str | None) -> bool:
    from examples.models.llama_zoo import is_llm as known

    return known(name)


def reject_llm_flags(flag_values) -> None:
    """For a model that is not a language model: its flags would be ignored, so say so."""
    for name in ("quantize_kv_cache", "fp32_prefill", "one_call_per_block"):
        if flag_values[name].value:
            raise cli.UsageError(f"--{name} applies to language models only, not '{flag_values.model_name}'")


def options_from_flags(flag_values):
    from examples.generation.llama_export import DEFAULT_MAX_SEQ_LEN, LlamaExportOptions

    return LlamaExportOptions(quantize=flag_values.quantize, group_size=flag_values.group_size,
                              max_seq_len=flag_values.max_seq_len or DEFAULT_MAX_SEQ_LEN,
                              quantize_kv_cache=flag_values.quantize_kv_cache, fp32_prefill=flag_values.fp32_prefill,
                              merged_partitions=flag_values.one_call_per_block,
                              xnnpack_forms=flag_values.one_call_per_block)


def export_from_flags(flag_values) -> Path:
    """Export the language model the flags name; prints progress and what was written."""
    from examples.generation.llama_export import check_options, program_filename
    from examples.models.llama_zoo import LLM_MODELS

    if not flag_values.delegate:
        raise cli.UsageError("language models are exported for XNNPACK only (drop --nodelegate)")
    if flag_values.calibration_data or flag_values.quant_recipe or flag_values.etrecord:
        raise cli.UsageError("--calibration_data, --quant_recipe and --etrecord do not apply to language models "
                             "(--quantize is 8da4w, weight-only calibration-free)")
    model = LLM_MODELS[flag_values.model_name]
    options = options_from_flags(flag_values)
    check_options(model, options)
    output = cli.writable_dir(flag_values.output_dir) / program_filename(model.name, options)
    from examples.generation.model_export import export_language_model

    return export_language_model(model, options, flag_values.weights, output, flag_values.weights_seed,
                                 flag_values.verbose)
