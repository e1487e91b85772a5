"""A language model's program for users: its weights prepared, the program exported through
ExecuTorch's LLM exporter (:mod:`examples.generation.llama_export`), and its card written.
The export command's flags for it live in :mod:`examples.generation.export_hooks`."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from examples.common import cli


def write_language_model_card(path: Path, model, options, weights_source: str) -> None:
    """The program card every export writes (:mod:`examples.integrity.card`), for an LLM program."""
    from examples.integrity.card import make_card, write_card
    from examples.integrity.describe import card_methods, describe_program

    recipe = f"8da4w, {options.grouping}" if options.quantize else None
    if options.embedding_bits:
        recipe = f"{recipe or 'fp32'}, {options.embedding_bits}-bit embedding"
    if options.fuse_projections:
        recipe = f"{recipe or 'fp32'}, fused projections"
    if options.quantize and options.output_bits != 4:
        recipe = f"{recipe}, {options.output_bits}-bit output projection"
    if options.quantize_kv_cache:
        recipe = f"{recipe or 'fp32'}, int8 KV cache"
    if options.fp32_prefill:
        recipe = f"{recipe}, fp32 prefill method"
    if options.merged_partitions:
        recipe = f"{recipe}, merged XNNPACK partitions"
    if options.xnnpack_forms:
        recipe = f"{recipe or 'fp32'}, RMSNorm and RoPE in XNNPACK forms"
    if options.decode_region:
        recipe = f"{recipe}, the layers one DecodeRegionBackend delegate (text_generation_runner only)"
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
              f"SDPA with {'int8 ' if options.quantize_kv_cache else ''}KV cache"
              f"{', ' + options.grouping if options.quantize else ''}"
              f"{', prefill in fp32' if options.fp32_prefill else ''}"
              f"{', output projection in 8 bits' if options.quantize and options.output_bits == 8 else ''}"
              f"{', merged XNNPACK partitions' if options.merged_partitions else ''}"
              f"{', RMSNorm and RoPE in XNNPACK forms' if options.xnnpack_forms else ''}"
              f"{', the layers one DecodeRegionBackend delegate' if options.decode_region else ''})...",
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
