"""Reading benchmark result files (``benchmark.json``), schema version 2.

Version 2 (what ``python -m examples.backend.benchmark`` writes) adds to version 1:

* ``machine``: the fingerprint of :func:`examples.common.machine.fingerprint` (CPU vendor,
  family/model/stepping, ISA class, cores, memory, OS, packages, git commit, command, start/end)
  with its ``id`` (equal ids: same machine, timings comparable);
* per record ``rounds_samples_ms``: one list per interleaved round of the measured iterations'
  times in ms (the figures such as ``median_ms`` are medians over rounds, as before).

Version 1 files have no samples and no fingerprint: nothing can be compared with a confidence
interval, so they are refused with a message that says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from examples.common.machine import machine_id
from examples.common.result_format import SCHEMA, SCHEMA_VERSION

CellKey = tuple[str, str, int]  # (model, backend, threads)


class ResultFileError(ValueError):
    """A result file that cannot be used; the message names the file."""


@dataclass
class Run:
    path: Path
    doc: dict
    machine: dict
    cells: dict[CellKey, list[list[float]]] = field(default_factory=dict)  # rounds of samples (ms)
    repeats: list = field(default_factory=list)  # a pooled side: the runs it pools (compare.pool_runs)
    drift: dict = field(default_factory=dict)  # a pooled side: largest log ratio between its runs, per cell

    @property
    def machine_id(self) -> str:
        return self.machine.get("id") or machine_id(self.machine)

    @property
    def isa_class(self) -> str:
        return self.machine.get("isa_class") or "unknown"

    @property
    def date(self) -> str:
        return (self.machine.get("started") or self.doc.get("created") or "")[:10] or "unknown date"

    @property
    def label(self) -> str:
        return self.path.name if self.path.stem != "benchmark" else f"{self.path.parent.name}/{self.path.name}"


def cell_name(key: CellKey) -> str:
    model, backend, threads = key
    return f"{model} {backend} {threads}T"


def _cells(path: Path, records) -> dict[CellKey, list[list[float]]]:
    cells: dict[CellKey, list[list[float]]] = {}
    if not isinstance(records, list):
        raise ResultFileError(f"{path}: 'records' is not a list")
    for record in records:
        if not isinstance(record, dict) or record.get("status") != "ok":
            continue
        rounds = record.get("rounds_samples_ms")
        if not rounds:
            continue
        try:
            key = (str(record["model"]), str(record["backend"]), int(record["threads"]))
            samples = [[float(t) for t in r] for r in rounds if r]
        except (KeyError, TypeError, ValueError) as error:
            raise ResultFileError(f"{path}: malformed record ({error})") from None
        if samples:
            cells[key] = samples
    return cells


def parse_run(path: Path, doc) -> Run:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ResultFileError(f"{path}: not a benchmark result file (schema {SCHEMA!r} expected)")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        if isinstance(version, int) and version < SCHEMA_VERSION:
            raise ResultFileError(f"{path}: schema_version {version} has no per-round samples and no machine "
                                  f"fingerprint; re-run the benchmark to get version {SCHEMA_VERSION}")
        raise ResultFileError(f"{path}: schema_version {version!r} is not supported (this toolkit reads "
                              f"version {SCHEMA_VERSION})")
    machine = doc.get("machine")
    if not isinstance(machine, dict):
        raise ResultFileError(f"{path}: no machine fingerprint")
    return Run(path, doc, machine, _cells(path, doc.get("records")))


def load_run(path: str | Path) -> Run:
    """The run in ``path``; :class:`ResultFileError` (one line naming the file) when unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file") from None
    except OSError as error:
        raise ResultFileError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultFileError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    return parse_run(path, doc)
