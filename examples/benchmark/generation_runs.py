"""The token generation benchmark's work, without a command line (``generation_bench`` is the CLI):
build each model's programs once, run every engine through the one runner adapter
(:mod:`examples.runner.text_generation_client`), and tabulate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

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
    # The variant whose weights and quantization this one lowers otherwise (other delegate calls,
    # the same arithmetic up to summation order): the table pairs the two by round.
    lowering_of: str = ""


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
    # The same program with the runner's opt-in 2 MiB page backing: what it is worth.
    Variant("8da4w-2m", "executorch", "8da4w", 4, judged=False, follows_group_size=True,
            native_flags=("--huge_pages=true",)),
    # Result files of 2026-12-07, when the backing was on by default, have this row instead.
    Variant("8da4w-4k", "executorch", "8da4w", 4, judged=False, follows_group_size=True,
            native_flags=("--huge_pages=false",)),
    # The same program with the runner's earlier behaviours (docs/GENERATION.md, "The runner's
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
# What installs each peer (all three are in the compare-llm extra).
INSTALL = {"llama.cpp": "pip install '.[compare-llm]' (llama-cpp-python==0.3.36 gguf==0.19.0; builds llama.cpp)",
           "openvino-genai": "pip install '.[compare-llm]' (openvino-genai==2026.4.1 openvino-tokenizers==2026.4.*)",
           "onnxruntime-genai": "pip install '.[compare-llm]' (onnxruntime-genai==0.18.0)"}


def missing_packages(engine: str, variant: str = "") -> list[str]:
    """The Python packages an engine's rows need that are not installed (empty: it can run)."""
    import importlib.util

    needs = {"executorch": [], "llama.cpp": ["llama_cpp", "gguf"], "openvino-genai": ["openvino_genai", "gguf"],
             "onnxruntime-genai": ["onnxruntime_genai", "transformers", "safetensors"]}[engine]
    if variant.endswith("Q4_K_M"):  # the gguf package cannot write Q4_K: llama.cpp's quantizer does
        needs = needs + ["llama_cpp"]
    return [name for name in dict.fromkeys(needs) if importlib.util.find_spec(name) is None]


@dataclass
class Row:
    model: str
    engine: str  # "executorch (native)", "executorch (python-standin)", "llama.cpp", "openvino-genai", ...
    variant: str
    threads: int
    reports: list[dict] = field(default_factory=list)
    error: str | None = None
    missing: str | None = None  # not installed: the command that installs it
    bytes_per_token: dict | None = None  # examples.generation.bytes_per_token's accounting


def _stamp(path: Path, fields: dict) -> bool:
    """True when ``path`` was built from ``fields``: a program's card holds them (section
    ``build``: one card per program, never a second sidecar), a GGUF file's sidecar does."""
    if path.suffix == ".pte":
        from examples.integrity.card import CardError, read_card

        try:
            card = read_card(path)
        except CardError:
            return False
        return path.is_file() and card is not None and card.get("build") == fields
    sidecar = path.with_name(path.name + ".json")
    return path.is_file() and sidecar.is_file() and json.loads(sidecar.read_text()) == fields


def _write_stamp(path: Path, fields: dict) -> None:
    if path.suffix == ".pte":
        from examples.integrity.card import update_card

        update_card(path, build=fields)
        return
    from examples.common.atomic_write import write_bytes_atomic

    write_bytes_atomic(path.with_name(path.name + ".json"), json.dumps(fields).encode())


def _source(weights: str) -> str:
    source = weights if weights not in ("auto", "random") else "random:0"
    if source != "random:0":
        source += ":" + hashlib.sha1(Path(weights).read_bytes()[:1 << 20]).hexdigest()[:12]
    return source


