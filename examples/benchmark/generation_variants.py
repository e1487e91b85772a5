"""The generation benchmark's rows, as a catalogue: which engine runs which artifact
(:data:`VARIANTS`), which rows the goals judge (:func:`judged_variant`), what each peer needs
installed, and the export options of each ExecuTorch variant (:func:`executorch_options`).
:mod:`examples.benchmark.generation_runs` builds and runs them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

EXECUTORCH_VARIANTS = ("fp32", "8da4w")


@dataclass(frozen=True)
class Variant:
    """One row kind of the table: which engine runs which artifact."""

    name: str  # the row's variant, e.g. "8da4w", "Q4_K_M", "ov-Q4_0"
    engine: str  # "executorch", "llama.cpp", "openvino-genai", "onnxruntime-genai"
    artifact: str  # the key of the file or folder it runs in build_artifacts' dict
    weight_bits: int  # bits per weight of the linears: 4-bit rows are the goal's peers
    # False: shown in the table, never one of the goals' rows. The goals compare like with like
    # (a choice, see judged_variant): ExecuTorch rows with coarser int4 than the peers' groups of
    # 32 (groups of 128, one scale per channel) or a coarser KV cache than most peers' are shown only.
    judged: bool = True
    kv_int8: bool = False  # ExecuTorch's int8 KV cache (bytes per token count it so)
    follows_group_size: bool = False  # its int4 groups are generation_bench's --group_size
    # Flags for the native runner only (another runner has no such row: plan_for leaves it out).
    native_flags: tuple[str, ...] = ()
    # A program only the native runner runs (its backend is the runner's own), flags or not.
    native_backend: bool = False
    # The variant whose weights and quantization this one lowers otherwise (other delegate calls,
    # the same arithmetic up to summation order): the table pairs the two by round.
    lowering_of: str = ""
    # The variant whose program this row runs again, as a row of its own (A/A): the spread of two
    # identical rows is the run's noise floor, which every verdict's interval must clear.
    aa_of: str = ""

    @property
    def native_only(self) -> bool:
        return bool(self.native_flags) or self.native_backend


# Weights per int4 scale of every 4-bit peer (Q4_0, Q4_K_M's sub-blocks, ONNX Runtime GenAI's blocks).
PEER_GROUP_SIZE = 32
# The program the LLM exporter writes: the row the others are held to, and whose TTFT and RSS
# growth the goals judge.
EXPORTER_PROGRAM = "8da4w"


VARIANTS = {v.name: v for v in (
    Variant("fp32", "executorch", "fp32", 32),
    Variant("8da4w", "executorch", "8da4w", 4, follows_group_size=True),
    Variant("8da4w-g128", "executorch", "8da4w-g128", 4, judged=False),
    Variant("8da4w-pc", "executorch", "8da4w-pc", 4, judged=False),
    # int8 KV cache: coarser than the llama.cpp (f16) and ONNX Runtime GenAI (fp32) caches
    Variant("8da4w-kv8", "executorch", "8da4w-kv8", 4, judged=False, kv_int8=True, follows_group_size=True),
    # The exporter's program again, as its own row in every round: the run's noise floor (A/A).
    Variant("8da4w-aa", "executorch", "8da4w", 4, judged=False, follows_group_size=True, aa_of="8da4w"),
    # The same program with the runner's opt-in 2 MiB page backing: what it is worth.
    Variant("8da4w-2m", "executorch", "8da4w", 4, judged=False, follows_group_size=True,
            native_flags=("--huge_pages=true",)),
    # Result files of 2026-12-07, when the backing was on by default, have this row instead.
    Variant("8da4w-4k", "executorch", "8da4w", 4, judged=False, follows_group_size=True,
            native_flags=("--huge_pages=false",)),
    # The same program with the runner's earlier behaviours (results/intel-f6-m207-s2-amx/generation/NOTES.md, "The runner's
    # own time"): custom_sdpa's per-head decode attention, and an XNNPACK reshape at every call.
    Variant("8da4w-attn-per-head", "executorch", "8da4w", 4, judged=False, follows_group_size=True,
            native_flags=("--decode_attention=per_head",)),
    Variant("8da4w-reshape-always", "executorch", "8da4w", 4, judged=False, follows_group_size=True,
            native_flags=("--xnnpack_reshape=every_call",)),
    Variant("8da4w-emb4", "executorch", "8da4w-emb4", 4, follows_group_size=True),
    # The output projection (classifier) in 8 bits per weight, one scale per channel; the other
    # linears 4-bit (llama.cpp's Q4_K_M files keep theirs in 6 bits: examples/generation/output_head.py).
    Variant("8da4w-out8", "executorch", "8da4w-out8", 4, follows_group_size=True),
    # The prompt through an fp32 copy of the linears (method "prefill"), decode in 8da4w: for CPUs
    # whose 4-bit GEMM may lose to fp32; two sets of weights in one file.
    Variant("8da4w-fp32prefill", "executorch", "8da4w-fp32prefill", 4, judged=False, follows_group_size=True),
    Variant("8da4w-fused", "executorch", "8da4w-fused", 4, follows_group_size=True),
    Variant("8da4w-g128-fused", "executorch", "8da4w-g128-fused", 4, judged=False),
    # Greedy XNNPACK partitions: the quantized linears share delegate calls with the ops between them.
    Variant("8da4w-merged-forms", "executorch", "8da4w-merged-forms", 4, follows_group_size=True,
            lowering_of="8da4w"),  # what xnnpack_examples --quantize --one_call_per_block writes
    # ... with q/k/v and w1/w3 as one linear each (the same quantized rows, laid end to end): fewer
    # thread-pool jobs a step, and a portable split after each fused linear (XNNPACK takes no
    # slice of a dynamic-shape tensor). Paired with the row it adds fusing to.
    Variant("8da4w-fused-merged-forms", "executorch", "8da4w-fused-merged-forms", 4, follows_group_size=True,
            lowering_of="8da4w-merged-forms"),
    # ... run with the runner's --huge_pages, as its card says where tune chose that: its weights
    # in the 2 MiB pages the bandwidth probe reads. Shown, like 8da4w-2m; its "runner option" line
    # pairs it with the row above.
    Variant("8da4w-fused-merged-forms-2m", "executorch", "8da4w-fused-merged-forms", 4, judged=False,
            follows_group_size=True, native_flags=("--huge_pages=true",)),
    # the layers as one delegate, each token one parallel region (runtime/decode_region): the same
    # int4 weights, activations quantized by the region's own per-row rule.
    Variant("8da4w-region", "executorch", "8da4w-region", 4, follows_group_size=True, lowering_of="8da4w",
            native_backend=True),
    Variant("8da4w-emb4-merged", "executorch", "8da4w-emb4-merged", 4, follows_group_size=True,
            lowering_of="8da4w-emb4"),
    # ... and RMSNorm / RoPE in forms XNNPACK takes: a block in few delegate calls.
    Variant("8da4w-emb4-merged-forms", "executorch", "8da4w-emb4-merged-forms", 4, follows_group_size=True,
            lowering_of="8da4w-emb4"),
    Variant("F32", "llama.cpp", "F32", 32),
    Variant("Q8_0", "llama.cpp", "Q8_0", 8),
    Variant("Q4_0", "llama.cpp", "Q4_0", 4),
    Variant("Q4_K_M", "llama.cpp", "Q4_K_M", 4),
    Variant("ov-Q4_0", "openvino-genai", "Q4_0", 4),
    Variant("ov-Q4_K_M", "openvino-genai", "Q4_K_M", 4),
    Variant("ort-int4", "onnxruntime-genai", "ort-int4", 4),
)}
def judged_variant(name: str, group_size: int | None = None) -> bool:
    """Whether a row may be one of the goals' rows: a 4-bit row marked judged whose int4 groups,
    where they follow ``--group_size`` (None: the default, 32), are no coarser than the peers'."""
    variant = VARIANTS.get(name)
    if variant is None or variant.weight_bits != 4 or not variant.judged:
        return False
    return not (variant.follows_group_size and group_size is not None and group_size > PEER_GROUP_SIZE)


