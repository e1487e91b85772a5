"""Read bandwidth against working-set size: where a sweep falls out of the cache this process gets.

    python -m examples.backend.cache_sweep --sizes_mb 32,48,64,72,80,96,128,256 --threads 1,2 \\
        [--rounds 2] [--json out.json]

The generation benchmark's limit probes one size (a decode step's weights). A decode step's whole
working set is larger (weights, KV cache, activations, the runtime's own buffers), and on a
shared machine the last-level cache this process keeps is smaller than the one ``lscpu``
reports. This sweep, the benchmark's probe (:func:`examples.generation.bandwidth.read_bandwidth`)
at each size and thread count, rounds interleaved, shows where the cliff is: a step whose
working set sits near it cannot stream at the probe's rate.
"""

from __future__ import annotations

import json
import statistics

from absl import flags

from examples.common import cli

flags.DEFINE_list("sizes_mb", ["32", "48", "64", "72", "80", "96", "128", "256"], "Buffer sizes, MB (10^6 bytes).")
flags.DEFINE_list("threads", ["1", "2"], "Thread counts.")
flags.DEFINE_integer("rounds", 2, "Passes over all sizes; the table shows each cell's median.", lower_bound=1)
flags.DEFINE_string("json", None, "Also write the sweep (JSON) here.")

FLAGS = flags.FLAGS


def _positive_numbers(values: list[str], what: str, kind=float) -> list:
    try:
        numbers = [kind(v) for v in values]
    except ValueError:
        raise cli.UsageError(f"--{what} takes comma-separated numbers, got {','.join(values)}") from None
    if not numbers or min(numbers) <= 0:
        raise cli.UsageError(f"--{what} must be positive numbers")
    return numbers


def sweep(sizes_mb: list[float], threads: list[int], rounds: int, progress=print) -> dict:
    """``{threads: {size_mb: [GB/s per round]}}``; every round visits every cell, so a busy
    neighbour slows a round, not one size."""
    from examples.generation.bandwidth import read_bandwidth

    cells = {n: {size: [] for size in sizes_mb} for n in threads}
    for round_index in range(rounds):
        progress(f"round {round_index + 1}/{rounds}")
        for size in sizes_mb:
            nbytes = max(1 << 20, int(size * 1e6)) // 64 * 64
            for n in threads:
                cells[n][size].append(read_bandwidth(nbytes, n)["gb_s"])
    return cells


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    sizes = _positive_numbers(FLAGS.sizes_mb, "sizes_mb")
    threads = _positive_numbers(FLAGS.threads, "threads", int)
    cells = sweep(sizes, threads, FLAGS.rounds)
    from tabulate import tabulate

    rows = [[f"{size:g}"] + [f"{statistics.median(cells[n][size]):.1f}" for n in threads] for size in sizes]
    print(tabulate(rows, headers=["MB"] + [f"{n} thread(s) GB/s" for n in threads]))
    if FLAGS.json:
        import time

        from examples.common.atomic_write import write_text_atomic
        from examples.common.machine import fingerprint
        from examples.generation.bandwidth import last_level_cache_bytes

        result = {"kind": "cache_sweep", "date": time.strftime("%Y-%m-%d"), "machine": fingerprint(threads=threads),
                  "method": f"examples.generation.bandwidth.read_bandwidth at each size and thread count, "
                            f"{FLAGS.rounds} interleaved round(s), medians",
                  "last_level_cache_bytes": last_level_cache_bytes(),
                  "gb_s": {str(n): {f"{size:g}": cells[n][size] for size in sizes} for n in threads}}
        write_text_atomic(FLAGS.json, json.dumps(result, indent=1) + "\n")
        print(f"wrote {FLAGS.json}")
    return 0


if __name__ == "__main__":
    cli.run(main)