# ExecuTorch variants without suffixes, and what each changes from 8da4w (groups of --group_size).
_BASE_OPTIONS = {"8da4w": {}, "8da4w-kv8": {"quantize_kv_cache": True}, "8da4w-emb4": {"embedding_bits": 4},
                 "8da4w-fp32prefill": {"fp32_prefill": True}, "8da4w-out8": {"output_bits": 8}}


def executorch_options(variant: str, max_seq_len: int, group_size: int | None = None):
    """The export options of an ExecuTorch variant: ``fp32``, ``8da4w``, ``8da4w-g128``, ``8da4w-pc``
    (one int4 scale per output channel), ``8da4w-kv8`` (int8 KV cache), ``8da4w-emb4``,
    ``8da4w-fp32prefill`` (an fp32 prefill method), ``8da4w-out8`` (an 8-bit output projection);
    then, in this order, ``-fused`` (q/k/v and w1/w3 as one linear each), ``-merged`` (greedy XNNPACK
    partitions) and ``-forms`` (RMSNorm and RoPE in XNNPACK forms). An unknown name is a ValueError."""
    from examples.generation.llama_export import PER_CHANNEL, LlamaExportOptions

    name, suffixes = variant, {}
    for suffix, field_name in (("-forms", "xnnpack_forms"), ("-merged", "merged_partitions"),
                               ("-fused", "fuse_projections")):
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


def account_bytes(model, artifacts: dict, variants: list[str], prompt_len: int, max_new_tokens: int) -> dict:
    """``{variant: bytes_per_token accounting}`` for the variants whose files exist."""
    from examples.common import cli
    from examples.generation.bytes_per_token import (BytesPerTokenError, bytes_per_token, decode_position,
                                                     int8_kv_bytes_per_element)

    position = decode_position(prompt_len, max_new_tokens)
    out = {}
    for name in variants:
        variant = VARIANTS[name]
        if variant.artifact in artifacts:
            try:
                kv_bytes = int8_kv_bytes_per_element(model.shape) if variant.kv_int8 else None
                out[name] = bytes_per_token(variant.engine, artifacts[variant.artifact], model.shape, position, kv_bytes)
            except BytesPerTokenError as error:
                cli.warning_line(f"bytes per token of {name}: {error}")
    return out


def build_artifacts(model, weights: str, folder: Path, max_seq_len: int, want_gguf: bool,
                    group_size: int | None = None, variants=None) -> dict[str, Path]:
    """The files the ``variants`` run (default: ExecuTorch fp32 / 8da4w, and with ``want_gguf``
    llama.cpp F32 / Q8_0 / Q4_0): .pte programs, .gguf files (Q4_K_M through llama.cpp's own
    quantizer, from the F32 file) and the ONNX Runtime GenAI folder. Each is rebuilt only when
    its weights or options changed (the stamp)."""
    from examples.generation.model_export import export_language_model
    from examples.generation.llama_export import options_stamp, program_filename as pte_filename

    if variants is None:
        variants = list(EXECUTORCH_VARIANTS) + (["F32", "Q8_0", "Q4_0"] if want_gguf else [])
    wanted = {VARIANTS[v].artifact for v in variants}
    folder.mkdir(parents=True, exist_ok=True)
    source = _source(weights)
    artifacts = {}
    for name in [v for v in VARIANTS if v in wanted and VARIANTS[v].engine == "executorch"]:
        options = executorch_options(name, max_seq_len, group_size)
        path = folder / pte_filename(model.name, options)
        fields = {"weights": source, "options": options_stamp(options)}
        if not _stamp(path, fields):
            export_language_model(model, options, weights, path)
            _write_stamp(path, fields)
        artifacts[name] = path
    state = _State(model, weights, folder)
    gguf_types = [t for t in ("F32", "Q8_0", "Q4_0", "Q4_K_M") if t in wanted]
    if "Q4_K_M" in wanted and "F32" not in gguf_types:
        gguf_types.insert(0, "F32")  # Q4_K_M is quantized from the F32 file
    for gguf_type in gguf_types:
        path = folder / f"{model.name}_{gguf_type}.gguf"
        fields = {"weights": source, "context_length": max_seq_len}
        if not _stamp(path, fields):
            print(f"writing {path.name}...", flush=True)
            if gguf_type == "Q4_K_M":
                from examples.generation.gguf_export import quantize_with_llama_cpp

                quantize_with_llama_cpp(artifacts["F32"], path, gguf_type)
            else:
                from examples.generation.gguf_export import write_gguf

                write_gguf(state.get(), model.shape, path, gguf_type, context_length=max_seq_len, name=model.name)
            _write_stamp(path, fields)
        artifacts[gguf_type] = path
    if "ort-int4" in wanted:
        from examples.generation.ort_genai_export import DEFAULT_ACCURACY_LEVEL, DEFAULT_BLOCK_SIZE, build_int4

        path = folder / f"{model.name}_ort_int4"
        fields = {"weights": source, "context_length": max_seq_len, "block_size": DEFAULT_BLOCK_SIZE,
                  "accuracy_level": DEFAULT_ACCURACY_LEVEL}
        stamp = path / "genai_config.json"
        if not _stamp(stamp, fields):
            print(f"building {path.name} (onnxruntime_genai model builder, int4)...", flush=True)
            build_int4(state.get(), model.shape, path, max_seq_len)
            _write_stamp(stamp, fields)
        artifacts["ort-int4"] = path
    return artifacts


