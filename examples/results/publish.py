"""The published tables: README.md and docs/PERFORMANCE.md between ``results:`` markers,
regenerated from the result files committed under ``results/<cpu-class>/<date>.json``.

A block looks like this (the text between the markers is replaced, nothing else)::

    <!-- BEGIN results:latency -->
    ...generated...
    <!-- END results:latency -->

The newest file of each CPU class is published; every table names its machine and date.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from examples.common import stats
from examples.common.machine import describe
from examples.common.result_format import METHOD_VERSION, method_text, method_version
from examples.results.render import fmt_ms, md_table
from examples.results.schema import Run, load_run

PUBLISHED_DOCS = ("README.md", "docs/PERFORMANCE.md", "docs/GENERATION.md")
# Published documents a site may lack (a results folder of latency runs only).
OPTIONAL_DOCS = ("docs/GENERATION.md",)
RESULTS_DIR = "results"
COMMAND = "python -m examples.backend.publish"
_BLOCK = re.compile(r"(<!-- BEGIN results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END results:(?P=name) -->)",
                    re.S)
_ANY_MARKER = re.compile(r"<!-- (BEGIN|END) results:([\w-]+) -->")
# Bulky record fields that published figures do not need.
_DROPPED_RECORD_KEYS = ("outputs", "program_file")
# Flags naming where a run wrote its files: a folder on the measuring machine, nothing about
# the figures; a published command leaves them out.
_LOCAL_PATH_FLAGS = ("--output_dir", "--cache_dir")


def without_local_paths(command: list[str]) -> list[str]:
    out, skip = [], False
    for arg in command:
        if skip:
            skip = False
        elif arg in _LOCAL_PATH_FLAGS:
            skip = True
        elif not arg.startswith(tuple(f"{flag}=" for flag in _LOCAL_PATH_FLAGS)):
            out.append(arg)
    return out


class PublishError(ValueError):
    pass


def cpu_class(machine: dict) -> str:
    """The folder name of a machine's results: vendor, family/model/stepping, ISA class."""
    vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(machine.get("cpu_vendor") or "",
                                                                   (machine.get("cpu_vendor") or "cpu"))
    ids = "-".join(f"{p}{'x' if machine.get(k) is None else machine[k]}"
                   for p, k in (("f", "cpu_family"), ("m", "cpu_model_number"), ("s", "cpu_stepping")))
    isa = machine.get("isa_class") or "unknown"
    return re.sub(r"[^a-z0-9-]+", "-", f"{vendor}-{ids}-{isa}".lower()).strip("-")


def published_runs(results_dir: Path) -> list[Run]:
    """The newest result file of each CPU class folder (none when the folder is absent)."""
    runs = []
    if not results_dir.is_dir():
        return runs
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.json"))
        if files:
            runs.append(load_run(files[-1]))
    return runs


def _source_lines(run: Run, root: Path) -> list[str]:
    m = run.machine
    git = m.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (", dirty tree" if git.get("dirty") else "")
    packages = ", ".join(f"{k} {v}" for k, v in sorted((m.get("packages") or {}).items())
                         if v and k in ("executorch", "torch", "onnxruntime"))
    try:
        source = run.path.resolve().relative_to(root.resolve())
    except ValueError:
        source = run.path
    command = " ".join(m.get("command") or []) or "unknown"
    rounds = (run.doc.get("settings") or {}).get("rounds")
    return [f"Machine: {describe(m)}. Date: {run.date}. Commit {commit}; {packages or 'packages unknown'}.",
            f"Command: `{command}`" + (f" ({rounds} interleaved rounds)" if rounds else "") + f". File: `{source}`.",
            _method_line(run)] + aa_lines(run)


def _method_line(run: Run) -> str:
    """How the run was measured; a run of an older method says so, with its label."""
    if method_version(run.doc) >= METHOD_VERSION:
        return f"Method: {method_text(run.doc)}."
    label = run.doc.get("method_label")
    return (f"**Measured with an older method** ({method_text(run.doc)}); re-rendered with method "
            f"{METHOD_VERSION}'s statistics" + (f": {label}" if label else "") + ".")


def _ok(run: Run) -> list[dict]:
    return [r for r in run.doc.get("records") or [] if r.get("status") == "ok" and r.get("median_ms") is not None]


