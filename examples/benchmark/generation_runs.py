"""The token generation benchmark's work, without a command line (``generation_bench`` is the CLI):
build each model's programs once, run every engine through the one runner adapter
(:mod:`examples.runner.text_generation_client`), and tabulate.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from examples.benchmark.generation_variants import (EXECUTORCH_VARIANTS, INSTALL, VARIANTS, executorch_options,
                                                    missing_packages)


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
            if variant.native_only and runner != "native":
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
