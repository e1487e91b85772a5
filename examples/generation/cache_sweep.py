"""Read bandwidth against working-set size: where a sweep falls out of the cache this process gets.

    python -m examples.backend.cache_sweep --sizes_mb 32,48,64,72,80,96,128,256 --threads 1,2 \\
        [--rounds 2] [--json out.json]    (the command: examples/backend/cache_sweep.py)

The generation benchmark's limit probes one size (a decode step's weights). A decode step's whole
working set is larger (weights, KV cache, activations, the runtime's own buffers), and on a
shared machine the last-level cache this process keeps is smaller than the one ``lscpu``
reports. This sweep, the benchmark's probe (:func:`examples.generation.bandwidth.read_bandwidth`)
at each size and thread count, rounds interleaved, shows where the cliff is: a step whose
working set sits near it cannot stream at the probe's rate.
"""

from __future__ import annotations

import math

from examples.common import cli


def sizes_from(values: list[str]) -> list[float]:
    try:
        sizes = [float(v) for v in values]
    except ValueError:
        raise cli.UsageError(f"--sizes_mb takes comma-separated numbers, got {','.join(values)}") from None
    if not sizes or not all(math.isfinite(size) and size >= 1 for size in sizes):
        raise cli.UsageError("--sizes_mb must be sizes of at least 1 MB")
    return list(dict.fromkeys(sizes))


def sweep(sizes_mb: list[float], threads: list[int], rounds: int, progress=print) -> tuple[dict, str]:
    """``{threads: {size_mb: [GB/s per round]}}`` and the probe's method; every round visits
    every cell, so a busy neighbour slows a round, not one size."""
    from examples.generation.bandwidth import read_bandwidth

    cells, method = {n: {size: [] for size in sizes_mb} for n in threads}, ""
    for round_index in range(rounds):
        progress(f"round {round_index + 1}/{rounds}")
        for size in sizes_mb:
            for n in threads:
                probe = read_bandwidth(int(size * 1e6) // 64 * 64, n)
                cells[n][size].append(probe["gb_s"])
                method = probe["method"]
    return cells, method