class _State:
    """The model's weights (Meta layout), loaded on first use."""

    def __init__(self, model, weights: str, folder: Path):
        self.model, self.weights, self.folder, self.state = model, weights, folder, None

    def get(self) -> dict:
        if self.state is None:
            import torch

            from examples.models.llama_zoo import prepare_weights

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # export_language_model already warned
                prepared = prepare_weights(self.model, self.weights, self.folder / "weights")
            self.state = torch.load(prepared.checkpoint, weights_only=True)
        return self.state


def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def plan_for(artifacts: dict[str, Path], runner: str, variants=None) -> list[tuple[str, str, str]]:
    """``(engine label, variant, runner)`` in table order for the variants whose files exist."""
    names = variants or [v for v in VARIANTS if v in EXECUTORCH_VARIANTS or VARIANTS[v].engine == "llama.cpp"]
    plan = []
    for name in [v for v in VARIANTS if v in names]:
        variant = VARIANTS[name]
        if variant.artifact not in artifacts:
            continue
        if variant.engine == "executorch":
            if variant.native_flags and runner != "native":
                continue
            plan.append((f"executorch ({runner})", name, runner))
        else:
            plan.append((variant.engine, name, variant.engine))
    return plan


def run_model(model, artifacts: dict[str, Path], threads: list[int], runner: str, prompt: list[int],
              max_new_tokens: int, rounds: int, variants=None, before_round=None, order_seed: int = 0) -> list[Row]:
    """Every engine x variant x thread count once per round, rounds interleaved (drift on a shared
    machine then hits every configuration alike), in a new random order each round (seeded by
    ``order_seed``: a row that always ran right after a heavy one would carry its after-effects
    into every round); each run is its own process. ``before_round(i, n)`` runs before round
    ``i``'s runs at ``n`` threads (the bandwidth probe)."""
    import random

    from examples.runner.client import RunnerFailed
    from examples.runner.text_generation_client import generate_tokens

    plan = plan_for(artifacts, runner, variants)
    rows = {(n, engine, variant): Row(model.name, engine, variant, n) for n in threads for engine, variant, _ in plan}
    order = random.Random(order_seed)
    for round_index in range(rounds):
        for n in threads:
            if before_round is not None:
                before_round(round_index, n)
            for engine, variant, which in order.sample(plan, len(plan)):
                row = rows[(n, engine, variant)]
                if row.error:
                    continue
                print(f"round {round_index + 1}/{rounds}: {model.name} {engine} {variant}, {n} thread(s)...", flush=True)
                try:
                    row.reports.append(generate_tokens(artifacts[VARIANTS[variant].artifact], prompt, runner=which,
                                                       threads=n, max_new_tokens=max_new_tokens, timeout=1800,
                                                       extra_flags=VARIANTS[variant].native_flags))
                except RunnerFailed as error:
                    row.error = str(error)
    return list(rows.values())


