"""What tune writes: the winning programs (one per thread count), ``tune.json`` and ``tune.md``."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from tabulate import tabulate

from examples.common.atomic_write import write_bytes_atomic, write_text_atomic


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def render_markdown(doc: dict) -> str:
    if doc.get("kind") == "language-model":
        return render_language_model(doc)
    threads = doc["threads"]
    rows = []
    for c in doc["candidates"] + ([doc["aa"]] if doc.get("aa") else []):
        sqnr = "identical" if c["identical_to_eager"] else ("-" if c["sqnr_db"] is None else f"{c['sqnr_db']:.1f}")
        row = [c["name"], c["precision"], sqnr]
        if doc["budget"]["eval_data"]:
            row.append("-" if c["top1_drop_points"] is None else f"{c['top1_drop_points']:+.2f}")
        row += [_ms(c["times"].get(str(t), {}).get("median_ms")) for t in threads]
        row += ["-" if c["size_bytes"] is None else f"{c['size_bytes'] / 1e6:.3g}", c["status"], c["reason"]]
        rows.append(row)
    header = ["candidate", "precision", "SQNR vs eager (dB)"]
    if doc["budget"]["eval_data"]:
        header.append("top-1 drop (points)")
    header += [f"median {t}T (ms)" for t in threads] + ["size (MB)", "status", "reason"]
    t = doc["timing"]
    budget = doc["budget"]
    lines = [
        *_title_and_machine(doc, ""),
        f"Budget: SQNR >= {budget['min_sqnr_db']:g} dB on {budget['held_out_inputs']} held-out inputs"
        + (f", top-1 drop <= {budget['max_top1_drop_points']:g} points on {budget['eval_data']}"
           if budget["eval_data"] else "") + f"; objective: {doc['objective']}.",
        f"Timing: native runner, {t['warmup_iters']} warm-up + {t['num_iters']} measured iterations, "
        f"{t['rounds']} interleaved rounds, medians ({t['percentile_method']}).", "",
        tabulate(rows, header, tablefmt="github"), "",
    ]
    return "\n".join(lines + _winner_lines(doc)) + "\n"


def render_language_model(doc: dict) -> str:
    """tune.md of a language model: every candidate's accuracy against eager and figures per thread count."""
    threads, timing = doc["threads"], doc["timing"]
    rows = []
    for c in doc["candidates"] + ([doc["aa"]] if doc.get("aa") else []):
        agree = "-" if c["greedy_agreement"] is None else f"{100 * c['greedy_agreement']:.0f} %"
        sqnr = "identical" if c.get("identical_to_eager") else _ms(c["sqnr_db"])
        row = [c["name"], sqnr, agree]
        for t in threads:
            f = c["figures"].get(str(t), {})
            row += [_ms(1e3 / f["latency"]) if f.get("latency") else "-", _ms(f.get("first_result"))]
        row += [_ms(max((f["memory"] for f in c["figures"].values() if f.get("memory") is not None), default=None)),
                "-" if c["size_bytes"] is None else f"{c['size_bytes'] / 1e6:.3g}", c["status"], c["reason"]]
        rows.append(row)
    header = ["candidate", "SQNR vs eager (dB)", "greedy = eager"]
    for t in threads:
        header += [f"decode {t}T (tok/s)", f"TTFT {t}T (ms)"]
    header += ["RSS growth (MiB, most of any thread count)", "size (MB)", "status", "reason"]
    budget = doc["budget"]
    lines = [
        *_title_and_machine(doc, " (language model)"),
        f"Budget: {budget['check']}; SQNR at most {budget['max_sqnr_loss_db']:g} dB below {budget['against']}'s; "
        f"objective: {doc['objective_figure']}.",
        f"Timing: native text generation runner, prompt {timing['prompt_len']} tokens, {timing['max_new_tokens']} "
        f"new tokens, {timing['rounds']} interleaved rounds, medians; {timing['selection']}.", "",
        tabulate(rows, header, tablefmt="github"), "",
    ]
    return "\n".join(lines + _winner_lines(doc)) + "\n"


def _title_and_machine(doc: dict, kind: str) -> list[str]:
    m = doc["machine"]
    return [f"# tune: {doc['model']}{kind}" + (" (partial: interrupted)" if doc["partial"] else ""), "",
            f"Machine: {m.get('cpu_model')} ({', '.join(m.get('isa') or []) or 'no ISA flags read'}), "
            f"{m.get('usable_cpus')} usable CPUs; run {m.get('started')}; weights: {doc['weights']}."]


