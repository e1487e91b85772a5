"""XNNPACK's 4-bit GEMM alone at one row over a language model's linears, beside the read-bandwidth
probe over the same bytes (how it is measured: :mod:`examples.generation.gemm_probe`).

    python -m examples.backend.gemm_probe --model stories110m --group_size 32 --threads 1,2 \\
        [--schedules per_operator,one_region] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

from absl import flags

from examples.common import cli
from examples.generation.gemm_probe import (MAX_THREADS, SCHEDULES, check_built, check_group_size,
                                            check_region_threads, decode_groups, measure, summary_rows)

flags.DEFINE_string("model", "stories110m", "Zoo language model whose linear layers are multiplied.")
flags.DEFINE_integer("group_size", 32, "int4 weights per scale; 0: one scale per output channel.", lower_bound=0)
flags.DEFINE_list("threads", ["1", "2"], "Thread counts.")
flags.DEFINE_list("schedules", list(SCHEDULES), "How the threads share a token's GEMMs: per_operator (a pool job per "
                  "linear, as a program's delegate runs them), one_region (one pool job a token, each thread its "
                  "slice of every linear, spin barriers between dependent linears). The first is the reference "
                  "of the others' speed-up column.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds (bandwidth probe, then the GEMM per schedule, at each thread count).",
                     lower_bound=1)
flags.DEFINE_string("json", None, "Also write the result (JSON) here.")

FLAGS = flags.FLAGS


def main(argv):
    from examples.generation.generation_flags import probe_model_and_threads

    model, threads = probe_model_and_threads(argv, FLAGS.model, FLAGS.threads)
    if max(threads) > MAX_THREADS:
        raise cli.UsageError(f"--threads must be at most {MAX_THREADS}")
    schedules = list(dict.fromkeys(FLAGS.schedules))
    if not schedules or any(name not in SCHEDULES for name in schedules):
        raise cli.UsageError(f"--schedules takes {' and/or '.join(SCHEDULES)}, got {','.join(FLAGS.schedules)}")
    check_region_threads(schedules, threads)
    groups = decode_groups(model.shape)
    shapes = [linear for group in groups for linear in group]
    check_group_size(shapes, FLAGS.group_size)
    check_built()
    cells, how = measure(groups, FLAGS.group_size, threads, FLAGS.rounds, schedules)
    from tabulate import tabulate

    grouping = "per channel" if FLAGS.group_size == 0 else f"groups of {FLAGS.group_size}"
    print(f"{FLAGS.model}: XNNPACK qdu8 x qb4w GEMM at one row ({how['xnnpack_build']} build), {len(shapes)} linears, "
          f"int4 {grouping}; medians over {FLAGS.rounds} round(s)")
    print(tabulate(summary_rows(cells, schedules),
                   headers=["threads", "schedule", "GEMM ms/token", "GEMM GB/s", "probe GB/s", "GEMM / probe (rounds)",
                            f"speed over {schedules[0]} (rounds)"]))
    if FLAGS.json:
        from examples.generation.result_file import write_measurement

        write_measurement(FLAGS.json, "gemm_probe", threads,
                          f"cmake-out/xnnpack_gemm_probe ({how['xnnpack_build']} XNNPACK: "
                          "xnn_create_fully_connected_nc_qdu8_f32_qb4w, one row, every linear once per sweep, median "
                          "of 5 passes of >= 50 ms; schedules " + ", ".join(schedules) + ", one after the other) after "
                          f"examples.generation.bandwidth.read_bandwidth ({how['probe']}) over the same bytes, per round",
                          {"model": FLAGS.model, "group_size": FLAGS.group_size, "xnnpack_build": how["xnnpack_build"],
                           "schedules": schedules, "rounds": {str(n): rounds for n, rounds in cells.items()}})
    return 0


if __name__ == "__main__":
    cli.run(main)