DEFAULT_VARIANTS = ("fp32", "8da4w", "F32", "Q8_0", "Q4_0", "Q4_K_M", "ov-Q4_0", "ov-Q4_K_M", "ort-int4")
PEER_ENGINES = ("llama.cpp", "openvino-genai", "onnxruntime-genai")
# What installs each peer: ./setup.sh installs the llm-peers extra (wheels); llama.cpp is a source build.
INSTALL = {"llama.cpp": "pip install '.[compare-llm]' (llama-cpp-python==0.3.36 gguf==0.19.0; builds llama.cpp)",
           "openvino-genai": "pip install '.[llm-peers]' (openvino-genai==2026.4.1 openvino-tokenizers==2026.4.*)",
           "onnxruntime-genai": "pip install '.[llm-peers]' (onnxruntime-genai==0.18.0)"}


def with_aa_twin(variants: list[str]) -> list[str]:
    """``variants`` with the A/A twin of the exporter's program added where that program runs."""
    twins = [name for name, v in VARIANTS.items() if v.aa_of and v.aa_of in variants and name not in variants]
    return list(variants) + twins


def aa_twin_of(name: str) -> str | None:
    """The A/A twin variant of ``name``, if there is one."""
    return next((twin for twin, v in VARIANTS.items() if v.aa_of == name), None)


