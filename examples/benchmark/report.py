"""Report writers: Markdown (the classic table and the details), JSON, and a PNG chart.

JSON document (``benchmark.json``, ``schema_version`` 1)::

    schema, schema_version, created, wall_seconds
    machine     {cpu_model, isa[], logical_cpus, usable_cpus, arch, os, python}
    packages    {torch, torchvision, executorch, torchao, onnxruntime, onnx, ...: version | null}
    settings    {models[], backends[], threads[], warmup_iters, num_iters,
                 portable_warmup_iters, portable_iters, weights, calibration_data, runner}
    models      {name: {weights, random_weights, description, quant_recipe, inputs[[shape]],
                        calibration, random_calibration}}
    records     [one per model x backend x threads, keys: harness.RECORD_KEYS]
    comparisons [{model, threads, accuracy_class, executorch_backend, executorch_median_ms, peer_backend,
                  peer_median_ms, ratio}]   ratio < 1: ExecuTorch is faster (per accuracy class)

Record: model, backend, label, kind ("executorch"|"peer"), threads, status ("ok"|"failed"|
"not installed"), error (one line or null), warmup_iters, measured_iters,
first_iteration_ms, mean_ms, median_ms, p90_ms, min_ms, max_ms, load_ms, init_ms (null for
peers: session creation / model build is all in load_ms), time_to_first_result_ms,
peak_rss_bytes, program_file, program_size_bytes, export_seconds, export_reused, conversion,
version, max_abs_error, sqnr_db (null: identical outputs or undefined), accuracy_reference,
speedup_vs_1_thread (null when 1 thread was not run). Unmeasured values are null.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

from examples.benchmark.backends import BACKENDS
from examples.common.atomic_write import write_bytes_atomic, write_text_atomic
from examples.benchmark.records import AA_BACKEND, aa_check, aa_floor
from examples.common import stats
from examples.common.metrics import DEFAULT_MIN_SQNR_DB
from examples.common.result_format import method_text, method_version

MARKDOWN_NAME = "benchmark.md"
JSON_NAME = "benchmark.json"
CHART_NAME = "benchmark.png"


def fmt_ms(value) -> str:
    """Floored whole ms from 10 ms up (as the classic tables); 2 decimals from 1 ms, 3 below."""
    if value is None:
        return "-"
    if value >= 10:
        return str(math.floor(value))
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def _fmt(value, spec: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def _mib(value) -> str:
    return "-" if value is None else f"{value / 2**20:.0f}"


def _mb(value) -> str:
    return "-" if value is None else f"{value / 1e6:.2f}"


def _status_cell(record: dict) -> str:
    return "not installed" if record["status"] == "not installed" else "failed"


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or ("l" + "r" * (len(header) - 1))
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _row_label(r: dict) -> str:
    same = r.get("same_as")
    return r["label"] + (f" (same program as {BACKENDS[same].label}: one row in verdicts)" if same else "")


def classic_table(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        if r["status"] == "ok":
            rows.append([_row_label(r), fmt_ms(r["first_iteration_ms"]), fmt_ms(r["mean_ms"])])
        else:
            rows.append([r["label"], _status_cell(r), _status_cell(r)])
    return _table(["backend", "first iteration (ms)", "subsequent iteration (ms)"], rows)


def _accuracy(r: dict) -> tuple[str, str]:
    if r["status"] != "ok" or r["max_abs_error"] is None:
        return "-", "-"
    if r["backend"] == "eager":
        return "reference", "reference"
    sqnr = "inf" if r["sqnr_db"] is None and r["max_abs_error"] == 0 else _fmt(r["sqnr_db"])
    return f"{r['max_abs_error']:.3g}", sqnr


def details_table(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        if r["status"] != "ok":
            rows.append([r["label"], f"{r['status']}: {r['error'] or ''}".replace("|", "/")] + ["-"] * 10)
            continue
        err, sqnr = _accuracy(r)
        export = "-" if r["export_seconds"] is None else (
            f"{r['export_seconds']:.1f}" + (" (cached)" if r["export_reused"] else ""))
        rows.append([r["label"], f"{r['warmup_iters']} + {r['measured_iters']}", fmt_ms(r["median_ms"]),
                     fmt_ms(r["p90_ms"]), fmt_ms(r["min_ms"]), fmt_ms(r["time_to_first_result_ms"]),
                     _mib(r["peak_rss_bytes"]), _mb(r["program_size_bytes"]), export, err, sqnr])
    header = ["backend", "warm-up + measured", "median (ms)", "p90 (ms)", "min (ms)", "time to first result (ms)",
              "peak RSS (MiB)", "file size (MB)", "export (s)", "max abs error", "SQNR (dB)"]
    return _table(header, rows)


def verdict_text(v: dict, faster: str, slower: str) -> str:
    """A stored verdict (``stats.Verdict.as_dict``) in words, with its interval and floor."""
    if v["verdict"] == stats.TOO_FEW_ROUNDS:
        return (f"{v['ratio']:.2f}x, not enough rounds for a verdict (need {stats.MIN_VERDICT_ROUNDS} judged, "
                f"have {v['rounds_judged']})")
    word = {stats.FASTER: faster, stats.SLOWER: slower}.get(v["verdict"], "within noise")
    floor = f", noise floor {100 * v['noise_floor']:.1f} %" if v.get("noise_floor") else ""
    return f"{v['ratio']:.2f}x [{v['ci_low']:.2f}, {v['ci_high']:.2f}] ({word}{floor})"


def ratio_line(comparison: dict) -> str:
    cls = comparison.get("accuracy_class", "overall")
    scope = {"overall": "overall",
             "in-budget": f"in budget (SQNR vs eager >= {DEFAULT_MIN_SQNR_DB:g} dB, tune's default)"}.get(
        cls, f"{cls} (SQNR vs eager {'>=' if cls == 'fp32-class' else '<'} 40 dB)")
    if comparison.get("verdict") is None:  # written before verdicts were stored: no interval to show
        return f"{scope}: ratio {comparison['ratio']:.2f}x (no interval stored; re-render with --report_from)"
    how = "; rows chosen on other rounds" if comparison.get("held_out_selection") else ""
    return (f"{scope}: best ExecuTorch ({BACKENDS[comparison['executorch_backend']].label}, "
            f"{fmt_ms(comparison['executorch_median_ms'])} ms) / best peer "
            f"({BACKENDS[comparison['peer_backend']].label}, {fmt_ms(comparison['peer_median_ms'])} ms) = "
            f"**{verdict_text(comparison, 'ExecuTorch faster', 'peer faster')}**{how}")


def aa_line(cell: list[dict]) -> str | None:
    """The cell's A/A check: one program measured as two rows; its spread is the noise floor."""
    aa = aa_check([r for r in cell if r["status"] == "ok"])
    if aa is None:
        return None
    twin = next(r for r in cell if r["backend"] == AA_BACKEND)
    miss = " - the identical rows differ beyond their interval: a noisy machine" if aa.decided else ""
    return (f"A/A ({BACKENDS[twin['aa_of']].label} measured twice): {aa.ratio:.3f}x {aa.interval_text()}, "
            f"{_floor_text(aa)}{miss}")


