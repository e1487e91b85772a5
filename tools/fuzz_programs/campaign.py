"""One campaign: mutate copies of a program, run each in the native runner with bounds, compare
with the clean run, classify every case, keep reproducers of anything not clean.

Every mutated copy keeps the original card beside it (as after a damaged copy), and every
case runs twice: ``card`` (verification ``auto``: the card check runs first) and ``off``
(no verification: what the runtime's own checks catch). When the program has a bundled
sibling (``<program>.bpte`` with a card), the campaign runs on its reference inputs and says
which silent wrong outputs the reference outputs and tolerances would have caught.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from examples.integrity.card import card_path, read_card
from examples.runner import client
from tools.fuzz_programs.mutate import mutations

MODES = ("card", "off")
# Outcomes, from best to worst; "silent" (exit 0, wrong output) is the one that must not happen.
# "bounded_*": the runner stopped a runaway program itself (one error line); "hang": it had to
# be killed from outside.
CLASSES = ("rejected_by_card", "clean_error", "identical", "bounded_timeout", "bounded_memory", "unclean_error",
           "guarded_crash", "silent", "hang", "signal")
NOT_CLEAN = {"bounded_timeout", "bounded_memory", "unclean_error", "guarded_crash", "silent", "hang", "signal"}


@dataclass
class Settings:
    runner: Path
    timeout_s: float = 20.0
    max_memory_mb: int | None = 4096
    workers: int = 2
    threads: int = 1


@dataclass
class Reference:
    """Reference outputs with per-output tolerances (from a bundled program's card)."""

    outputs: list
    tolerances: list[dict]

    def catches(self, outputs: Sequence[np.ndarray]) -> bool:
        if len(outputs) != len(self.outputs):
            return True
        for i, (got, want) in enumerate(zip(outputs, self.outputs)):
            tol = self.tolerances[min(i, len(self.tolerances) - 1)]
            if got.shape != want.shape:
                return True
            error = np.abs(got.astype(np.float64) - want.astype(np.float64)).max() if want.size else 0.0
            if not error <= tol["atol"] + tol["rtol"] * np.abs(want).max():  # NaN is caught too
                return True
        return False


def load_reference(bundle: Path, folder: Path) -> tuple[list[Path], Reference]:
    """Input files and reference outputs of a bundled program's first test case."""
    from examples.integrity.bundle import _test_cases

    card = read_card(bundle)
    if not card or not card.get("reference"):
        raise ValueError(f"{bundle} has no card with a reference section")
    inputs, expected = _test_cases(bundle.read_bytes())[0]
    files = client.write_input_files(inputs, folder)
    return files, Reference([t.numpy() for t in expected], card["reference"]["tolerances"])


def random_inputs(program: Path, folder: Path, seed: int) -> list[Path]:
    """Seeded inputs from the card's input specs (when no --input is given)."""
    card = read_card(program)
    if card is None or "forward" not in (card.get("methods") or {}):
        raise ValueError(f"{program} has no card listing forward's inputs: pass --input")
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in card["methods"]["forward"]["inputs"]:
        dtype = client.DTYPES[spec["dtype"]]
        values = rng.standard_normal(spec["shape"]) if np.issubdtype(dtype, np.floating) else np.zeros(spec["shape"])
        arrays.append(values.astype(dtype))
    return client.write_input_files(arrays, folder)


def _one_error_line(stderr: str) -> bool:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith("error: ")


def classify(ended: client.RunnerExit, outputs, clean: list) -> str:
    if ended.timed_out:
        return "hang"
    if ended.returncode < 0:
        return "signal"
    kind = client.EXIT_CODES.get(ended.returncode, ("error",))[0]  # the runner's exit-code table
    if kind == "crash":
        return "guarded_crash"
    if kind == "verification":
        return "rejected_by_card"
    if kind in ("timeout", "memory"):
        return f"bounded_{kind}"
    if ended.returncode != 0:
        return "clean_error" if _one_error_line(ended.stderr) else "unclean_error"
    if outputs is None:
        return "unclean_error"  # exit 0 but no readable outputs
    same = len(outputs) == len(clean) and all(
        a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) for a, b in zip(outputs, clean))
    return "identical" if same else "silent"


def run_case(settings: Settings, program: Path, inputs: list[Path], mode: str, work: Path):
    """``(RunnerExit, outputs or None)``; the runner itself checks the card (``auto``) or not."""
    prefix = work / f"out_{mode}"
    ended = client.run_bounded(settings.runner, program, inputs=inputs, output_path=prefix,
                               timeout=settings.timeout_s, max_memory_mb=settings.max_memory_mb,
                               threads=settings.threads, verify="auto" if mode == "card" else "off")
    outputs = None
    if ended.returncode == 0:
        try:
            outputs = client.read_output_files(prefix)
        except (client.RunnerFailed, OSError, ValueError):
            outputs = None
    return ended, outputs


