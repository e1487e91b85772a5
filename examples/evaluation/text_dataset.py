"""Labelled texts from a local file: CSV with columns ``text,label`` or JSONL objects ``{"text", "label"}``.

Labels are either all integers (the class ids themselves) or all strings (class names; their
sorted order gives the class ids, as the sorted folder names do for images). In a CSV every
value is text, so its labels are integers when every one of them is written as one.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from examples.evaluation.dataset import DatasetError

TEXT_SUFFIXES = (".csv", ".jsonl")
COLUMNS = ("text", "label")
_INTEGER = re.compile(r"[+-]?\d+")


def is_text_data(path: str | Path | None) -> bool:
    """``--eval_data`` names labelled texts (rather than an image folder) by its suffix."""
    return path is not None and Path(path).suffix.lower() in TEXT_SUFFIXES


class TextDataset:
    """``samples``: ``(text, class id)`` pairs; ``classes``: the class names, index = class id."""

    def __init__(self, path: str | Path, *, limit: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(f"text dataset not found: {self.path}")
        try:
            text = self.path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets write a BOM
        except (OSError, UnicodeDecodeError) as error:
            raise DatasetError(f"cannot read {self.path}: {error}") from None
        rows = _read_jsonl(self.path, text) if self.path.suffix.lower() == ".jsonl" else _read_csv(self.path, text)
        if not rows:
            raise DatasetError(f"{self.path} holds no labelled texts")
        ids, self.classes, self.string_labels = _class_ids(self.path, rows)
        samples = [(row[0], class_id) for row, class_id in zip(rows, ids)]
        if limit is not None and limit < len(samples):
            step = len(samples) / limit  # an even spread over the file, as for image folders
            samples = [samples[int(i * step)] for i in range(limit)]
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self):
        return iter(self.samples)

    def labels_are(self) -> str:
        """How labels became class ids, for the report."""
        if not self.string_labels:
            return "the integer labels of the file"
        shown = ", ".join(f"{name}={i}" for i, name in enumerate(self.classes[:8]))
        more = f", ... ({len(self.classes)} classes)" if len(self.classes) > 8 else ""
        return f"the string labels in sorted order ({shown}{more})"


def _read_csv(path: Path, text: str) -> list[tuple[str, object, int]]:
    """``(text, label, line)`` rows; the header must name the columns ``text`` and ``label``."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise DatasetError(f"{path} is empty; expected a header line 'text,label' and one row per text")
    header = [name.strip() for name in reader.fieldnames]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DatasetError(f"{path} has no {' or '.join(repr(c) for c in missing)} column "
                           f"(header: {','.join(header)}); expected columns text,label")
    reader.fieldnames = header
    rows = []
    for row in reader:
        line = reader.line_num
        if row.get("text") is None or row.get("label") is None:
            raise DatasetError(f"{path}, line {line}: fewer values than the header's columns")
        label = row["label"].strip()
        if not label:
            raise DatasetError(f"{path}, line {line}: empty label")
        rows.append((row["text"], label, line))
    if all(_INTEGER.fullmatch(label) for _, label, _ in rows):  # else all are names, "1" among them
        rows = [(t, int(label), line) for t, label, line in rows]
    return rows


def _read_jsonl(path: Path, text: str) -> list[tuple[str, object, int]]:
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError as error:
            raise DatasetError(f"{path}, line {line}: not JSON ({error})") from None
        if not isinstance(item, dict) or any(c not in item for c in COLUMNS):
            raise DatasetError(f"{path}, line {line}: expected an object with keys 'text' and 'label'")
        if not isinstance(item["text"], str):
            raise DatasetError(f"{path}, line {line}: 'text' is {type(item['text']).__name__}, not a string")
        label = item["label"]
        if isinstance(label, bool) or not isinstance(label, (int, str)):
            raise DatasetError(f"{path}, line {line}: label {json.dumps(label)} is {_json_type(label)}; "
                               "labels must be integers (class ids) or strings (class names)")
        if isinstance(label, str) and not label.strip():
            raise DatasetError(f"{path}, line {line}: empty label")
        rows.append((item["text"], label, line))
    return rows


def _json_type(value) -> str:
    return {bool: "a boolean", float: "a number with a fraction", type(None): "null", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _class_ids(path: Path, rows) -> tuple[list[int], list[str], bool]:
    ints = [(line, label) for _, label, line in rows if isinstance(label, int)]
    strings = [(line, label) for _, label, line in rows if isinstance(label, str)]
    if ints and strings:
        raise DatasetError(f"{path}: labels mix integers (line {ints[0][0]}) and strings (line {strings[0][0]}); "
                           "use one kind")
    if strings:
        classes = sorted({label for _, label in strings})
        index = {name: i for i, name in enumerate(classes)}
        return [index[label] for _, label, _ in rows], classes, True
    negative = next(((line, label) for line, label in ints if label < 0), None)
    if negative is not None:
        raise DatasetError(f"{path}, line {negative[0]}: label {negative[1]} is negative; integer labels are class ids")
    top = max(label for _, label in ints)
    return [label for _, label, _ in rows], [str(i) for i in range(top + 1)], False