def missing_packages(engine: str, variant: str = "") -> list[str]:
    """The Python packages an engine's rows need that are not installed (empty: it can run)."""
    import importlib.util

    needs = {"executorch": [], "llama.cpp": ["llama_cpp", "gguf"], "openvino-genai": ["openvino_genai", "gguf"],
             "onnxruntime-genai": ["onnxruntime_genai", "transformers", "safetensors"]}[engine]
    if variant.endswith("Q4_K_M"):  # the gguf package cannot write Q4_K: llama.cpp's quantizer does
        needs = needs + ["llama_cpp"]
    return [name for name in dict.fromkeys(needs) if importlib.util.find_spec(name) is None]


# ExecuTorch variants without suffixes, and what each changes from 8da4w (groups of --group_size).
_BASE_OPTIONS = {"8da4w": {}, "8da4w-kv8": {"quantize_kv_cache": True}, "8da4w-emb4": {"embedding_bits": 4},
                 "8da4w-fp32prefill": {"fp32_prefill": True}, "8da4w-out8": {"output_bits": 8}}


def executorch_options(variant: str, max_seq_len: int, group_size: int | None = None):
    """The export options of an ExecuTorch variant: ``fp32``, ``8da4w``, ``8da4w-g128``, ``8da4w-pc``
    (one int4 scale per output channel), ``8da4w-kv8`` (int8 KV cache), ``8da4w-emb4``,
    ``8da4w-fp32prefill`` (an fp32 prefill method), ``8da4w-out8`` (an 8-bit output projection);
    then, in this order, ``-fused`` (q/k/v and w1/w3 as one linear each), ``-merged`` (greedy XNNPACK
    partitions), ``-forms`` (RMSNorm and RoPE in XNNPACK forms) and ``-region`` (the layers one delegate,
    runtime/decode_region). An unknown name is a ValueError."""
    from examples.generation.llama_export import PER_CHANNEL, LlamaExportOptions

    name, suffixes = variant, {}
    for suffix, field_name in (("-region", "decode_region"), ("-forms", "xnnpack_forms"),
                               ("-merged", "merged_partitions"), ("-fused", "fuse_projections")):
        suffixes[field_name] = name.endswith(suffix)
        name = name.removesuffix(suffix)
    options = LlamaExportOptions(quantize=name != "fp32", max_seq_len=max_seq_len, **suffixes)
    if name == "fp32":
        return options
    if name == "8da4w-g128":
        return dataclasses.replace(options, group_size=128)
    if name == "8da4w-pc":
        return dataclasses.replace(options, group_size=PER_CHANNEL)
    if name not in _BASE_OPTIONS:
        raise ValueError(f"unknown ExecuTorch variant {variant!r}")
    chosen = options.group_size if group_size is None else group_size
    return dataclasses.replace(options, group_size=chosen, **_BASE_OPTIONS[name])
