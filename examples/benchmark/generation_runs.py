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


@dataclass
class Row:
    model: str
    engine: str  # "executorch (native)", "executorch (python-standin)", "llama.cpp"
    variant: str
    threads: int
    reports: list[dict] = field(default_factory=list)
    error: str | None = None


def prompt_tokens(length: int, vocab_size: int) -> list[int]:
    """BOS then fixed ids spread over the vocabulary: the same prompt for every engine."""
    return [1] + [(7 + 37 * i) % (vocab_size - 3) + 3 for i in range(length - 1)]


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


def build_artifacts(model, weights: str, folder: Path, max_seq_len: int, want_gguf: bool,
                    group_size: int | None = None) -> dict[str, Path]:
    """The model's programs: ExecuTorch fp32 / 8da4w (.pte) and, with llama.cpp, F32 / Q8_0 / Q4_0 (.gguf)."""
    import torch

    from examples.generation.model_export import export_language_model
    from examples.generation.gguf_export import GGUF_TYPES, write_gguf
    from examples.generation.llama_export import LlamaExportOptions, program_filename as pte_filename
    from examples.models.llama_zoo import prepare_weights

    folder.mkdir(parents=True, exist_ok=True)
    source = weights if weights not in ("auto", "random") else "random:0"
    if source != "random:0":
        source += ":" + hashlib.sha1(Path(weights).read_bytes()[:1 << 20]).hexdigest()[:12]
    artifacts = {}
    for quantize in (False, True):
        options = LlamaExportOptions(quantize=quantize, max_seq_len=max_seq_len)
        if quantize and group_size:
            options = dataclasses.replace(options, group_size=group_size)
        path = folder / pte_filename(model.name, options)
        fields = {"weights": source, "options": repr(options)}
        if not _stamp(path, fields):
            export_language_model(model, options, weights, path)
            _write_stamp(path, fields)
        artifacts[options.mode] = path
    if want_gguf:
        prepared = None
        for gguf_type in GGUF_TYPES:
            path = folder / f"{model.name}_{gguf_type}.gguf"
            fields = {"weights": source, "context_length": max_seq_len}
            if not _stamp(path, fields):
                if prepared is None:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # export_language_model already warned
                        prepared = prepare_weights(model, weights, folder / "weights")
                    state = torch.load(prepared.checkpoint, weights_only=True)
                print(f"writing {path.name}...", flush=True)
                write_gguf(state, model.shape, path, gguf_type, context_length=max_seq_len, name=model.name)
                _write_stamp(path, fields)
            artifacts[gguf_type] = path
    return artifacts


def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def run_model(model, artifacts: dict[str, Path], threads: list[int], runner: str, prompt: list[int],
              max_new_tokens: int, rounds: int) -> list[Row]:
    """Every engine x variant x thread count once per round, rounds interleaved (drift on a shared
    machine then hits every configuration alike); each run is its own process."""
    from examples.runner.client import RunnerFailed
    from examples.runner.text_generation_client import generate_tokens

    plan = [(f"executorch ({runner})", v, runner) for v in EXECUTORCH_VARIANTS if v in artifacts]
    plan += [("llama.cpp", v, "llama.cpp") for v in ("F32", "Q8_0", "Q4_0") if v in artifacts]
    rows = {(n, engine, variant): Row(model.name, engine, variant, n) for n in threads for engine, variant, _ in plan}
    for round_index in range(rounds):
        for n in threads:
            for engine, variant, which in plan:
                row = rows[(n, engine, variant)]
                if row.error:
                    continue
                print(f"round {round_index + 1}/{rounds}: {model.name} {engine} {variant}, {n} thread(s)...", flush=True)
                try:
                    row.reports.append(generate_tokens(artifacts[variant], prompt, runner=which, threads=n,
                                                       max_new_tokens=max_new_tokens, timeout=1800))
                except RunnerFailed as error:
                    row.error = str(error)
    return list(rows.values())


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


def table(rows: list[Row], llama_cpp_missing: bool) -> str:
    from tabulate import tabulate

    from examples.common.stats import median
    from examples.generation.agreement import prefix_length

    reference = {(r.model, r.threads): r.reports[0]["tokens"] for r in rows
                 if r.variant == "fp32" and r.reports}
    body = []
    for r in rows:
        if r.error or not r.reports:
            body.append([r.model, r.engine, r.variant, r.threads, "failed: " + (r.error or "no run"), "", "", "", "", ""])
            continue
        ref = reference.get((r.model, r.threads))
        agree = f"{prefix_length(ref, r.reports[0]['tokens'])}/{len(ref)}" if ref else "-"
        body.append([r.model, r.engine, r.variant, r.threads,
                     f"{median([x['prefill_tok_s'] for x in r.reports]):.1f}",
                     f"{median([x['decode_tok_s'] for x in r.reports]):.1f}",
                     f"{median([x['time_to_first_token_ms'] for x in r.reports]):.2f}",
                     f"{median([x['peak_rss_kb'] for x in r.reports]) / 1024:.0f}",
                     "-" if _median(r.reports, rss_growth_mib) is None else f"{_median(r.reports, rss_growth_mib):.0f}",
                     agree])
    if llama_cpp_missing:
        models = sorted({r.model for r in rows})
        body += [[m, "llama.cpp", "F32/Q8_0/Q4_0", "-", "not installed: pip install '.[compare-llm]'", "", "", "", "", ""]
                 for m in models]
    return tabulate(body, headers=["model", "engine", "variant", "threads", "prefill tok/s", "decode tok/s",
                                   "TTFT ms", "peak RSS MiB", "RSS growth MiB", "greedy = fp32"], tablefmt="github")
