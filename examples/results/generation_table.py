"""The published generation table (docs/GENERATION.md, block ``results:generation``), generated
from the generation benchmark's result files committed under
``results/<cpu-class>/generation/<date>.json`` (a folder of their own: the latency tables read
``results/<cpu-class>/*.json`` and must not pick these up).

``python -m examples.backend.publish --add benchmark-out/generation/generation_bench.json`` copies
a run there (slimmed: no file paths, the greedy tokens of the first round only); ``publish``
rewrites the block from the newest file of each CPU class, machine and date under each table.
"""

from __future__ import annotations

import json
from pathlib import Path

GENERATION_DIR = "generation"
BLOCK = "generation"


def is_generation_doc(doc: dict) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "generation"


def generation_files(results_dir: Path) -> list[Path]:
    """The newest generation result file of each CPU class folder."""
    if not results_dir.is_dir():
        return []
    out = []
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        files = sorted((folder / GENERATION_DIR).glob("*.json"))
        if files:
            out.append(files[-1])
    return out


def slim_generation(doc: dict) -> dict:
    """A copy small enough to commit: per-round figures kept (verdicts can be recomputed), the
    greedy tokens of the first round only, no file paths."""
    from examples.results.publish import without_local_paths

    doc = json.loads(json.dumps(doc))
    for row in doc.get("rows") or []:
        for i, report in enumerate(row.get("reports") or []):
            report.pop("model_path", None)
            if i:
                report.pop("tokens", None)
    machine = doc.get("machine")
    if isinstance(machine, dict) and isinstance(machine.get("command"), list):
        machine["command"] = without_local_paths(machine["command"])
    return doc


def _rows(doc: dict) -> list:
    from examples.benchmark.generation_runs import Row

    fields = set(Row.__dataclass_fields__)
    return [Row(**{k: v for k, v in row.items() if k in fields}) for row in doc.get("rows") or []]


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def probes_by_row(doc: dict, rows: list) -> dict:
    """``{(model, threads): probe}`` from a result file: ``bandwidth`` is ``{model: {threads: probe}}``,
    or, in files written before runs probed per model, ``{threads: probe}`` for the run's one model."""
    stored = doc.get("bandwidth") or {}
    if all(str(key).isdigit() for key in stored):
        return {(model, int(n)): probe for model in {r.model for r in rows} for n, probe in stored.items()}
    return {(model, int(n)): probe for model, per_threads in stored.items() for n, probe in per_threads.items()}


def judged_goals(rows: list, probes: dict, group_size: int | None = None) -> list[dict]:
    """The goal cells judged now, from the file's per-round figures (``probes``: :func:`probes_by_row`),
    so every published file is judged by the same (current) rule whatever rule wrote its
    ``goals``. A file without the per-round probes has no limit verdict."""
    from examples.benchmark.generation_goals import goal_cells

    return goal_cells(rows, {key: p.get("rounds_gb_s") for key, p in probes.items()},
                      {key: p.get("dram_gb_s") for key, p in probes.items()}, group_size)


GLANCE_GOALS = (("decode", "decode >= 1.2x every 4-bit peer"), ("prefill", "prefill >= 1.2x every 4-bit peer"),
                 ("TTFT", "TTFT below every 4-bit peer"), ("bandwidth", "decode >= 80 % of its bandwidth limit"),
                 ("RSS growth", "RSS growth <= every 4-bit peer's"))


def goals_at_a_glance(goals: list[dict]) -> list[str]:
    """A goal x (model, threads) table of the goal lines' outcomes and the rows they judged."""
    from examples.results.render import md_table

    columns = sorted({(g["model"], g["threads"]) for g in goals})
    several = len({model for model, _ in columns}) > 1
    cell = {(g["goal"], g["model"], g["threads"]): g for g in goals}

    def outcome(goal: dict | None) -> str:
        if goal is None:
            return "-"
        word = goal.get("outcome") or ("met" if goal.get("met") else "not met")
        return f"**{word}**" + (f" ({goal['ours']})" if goal.get("ours") else "")

    header = ["goal (the lines below)"] + [f"{model + ', ' if several else ''}{n} thread(s)" for model, n in columns]
    body = [[label] + [outcome(cell.get((goal, *column))) for column in columns] for goal, label in GLANCE_GOALS]
    return md_table(header, body, numeric_from=len(header), text_last=True) if columns else []