def _floor_text(aa: stats.Verdict) -> str:
    if aa.low is None:
        return f"no noise floor ({aa.describe()})"
    return f"noise floor {100 * stats.noise_floor(aa):.1f} % over every round"


def _machine_lines(doc: dict) -> list[str]:
    m = doc["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in doc["packages"].items() if v)
    missing = [k for k, v in doc["packages"].items() if not v]
    return [
        f"- Machine: {m['cpu_model']} ({m['arch']}, {m['usable_cpus']} of {m['logical_cpus']} CPUs usable), {m['os']}, "
        f"Python {m['python']}",
        f"- ISA: {', '.join(m['isa']) or 'none of the tracked extensions'}",
        _int8_line(m.get("int8")),
        f"- Packages: {packages}" + (f" (not installed: {', '.join(missing)})" if missing else ""),
    ]


def _int8_line(int8: dict | None) -> str:
    if not int8:
        return "- int8 instructions: unknown"
    return (f"- int8 instructions: {int8['int8_level']} ({int8.get('reason', '')}); whether q8 pays is the q8 / fp32 "
            "line of each cell below")


def q8_speedup_line(records: list[dict], int8: dict | None) -> str | None:
    """XNNPACK q8 against fp32 in one model x threads cell, judged by the one verdict rule
    (the cell's A/A floor), next to the CPU's int8 level."""
    by_backend = {r["backend"]: r for r in records if r["status"] == "ok" and r.get("rounds_samples_ms")}
    fp32, q8 = by_backend.get("xnnpack_fp32"), by_backend.get("xnnpack_q8")
    if not (fp32 and q8):
        return None
    count = min(len(fp32["rounds_samples_ms"]), len(q8["rounds_samples_ms"]))
    verdict = stats.judge(fp32["rounds_samples_ms"][:count], q8["rounds_samples_ms"][:count], paired=True,
                          floor=aa_floor(list(by_backend.values()), list(range(count))))
    level = int8["int8_level"] if int8 else "unknown"
    return (f"q8 / fp32 (XNNPACK, medians): **{verdict_text(verdict.as_dict(), 'q8 faster', 'q8 slower')}** "
            f"(CPU int8 instructions: {level})")


def _methodology_lines(doc: dict) -> list[str]:
    s = doc["settings"]
    return [
        f"- Methodology: the first iteration is reported alone; \"subsequent iteration\" is the mean of "
        f"{s['num_iters']} iterations after {s['warmup_iters']} warm-up iterations (iteration 1 counts as warm-up; "
        f"portable: {s['portable_iters']} iterations after {s['portable_warmup_iters']} warm-up, because portable "
        f"kernels are orders of magnitude slower). Times in ms, floored from 10 ms up (as the classic tables)."
        + (f" Every figure is the median over {s['rounds']} rounds run interleaved across backends"
           + (f" ({s['order']} order)." if s.get("order") else ".") if s.get("rounds", 1) > 1
           else " One round per backend: no verdicts.")
        + f" Percentiles: {s.get('percentile_method', 'nearest rank')}.",
        "- ExecuTorch programs run through the native runner "
        f"(`{s['runner'] or 'cmake-out/xnn_executor_runner'}`), which sets the inputs on every iteration (the "
        "toolkit's programs read them in place: inputs are not memory-planned, so no copy); peers run in a "
        "fresh Python subprocess each (peak RSS includes the interpreter and its imports), with their inputs bound once (ONNX Runtime: I/O binding; OpenVINO: "
        "tensors sharing the arrays), so that their loop times the engine, not Python. Same inputs, same "
        "thread count for all.",
        "- Time to first result: ExecuTorch = program load + method init + first iteration; ONNX Runtime = "
        "session creation + first run; eager = model build + first run.",
        "- Accuracy: max abs error and SQNR (dB) of each backend's outputs against eager PyTorch fp32 "
        "on the benchmark inputs.",
        f"- Measured with {method_text(doc)}." + _rerendered(doc),
    ]


def _rerendered(doc: dict) -> str:
    """Re-rendered runs: the verdicts use this toolkit's statistics, the timings the stored method."""
    now = doc.get("verdicts_method_version")
    if now is None or now == method_version(doc):
        return ""
    return f" Re-rendered: verdicts recomputed with method {now}'s statistics from the stored rounds."


def render_markdown(doc: dict) -> str:
    s = doc["settings"]
    lines = ["# ExecuTorch XNNPACK benchmark", ""]
    if doc.get("partial"):
        lines += ["**Partial run** (interrupted): cells marked `not run` were never measured.", ""]
    lines += _machine_lines(doc) + _methodology_lines(doc) + [""]
    for name, model in doc["models"].items():
        if model["random_weights"]:
            lines.append(f"> **{name}: RANDOM weights.** Latency figures are valid; accuracy figures (and the "
                         "quantization error) are meaningless.")
            lines.append("")
    records = doc["records"]
    for name, model in doc["models"].items():
        calib = f"; calibration: {model['calibration']}" if model.get("calibration") else ""
        for threads in s["threads"]:
            cell = [r for r in records if r["model"] == name and r["threads"] == threads]
            if not cell:
                continue
            lines += [f"## {name} - {threads} thread{'s' if threads != 1 else ''}", "",
                      f"{model['description']}; inputs {' '.join('x'.join(map(str, i)) for i in model['inputs'])}; "
                      f"weights: {model['weights']}{calib}", ""]
            lines += classic_table(cell) + [""]
            aa = aa_line(cell)
            lines += [aa, ""] if aa else ["No A/A twin in this cell: verdicts have no measured noise floor.", ""]
            for c in doc["comparisons"]:
                if c["model"] == name and c["threads"] == threads:
                    lines += [ratio_line(c), ""]
            speedup = q8_speedup_line(cell, doc["machine"].get("int8"))
            if speedup:
                lines += [speedup, ""]
            lines += details_table(cell) + [""]
    if len(s["threads"]) > 1:
        lines += ["## Thread scaling", "", "Mean latency (ms) and speed-up vs 1 thread.", ""]
        rows = []
        for name in doc["models"]:
            for backend in s["backends"]:
                cells = {r["threads"]: r for r in records if r["model"] == name and r["backend"] == backend}
                row = [name, BACKENDS[backend].label]
                for t in s["threads"]:
                    r = cells.get(t)
                    if r is None or r["status"] != "ok":
                        row.append(r["status"] if r else "-")
                    else:
                        speed = f" ({r['speedup_vs_1_thread']:.2f}x)" if r["speedup_vs_1_thread"] else ""
                        row.append(f"{fmt_ms(r['mean_ms'])}{speed}")
                rows.append(row)
        lines += _table(["model", "backend"] + [f"{t} thread{'s' if t != 1 else ''}" for t in s["threads"]],
                        rows, "ll" + "r" * len(s["threads"])) + [""]
    lines += ["## How each backend was built and run", ""]
    seen = set()
    for r in records:
        key = (r["model"], r["backend"])
        if key in seen or r["status"] == "not installed":
            continue
        seen.add(key)
        version = f" [{r['version']}]" if r["version"] else ""
        ran_in = f"; ran in {r['precision']}" if r.get("precision") else ""
        lines.append(f"- {r['model']} / {r['label']}{version}: {r['conversion'] or r['error'] or '-'}{ran_in}")
    if any(r["backend"].startswith("ort") for r in records):
        lines.append("- ONNX Runtime sessions: CPUExecutionProvider, intra_op_num_threads=T, inter_op_num_threads=1, "
                     "ORT_SEQUENTIAL, graph optimization level ORT_ENABLE_ALL.")
    if any(r["backend"].startswith("ov_") for r in records):
        lines.append("- Native OpenVINO: CPU plugin, PERFORMANCE_HINT=LATENCY, NUM_STREAMS=1, INFERENCE_NUM_THREADS=T; "
                     "the precision each row ran in is its compiled model's INFERENCE_PRECISION_HINT.")
    problems = [r for r in records if r["status"] != "ok"]
    if problems:
        lines += ["", "## Failed or not installed", ""]
        lines += [f"- {r['model']} / {r['label']} / {r['threads']} thread(s): {r['status']}: {r['error']}"
                  for r in problems]
    return "\n".join(lines).rstrip() + "\n"


def render_json(doc: dict) -> str:
    return json.dumps(doc, indent=2, allow_nan=False, default=str) + "\n"


def render_chart(doc: dict) -> bytes:
    """Grouped bars: mean latency per backend for each model x thread count, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in doc["records"] if r["status"] == "ok" and r["mean_ms"]]
    cells = []
    for name in doc["models"]:
        for t in doc["settings"]["threads"]:
            cells.append((name, t))
    backends = [b for b in doc["settings"]["backends"] if any(r["backend"] == b for r in records)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 + len(cells) * (0.5 + 0.35 * max(1, len(backends)))), 4.5))
    width = 0.8 / max(1, len(backends))
    for i, backend in enumerate(backends):
        xs, ys = [], []
        for j, (name, t) in enumerate(cells):
            for r in records:
                if r["model"] == name and r["threads"] == t and r["backend"] == backend:
                    xs.append(j + (i - (len(backends) - 1) / 2) * width)
                    ys.append(r["mean_ms"])
        ax.bar(xs, ys, width, label=BACKENDS[backend].label)
    ax.set_yscale("log")
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([f"{n}\n{t} thread{'s' if t != 1 else ''}" for n, t in cells])
    ax.set_ylabel("mean latency per iteration (ms, log scale)")
    from examples.common.machine import plot_title

    ax.set_title(plot_title("ExecuTorch vs peers (lower is better)", doc["machine"], doc["created"][:10]),
                 fontsize="medium")
    if backends:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no successful runs", transform=ax.transAxes, ha="center")
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def write_reports(doc: dict, output_dir: Path, extra_markdown: str = "") -> dict[str, Path]:
    """Write the Markdown (with ``extra_markdown`` appended, e.g. accuracy tables), JSON and PNG
    files atomically; returns their paths (no chart without matplotlib: the other two are still written)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": output_dir / MARKDOWN_NAME, "json": output_dir / JSON_NAME, "chart": output_dir / CHART_NAME}
    write_text_atomic(paths["json"], render_json(doc))
    write_text_atomic(paths["markdown"], render_markdown(doc) + extra_markdown)
    try:
        write_bytes_atomic(paths["chart"], render_chart(doc))
    except ImportError:
        del paths["chart"]
    return paths