def latency_table(run: Run, root: Path) -> list[str]:
    """Backends as rows, (model, threads) as columns: first iteration / median (ms)."""
    records = _ok(run)
    cells = list(dict.fromkeys((r["model"], r["threads"]) for r in records))
    backends = list(dict.fromkeys(r["backend"] for r in records))
    by_key = {(r["backend"], r["model"], r["threads"]): r for r in records}
    labels = {r["backend"]: r.get("label") or r["backend"] for r in records}
    rows = []
    for backend in backends:
        row = [labels[backend]]
        for model, threads in cells:
            r = by_key.get((backend, model, threads))
            row.append("-" if r is None else f"{fmt_ms(r.get('first_iteration_ms'))} / {fmt_ms(r['median_ms'])}")
        rows.append(row)
    header = ["backend (first / median, ms)"] + [f"{m}, {t} thread{'s' if t > 1 else ''}" for m, t in cells]
    return md_table(header, rows) + [""] + _source_lines(run, root)


def _cell_rows(run: Run, model: str, threads: int) -> list[dict]:
    return [r for r in _ok(run) if r["model"] == model and r["threads"] == threads]


def _aa_floor(run: Run, model: str, threads: int, count: int) -> float:
    """The cell's A/A noise floor over its first ``count`` rounds, those a ratio row judges (0 in
    runs measured before the A/A twin)."""
    from examples.benchmark.records import aa_floor

    return aa_floor(_cell_rows(run, model, threads), list(range(count)))


def _words(v: stats.Verdict, faster: str, slower: str) -> str:
    return {stats.FASTER: faster, stats.SLOWER: slower, stats.WITHIN_NOISE: "no difference within noise"}.get(
        v.word, v.describe())


def _ratio_rows(run: Run, base: str, other: str, seed: int, faster: str, slower: str) -> list[list[str]]:
    """Per model and threads where both backends ran: ``other`` / ``base`` (ratio of medians),
    its 95 % interval and the one verdict rule's word (paired rounds, the cell's A/A floor)."""
    rows = []
    for model, backend, threads in sorted(run.cells):
        if backend != base or (model, other, threads) not in run.cells:
            continue
        a, b = run.cells[(model, base, threads)], run.cells[(model, other, threads)]
        count = min(len(a), len(b))
        v = stats.judge(a[:count], b[:count], paired=True, floor=_aa_floor(run, model, threads, count), seed=seed)
        rows.append([model, str(threads), f"{v.ratio:.2f}", v.interval_text(), _words(v, faster, slower)])
    return rows


def aa_lines(run: Run) -> list[str]:
    """The run's A/A checks (one program measured as two rows), or why there are none."""
    from examples.benchmark.records import aa_check

    checks = []
    for model, threads in dict.fromkeys((r["model"], r["threads"]) for r in _ok(run)):
        aa = aa_check(_cell_rows(run, model, threads))
        if aa is not None:
            miss = " (miss: outside its interval)" if aa.decided else ""
            checks.append(f"{model} {threads}T {aa.ratio:.3f} {aa.interval_text()}{miss}")
    if not checks:
        return ["A/A: none in this run (measured before the A/A twin): its verdicts have no measured noise floor."]
    return ["A/A (one program measured as two rows; its spread is each cell's noise floor): " + "; ".join(checks)
            + "."]


def int8_table(run: Run, root: Path, seed: int = 0) -> list[str]:
    """XNNPACK q8 against fp32 per model and threads: ratio of medians and its 95 % interval."""
    rows = _ratio_rows(run, "xnnpack_fp32", "xnnpack_q8", seed, "q8 faster", "q8 slower")
    if not rows:
        return ["No XNNPACK fp32 and q8 pair with samples in this run.", ""] + _source_lines(run, root)
    int8 = run.machine.get("int8") or {}
    verdict_line = (f"int8 instructions on this machine: {int8.get('int8_level')}." if int8
                    else "int8 instructions not recorded.")
    return (md_table(["model", "threads", "q8 / fp32 (median)", "95 % interval", "verdict"], rows, numeric_from=2,
                     text_last=True)
            + ["", verdict_line] + _source_lines(run, root))


