"""The checks the generators make on a ``.pte`` file before ExecuTorch's runtime reads it, with
the native runners' words (runtime/executor_runner/program_verification.cpp), so that the
Python and the native paths explain a damaged file alike: the card check
(:func:`examples.integrity.verify.verify_program`, exit 5), then :func:`check_layout` (exit 1).
"""

from __future__ import annotations

from pathlib import Path

from examples.common import cli

_HEADER_AT, _FIELDS_AT, _HEADER_NEEDED = 8, 16, 40


class DamagedProgram(cli.CliError):
    """The file's own header says it is not (all of) a program: exit 1, as the runners'."""


def check_layout(program: str | Path) -> None:
    """The runners' ``check_layout``: the extended header ("eh00" at byte 8, then u32 length and
    u64 program_size, segment_base_offset, segment_data_size) must be there and its segments
    must end where the file ends, so a truncated copy is named as such instead of failing inside
    the runtime with an error code."""
    program = Path(program)
    with open(program, "rb") as f:
        head = f.read(_HEADER_NEEDED)
        file_size = f.seek(0, 2)
    if len(head) < _HEADER_NEEDED or head[_HEADER_AT:_HEADER_AT + 4] != b"eh00":
        raise DamagedProgram(f"{program} is not a valid ExecuTorch program: no extended header ('eh00' at byte 8; "
                             "every program ExecuTorch 1.x writes has one): damaged header, or not a program")
    if int.from_bytes(head[_HEADER_AT + 4:_HEADER_AT + 8], "little") < _HEADER_NEEDED - _HEADER_AT:
        return  # an older header without segment_data_size
    program_size, segment_base, segment_size = (int.from_bytes(head[i:i + 8], "little")
                                                for i in range(_FIELDS_AT, _HEADER_NEEDED, 8))
    if segment_size == 0:
        return  # no segments
    if program_size > segment_base or segment_base > file_size or segment_size != file_size - segment_base:
        raise DamagedProgram(f"{program} is not a valid ExecuTorch program: its header puts {segment_size} bytes of "
                             f"segments at offset {segment_base} after a {program_size}-byte program, but the file "
                             f"has {file_size} bytes (damaged header or file)")


def check_program_file(program: str | Path) -> None:
    """Card first (a copy that does not match it: exit 5), then the layout (exit 1)."""
    from examples.integrity.verify import verify_program

    verify_program(program, "auto")
    check_layout(program)


def program_flatbuffer(source: bytes | Path):
    """The program's flatbuffer (methods, segment table, named data), parsed by ExecuTorch's
    serializer without the segments behind it (the weights): ``(program, segment_base_offset)``.
    ``source`` is the file's bytes or its path (then only the flatbuffer is read)."""
    from executorch.exir._serialize._program import _flatbuffer_to_program, _get_extended_header

    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            header = _get_extended_header(f.read(64))
            f.seek(0)
            data = f.read(header.program_size) if header is not None and header.is_valid() else f.read()
    else:
        header = _get_extended_header(source[:64])
        data = source[:header.program_size] if header is not None and header.is_valid() else source
    base = header.segment_base_offset if header is not None and header.is_valid() else 0
    return _flatbuffer_to_program(bytes(data)), base
