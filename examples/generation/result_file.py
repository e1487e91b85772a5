"""The JSON file a generation measurement command writes (``--json``): its kind, the date, the
machine that ran it and how it was measured, then its own fields."""

from __future__ import annotations

import json
import time


def write_measurement(path: str, kind: str, threads: list[int], method: str, fields: dict) -> None:
    from examples.common.atomic_write import write_text_atomic
    from examples.common.machine import fingerprint

    result = {"kind": kind, "date": time.strftime("%Y-%m-%d"), "machine": fingerprint(threads=threads),
              "method": method, **fields}
    write_text_atomic(path, json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