def amx_table(run: Run, root: Path, seed: int = 0) -> list[str]:
    """The same q8 programs in the runner built with XNNPACK's AMX kernels against the wheel's
    XNNPACK, per model and threads, beside the fastest ExecuTorch+OpenVINO int8 row."""
    rows = _ratio_rows(run, "xnnpack_q8", "xnnpack_q8_amx", seed, "AMX build faster", "AMX build slower")
    if not rows:
        return ["This run has no row of the AMX build (`xnnpack_q8_amx`).", ""] + _source_lines(run, root)
    medians = {(r["model"], r["backend"], r["threads"]): r["median_ms"] for r in _ok(run)}
    for row in rows:
        model, threads = row[0], int(row[1])
        row[2:2] = [fmt_ms(medians.get((model, b, threads))) for b in ("xnnpack_q8", "xnnpack_q8_amx", "openvino_int8")]
    header = ["model", "threads", "wheel q8 ms", "AMX build q8 ms", "executorch+openvino int8 ms",
              "AMX build / wheel (median)", "95 % interval", "verdict"]
    return md_table(header, rows, numeric_from=2, text_last=True) + [""] + _source_lines(run, root)


# "At least 10 % faster" (tune's goal (b)): the median ratio ExecuTorch / peer at or below this.
CLEAR_WIN_RATIO = 0.90


def _peer_verdict(c: dict) -> str:
    """The comparison's verdict on ExecuTorch / peer, in the goal's words."""
    word = c["verdict"]
    if word == stats.FASTER and c["ratio"] <= CLEAR_WIN_RATIO:
        text = "ExecuTorch >= 10 % faster"
    elif word == stats.TOO_FEW_ROUNDS:
        text = f"not enough rounds for a verdict (need {stats.MIN_VERDICT_ROUNDS} judged, have {c['rounds_judged']})"
    else:
        text = {stats.FASTER: "ExecuTorch faster", stats.SLOWER: "peer faster"}.get(word, "no difference within noise")
    if c.get("peers_out_of_budget"):
        text += f"; peer int8 out of budget ({', '.join(c['peers_out_of_budget'])})"
    return text


def _side(r: dict) -> str:
    sqnr = "reference" if r["backend"] == "eager" else ("identical" if r.get("sqnr_db") is None
                                                          else f"{r['sqnr_db']:.0f} dB")
    return f"{r.get('label') or r['backend']} ({r.get('precision') or '?'}, {sqnr})"


def peers_table(run: Run, root: Path, seed: int = 0) -> list[str]:
    """Per model and threads: the fastest ExecuTorch program against the fastest peer inside
    tune's default accuracy budget, chosen and judged as the benchmark's summary lines are
    (rows chosen on other rounds than the judged ones, the cell's A/A floor), and how many
    cells meet "not slower" and "at least 10 % faster"."""
    from examples.benchmark.records import comparisons

    records = [r for r in _ok(run) if r.get("rounds_samples_ms")]
    by_backend = {(r["model"], r["backend"], r["threads"]): r for r in records}
    rows, not_slower, clear = [], 0, 0
    for c in comparisons(records):
        if c["accuracy_class"] != "in-budget":
            continue
        best = by_backend[(c["model"], c["executorch_backend"], c["threads"])]
        peer = by_backend[(c["model"], c["peer_backend"], c["threads"])]
        verdict = _peer_verdict(c)
        not_slower += c["verdict"] in (stats.FASTER, stats.WITHIN_NOISE)
        clear += verdict.startswith("ExecuTorch >= 10 %")
        interval = "-" if c["ci_low"] is None else f"[{c['ci_low']:.2f}, {c['ci_high']:.2f}]"
        rows.append([c["model"], str(c["threads"]), f"{_side(best)} {fmt_ms(best['median_ms'])}",
                     f"{_side(peer)} {fmt_ms(peer['median_ms'])}", f"{c['ratio']:.2f}", interval, verdict])
    if not rows:
        return ["No cell of this run has both an ExecuTorch row and a peer row with accuracy and samples.",
                ""] + _source_lines(run, root)
    header = ["model", "threads", "best ExecuTorch (precision, SQNR vs eager) ms",
              "best peer (precision, SQNR vs eager) ms", "ratio", "95 % interval", "verdict"]
    summary = (f"Cells where ExecuTorch is not slower (faster or within noise): {not_slower} of {len(rows)}; at "
               f"least 10 % faster (ratio <= {CLEAR_WIN_RATIO:.2f}, faster beyond noise): {clear} of {len(rows)}.")
    return md_table(header, rows, numeric_from=4, text_last=True) + ["", summary] + _source_lines(run, root)


