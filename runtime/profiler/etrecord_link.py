"""Which program an ETRecord belongs to: the link the export step writes beside it.

An ETRecord says nothing an ETDump can be checked against: ExecuTorch's Inspector maps events
to it by instruction id alone, so the ETRecord of any fully delegated program (one delegate
call, instruction 0) "fits" any other's profile and labels its rows with the wrong source ops.
``--etrecord PATH`` therefore also writes ``PATH.json`` (:data:`SCHEMA`):

* ``program``: file name, size and BLAKE3 digest of the program exported with it: the profile
  of a program given by path (``--model_path``) must have the same digest;
* ``signature``: the program's calls as one profiled run shows them (:func:`profile_signature`:
  per delegate call the kinds of the delegate's operators, e.g. ``Convolution x2``, per
  portable operator its kernel), measured by running it once at export time: an ETDump of
  another program shows other calls.

This module is light (no torch at import): the profiler reads links before the Inspector.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional

SCHEMA = "xnnpack-toolkit.etrecord-link"
SCHEMA_VERSION = 1
KERNEL_PREFIX = "native_call_"
_INSTANCE = re.compile(r"\s+#\d+$")


def link_path(etrecord: str | Path) -> Path:
    etrecord = Path(etrecord)
    return etrecord.with_name(etrecord.name + ".json")


def _operator_kind(identifier: str) -> str:
    """``Convolution (NHWC, F32) IGEMM #3`` -> ``Convolution``: the kind, not the kernel variant
    (which a different XNNPACK build may choose differently)."""
    return _INSTANCE.sub("", str(identifier)).split(" (")[0].strip()


def profile_signature(events: Iterable[tuple[str, Optional[str]]]) -> list[str]:
    """The calls of one iteration, from its events ``(name, delegate_debug_identifier)`` in
    recording order (a delegate's own events precede its DELEGATE_CALL, a kernel's
    ``native_call_*`` its OPERATOR_CALL): ``["delegate: Convolution x2, Transpose x2", "mean.out"]``."""
    calls, kinds, kernel = [], Counter(), None
    for name, identifier in events:
        if identifier is not None:
            kinds[_operator_kind(identifier)] += 1
        elif name and name.startswith(KERNEL_PREFIX):
            kernel = name[len(KERNEL_PREFIX):]
        elif name == "OPERATOR_CALL":
            calls.append(kernel or "operator")
            kernel = None
        elif name == "DELEGATE_CALL":
            calls.append("delegate: " + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())))
            kinds = Counter()
    return calls


def signatures_differ(recorded: list[str], profiled: list[str]) -> Optional[str]:
    """Why two signatures cannot be of one program (None when they can). What one runtime
    build may not record is not held against the other: a delegate call without per-operator
    events matches any delegate call, an operator call without its kernel's name any operator call."""
    if len(recorded) != len(profiled):
        return f"the ETDump shows {len(profiled)} call(s) per iteration, the ETRecord's program makes {len(recorded)}"
    for index, (want, got) in enumerate(zip(recorded, profiled)):
        if want == got or _unrecorded_detail(want, got) or _unrecorded_detail(got, want):
            continue
        return f"call {index + 1} is '{got}' in the ETDump but '{want}' in the ETRecord's program"
    return None


def _unrecorded_detail(bare: str, full: str) -> bool:
    delegate = bare.startswith("delegate:") and full.startswith("delegate:") and bare.strip() == "delegate:"
    return delegate or (bare == "operator" and not full.startswith("delegate:"))


def measure_signature(program: bytes, inputs) -> Optional[list[str]]:
    """Run the program once through the Python bindings with an ETDump and read its calls back;
    None when that cannot be done here (the link then carries the digest only)."""
    import tempfile

    from examples.common.quiet import quiet_stdio

    try:
        with quiet_stdio(), tempfile.TemporaryDirectory() as folder:
            from executorch.devtools import Inspector
            from executorch.extension.pybindings.portable_lib import _load_for_executorch_from_buffer

            module = _load_for_executorch_from_buffer(program, enable_etdump=True)
            module.forward(tuple(inputs))
            etdump = Path(folder) / "etdump.bin"
            module.write_etdump_result_to_file(str(etdump))
            blocks = [b for b in Inspector(etdump_path=str(etdump)).event_blocks if b.name == "Execute"]
    except Exception:  # noqa: BLE001 - best effort: a program this runtime cannot run gets no signature
        return None
    if not blocks:
        return None
    return profile_signature((e.name, e.delegate_debug_identifier) for e in blocks[0].events)


def make_link(program: bytes, program_file: str | Path, model: Optional[str], inputs) -> dict:
    from examples.integrity.card import digest_bytes

    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "model": model,
            "program": {"file": Path(program_file).name, "size_bytes": len(program), "blake3": digest_bytes(program)},
            "signature": measure_signature(program, inputs)}


def read_link(etrecord: str | Path) -> Optional[dict]:
    """The link beside ``etrecord``; None when there is none or it is not one."""
    try:
        link = json.loads(link_path(etrecord).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return link if isinstance(link, dict) and link.get("schema") == SCHEMA else None


def write_etrecord(etrecord, path: str | Path, program: bytes, program_file: str | Path, model: Optional[str],
                   inputs) -> Path:
    """Save ``etrecord`` (an ``executorch.devtools.etrecord.ETRecord``) to ``path`` and its link
    beside it, both atomically; returns the ETRecord's path."""
    import io

    from examples.common.atomic_write import write_bytes_atomic, write_text_atomic

    stream = io.BytesIO()
    etrecord.save(stream)
    path = write_bytes_atomic(Path(path).expanduser(), stream.getvalue())
    link = make_link(program, program_file, model, inputs)
    write_text_atomic(link_path(path), json.dumps(link, indent=2) + "\n")
    return path
