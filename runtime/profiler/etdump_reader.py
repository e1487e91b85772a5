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


def check_inputs(etdump: str | Path, etrecord: str | Path | None = None, program: str | Path | None = None) -> None:
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
    if program is not None:
        if etrecord is None:
            raise ProfileError("--model_path names the profiled program for checking --etrecord: pass both")
        if not Path(program).is_file():
            raise ProfileError(f"{program}: no such program file (--model_path)")
        check_program_digest(etrecord, program)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:160]


def open_inspector(etdump: str | Path, etrecord: str | Path | None = None, verbose: bool = False,
                   program: str | Path | None = None):
    """An ``executorch.devtools.Inspector`` on ``etdump`` (with ``etrecord`` applied, if given;
    ``program``: the profiled .pte, whose digest the ETRecord's link must record)."""
    check_inputs(etdump, etrecord, program)
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


_FOREIGN = "pass the ETRecord saved when this program was exported"


def check_program_digest(etrecord: str | Path, program: str | Path) -> None:
    """The program's BLAKE3 digest must be the one the export step recorded beside the ETRecord."""
    from examples.integrity.card import file_digest
    from runtime.profiler.etrecord_link import link_path, read_link

    link = read_link(etrecord)
    if link is None:
        raise ProfileError(f"{etrecord}: no {link_path(etrecord).name} beside it (the export step writes it with "
                           f"--etrecord), so it cannot be checked against {program}; re-export with --etrecord")
    recorded = link["program"]
    _, digest = file_digest(program)
    if digest != recorded["blake3"]:
        raise ProfileError(f"{etrecord}: this ETRecord was exported with {recorded['file']} (blake3 "
                           f"{recorded['blake3'][:16]}...), not with {program} (blake3 {digest[:16]}...); {_FOREIGN}")


def _iteration_events(inspector) -> list:
    for block in inspector.event_blocks:
        if any(e.name == "Method::execute" for e in block.events):
            return block.events
    return []


def check_etrecord_fits(inspector, etrecord: str | Path) -> None:
    """The Inspector maps events to an ETRecord by instruction id and never checks that both
    come from the same program. The export step's link beside the ETRecord records the calls
    one run of its program makes (:mod:`runtime.profiler.etrecord_link`): the ETDump must show
    the same. Without a link: every delegate call must map to a lowered module (so it has a
    backend name); a call without one means another program."""
    from runtime.profiler.etrecord_link import profile_signature, read_link, signatures_differ

    link = read_link(etrecord)
    if link is not None and link.get("signature") is not None:
        profiled = profile_signature((e.name, e.delegate_debug_identifier) for e in _iteration_events(inspector))
        why = signatures_differ(link["signature"], profiled)
        if why:
            raise ProfileError(f"{etrecord}: this ETRecord does not match the ETDump ({why}); {_FOREIGN}")
    calls = [e for block in inspector.event_blocks for e in block.events if e.name == "DELEGATE_CALL"]
    unmapped = [e for e in calls if not e.delegate_backend_name]
    operators = [e for block in inspector.event_blocks for e in block.events if e.name == "OPERATOR_CALL"]
    if unmapped or (operators and not any(e.op_types for e in operators)):
        raise ProfileError(f"{etrecord}: this ETRecord does not match the ETDump "
                           f"({len(unmapped)} of {len(calls)} delegate call(s) and "
                           f"{sum(not e.op_types for e in operators)} of {len(operators)} operator call(s) "
                           "have no counterpart in it); pass the ETRecord saved when this program was exported")
