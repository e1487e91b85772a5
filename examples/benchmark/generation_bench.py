"""Token generation benchmark: ExecuTorch (XNNPACK fp32 / 8da4w) vs llama.cpp (F32 / Q8_0 / Q4_0)
on the same weights, prompt and thread count.

    python -m examples.benchmark.generation_bench --models stories15m,stories110m --threads 1,2

For each model: the weights (seeded random unless --weights names a checkpoint) are exported
once to ``--output_dir`` (the .pte programs and .gguf files are reused on a later run when
their weights and options are the same), then every engine runs the prompt (prefill) and
``--max_new_tokens`` greedy tokens (decode), each in its own process. The table gives prefill
and decode tokens/s, time to first token and peak RSS (medians over ``--rounds``), and how many
leading greedy tokens agree with ExecuTorch fp32. The ExecuTorch runner is the native
``text_generation_runner`` when built, otherwise the Python stand-in, and the table says which.
llama.cpp rows need ``pip install '.[compare-llm]'``; without it they are listed as missing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import flags

from examples.common import cli

flags.DEFINE_list("models", ["stories15m"], "Zoo language models (stories15m, stories110m, llama3_2_1b).")
flags.DEFINE_list("threads", ["1", "2"], "Thread counts.")
flags.DEFINE_integer("prompt_len", 16, "Prompt length in tokens (BOS, then fixed ids).")
flags.DEFINE_integer("max_new_tokens", 64, "Generated tokens per run.")
flags.DEFINE_integer("group_size", 32, "8da4w: weights per int4 scale (larger groups: fewer scales to read).",
                     lower_bound=1)
flags.DEFINE_integer("max_seq_len", 128, "KV cache length of the exported programs (>= prompt + new tokens).")
flags.DEFINE_integer("rounds", 1, "Repetitions of every run; the table shows medians.")
flags.DEFINE_string("weights", "auto", "auto/random (seeded random, with a warning) or a checkpoint PATH (one model).")
flags.DEFINE_string("runner", "auto", "ExecuTorch runner: auto (native if built), native or python-standin.")
flags.DEFINE_string("output_dir", "benchmark-out/generation", "Where programs, GGUF files and results go.")
flags.DEFINE_bool("verbose", False, "Tracebacks of unexpected errors.")

FLAGS = flags.FLAGS
def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from examples.benchmark.generation_runs import (build_artifacts, llama_cpp_available, prompt_tokens, ratios,
                                                    run_model, table)
    from examples.models.llama_zoo import LLM_MODELS

    unknown = [m for m in FLAGS.models if m not in LLM_MODELS]
    if unknown:
        raise cli.UsageError(f"unknown language model {unknown[0]} (one of {', '.join(LLM_MODELS)})")
    try:
        threads = [int(t) for t in FLAGS.threads]
    except ValueError:
        raise cli.UsageError(f"--threads must be integers, got {','.join(FLAGS.threads)}") from None
    if any(t < 1 for t in threads) or FLAGS.rounds < 1 or FLAGS.prompt_len < 1 or FLAGS.max_new_tokens < 1:
        raise cli.UsageError("--threads, --rounds, --prompt_len and --max_new_tokens must be at least 1")
    if FLAGS.prompt_len + FLAGS.max_new_tokens > FLAGS.max_seq_len:
        raise cli.UsageError("--prompt_len + --max_new_tokens exceeds --max_seq_len")
    if FLAGS.weights not in ("auto", "random") and len(FLAGS.models) > 1:
        raise cli.UsageError("--weights PATH is one model's checkpoint: name one model")
    from examples.runner.text_generation_client import DEFAULT_TEXT_RUNNER

    runner = FLAGS.runner
    if runner == "auto":
        runner = "native" if DEFAULT_TEXT_RUNNER.is_file() else "python-standin"
    elif runner not in ("native", "python-standin"):
        raise cli.UsageError("--runner must be auto, native or python-standin")

    from examples.common.machine import machine_info
    from examples.common.atomic_write import write_bytes_atomic

    with_llama_cpp = llama_cpp_available()
    output = Path(FLAGS.output_dir)
    rows = []
    for name in FLAGS.models:
        model = LLM_MODELS[name]
        artifacts = build_artifacts(model, FLAGS.weights, output / name, FLAGS.max_seq_len, with_llama_cpp,
                                    FLAGS.group_size)
        rows += run_model(model, artifacts, threads, runner, prompt_tokens(FLAGS.prompt_len, model.shape.vocab_size),
                          FLAGS.max_new_tokens, FLAGS.rounds)
    machine = machine_info()
    print(f"\nmachine: {machine['cpu_model']}, {machine['usable_cpus']} usable CPUs; prompt {FLAGS.prompt_len} tokens, "
          f"{FLAGS.max_new_tokens} new tokens, medians of {FLAGS.rounds} round(s); "
          f"ExecuTorch runner: {runner}{' (Python stand-in: its RSS includes Python and libtorch)' if runner != 'native' else ''}")
    print(table(rows, not with_llama_cpp))
    for line in ratios(rows):
        print(line)
    settings = {"prompt_len": FLAGS.prompt_len, "max_new_tokens": FLAGS.max_new_tokens,
                "max_seq_len": FLAGS.max_seq_len, "rounds": FLAGS.rounds, "threads": threads,
                "group_size": FLAGS.group_size}
    results = {"machine": machine, "date": time.strftime("%Y-%m-%d"), "settings": settings, "runner": runner,
               "rows": [r.__dict__ for r in rows]}
    path = write_bytes_atomic(output / "generation_bench.json", json.dumps(results, indent=1).encode())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    cli.run(main)