def bounded_map(pool: ThreadPoolExecutor, fn: Callable, items: Iterable, window: int) -> Iterator:
    """``pool.map(fn, items)`` in order, with at most ``window`` items in flight: ``Executor.map``
    takes the whole iterable at once, and 10,000 mutated copies of a 4 MB program are 40 GB."""
    pending = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def run_campaign(program: Path, inputs: list[Path], *, count: int, seed: int, settings: Settings,
                 repro_dir: Path, reference: Reference | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    program = Path(program)
    card = card_path(program)
    clean_exit, clean = run_case(settings, program, inputs, "card", Path(tempfile.mkdtemp(prefix="fuzz_clean_")))
    if clean_exit.returncode != 0 or clean is None:
        why = clean_exit.stderr.strip() or f"exit {clean_exit.returncode}"
        raise RuntimeError(f"the unmutated program does not run cleanly: {why}")
    data = program.read_bytes()
    counts = {mode: Counter() for mode in MODES}
    exit_codes = {mode: Counter() for mode in MODES}
    kinds = {mode: {} for mode in MODES}
    silent_caught_by_reference = 0
    longest = {mode: 0.0 for mode in MODES}  # wall time of the slowest run of each mode
    cases = []
    done = 0

    def one(item):
        i, kind, blob = item
        work = Path(tempfile.mkdtemp(prefix=f"fuzz_{i}_"))
        try:
            copy = work / program.name
            copy.write_bytes(blob)
            if card.is_file():
                shutil.copyfile(card, card_path(copy))  # the card stays intact beside the damaged copy
            results = {}
            for mode in MODES:
                ended, outputs = run_case(settings, copy, inputs, mode, work)
                results[mode] = (ended, outputs, classify(ended, outputs, clean))
            return i, kind, blob, results
        finally:
            shutil.rmtree(work, ignore_errors=True)

    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        for i, kind, blob, results in bounded_map(pool, one, mutations(data, count, seed), 2 * settings.workers):
            for mode, (ended, outputs, outcome) in results.items():
                counts[mode][outcome] += 1
                longest[mode] = max(longest[mode], ended.seconds)
                kinds[mode].setdefault(kind, Counter())[outcome] += 1
                if outcome in ("clean_error", "unclean_error"):
                    exit_codes[mode][str(ended.returncode)] += 1
                caught = None
                if outcome == "silent" and reference is not None:
                    caught = reference.catches(outputs)
                    silent_caught_by_reference += bool(caught) and mode == "off"
                if outcome in NOT_CLEAN:
                    repro_dir.mkdir(parents=True, exist_ok=True)
                    repro = repro_dir / f"case{i:05d}_{mode}_{outcome}{program.suffix}"
                    repro.write_bytes(blob)
                    if card.is_file():
                        shutil.copyfile(card, card_path(repro))
                    cases.append({"case": i, "kind": kind, "mode": mode, "outcome": outcome,
                                  "returncode": ended.returncode,
                                  "stderr": ended.stderr.strip()[-300:],
                                  "caught_by_reference": caught, "reproducer": str(repro)})
            done += 1
            if progress:
                progress(done, count)
    layers = {mode: {c: counts[mode][c] for c in CLASSES} for mode in MODES}
    return {
        "schema": "xnnpack-toolkit.fuzz-report", "schema_version": 1,
        "program": str(program), "card": str(card) if card.is_file() else None,
        "inputs": [str(p) for p in inputs], "count": count, "seed": seed,
        "bounds": {"timeout_s": settings.timeout_s, "max_memory_mb": settings.max_memory_mb},
        "outcomes": layers,
        "longest_run_s": {mode: round(longest[mode], 3) for mode in MODES},
        "clean_error_exit_codes": {mode: dict(exit_codes[mode]) for mode in MODES},
        "outcomes_by_mutation": {mode: {k: dict(v) for k, v in kinds[mode].items()} for mode in MODES},
        "reference": None if reference is None else {
            "silent_without_card": counts["off"]["silent"], "caught_by_reference": silent_caught_by_reference},
        "cases": sorted(cases, key=lambda c: (c["case"], c["mode"])),
    }


def format_report(report: dict) -> str:
    """The campaign as a Markdown table: one column per verification mode."""
    from tabulate import tabulate

    rows = [[c] + [report["outcomes"][m][c] for m in MODES] for c in CLASSES]
    text = [f"{report['count']} mutations of {Path(report['program']).name} (seed {report['seed']})",
            tabulate(rows, headers=["outcome", "verification auto (card)", "verification off"], tablefmt="github")]
    if "longest_run_s" in report:
        text.append("longest run: " + ", ".join(f"{mode} {s:.2f} s" for mode, s in report["longest_run_s"].items()))
    if report["reference"] is not None:
        ref = report["reference"]
        text.append(f"reference IO: catches {ref['caught_by_reference']} of {ref['silent_without_card']} "
                    "silent wrong outputs without the card")
    return "\n".join(text)


def write_report(report: dict, path: Path) -> Path:
    from examples.common.atomic_write import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(report, indent=2) + "\n")
