"""Export a Llama-architecture model to an XNNPACK ExecuTorch program with ExecuTorch's own
LLM exporter (``executorch.examples.models.llama.export_llama_lib``, the library behind
``python -m executorch.extension.llm.export.export_llm``).

The program has ``forward(tokens[1, n] int64, input_pos[1] int64) -> logits[1, vocab]`` with a
KV cache of ``max_seq_len`` positions and the fused SDPA-with-KV-cache custom op (3-4x faster
decode than without it). Extended XNNPACK ops are on, so fp32 linears run in XNNPACK too.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from examples.models.llama_zoo import LlamaModel, PreparedWeights

DEFAULT_GROUP_SIZE = 32
DEFAULT_MAX_SEQ_LEN = 128
# Group size 0: one int4 scale per output channel (the LLM exporter's PerAxis(0) granularity).
PER_CHANNEL = 0


# Fields added after programs were first stamped with the options' repr: named in the stamp only
# when they differ from the value every program had before them (kept here, not the default, so a
# later change of default still names them), so programs built before still match their stamp.
BEFORE_STAMPED = "value_before_stamped"


class LlamaExportError(ValueError):
    """Export options that cannot work (caught before the slow part)."""


@dataclass(frozen=True)
class LlamaExportOptions:
    quantize: bool = False  # 8da4w: int8 dynamic activations, int4 grouped weights
    group_size: int = DEFAULT_GROUP_SIZE  # PER_CHANNEL (0): one scale per output channel
    max_seq_len: int = DEFAULT_MAX_SEQ_LEN
    use_sdpa_with_kv_cache: bool = True
    extended_ops: bool = True
    # The token embedding through the LLM exporter's embedding quantization: 0 keeps it fp32,
    # 4 or 8 stores it in that many bits per weight, groups of ``embedding_group_size``.
    embedding_bits: int = 0
    embedding_group_size: int = 32
    # One linear for q/k/v and one for w1/w3 (examples/generation/fused_projections.py).
    fuse_projections: bool = False
    # The KV cache in int8 with a scale and zero point per token and head (the LLM exporter's
    # quantize_kv_cache; custom_quantized_sdpa reads it): a quarter of the fp32 cache's bytes.
    quantize_kv_cache: bool = False
    # With quantize: the prompt runs an fp32 copy of the linears, method "prefill", sharing the
    # KV cache with the 8da4w forward (examples/generation/prefill_split.py).
    fp32_prefill: bool = False
    # With quantize: the output projection (classifier) in 4 bits like every linear, or in 8
    # (int8 per output channel, examples/generation/output_head.py).
    output_bits: int = 4
    # With quantize: XNNPACK partitions merged greedily (the 8da4w linears join the fp32 ops
    # around them) instead of one delegate call per quantized linear, as the exporter does.
    merged_partitions: bool = field(default=False, metadata={BEFORE_STAMPED: False})
    # RMSNorm's mean and the rotary embedding in forms XNNPACK takes (examples/generation/xnnpack_forms.py),
    # so no portable op cuts a block's partitions.
    xnnpack_forms: bool = field(default=False, metadata={BEFORE_STAMPED: False})
    # With quantize: the layers are one delegate that runs each token in one parallel region
    # (examples/generation/decode_region_export.py; text_generation_runner only).
    decode_region: bool = field(default=False, metadata={BEFORE_STAMPED: False})

    @property
    def mode(self) -> str:
        return "8da4w" if self.quantize else "fp32"

    @property
    def grouping(self) -> str:
        """How the int4 weights share scales, in words: ``group size 32`` or ``per channel``."""
        return "per channel" if self.group_size == PER_CHANNEL else f"group size {self.group_size}"


# The decode-region program's layout: 3 = the layers one DecodeRegionBackend delegate, linears as
# named data, int4 groups by 8da4w's own quantizer (HQQ scales); 2 had plain max / 7.5 scales;
# 1 (unstamped) was forward one decode_region::step kernel, which the runner no longer has.
DECODE_REGION_FORMAT = 3


def options_stamp(options: LlamaExportOptions) -> str:
    """The options as a build stamp records them: the dataclass repr, less the later fields at
    the value programs had before them."""
    shown = [f"{f.name}={getattr(options, f.name)!r}" for f in fields(options)
             if not (BEFORE_STAMPED in f.metadata and getattr(options, f.name) == f.metadata[BEFORE_STAMPED])]
    if options.decode_region:  # its layout changed with the code (a kernel, then DecodeRegionBackend)
        shown.append(f"decode_region_format={DECODE_REGION_FORMAT}")
    return f"{type(options).__name__}({', '.join(shown)})"


def program_filename(name: str, options: LlamaExportOptions) -> str:
    """``<name>_xnnpack_<mode>.pte`` (:func:`examples.export.names.pte_filename`); a group size
    other than the default (per channel: ``_pc``), a quantized embedding, fused projections and
    an int8 KV cache add ``_g<size>``, ``_emb<bits>``, ``_fused`` and ``_kv8`` (an fp32 prefill
    method ``_fp32prefill``, an 8-bit classifier ``_out8``), so variants sit
    side by side."""
    from examples.export.names import pte_filename

    variant = []
    if options.quantize and options.group_size == PER_CHANNEL:
        variant.append("pc")
    elif options.quantize and options.group_size != DEFAULT_GROUP_SIZE:
        variant.append(f"g{options.group_size}")
    if options.embedding_bits:
        variant.append(f"emb{options.embedding_bits}")
    if options.fuse_projections:
        variant.append("fused")
    if options.quantize_kv_cache:
        variant.append("kv8")
    if options.fp32_prefill:
        variant.append("fp32prefill")
    if options.quantize and options.output_bits != 4:
        variant.append(f"out{options.output_bits}")
    if options.quantize and options.merged_partitions:
        variant.append("merged")
    if options.xnnpack_forms:
        variant.append("forms")
    if options.decode_region:
        variant.append("region")
    return pte_filename(name, "xnnpack", options.mode, *variant)


def check_options(model: LlamaModel, options: LlamaExportOptions) -> None:
    if options.fp32_prefill and not options.quantize:
        raise LlamaExportError("an fp32 prefill goes with a quantized (8da4w) program: add --quantize")
    if options.output_bits not in (4, 8):
        raise LlamaExportError(f"output projection bits must be 4 or 8, got {options.output_bits}")
    if options.output_bits != 4 and (not options.quantize or options.fp32_prefill):
        raise LlamaExportError("an 8-bit output projection goes with an 8da4w program without an fp32 prefill")
    if options.merged_partitions and not (options.quantize and options.extended_ops):
        raise LlamaExportError("merged partitions (--one_call_per_block) go with a quantized (8da4w) program (--quantize) "
                               "and extended XNNPACK ops")
    if options.max_seq_len < 2:
        raise LlamaExportError(f"--max_seq_len must be at least 2, got {options.max_seq_len}")
    if options.decode_region:
        check_region_options(model, options)
    if options.embedding_bits not in (0, 4, 8):
        raise LlamaExportError(f"embedding bits must be 0 (fp32), 4 or 8, got {options.embedding_bits}")
    if options.embedding_bits and model.shape.dim % options.embedding_group_size:
        raise LlamaExportError(f"embedding group size {options.embedding_group_size} does not divide {model.name}'s "
                               f"dim {model.shape.dim}")
    if options.quantize and options.group_size != PER_CHANNEL:
        if options.group_size < 1:
            raise LlamaExportError(f"--group_size must be positive or 0 (per channel), got {options.group_size}")
        widths = {"dim": model.shape.dim, "feed-forward width": model.shape.ffn_hidden_dim()}
        for what, width in widths.items():
            if width % options.group_size:
                raise LlamaExportError(f"--group_size {options.group_size} does not divide {model.name}'s "
                                       f"{what} {width}")


def check_region_options(model: LlamaModel, options: LlamaExportOptions) -> None:
    """The decode-region program takes 8da4w in groups, fp32 embedding and KV cache, one program
    layout, and the models whose math it computes."""
    from examples.common import cli
    from examples.generation.decode_region import StepShape

    others = {"embedding_bits": 0, "fuse_projections": False, "quantize_kv_cache": False, "fp32_prefill": False,
              "output_bits": 4, "merged_partitions": False, "xnnpack_forms": False}
    if not options.quantize or options.group_size == PER_CHANNEL:
        raise LlamaExportError("the decode region goes with 8da4w in groups (--quantize, --group_size > 0)")
    changed = [name for name, value in others.items() if getattr(options, name) != value]
    if changed:
        raise LlamaExportError(f"the decode region has its own layout: drop {', '.join(changed)}")
    if options.max_seq_len < 3:  # the export traces a two-token prompt below max_seq_len
        raise LlamaExportError(f"the decode region needs --max_seq_len of at least 3, got {options.max_seq_len}")
    try:
        StepShape.of(model.shape, options.group_size, options.max_seq_len).check()
    except cli.UsageError as error:
        raise LlamaExportError(str(error)) from None


def llm_config(model: LlamaModel, weights: PreparedWeights, options: LlamaExportOptions, output: Path):
    from executorch.extension.llm.export.config.llm_config import LlmConfig, ModelType

    config = LlmConfig()
    config.base.model_class = ModelType(model.model_class)  # picks the RoPE scaling of the family
    config.base.params = str(weights.params)
    config.base.checkpoint = str(weights.checkpoint)
    config.model.use_kv_cache = True
    config.model.use_sdpa_with_kv_cache = options.use_sdpa_with_kv_cache
    config.model.quantize_kv_cache = options.quantize_kv_cache
    config.model.enable_dynamic_shape = True
    config.export.max_seq_length = options.max_seq_len
    config.export.max_context_length = options.max_seq_len
    config.export.output_dir = str(output.parent)
    config.export.output_name = str(output)
    config.backend.xnnpack.enabled = True
    config.backend.xnnpack.extended_ops = options.extended_ops
    if options.quantize:
        config.quantization.qmode = "8da4w"
        config.quantization.group_size = options.group_size
    if options.embedding_bits:
        config.quantization.embedding_quantize = f"{options.embedding_bits},{options.embedding_group_size}"
    return config


@contextlib.contextmanager
def source_transforms_around(first: list, last: list = ()):
    """Run ``first`` before the LLM exporter's own source transforms (quantization first among
    them) and ``last`` after them. The exporter takes no list of extra transforms, so its list
    builder is wrapped for the duration of one export."""
    from executorch.examples.models.llama import export_llama_lib

    if not first and not last:
        yield
        return
    original = export_llama_lib._get_source_transforms

    def with_ours(*args, **kwargs):
        return [*first, *original(*args, **kwargs), *last]

    export_llama_lib._get_source_transforms = with_ours
    try:
        yield
    finally:
        export_llama_lib._get_source_transforms = original


@contextlib.contextmanager
def _calls_rewritten(owner, name: str, rewrite):
    """For the duration, ``owner.name`` is a wrapper that lets ``rewrite`` change each call's
    bound arguments (by name, however the caller passed them)."""
    original = getattr(owner, name)
    signature = inspect.signature(original)

    def wrapper(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        rewrite(call.arguments)
        return original(*call.args, **call.kwargs)

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def merged_xnnpack_partitions(merged: bool):
    """Lower with one greedy XNNPACK partitioner. The exporter first gives every dynamically
    quantized linear a partition of its own (``XnnpackDynamicallyQuantizedPartitioner``), so a
    decode step calls the delegate once per linear; greedy partitions take those linears
    together with the fp32 ops between them."""
    from executorch.examples.models.llama import export_llama_lib

    if not merged:
        return contextlib.nullcontext()
    return _calls_rewritten(export_llama_lib, "get_xnnpack_partitioner",
                            lambda arguments: arguments.update(dynamic_quant_only_partitioner=False))


def edge_passes_before_lowering(passes: list):
    """Run ``passes`` on the edge program before the partitioners (the exporter's
    ``LLMEdgeManager.to_edge_transform_and_lower`` takes none from its callers)."""
    from executorch.extension.llm.export.builder import LLMEdgeManager

    if not passes:
        return contextlib.nullcontext()

    def add_ours(arguments):
        arguments["transform_passes"] = [*(arguments.get("transform_passes") or []), *passes]

    return _calls_rewritten(LLMEdgeManager, "to_edge_transform_and_lower", add_ours)


def _export_region(model: LlamaModel, weights: PreparedWeights, options: LlamaExportOptions, output: Path) -> Path:
    import torch

    from examples.generation.decode_region import StepShape
    from examples.generation.decode_region_export import export_region_program

    state = torch.load(weights.checkpoint, map_location="cpu", weights_only=True)
    return export_region_program(state, StepShape.of(model.shape, options.group_size, options.max_seq_len), output)


def export_llama_program(model: LlamaModel, weights: PreparedWeights, options: LlamaExportOptions,
                         output_path: Path) -> tuple[Path, float]:
    """Write the program atomically to ``output_path``; returns it with the export seconds."""
    from executorch.examples.models.llama.export_llama_lib import export_llama

    from examples.generation.fused_projections import fuse_projections
    from examples.generation.output_head import OutputHeadIn8Bits
    from examples.generation.prefill_split import export_fp32_prefill_program
    from examples.generation.xnnpack_forms import forms_edge_passes, xnnpack_forms

    check_options(model, options)
    start = time.perf_counter()
    first = [fuse_projections] if options.fuse_projections else []
    first += [xnnpack_forms] if options.xnnpack_forms else []
    edge_passes = forms_edge_passes(options)
    last = []
    if options.quantize and options.output_bits == 8:
        head = OutputHeadIn8Bits()
        first, last = [*first, head.first], [head.last]
    with tempfile.TemporaryDirectory(dir=output_path.parent, prefix=".export-") as scratch, \
            source_transforms_around(first, last), merged_xnnpack_partitions(options.merged_partitions), \
            edge_passes_before_lowering(edge_passes):
        temporary = Path(scratch) / output_path.name
        if options.decode_region:
            written = _export_region(model, weights, options, temporary)
        elif options.fp32_prefill:
            written = export_fp32_prefill_program(model, weights, options, temporary)
        else:
            written = Path(export_llama(llm_config(model, weights, options, temporary)))
        os.chmod(written, 0o644)
        os.replace(written, output_path)
    return output_path, time.perf_counter() - start
