"""Open an ETDump (and optionally its ETRecord) with ExecuTorch's ``Inspector``.

The header check runs before torch is imported, so a missing or foreign file is reported
at once. Anything wrong with the input becomes a :class:`ProfileError` with a one-line
message; the CLI prints it as its single ``error:`` line.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path

from examples.common import cli

_ETDUMP_IDENTIFIER = b"ED00"
_PTE_IDENTIFIER = re.compile(rb"ET\d\d")


class ProfileError(cli.UsageError):
    """Input that is not a readable ETDump with profiling data, or an ETRecord that does not fit."""


def check_etdump_bytes(data: bytes, name: str) -> None:
    """Cheap checks of the flatbuffer header, so that flatc never sees a foreign file."""
    if not data:
        raise ProfileError(f"{name} is empty (0 bytes); expected an ETDump written by the profiling runner")
    if len(data) >= 8 and _PTE_IDENTIFIER.fullmatch(data[4:8]):
        raise ProfileError(f"{name} is an ExecuTorch program (.pte), not an ETDump profile")
    if len(data) >= 12 and data[8:12] == _ETDUMP_IDENTIFIER:  # size-prefixed, as ETDumpGen writes it
        declared = int.from_bytes(data[0:4], "little") + 4
        if declared > len(data):
            raise ProfileError(f"{name} is truncated: its header declares {declared} bytes, the file has {len(data)}")
        return
    if len(data) >= 8 and data[4:8] == _ETDUMP_IDENTIFIER:
        return
    raise ProfileError(f"{name} is not an ETDump (no 'ED00' flatbuffer identifier)")


def check_inputs(etdump: str | Path, etrecord: str | Path | None = None) -> None:
    """Fail fast (no torch import) on a missing, empty, truncated or foreign input."""
    path = Path(etdump)
    if not path.exists():
        raise ProfileError(f"{path}: no such file (run the profiling runner first, or pass --prof_results_bin)")
    if path.is_dir():
        raise ProfileError(f"{path}: is a directory, expected an ETDump file")
    try:
        check_etdump_bytes(path.read_bytes(), str(path))
    except OSError as error:
        raise ProfileError(f"{path}: cannot read ({error.strerror or error})") from None
    if etrecord is not None:
        if not Path(etrecord).is_file():
            raise ProfileError(f"{etrecord}: no such ETRecord file")
        if not zipfile.is_zipfile(etrecord):
            raise ProfileError(f"{etrecord}: not an ETRecord (an ETRecord is a zip archive)")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:160]


def open_inspector(etdump: str | Path, etrecord: str | Path | None = None, verbose: bool = False):
    """An ``executorch.devtools.Inspector`` on ``etdump`` (with ``etrecord`` applied, if given)."""
    check_inputs(etdump, etrecord)
    from examples.common.quiet import quiet_stdio
    from executorch.devtools import Inspector

    failure = None
    with quiet_stdio(verbose), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Output Buffer not found": we read timings only
        try:
            inspector = Inspector(etdump_path=str(etdump))
        except Exception as error:  # flatc failures (it may even crash on garbage), malformed tables
            failure = ProfileError(f"{etdump} is not a valid ETDump ({_first_line(error)})")
        if failure is None and etrecord is not None:
            try:
                inspector = Inspector(etdump_path=str(etdump), etrecord=str(etrecord))
            except Exception as error:
                failure = ProfileError(f"{etrecord}: cannot use as ETRecord for {etdump} ({_first_line(error)})")
    if failure is not None:
        raise failure
    if etrecord is not None:
        check_etrecord_fits(inspector, etrecord)
    return inspector


def check_etrecord_fits(inspector, etrecord: str | Path) -> None:
    """The Inspector maps events to an ETRecord by instruction id and never checks that both
    come from the same program. With the right ETRecord every delegate call maps to its
    lowered module (so it has a backend name); a call without one means another program."""
    calls = [e for block in inspector.event_blocks for e in block.events if e.name == "DELEGATE_CALL"]
    unmapped = [e for e in calls if not e.delegate_backend_name]
    operators = [e for block in inspector.event_blocks for e in block.events if e.name == "OPERATOR_CALL"]
    if unmapped or (operators and not any(e.op_types for e in operators)):
        raise ProfileError(f"{etrecord}: this ETRecord does not match the ETDump "
                           f"({len(unmapped)} of {len(calls)} delegate call(s) and "
                           f"{sum(not e.op_types for e in operators)} of {len(operators)} operator call(s) "
                           "have no counterpart in it); pass the ETRecord saved when this program was exported")
