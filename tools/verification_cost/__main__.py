"""What verification costs: time to first result with the card check (``--verify_program=auto``)
against without it (``off``), same program, same runner, alternating runs. ``auto`` hashes the
program every run (``--verify_cache=off``); ``cached`` is ``auto`` with the runner's verify cache,
as a program run again unchanged is checked (the cache is filled once before timing).

    python -m tools.verification_cost mv2_xnnpack_fp32.pte --rounds 40 --out verify_cost.json

Time to first result is measured two ways, both from fresh runner processes running the program
once (``--num_iters=1 --warmup_iters=0``): *in the runner* (load, card check included, + method
init + first execute, from its JSON) and *process* (start to exit, as a caller waits for it).
A language model (its card lists ``get_max_seq_len``) runs in ``text_generation_runner`` (the
one beside ``--runner``) up to its first token after a 3-token prompt (load + prefill).
The overhead is the ratio of medians minus one, with a bootstrap 95 % interval; runs alternate
(auto, cached, off, then reversed, ...) so drift on a shared machine hits every side. The result
file names the machine and the date; the program must have a card, and a file written less than
2 s ago is never cached (the runner's rule), so the tool waits that long if it must.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from absl import flags

from examples.common import cli
from tools.verification_cost.summary import MODES, summarize, table

flags.DEFINE_integer("rounds", 40, "Runs per mode.", lower_bound=3)
flags.DEFINE_integer("threads", 1, "The runner's --num_threads (the digest uses as many cores).", lower_bound=1)
flags.DEFINE_string("out", None, "Write the result (JSON, with the machine fingerprint) here.")
flags.DEFINE_string("runner", None, "The native runner (default cmake-out/xnn_executor_runner).")
flags.DEFINE_bool("verbose", False, "Show tracebacks of unexpected errors.")
FLAGS = flags.FLAGS



def mode_flags(mode: str, cache_dir: Path) -> list[str]:
    if mode == "off":
        return ["--verify_program=off"]
    return ["--verify_program=auto", f"--verify_cache={cache_dir if mode == 'cached' else 'off'}"]


def is_language_model(program: Path) -> bool:
    from examples.integrity.card import read_card

    return "get_max_seq_len" in ((read_card(program) or {}).get("methods") or {})


def first_result_command(runner: Path, program: Path) -> list:
    """The runner asked for one result: one execute, or for a language model (run by
    text_generation_runner, beside the runner) one token after a 3-token prompt."""
    if is_language_model(program):
        return [runner.parent / "text_generation_runner", f"--model_path={program}", "--prompt_tokens=1,15,27",
                "--max_new_tokens=1"]
    return [runner, f"--model_path={program}", "--num_iters=1", "--warmup_iters=0"]


def one_run(runner: Path, program: Path, mode: str, threads: int, cache_dir: Path) -> dict:
    from examples.runner import client

    start = time.perf_counter()
    done = client.run_raw(*first_result_command(runner, program), "--json", f"--num_threads={threads}",
                          *mode_flags(mode, cache_dir), timeout=120)
    process_ms = (time.perf_counter() - start) * 1e3
    if done.returncode != 0:
        raise client.failure(done.returncode, done.stderr)
    report = client.parse_json(done.stdout)
    if mode != "off" and report.get("verification") != "verified":
        raise cli.UsageError(f"{program} has no card to verify against ({report.get('verification')})")
    if report.get("verify_cached", False) != (mode == "cached"):
        raise RuntimeError(f"{mode} run: the runner's verify cache was {'not ' * (mode == 'cached')}used")
    if "time_to_first_token_ms" in report:  # text_generation_runner: load (methods included), then prefill
        runner_ms = report["load_ms"] + report["time_to_first_token_ms"]
    else:
        runner_ms = report["load_ms"] + report["method_init_ms"] + report["first_iter_ms"]
    return {"process_ms": process_ms, "verify_ms": report["verify_ms"], "runner_ms": runner_ms}


def measure(runner: Path, program: Path, rounds: int, threads: int, cache_dir: Path) -> dict:
    from examples.runner import client

    age = time.time() - program.stat().st_ctime
    if age < 2.5:  # the runner never caches a file this fresh
        time.sleep(2.5 - age)
    fill = client.run_raw(*first_result_command(runner, program), *mode_flags("cached", cache_dir),
                          timeout=120)  # hashes once, remembers
    if fill.returncode != 0:
        raise client.failure(fill.returncode, fill.stderr)
    runs = {mode: [] for mode in MODES}
    for i in range(rounds):
        for mode in (MODES if i % 2 == 0 else MODES[::-1]):
            runs[mode].append(one_run(runner, program, mode, threads, cache_dir))
        if (i + 1) % max(1, rounds // 5) == 0:
            print(f"  {i + 1}/{rounds} rounds", file=sys.stderr, flush=True)
    return runs


def main(argv):
    program = cli.one_program_argument(argv, "python -m tools.verification_cost PROGRAM [--rounds N] [--out F]")
    from examples.common import machine
    from examples.common.atomic_write import write_text_atomic
    from examples.runner import client

    import tempfile

    runner = client.find_runner(FLAGS.runner)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="verify-cache-") as cache_dir:
        runs = measure(runner, program, FLAGS.rounds, FLAGS.threads, Path(cache_dir))
    summary = summarize(runs)
    print(f"{program.name}, {FLAGS.threads} thread(s), {FLAGS.rounds} runs per mode, medians")
    print(table(summary))
    if FLAGS.out:
        result = {"program": program.name, "size_bytes": program.stat().st_size, "threads": FLAGS.threads,
                  "rounds": FLAGS.rounds, "summary": summary, "runs": runs,
                  "machine": machine.fingerprint(started=started, ended=time.time(), threads=[FLAGS.threads])}
        write_text_atomic(FLAGS.out, json.dumps(result, indent=2) + "\n")
        print(f"wrote {FLAGS.out}")
    return 0


if __name__ == "__main__":
    cli.run(main)
