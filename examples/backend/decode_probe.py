"""A whole decode step in one parallel region against the bandwidth limit, optionally beside a
program's decode in the same rounds (how it is measured: :mod:`examples.generation.decode_probe`).

    python -m examples.backend.decode_probe --model stories110m --group_size 32 --threads 1,2 \\
        [--prompt_len 64 --max_new_tokens 128] [--programs A.pte,B.pte] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from absl import flags

from examples.common import cli
from examples.generation.decode_probe import check_built, check_region_threads, measure, summary_rows

flags.DEFINE_string("model", "stories110m", "Zoo language model whose shape the step has (random weights).")
flags.DEFINE_integer("group_size", 32, "int4 weights per bf16 scale (a multiple of 32).", lower_bound=32)
flags.DEFINE_list("threads", ["1", "2"], "Thread counts (at most the usable CPUs: the threads spin at barriers).")
flags.DEFINE_integer("prompt_len", 64, "Cached tokens at the first timed step.", lower_bound=1)
flags.DEFINE_integer("max_new_tokens", 128, "Decode steps timed (positions prompt_len ... prompt_len + this - 1).",
                     lower_bound=1)
flags.DEFINE_list("programs", [], "Also time these programs' decode with text_generation_runner in the same rounds "
                  "(prompt_len random prompt tokens, max_new_tokens greedy tokens), each against its own bytes per token.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds (bandwidth probe, region, program, at each thread count).",
                     lower_bound=1)
flags.DEFINE_string("json", None, "Also write the result (JSON) here.")

FLAGS = flags.FLAGS


def main(argv):
    from examples.generation.generation_flags import probe_model_and_threads

    model, threads = probe_model_and_threads(argv, FLAGS.model, FLAGS.threads)
    check_region_threads(threads)
    programs = [Path(p) for p in FLAGS.programs]
    for program in programs:
        if not program.is_file():
            raise cli.UsageError(f"--programs: no such file {program}")
    check_built()
    shape = model.shape
    with tempfile.TemporaryDirectory(prefix="decode_probe-") as work:
        cells = measure(shape, FLAGS.group_size, threads, FLAGS.rounds, FLAGS.prompt_len, FLAGS.max_new_tokens,
                        Path(work), programs)
    from tabulate import tabulate

    print(f"{FLAGS.model}: one decode step a parallel region (int4 groups of {FLAGS.group_size}, positions "
          f"{FLAGS.prompt_len}..{FLAGS.prompt_len + FLAGS.max_new_tokens - 1}); medians over {FLAGS.rounds} round(s)")
    print(tabulate(summary_rows(cells), headers=["threads", "row", "ms/token", "MB/token", "probe GB/s",
                                                 "decode / limit (rounds)",
                                                 "speed over the region"]))
    if FLAGS.json:
        from examples.generation.result_file import write_measurement

        write_measurement(FLAGS.json, "decode_probe", threads,
                          "cmake-out/xnnpack_decode_probe (one pool job a step: XNNPACK qdu8 x qb4w slices per thread, "
                          "norms, quantization, rotary embedding, KV cache and attention by 16-key chunks, five spin "
                          "barriers a layer; median of 5 passes over the positions) after "
                          "examples.generation.bandwidth.read_bandwidth over the step's bytes, per round"
                          + ("; then each program's decode (cmake-out/text_generation_runner, greedy) against its own "
                             "bytes per token" if programs else ""),
                          {"model": FLAGS.model, "group_size": FLAGS.group_size, "prompt_len": FLAGS.prompt_len,
                           "max_new_tokens": FLAGS.max_new_tokens, "programs": [str(p) for p in programs],
                           "rounds": {str(n): rounds for n, rounds in cells.items()}})
    return 0


if __name__ == "__main__":
    cli.run(main)