def generation_lines(path: Path, root: Path) -> list[str]:
    """One run's table, goal lines and source lines."""
    from examples.benchmark.generation_goals import VERDICT_RULE
    from examples.benchmark.generation_runs import LIMIT_HEADERS, limit_cells, row_figures
    from examples.benchmark.generation_variants import EXPORTER_PROGRAM, VARIANTS
    from examples.common.machine import describe
    from examples.generation.agreement import prefix_length
    from examples.results.render import md_table

    doc = json.loads(path.read_text())
    rows = _rows(doc)
    probes = probes_by_row(doc, rows)
    bandwidth = {key: p["gb_s"] for key, p in probes.items()}
    dram = {key: p.get("dram_gb_s") for key, p in probes.items()}
    reference = {(r.model, r.threads): r.reports[0].get("tokens") for r in rows
                 if r.variant == EXPORTER_PROGRAM and r.reports and not r.error}
    body = []
    for r in rows:
        label = f"{r.engine.split(' (')[0]} {r.variant}"
        if r.missing:
            body.append([r.model, str(r.threads), label] + [r.missing] + [""] * 7)
            continue
        if r.error or not r.reports:
            body.append([r.model, str(r.threads), label] + ["failed: " + (r.error or "no run")] + [""] * 7)
            continue
        f = row_figures(r, bandwidth.get((r.model, r.threads)), dram.get((r.model, r.threads)))
        ref = reference.get((r.model, r.threads))
        tokens = r.reports[0].get("tokens")
        agree = f"{prefix_length(ref, tokens)}/{len(ref)}" if ref and tokens else "-"
        bits = VARIANTS[r.variant].weight_bits if r.variant in VARIANTS else None
        body.append([r.model, str(r.threads), label + ("" if bits != 4 else " (4-bit)"),
                     _fmt(f["prefill_tok_s"], "{:.0f}"), _fmt(f["decode_tok_s"], "{:.0f}"),
                     _fmt(f["ttft_ms"], "{:.1f}"), _fmt(f["rss_growth_mib"], "{:.0f}"),
                     _fmt(f["bytes_per_token"] and f["bytes_per_token"] / 1e6, "{:.1f}"),
                     *limit_cells(f), agree])
    header = ["model", "threads", "engine, variant", "prefill tok/s", "decode tok/s", "TTFT ms", "RSS growth MiB",
              "MB read/token", *LIMIT_HEADERS, "greedy = ET 8da4w"]
    lines = md_table(header, body, numeric_from=3, text_last=True) if body else ["No rows in this run."]
    lines += ["", LEGEND]
    settings = doc.get("settings") or {}
    goals = judged_goals(rows, probes, settings.get("group_size"))
    lines += [""] + goals_at_a_glance(goals)
    lines += [""] + [f"- {g['model']}, {g['threads']} thread(s): {g['text']}" for g in goals]
    several = len({model for model, _ in probes}) > 1
    bw = "; ".join(f"{model + ', ' if several else ''}{n} thread(s) {b['gb_s']:.1f} GB/s over {b['bytes'] / 2**20:.0f} MiB"
                   + (f", {b['dram_gb_s']:.1f} GB/s past the last-level cache" if b.get("dram_gb_s") else "")
                   for (model, n), b in sorted(probes.items()))
    machine = doc.get("machine") or {}
    git = machine.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (", dirty tree" if git.get("dirty") else "")
    versions = {**{k: v for k, v in (machine.get("packages") or {}).items() if k in ("executorch", "openvino")},
                **(doc.get("peer_packages") or {})}
    packages = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if v)
    try:
        source = path.resolve().relative_to(root.resolve())
    except ValueError:
        source = path
    lines += ["", f"Read bandwidth (probe before every round, median): {bw or 'not probed'}.",
              f"Machine: {describe(machine)}. Date: {doc.get('date')}. Commit {commit}"
              + (f"; {packages}" if packages else "") + ".",
              f"Command: `{' '.join(machine.get('command') or []) or 'unknown'}` (prompt {settings.get('prompt_len')} "
              f"tokens, {settings.get('max_new_tokens')} new tokens, {settings.get('rounds')} interleaved rounds, "
              f"ExecuTorch runner {doc.get('runner')}). File: `{source}`.",
              f"Method: {doc.get('method') or 'unknown'}.",
              f"Goal lines: {VERDICT_RULE}"]
    return lines


LEGEND = ("Columns: medians over the rounds; MB read/token: the weights a decode step multiplies (one embedding "
          "row) and the KV cache at the mean decode position; limit: read bandwidth / MB read per token, with the "
          "probe over a token's bytes (cache) and past the last-level cache (DRAM), and decode as a fraction of each "
          "(over 100 % of the DRAM limit: the weights came from the cache); greedy = ET 8da4w: how many leading "
          "greedy tokens equal ExecuTorch 8da4w's (first round). Goal lines print intervals rounded to two "
          "decimals; verdicts use the unrounded ends.")


def render_generation_block(root: Path) -> str:
    from examples.results.publish import COMMAND, RESULTS_DIR

    lines = [f"<!-- generated by `{COMMAND}` from {RESULTS_DIR}/*/{GENERATION_DIR}/: do not edit by hand -->", ""]
    files = generation_files(root / RESULTS_DIR)
    if not files:
        lines += [f"No published generation results: no `{RESULTS_DIR}/<cpu-class>/{GENERATION_DIR}/` file yet."]
    for path in files:
        doc = json.loads(path.read_text())
        # the ISA class and the folder: two machines of one class (AMX Xeons of two models) differ here
        isa = (doc.get("machine") or {}).get("isa_class", "unknown ISA")
        lines += [f"**{isa}**, `{path.parent.parent.name}` ({doc.get('date')})", ""]
        lines += generation_lines(path, root) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def add_generation_run(root: Path, source: Path) -> Path:
    """Copy a generation result (slimmed) to ``results/<cpu-class>/generation/<date>.json``."""
    from examples.common.atomic_write import write_text_atomic
    from examples.results.publish import RESULTS_DIR, PublishError, cpu_class

    doc = json.loads(Path(source).read_text())
    if not is_generation_doc(doc):
        raise PublishError(f"{source}: not a generation benchmark result")
    if not any(row.get("reports") for row in doc.get("rows") or []):
        raise PublishError(f"{source}: no measured rows to publish")
    target = root / RESULTS_DIR / cpu_class(doc["machine"]) / GENERATION_DIR / f"{doc['date']}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, json.dumps(slim_generation(doc), indent=1) + "\n")
    return target