def missing_rows(model_name: str, variants, threads: list[int]) -> list[Row]:
    """A row per variant whose engine is not installed, saying what installs it."""
    rows = []
    for name in variants:
        variant = VARIANTS[name]
        lacking = missing_packages(variant.engine, name)
        if lacking:
            engine = variant.engine
            rows += [Row(model_name, engine, name, n, missing=f"not installed ({', '.join(lacking)}): {INSTALL[engine]}")
                     for n in threads]
    return rows


def rss_growth_mib(report: dict) -> float | None:
    """Peak resident set minus the process's own before the model was loaded."""
    if not report.get("baseline_rss_kb"):
        return None
    return (report["peak_rss_kb"] - report["baseline_rss_kb"]) / 1024


def _median(rows_reports: list[dict], key) -> float | None:
    from examples.common.stats import median

    values = [key(r) for r in rows_reports]
    values = [v for v in values if v is not None]
    return median(values) if values else None


def ratios(rows: list[Row], ours: str = "8da4w", peer: str = "Q4_0") -> list[str]:
    """One line per model and thread count: ExecuTorch ``ours`` over llama.cpp ``peer``."""
    by_key = {(r.model, r.variant, r.threads): r for r in rows if r.reports and not r.error}
    lines = []
    for (model, variant, n), row in sorted(by_key.items()):
        other = by_key.get((model, peer, n))
        if variant != ours or other is None:
            continue
        parts = []
        for label, key, higher_better in (("prefill", lambda x: x["prefill_tok_s"], True),
                                          ("decode", lambda x: x["decode_tok_s"], True),
                                          ("TTFT", lambda x: x["time_to_first_token_ms"], False),
                                          ("RSS growth", rss_growth_mib, False)):
            a, b = _median(row.reports, key), _median(other.reports, key)
            if a is None or b is None or b == 0:
                continue
            parts.append(f"{label} {a / b:.2f}x" + ("" if higher_better else " (lower is better)"))
        lines.append(f"{model}, {n} thread(s): ExecuTorch {ours} / llama.cpp {peer}: " + ", ".join(parts))
    return lines


def row_figures(row: Row, bandwidth_gb_s: float | None = None, dram_gb_s: float | None = None) -> dict:
    """A measured row's medians (None where absent), its bytes per token and its decode speed
    as a fraction of the bandwidth limit (``bandwidth_gb_s``: the probe at the row's threads over
    a buffer the size of 8da4w's weights) and of the DRAM limit (``dram_gb_s``: the probe past the
    last-level cache)."""
    figures = {"prefill_tok_s": _median(row.reports, lambda x: x["prefill_tok_s"]),
               "decode_tok_s": _median(row.reports, lambda x: x["decode_tok_s"]),
               "ttft_ms": _median(row.reports, lambda x: x["time_to_first_token_ms"]),
               "peak_rss_mib": _median(row.reports, lambda x: x["peak_rss_kb"] / 1024),
               "rss_growth_mib": _median(row.reports, rss_growth_mib),
               "bytes_per_token": (row.bytes_per_token or {}).get("total"),
               "limit_tok_s": None, "fraction_of_limit": None, "dram_limit_tok_s": None,
               "fraction_of_dram_limit": None}
    from examples.generation.bandwidth import fraction_of_limit, limit_tok_s

    for prefix, gb_s in (("", bandwidth_gb_s), ("dram_", dram_gb_s)):
        if gb_s and figures["bytes_per_token"] and figures["decode_tok_s"]:
            figures[f"{prefix}limit_tok_s"] = limit_tok_s(gb_s, figures["bytes_per_token"])
            figures[f"fraction_of_{prefix}limit"] = fraction_of_limit(figures["decode_tok_s"], gb_s,
                                                                      figures["bytes_per_token"])
    return figures