BLOCKS = {"latency": latency_table, "int8": int8_table, "amx": amx_table, "peers": peers_table}


def _run_section(name: str, run: Run, root: Path) -> list[str]:
    return [f"**{run.isa_class}** ({run.date})", ""] + BLOCKS[name](run, root) + [""]


def stale_sources(current: str, runs: list[Run], root: Path) -> list[str]:
    """Which result files make a document's blocks differ: ``"results:peers from results/x.json"``,
    or ``"results:peers (markers)"`` when no single run's section explains it."""
    found = []
    for match in _BLOCK.finditer(current):
        name = match.group("name")
        if name not in BLOCKS or match.group("body") == render_block(name, runs, root):
            continue
        body = match.group("body")
        culprits = [run for run in runs if "\n".join(_run_section(name, run, root)) not in body]
        for run in culprits or [None]:
            where = "(layout or header)" if run is None else f"from {_relative(run.path, root)}"
            found.append(f"results:{name} {where}")
    return found


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return path


def old_method_runs(root: Path) -> list[Run]:
    """Published runs measured with an older method and not labelled as such."""
    return [run for run in published_runs(root / RESULTS_DIR)
            if method_version(run.doc) < METHOD_VERSION and not run.doc.get("method_label")]


def render_block(name: str, runs: list[Run], root: Path) -> str:
    from examples.results.generation_table import BLOCK as GENERATION_BLOCK, render_generation_block

    if name == GENERATION_BLOCK:  # from the generation benchmark's own result files
        return render_generation_block(root)
    if name not in BLOCKS:
        raise PublishError(f"unknown results block {name!r} (known: {', '.join(BLOCKS)}, generation)")
    lines = [f"<!-- generated by `{COMMAND}` from {RESULTS_DIR}/: do not edit by hand -->", ""]
    if not runs:
        lines += [f"No published results: `{RESULTS_DIR}/` holds no result file yet "
                  f"(see `{RESULTS_DIR}/README.md`)."]
    for run in runs:
        lines += _run_section(name, run, root)
    return "\n".join(lines).rstrip("\n") + "\n"


def rewrite(text: str, runs: list[Run], root: Path, where: str = "text") -> str:
    """``text`` with every results block regenerated; unbalanced markers are an error."""
    begins = [m.group(2) for m in _ANY_MARKER.finditer(text) if m.group(1) == "BEGIN"]
    found = [m.group("name") for m in _BLOCK.finditer(text)]
    if begins != found or len(_ANY_MARKER.findall(text)) != 2 * len(found):
        raise PublishError(f"{where}: unbalanced results markers (each BEGIN results:NAME needs its END)")
    return _BLOCK.sub(lambda m: m.group(1) + render_block(m.group("name"), runs, root) + m.group(4), text)


def expected_docs(root: Path) -> dict[Path, tuple[str, str]]:
    """``{path: (current text, regenerated text)}`` for every published document."""
    runs = published_runs(root / RESULTS_DIR)
    out = {}
    for name in PUBLISHED_DOCS:
        path = root / name
        if name in OPTIONAL_DOCS and not path.is_file():
            continue
        current = path.read_text(encoding="utf-8")
        out[path] = (current, rewrite(current, runs, root, name))
    return out


def slim_run(doc: dict, root: Path | None = None) -> dict:
    """A copy of a result document small enough to commit: no outputs or program paths, samples
    rounded to 0.1 us, only the cells that ran, paths inside ``root`` made relative to it."""
    text = json.dumps(doc)
    if root is not None:
        text = text.replace(json.dumps(str(root.resolve()) + "/")[1:-1], "")
    doc = json.loads(text)
    records = []
    for record in doc.get("records") or []:
        if record.get("status") != "ok":
            continue
        for key in _DROPPED_RECORD_KEYS:
            record.pop(key, None)
        if record.get("rounds_samples_ms"):
            record["rounds_samples_ms"] = [[round(t, 4) for t in r] for r in record["rounds_samples_ms"]]
        records.append(record)
    doc["records"] = records
    machine = doc.get("machine")
    if isinstance(machine, dict) and isinstance(machine.get("command"), list):
        machine["command"] = without_local_paths(machine["command"])
    return doc
