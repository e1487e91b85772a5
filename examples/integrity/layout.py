"""Where a ``.pte`` keeps its parts: the ranges a program card digests one by one.

The runtime reads a program in ranges: the head (extended header + flatbuffer, ``[0,
segment_base_offset)``) and each data segment (weights, delegate payloads). The native runner
reads each range it is asked for into its own memory and checks it against the card's digest
of that range before the runtime sees it (runtime/executor_runner/verified_loader.h), so a
range is checked in the very bytes that are then used, and freed when the runtime frees it.

Read here without the flatbuffers package or torch (cards are written by light tools too):
the extended header (``eh00`` at byte 8) and the root table's ``segments`` vector
(schema/program.fbs: ``Program`` field 4, ``[DataSegment {offset: uint64; size: uint64}]``).
"""

from __future__ import annotations

import struct

_SEGMENTS_FIELD = 4  # Program: version, execution_plan, constant_buffer, backend_delegate_data, segments


def _u32(data, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _field(data, table: int, index: int) -> int | None:
    """Absolute position of field ``index`` of the table at ``table``; None when absent."""
    vtable = table - struct.unpack_from("<i", data, table)[0]
    vtable_size = struct.unpack_from("<H", data, vtable)[0]
    slot = 4 + 2 * index
    if slot + 2 > vtable_size:
        return None
    offset = struct.unpack_from("<H", data, vtable + slot)[0]
    return table + offset if offset else None


def _segments(data) -> list[tuple[int, int]]:
    root = _u32(data, 0)
    field = _field(data, root, _SEGMENTS_FIELD)
    if field is None:
        return []
    vector = field + _u32(data, field)
    out = []
    for i in range(_u32(data, vector)):
        element = vector + 4 + 4 * i
        table = element + _u32(data, element)
        values = []
        for index in (0, 1):  # offset, size (absent = 0)
            at = _field(data, table, index)
            values.append(struct.unpack_from("<Q", data, at)[0] if at is not None else 0)
        out.append((values[0], values[1]))
    return out


def program_ranges(data) -> list[tuple[int, int]] | None:
    """``[(offset, size)]`` covering the whole file in order: the head, then from each segment's
    start to the next one's (its padding included, so no byte of the file goes unchecked); None
    when ``data`` is not a ``.pte`` with an extended header (then the card holds no ranges)."""
    try:
        if len(data) < 40 or bytes(data[4:6]) != b"ET" or bytes(data[8:12]) != b"eh00":
            return None
        segment_base = struct.unpack_from("<Q", data, 24)[0]
        segments = _segments(data)
    except (struct.error, IndexError):
        return None
    starts = sorted({0, *(segment_base + offset for offset, _ in segments)})
    if segments and (starts[1] < segment_base or starts[-1] >= len(data)):
        return None  # a segment inside the head or past the end: not a layout this runtime reads
    ends = starts[1:] + [len(data)]
    return [(start, end - start) for start, end in zip(starts, ends)]


_CONSTANT_SEGMENT_FIELD = 5  # Program.constant_segment: SubsegmentOffsets {segment_index: uint32, offsets: [uint64]}


def constant_segment_range(data) -> tuple[int, int] | None:
    """``(file offset, size)`` of the segment holding the program's own (non-delegated) constant
    tensors: what the runtime keeps for the program's lifetime, where a delegate's data is freed
    once it has taken it in. None when the program keeps none there (or is no ``.pte`` with an
    extended header)."""
    try:
        if len(data) < 40 or bytes(data[4:6]) != b"ET" or bytes(data[8:12]) != b"eh00":
            return None
        segment_base = struct.unpack_from("<Q", data, 24)[0]
        root = _u32(data, 0)
        field = _field(data, root, _CONSTANT_SEGMENT_FIELD)
        if field is None:
            return None
        table = field + _u32(data, field)
        index_at = _field(data, table, 0)
        index = _u32(data, index_at) if index_at is not None else 0
        segments = _segments(data)
    except (struct.error, IndexError):
        return None
    if index >= len(segments) or segments[index][1] == 0:
        return None
    offset, size = segments[index]
    return segment_base + offset, size


def constant_segment_bytes(data) -> int:
    """Bytes of the constant segment (:func:`constant_segment_range`); 0 when there is none."""
    found = constant_segment_range(data)
    return found[1] if found else 0
