"""The export CLI's language-model path: ``xnnpack_examples --model_name stories15m [--quantize]``.

Zoo language models go through ExecuTorch's LLM exporter (KV cache, SDPA-with-KV-cache op,
XNNPACK), not the image-model path; ``--quantize`` means 8da4w (int8 dynamic activations,
int4 weights in groups of ``--group_size``), ``--max_seq_len`` is the KV cache length and
``--quantize_kv_cache`` keeps that cache in int8, ``--one_call_per_block`` lowers each block in one
XNNPACK delegate call and ``--decode_region`` makes the layers one delegate that runs each token in
one parallel region (text_generation_runner only); ``--sign_key`` signs the program and its card as for image models. The image-model
flags this path has no use for (calibration, --bundle, --eval_data, ...) are refused, never ignored.
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
    flags.DEFINE_bool("decode_region", False,
                      "Language models with --quantize: the layers are one delegate (DecodeRegionBackend) that runs "
                      "each token in one parallel region, the same int4 weights; text_generation_runner runs it, "
                      "ExecuTorch's Python runtime cannot (docs/GENERATION.md, 'One parallel region a token').")


def is_llm(name: str | None) -> bool:
    from examples.models.llama_zoo import is_llm as known

    return known(name)


# Flags of one kind of model only: given for the other kind, they are refused, never ignored.
LANGUAGE_MODEL_FLAGS = ("quantize_kv_cache", "fp32_prefill", "one_call_per_block", "decode_region", "group_size",
                        "weights_seed")
CALIBRATION_FLAGS = ("calibration_data", "quant_recipe", "num_calibration_samples")
IMAGE_MODEL_FLAGS = ("etrecord", "bundle", "print_graph", "fail_on_fragmentation", "eval_data", "eval_limit",
                     "eval_engine", "tokenizer")


def _listed(given: list[str]) -> str:
    return given[0] if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]}"


def reject_llm_flags(flag_values) -> None:
    """For a model that is not a language model: its flags would be ignored, so say so."""
    given = cli.given_flags(flag_values, LANGUAGE_MODEL_FLAGS, switches_on_only=True)
    if given:
        raise cli.UsageError(f"{_listed(given)} appl{'ies' if len(given) == 1 else 'y'} to language models only, "
                             f"not '{flag_values.model_name}'")


def check_llm_flags(flag_values) -> None:
    """The export flags a language model takes, checked before anything slow: the image-model
    path's flags and --group_size without --quantize are refused; --weights_seed with a
    checkpoint (not random weights) gets a warning."""
    if not flag_values.delegate:
        raise cli.UsageError("language models are exported for XNNPACK only (drop --nodelegate)")
    for names, why in ((CALIBRATION_FLAGS, " (--quantize is 8da4w, weight-only calibration-free)"),
                       (IMAGE_MODEL_FLAGS, f" ('{flag_values.model_name}' is exported by ExecuTorch's LLM exporter)")):
        given = cli.given_flags(flag_values, names, switches_on_only=True)
        if given:
            raise cli.UsageError(f"{_listed(given)} do{'es' if len(given) == 1 else ''} not apply to language "
                                 f"models{why}")
    if flag_values["group_size"].present and not flag_values.quantize:
        raise cli.UsageError("--group_size goes with a quantized (8da4w) program: add --quantize")
    if flag_values.sign_key and not Path(flag_values.sign_key).is_file():
        raise cli.UsageError(f"--sign_key: no such file: {flag_values.sign_key}")
    if flag_values["weights_seed"].present and flag_values.weights not in ("auto", "random", "pretrained"):
        cli.warning_line("--weights_seed is only used with random weights (--weights auto or random); ignored")


def options_from_flags(flag_values):
    from examples.generation.llama_export import DEFAULT_MAX_SEQ_LEN, LlamaExportOptions

    return LlamaExportOptions(quantize=flag_values.quantize, group_size=flag_values.group_size,
                              max_seq_len=flag_values.max_seq_len or DEFAULT_MAX_SEQ_LEN,
                              quantize_kv_cache=flag_values.quantize_kv_cache, fp32_prefill=flag_values.fp32_prefill,
                              merged_partitions=flag_values.one_call_per_block,
                              xnnpack_forms=flag_values.one_call_per_block, decode_region=flag_values.decode_region)


def export_from_flags(flag_values) -> Path:
    """Export the language model the flags name; prints progress and what was written."""
    from examples.generation.llama_export import check_options, program_filename
    from examples.models.llama_zoo import LLM_MODELS

    check_llm_flags(flag_values)
    model = LLM_MODELS[flag_values.model_name]
    options = options_from_flags(flag_values)
    check_options(model, options)
    output = cli.writable_dir(flag_values.output_dir) / program_filename(model.name, options)
    from examples.generation.model_export import export_language_model

    path = export_language_model(model, options, flag_values.weights, output, flag_values.weights_seed,
                                 flag_values.verbose)
    if flag_values.sign_key:  # as the image-model export does (examples/export/export_cli.py)
        from examples.integrity.signing import sign_program

        print(f"signed {path.name} and its card: {sign_program(path, flag_values.sign_key).resolve()}", flush=True)
    return path
