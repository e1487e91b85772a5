"""The export CLI's language-model path: ``xnnpack_examples --model_name stories15m [--quantize]``.

Zoo language models go through ExecuTorch's LLM exporter (KV cache, SDPA-with-KV-cache op,
XNNPACK), not the image-model path; ``--quantize`` means 8da4w (int8 dynamic activations,
int4 weights in groups of ``--group_size``), and ``--max_seq_len`` is the KV cache length.
"""

from __future__ import annotations

import tempfile
import warnings
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
                         "Language models with --quantize (8da4w): int4 weight group size.")
    flags.DEFINE_integer("weights_seed", 0, "Language models with random weights: the seed.")


def is_llm(name: str | None) -> bool:
    from examples.models.llama_zoo import is_llm as known

    return known(name)


def export_from_flags(flag_values) -> Path:
    """Export the language model the flags name; prints progress and what was written."""
    from examples.generation.llama_export import DEFAULT_MAX_SEQ_LEN, LlamaExportOptions, check_options, pte_filename
    from examples.models.llama_zoo import LLM_MODELS

    if not flag_values.delegate:
        raise cli.UsageError("language models are exported for XNNPACK only (drop --nodelegate)")
    if flag_values.calibration_data or flag_values.quant_recipe or flag_values.etrecord:
        raise cli.UsageError("--calibration_data, --quant_recipe and --etrecord do not apply to language models "
                             "(--quantize is 8da4w, weight-only calibration-free)")
    model = LLM_MODELS[flag_values.model_name]
    options = LlamaExportOptions(quantize=flag_values.quantize, group_size=flag_values.group_size,
                                 max_seq_len=flag_values.max_seq_len or DEFAULT_MAX_SEQ_LEN)
    check_options(model, options)
    output = cli.writable_dir(flag_values.output_dir) / pte_filename(model.name, options)
    return export_language_model(model, options, flag_values.weights, output, flag_values.weights_seed,
                                 flag_values.verbose)


def write_language_model_card(path: Path, model, options, weights_source: str) -> None:
    """The program card every export writes (:mod:`examples.integrity.card`), for an LLM program."""
    from examples.integrity.card import make_card, write_card
    from examples.integrity.describe import card_methods, describe_program

    recipe = f"8da4w, group size {options.group_size}" if options.quantize else None
    card = make_card(path, model=model.name, backend="xnnpack", precision=options.mode, recipe=recipe,
                     methods=card_methods(describe_program(path.read_bytes())),
                     extra={"language_model": {"max_seq_len": options.max_seq_len, "weights": weights_source}})
    write_card(path, card)


def export_language_model(model, options, weights: str, output: Path, seed: int = 0, verbose: bool = False) -> Path:
    from examples.common.quiet import import_quietly, quiet_stdio, silence_third_party
    from examples.export.report import human_size
    from examples.generation.llama_export import export_llama_program
    from examples.models.llama_zoo import prepare_weights

    silence_third_party(verbose)
    print(f"loading {model.name} (weights: {weights})...", flush=True)
    with tempfile.TemporaryDirectory(prefix=".weights-", dir=output.parent) as scratch:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            prepared = prepare_weights(model, weights, Path(scratch), seed)
        for warning in caught:
            if str(warning.message).startswith("using RANDOM weights"):
                cli.warning_line(str(warning.message))
        print(f"  weights: {prepared.source}", flush=True)
        print(f"exporting {model.name} as XNNPACK {options.mode} (KV cache {options.max_seq_len} positions, "
              f"SDPA with KV cache{', group size ' + str(options.group_size) if options.quantize else ''})...",
              flush=True)
        import_quietly(verbose)
        failure = None
        with quiet_stdio(verbose):
            try:
                path, seconds = export_llama_program(model, prepared, options, output)
            except (KeyboardInterrupt, cli.CliError):
                raise
            except Exception as error:  # noqa: BLE001 - one line for the user; --verbose shows the log
                failure = cli.CliError(f"exporting '{model.name}' failed: {type(error).__name__}: "
                                       f"{cli.first_line(error)}")
        if failure:
            raise failure
        write_language_model_card(path, model, options, prepared.source)
    print(f"wrote {path.resolve()} ({human_size(path.stat().st_size)}, XNNPACK {options.mode}) in {seconds:.1f} s",
          flush=True)
    return path
