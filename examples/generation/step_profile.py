"""Per-operator profile of one prefill and of the decode steps of an exported Llama program.

    python -m examples.generation.step_profile --model_path stories110m_xnnpack_8da4w.pte \\
        --prompt_len 64 --decode_steps 8 --num_threads 1 [--runner native|python] [--top 12] [--json out.json]

Runs the program once on a ``--prompt_len`` prompt (prefill), then ``--decode_steps`` one-token
steps with ETDump on, and reads the trace with the devtools ``Inspector``: every event holds one
duration per ``execute``, the first being the prefill. ``--runner native`` (the default where
``./setup.sh`` built it) runs the profiling build's ``cmake-out-prof/text_generation_runner``,
the runner the generation benchmark measures (its own attention kernels and thread pool);
``--runner python`` runs ExecuTorch's Python runtime (the wheel's kernels and pool). The table
sums each operator's instances (XNNPACK's per-operator events inside the delegate, the portable
and custom kernels outside it) per step, with its share of the step's ``Method::execute``. Why a
configuration is slower than its peer shows up here, e.g. a GEMM variant that costs more per
token than expected or the kernels left outside the delegate.

With the native runner, the release build (``cmake-out/``, no ETDump) also runs the same steps
once with ``--threadpool_accounting``: how much of a decode step the pool's parallel jobs take,
how busy their threads are, and how much runs on one thread while the others wait (the part a
second thread cannot speed up).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from absl import flags

from examples.common import cli
from examples.generation.step_events import step_profiles, summarize
from examples.generation.token_ids import prompt_tokens

flags.DEFINE_string("model_path", None, "The .pte program (exported with KV cache).")
flags.DEFINE_integer("prompt_len", 64, "Prompt tokens of the prefill step.", lower_bound=1)
flags.DEFINE_integer("decode_steps", 8, "One-token decode steps after the prefill (averaged).", lower_bound=1)
flags.DEFINE_integer("num_threads", 1, "Threads for XNNPACK and the custom ops.", lower_bound=1)
flags.DEFINE_enum("runner", "auto", ["auto", "native", "python"],
                  "native: the profiling build's text_generation_runner; python: ExecuTorch's Python runtime; "
                  "auto: native where it is built.")
flags.DEFINE_integer("top", 12, "Operators shown per step.", lower_bound=1)
flags.DEFINE_string("json", None, "Also write the profile (JSON) here.")
flags.DEFINE_bool("verbose", False, "Show third-party output and tracebacks of unexpected errors.")
FLAGS = flags.FLAGS

def table(step: dict, top: int) -> str:
    from tabulate import tabulate

    total = step["execute_ms"]
    rows = sorted(step["operators"].items(), key=lambda kv: -kv[1])
    body = [[name, f"{ms:.3f}", f"{100 * ms / total:.1f} %"] for name, ms in rows[:top]]
    rest = sum(ms for _, ms in rows[top:])
    body.append([f"({len(rows) - top} more operators)" if len(rows) > top else "(none more)", f"{rest:.3f}",
                 f"{100 * rest / total:.1f} %"])
    outside = total - step["delegate_ms"]
    return (tabulate(body, headers=["operator", "ms", "share of execute"], tablefmt="github")
            + f"\nexecute {total:.3f} ms; inside XNNPACK {step['delegate_ms']:.3f} ms, outside {outside:.3f} ms")


# The prompt's ids stay below this (the program's vocabulary is not read here): inside the
# vocabulary of every Llama of the zoo.
PROMPT_VOCAB = 30003


def native_trace(trace: Path) -> None:
    """The profiling runner's ETDump of 1 + ``--decode_steps`` forward calls, written to ``trace``."""
    from examples.runner.client import RunnerFailed
    from examples.runner.text_generation_client import PROFILING_TEXT_RUNNER, generate_tokens

    try:
        generate_tokens(Path(FLAGS.model_path), prompt_tokens(FLAGS.prompt_len, PROMPT_VOCAB), runner="native", timeout=600,
                        max_new_tokens=FLAGS.decode_steps + 1, threads=FLAGS.num_threads,
                        binary=PROFILING_TEXT_RUNNER, extra_flags=[f"--prof_result_path={trace}"])
    except RunnerFailed as error:  # the runner's usage errors stay exit 2
        raise (cli.UsageError if error.exit_code == 2 else cli.CliError)(str(error)) from None


def pool_accounting() -> dict | None:
    """The release runner's thread-pool accounting over the same steps (no ETDump): how much of a
    decode step runs on one thread while the others wait. None where that runner is not built."""
    from examples.runner.client import RunnerFailed
    from examples.runner.text_generation_client import DEFAULT_TEXT_RUNNER, generate_tokens

    if not DEFAULT_TEXT_RUNNER.is_file():
        return None
    try:
        report = generate_tokens(Path(FLAGS.model_path), prompt_tokens(FLAGS.prompt_len, PROMPT_VOCAB), runner="native",
                                 timeout=600, max_new_tokens=FLAGS.decode_steps + 1, threads=FLAGS.num_threads,
                                 extra_flags=["--threadpool_accounting"])
    except RunnerFailed as error:
        raise cli.CliError(str(error)) from None
    decode = report["threadpool"]["decode"]
    return {"step_ms": report["decode_ms"] / FLAGS.decode_steps, **decode}