def _winner_lines(doc: dict) -> list[str]:
    verdicts = doc.get("winner_verdicts") or {}
    flags = doc.get("winner_runner_flags") or {}
    lines = [f"- {threads} thread(s): **{name}**" + _verdict_text(verdicts.get(threads))
             + (_runner_option_text(doc, threads, name, flags[threads]) if flags.get(threads) else "")
             for threads, name in doc["winners"].items()]
    lines += [f"- {threads} thread(s): no winner ({v['verdict']})" for threads, v in verdicts.items()
              if threads not in doc["winners"]]
    if doc["weights"] == "random":
        lines += ["", "Weights are random: SQNR figures judge numerics, not task accuracy."]
    return lines


def _runner_option_text(doc: dict, threads: str, name: str, flags: list[str]) -> str:
    """How to run a winner that is a runner option, and what the option costs at load (no
    objective counts load time)."""
    def load_ms(candidate: str) -> float | None:
        row = next((c for c in doc["candidates"] if c["name"] == candidate), None)
        values = [r["load_ms"] for r in (row or {}).get("rounds", {}).get(threads, []) if r.get("load_ms") is not None]
        return statistics.median(values) if values else None

    text = (f"; run it with `{' '.join(flags)}` (text_generation_runner applies it from the program's card "
            f"at {threads} thread(s))")
    mine, default = load_ms(name), load_ms(doc["budget"]["against"])
    if mine is not None and default is not None:
        text += f"; load {mine:.0f} ms against {default:.0f} ms without it (median)"
    return text


def _verdict_text(v: dict | None) -> str:
    """The winner against the default program, judged on rounds that did not choose it."""
    if not v or v.get("against") is None:
        return "" if not v else f" ({v['verdict']})"
    floor = f", noise floor {100 * v['noise_floor']:.1f} %" if v.get("noise_floor") else ""
    if v.get("kept_default"):
        interval = "" if v["ci_low"] is None else f" [{v['ci_low']:.2f}, {v['ci_high']:.2f}]"
        return (f" (kept: {v['challenger']} was fastest on the choosing rounds; against {v['against']} on the "
                f"judging rounds {v['ratio']:.2f}x{interval}, {v['text']}{floor})")
    if v["ci_low"] is None:
        return f"; against {v['against']}: {v['ratio']:.2f}x, {v['text']}"
    word = {"faster": "faster", "slower": "slower"}.get(v["verdict"], "no difference within noise")
    floor = f" (noise floor {100 * v['noise_floor']:.1f} %)" if v.get("noise_floor") else ""
    return f"; against {v['against']}: {v['ratio']:.2f}x [{v['ci_low']:.2f}, {v['ci_high']:.2f}], {word}{floor}"


def write_outputs(doc: dict, winners: dict, output_dir: Path, model: str) -> list[Path]:
    """``<model>_tuned_t<N>.pte`` per thread count, ``<model>_tuned.pte`` (the first), tune.json,
    tune.md; every file written atomically."""
    from examples.integrity.card import read_card, write_card

    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (threads, result) in enumerate(sorted(winners.items())):
        data = Path(result.program).read_bytes()
        names = [f"{model}_tuned_t{threads}.pte"] + ([f"{model}_tuned.pte"] if index == 0 else [])
        for name in names:
            written.append(write_bytes_atomic(output_dir / name, data))
            card = read_card(result.program)
            if card is not None:  # the program's card travels with it, saying where it was tuned
                card = dict(card, program=dict(card["program"], file=name), tuned_cpu=doc["machine"].get("cpu_model"))
                runner_flags = (doc.get("winner_runner_flags") or {}).get(str(threads))
                if runner_flags:  # a runner option won with the program: the card says how to run it, and at
                    card["tuned_runner_flags"] = runner_flags  # which thread count it won
                    card["tuned_threads"] = threads
                card.pop("cache", None)
                written.append(write_card(output_dir / name, card))
    written.append(write_text_atomic(output_dir / "tune.json", json.dumps(doc, indent=2, default=str)))
    written.append(write_text_atomic(output_dir / "tune.md", render_markdown(doc)))
    return written


