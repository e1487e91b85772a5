"""Read bandwidth against working-set size: where a sweep falls out of the cache this process gets
(how it is measured: :mod:`examples.generation.cache_sweep`).

    python -m examples.backend.cache_sweep --sizes_mb 32,48,64,72,80,96,128,256 --threads 1,2 [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import statistics

from absl import flags

from examples.common import cli
from examples.generation.cache_sweep import sizes_from, sweep

flags.DEFINE_list("sizes_mb", ["32", "48", "64", "72", "80", "96", "128", "256"],
                  "Buffer sizes, MB (10^6 bytes), at least 1.")
flags.DEFINE_list("threads", ["1", "2"], "Thread counts.")
flags.DEFINE_integer("rounds", 2, "Passes over all sizes; the table shows each cell's median.", lower_bound=1)
flags.DEFINE_string("json", None, "Also write the sweep (JSON) here.")

FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    sizes = sizes_from(FLAGS.sizes_mb)
    threads = cli.positive_int_list(",".join(FLAGS.threads), "threads")
    cells, method = sweep(sizes, threads, FLAGS.rounds)
    from tabulate import tabulate

    rows = [[f"{size:g}"] + [f"{statistics.median(cells[n][size]):.1f}" for n in threads] for size in sizes]
    print(tabulate(rows, headers=["MB"] + [f"{n} thread(s) GB/s" for n in threads]))
    if FLAGS.json:
        from examples.generation.bandwidth import last_level_cache_bytes
        from examples.generation.result_file import write_measurement

        write_measurement(FLAGS.json, "cache_sweep", threads,
                          f"examples.generation.bandwidth.read_bandwidth ({method}) at each size and thread count, "
                          f"{FLAGS.rounds} interleaved round(s), medians",
                          {"last_level_cache_bytes": last_level_cache_bytes(),
                           "gb_s": {str(n): {f"{size:g}": cells[n][size] for size in sizes} for n in threads}})
    return 0


if __name__ == "__main__":
    cli.run(main)
