"""Damaged copies of a program, as storage, transfers and caches damage files: truncations,
header byte changes, bit flips in the flatbuffer (structure) and in the segments after it
(delegate payloads, constant data), in equal shares, reproducible from a seed."""

from __future__ import annotations

import random
from typing import Iterator

KINDS = ("truncate", "header", "flatbuffer_bits", "segment_bits")


def flatbuffer_end(data: bytes) -> int:
    """End of the flatbuffer: the extended header "eh00" at offset 8 gives the program size at
    16; without one the whole file is flatbuffer."""
    end = int.from_bytes(data[16:24], "little") if data[8:12] == b"eh00" else len(data)
    return max(64, min(end, len(data) - 1))


def mutations(data: bytes, count: int, seed: int) -> Iterator[tuple[int, str, bytes]]:
    """``(index, kind, mutated bytes)`` for ``count`` cases; every case differs from ``data``."""
    rng = random.Random(seed)
    fb_end = flatbuffer_end(data)
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        d = bytearray(data)
        while bytes(d) == data:
            if kind == "truncate":
                d = d[: rng.randrange(len(d))]
            elif kind == "header":
                for _ in range(rng.randint(1, 4)):
                    d[rng.randrange(64)] = rng.randrange(256)
            elif kind == "flatbuffer_bits":
                for _ in range(rng.randint(1, 8)):
                    d[rng.randrange(fb_end)] ^= 1 << rng.randrange(8)
            else:
                segment_start = fb_end if fb_end < len(data) - 1 else 64  # no segments: flip anywhere
                for _ in range(rng.randint(1, 8)):
                    d[rng.randrange(segment_start, len(d))] ^= 1 << rng.randrange(8)
        yield i, kind, bytes(d)