LIMIT_HEADERS = ("limit tok/s (cache / DRAM)", "decode / limit (cache / DRAM)")


def limit_cells(figures: dict) -> list[str]:
    """The table's two limit cells: ``"799 / 437"`` tok/s and ``"54 % / 99 %"`` of them (the
    cache-sized probe's limit, then the DRAM probe's; ``-`` where not probed)."""
    def pair(first, second, pattern):
        shown = ["-" if v is None else pattern.format(v) for v in (first, second)]
        return "-" if shown == ["-", "-"] else " / ".join(shown)

    as_percent = [f and 100 * f for f in (figures["fraction_of_limit"], figures["fraction_of_dram_limit"])]
    return [pair(figures["limit_tok_s"], figures["dram_limit_tok_s"], "{:.0f}"), pair(*as_percent, "{:.0f} %")]


def _agreement(reference: list[int] | None, tokens: list[int]) -> str:
    from examples.generation.agreement import prefix_length

    return f"{prefix_length(reference, tokens)}/{len(reference)}" if reference else "-"


def table(rows: list[Row], llama_cpp_missing: bool = False, bandwidth: dict | None = None,
          dram: dict | None = None) -> str:
    """The benchmark's table: medians per row; ``bandwidth`` and ``dram`` ``{(model, threads): GB/s}``
    add bytes per token, the limits they imply and the fraction of them each row's decode reaches."""
    from tabulate import tabulate

    references = {(r.model, r.threads, r.variant): r.reports[0]["tokens"] for r in rows
                  if r.variant in ("fp32", "8da4w") and r.reports and not r.error}
    body = []
    blank = [""] * 10
    for r in rows:
        head = [r.model, r.engine, r.variant, r.threads]
        if r.missing:
            body.append(head + [r.missing] + blank[1:])
            continue
        if r.error or not r.reports:
            body.append(head + ["failed: " + (r.error or "no run")] + blank[1:])
            continue
        f = row_figures(r, (bandwidth or {}).get((r.model, r.threads)), (dram or {}).get((r.model, r.threads)))
        tokens = r.reports[0]["tokens"]

        def fmt(value, pattern):
            return "-" if value is None else pattern.format(value)

        body.append(head + [fmt(f["prefill_tok_s"], "{:.1f}"), fmt(f["decode_tok_s"], "{:.1f}"),
                            fmt(f["ttft_ms"], "{:.2f}"), fmt(f["peak_rss_mib"], "{:.0f}"),
                            fmt(f["rss_growth_mib"], "{:.0f}"),
                            fmt(f["bytes_per_token"] and f["bytes_per_token"] / 1e6, "{:.1f}"),
                            *limit_cells(f),
                            _agreement(references.get((r.model, r.threads, "fp32")), tokens),
                            _agreement(references.get((r.model, r.threads, "8da4w")), tokens)])
    if llama_cpp_missing and not any(r.engine == "llama.cpp" for r in rows):
        models = sorted({r.model for r in rows})
        body += [[m, "llama.cpp", "F32/Q8_0/Q4_0", "-", f"not installed: {INSTALL['llama.cpp']}"] + blank[1:]
                 for m in models]
    return tabulate(body, headers=["model", "engine", "variant", "threads", "prefill tok/s", "decode tok/s",
                                   "TTFT ms", "peak RSS MiB", "RSS growth MiB", "MB read/token", LIMIT_HEADERS[0],
                                   LIMIT_HEADERS[1], "greedy = fp32", "greedy = ET q4"], tablefmt="github")