def pool_lines(pool: dict) -> str:
    step = pool["step_ms"]
    if not pool["jobs"]:  # a pool of one thread runs every task inline
        return f"a step {step:.3f} ms, all of it on the calling thread (no parallel jobs at {FLAGS.num_threads} thread)"
    per_step = pool["parallel_ms"] / FLAGS.decode_steps
    xnn = pool.get("xnnpack")
    split = ("" if not xnn else
             f": {xnn['one_thread_inside_ms'] / FLAGS.decode_steps:.3f} ms inside XNNPACK's {xnn['calls_per_step']:.0f} "
             f"calls a step (its small operators and their dispatch), {xnn['one_thread_outside_ms'] / FLAGS.decode_steps:.3f} "
             "ms outside them")
    return (f"a step {step:.3f} ms: {pool['jobs_per_step']:.0f} parallel jobs, {per_step:.3f} ms "
            f"({100 * per_step / step:.0f} %), threads busy {100 * pool['busy_share_in_jobs']:.0f} % of their time; "
            f"on one thread {step - per_step:.3f} ms ({100 * pool['one_thread_share']:.0f} %){split}")


def python_trace(trace: Path) -> None:
    """The Python runtime's ETDump of the prefill and ``--decode_steps`` greedy steps."""
    from examples.common.quiet import quiet_stdio

    with quiet_stdio(FLAGS.verbose):
        import torch

        import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401  (llama:: ops, before loading)
        import executorch.kernels.quantized  # noqa: F401  (an int8 KV cache's quantize ops)
        from executorch.extension.pybindings import portable_lib

        from examples.generation.decoder import set_threads

        set_threads(FLAGS.num_threads)
        prompt = torch.tensor([prompt_tokens(FLAGS.prompt_len, PROMPT_VOCAB)], dtype=torch.long)
        try:  # a file that is not a Llama program fails here, in the runtime's own words
            module = portable_lib._load_for_executorch(FLAGS.model_path, enable_etdump=True, debug_buffer_size=0)
            # These bindings give each method its own memory: a prefill method's KV cache would
            # not be forward's (examples/generation/prefill_split.py).
            split = "prefill" in module.method_names()
            logits = None if split else module.forward((prompt, torch.tensor([0], dtype=torch.long)))[0]
        except RuntimeError as error:
            failure = cli.CliError(f"cannot run {FLAGS.model_path} as a Llama program "
                                   f"(forward(tokens, input_pos)): {cli.first_line(error)}")
        else:
            failure = cli.UsageError(f"{FLAGS.model_path} has a prefill method: profile it with --runner native "
                                     "(the Python profile runs forward only)") if split else None
    if failure:
        raise failure
    with quiet_stdio(FLAGS.verbose):
        for step in range(FLAGS.decode_steps):
            token = int(logits.reshape(-1, logits.shape[-1])[-1].argmax())
            position = torch.tensor([FLAGS.prompt_len + step], dtype=torch.long)
            logits = module.forward((torch.tensor([[token]], dtype=torch.long), position))[0]
        module.write_etdump_result_to_file(str(trace))


def chosen_runner() -> str:
    from examples.runner.text_generation_client import PROFILING_TEXT_RUNNER

    if FLAGS.runner == "auto":
        return "native" if PROFILING_TEXT_RUNNER.is_file() else "python"
    if FLAGS.runner == "native" and not PROFILING_TEXT_RUNNER.is_file():
        raise cli.UsageError("the profiling runner is not built (cmake-out-prof/text_generation_runner missing): "
                             "run ./setup.sh, or use --runner python")
    return FLAGS.runner


RUNTIMES = {"native": "the profiling build's text_generation_runner with ETDump",
            "python": "ExecuTorch Python runtime with ETDump"}


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.model_path or not Path(FLAGS.model_path).is_file():
        raise cli.UsageError(f"model file not found: {FLAGS.model_path}" if FLAGS.model_path else "--model_path is required")
    runner = chosen_runner()
    trace = Path(tempfile.mkdtemp(prefix="step_profile_")) / "trace.etdp"
    (native_trace if runner == "native" else python_trace)(trace)
    from examples.common.quiet import quiet_stdio

    with quiet_stdio(FLAGS.verbose):
        from executorch.devtools import Inspector

        inspector = Inspector(etdump_path=str(trace))
    summary = summarize(step_profiles(inspector, 1 + FLAGS.decode_steps))
    pool = pool_accounting() if runner == "native" else None
    print(f"{Path(FLAGS.model_path).name}, {FLAGS.num_threads} thread(s); ms per operator kind, "
          f"all instances summed ({RUNTIMES[runner]})")
    print(f"\nprefill ({FLAGS.prompt_len} tokens)")
    print(table(summary["prefill"], FLAGS.top))
    print(f"\ndecode step (mean of {FLAGS.decode_steps})")
    print(table(summary["decode_step"], FLAGS.top))
    if pool:
        print(f"\nthread pool over the decode steps (release build, no ETDump):\n{pool_lines(pool)}")
        summary["threadpool"] = pool
    if FLAGS.json:
        write_json(summary, runner)
    return 0


def write_json(summary: dict, runner: str) -> None:
    import time

    from examples.common.atomic_write import write_text_atomic
    from examples.common.machine import fingerprint

    result = {"program": Path(FLAGS.model_path).name, "threads": FLAGS.num_threads, "runner": runner,
              "prompt_len": FLAGS.prompt_len, "decode_steps": FLAGS.decode_steps,
              "date": time.strftime("%Y-%m-%d"), "method": f"{RUNTIMES[runner]}, devtools Inspector; ms per "
              "operator kind, all instances summed, mean over the decode steps"
              + ("; threadpool: cmake-out/text_generation_runner --threadpool_accounting over the same steps"
                 if "threadpool" in summary else ""),
              "machine": fingerprint(threads=[FLAGS.num_threads]), **summary}
    write_text_atomic(FLAGS.json, json.dumps(result, indent=1) + "\n")
    print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    cli.run(main)
