"""What verification costs in memory: peak RSS growth of the native runners, side by side, with
the runtime's own mmap loader (``--verify_program=off``: ExecuTorch's ``MmapDataLoader``, what
``Module::LoadMode::Mmap`` uses), with verification (``auto``: each range read into the
runner's memory and checked, the verify cache off), and with a verify-cache hit (``cached``).

    python -m tools.memory_cost mv2_xnnpack_fp32.pte stories15m_xnnpack_8da4w.pte \\
        --baseline_program tiny.pte --rounds 3 --out memory_cost.json

A language model (its card lists ``get_max_seq_len``) runs in ``text_generation_runner``
(prompt 1,15,27, 8 new tokens); its growth is ``peak_rss_kb - baseline_rss_kb`` (the process
just before the load). Any other program runs once in ``xnn_executor_runner``; its growth is its
peak RSS less that of ``--baseline_program`` (a tiny carded program: the runner's own memory,
code pages and thread pool included) in the same runner and mode. Medians over ``--rounds``
fresh processes, modes interleaved.

The allowance: a verified run holds in private memory the bytes the runtime keeps, where a
mapping touches only the pages used; a constant segment with chunk digests in its card is read
only where the run touches it (runtime/executor_runner/checked_on_use.h), else whole. So
``verified <= mmap + constant segment`` (``examples.integrity.layout.constant_segment_bytes``)
is the check (``met``, within ``TOLERANCE_MIB``), and ``off_no_better_than_verified`` says
whether the mapping held no less, strictly. ``--before DIR`` adds the same modes for another
build of the runners (e.g. an older commit), for a table before and after.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from absl import flags

from examples.common import cli

flags.DEFINE_integer("rounds", 3, "Fresh runner processes per program and mode (median).", lower_bound=1)
flags.DEFINE_string("baseline_program", None, "A tiny carded program: the xnn_executor_runner's own peak RSS.")
flags.DEFINE_string("runner_dir", None, "Folder of the runners (default cmake-out).")
flags.DEFINE_string("before", None, "Folder of another build of the runners, measured alongside as 'before_*'.")
flags.DEFINE_string("before_label", "another build", "What --before is, for the result file (e.g. its commit).")
flags.DEFINE_string("out", None, "Write the result (JSON, with the machine fingerprint) here.")
flags.DEFINE_bool("verbose", False, "Show tracebacks of unexpected errors.")
FLAGS = flags.FLAGS

MODES = ("mmap", "verified", "cached")
BEFORE_MODES = ("before_on", "before_off")  # an older build: verification on (hashing) and off
MIB = 1024 * 1024
TOLERANCE_MIB = 1.0  # run-to-run spread of a median of fresh processes (allocator and page rounding)


def mode_flags(mode: str, cache_dir: Path) -> list[str]:
    if mode in ("mmap", "before_off"):
        return ["--verify_program=off"]
    return ["--verify_program=auto", f"--verify_cache={cache_dir if mode == 'cached' else 'off'}"]


def is_language_model(program: Path) -> bool:
    from examples.integrity.card import read_card

    card = read_card(program) or {}
    return "get_max_seq_len" in (card.get("methods") or {})


def command(runner_dir: Path, program: Path, mode: str, cache_dir: Path) -> list:
    if is_language_model(program):
        args = [runner_dir / "text_generation_runner", f"--model_path={program}", "--prompt_tokens=1,15,27",
                "--max_new_tokens=8"]
    else:
        args = [runner_dir / "xnn_executor_runner", f"--model_path={program}", "--num_iters=1", "--warmup_iters=0"]
    return args + ["--json", *mode_flags(mode, cache_dir)]


def peak_and_baseline_kib(runner_dir: Path, program: Path, mode: str, cache_dir: Path) -> tuple[int, int | None]:
    """One fresh process: its peak RSS and, for the text runner, its RSS just before the load."""
    from examples.runner import client

    done = client.run_raw(*command(runner_dir, program, mode, cache_dir), timeout=600)
    if done.returncode != 0:
        raise client.failure(done.returncode, done.stderr)
    report = client.parse_json(done.stdout)
    if mode in ("verified", "cached", "before_on") and report.get("verification") != "verified":
        raise cli.UsageError(f"{program} has no card to verify against ({report.get('verification')})")
    if mode in ("verified", "cached") and report.get("verify_cached", False) != (mode == "cached"):
        raise RuntimeError(f"{mode} run of {program}: the verify cache was {'not ' * (mode == 'cached')}used")
    return int(report["peak_rss_kb"]), report.get("baseline_rss_kb")


def measure(programs: list[Path], builds: dict[str, Path], baseline: Path | None, rounds: int,
            cache_dir: Path) -> dict:
    """``{program: {mode: [growth KiB per round]}}``."""
    from examples.runner import client

    for program in programs:  # the verify cache remembers each program once (never a file under 2 s old)
        age = time.time() - program.stat().st_ctime
        if age < 2.5:
            time.sleep(2.5 - age)
        client.run_raw(*command(builds["cached"], program, "cached", cache_dir), timeout=600)
    growth = {p.name: {m: [] for m in builds} for p in programs}
    for i in range(rounds):
        for mode in (list(builds) if i % 2 == 0 else list(builds)[::-1]):
            own = None
            if baseline is not None:
                off = "mmap" if mode in MODES else "before_off"
                own = peak_and_baseline_kib(builds[mode], baseline, off, cache_dir)[0]
            for program in programs:
                peak, before_load = peak_and_baseline_kib(builds[mode], program, mode, cache_dir)
                start = before_load if before_load is not None else own
                if start is None:
                    raise cli.UsageError("--baseline_program is required for programs run by xnn_executor_runner")
                growth[program.name][mode].append(peak - start)
        print(f"  {i + 1}/{rounds} rounds", file=sys.stderr, flush=True)
    return growth


def summarize(programs: list[Path], growth: dict) -> list[dict]:
    from examples.integrity.layout import constant_segment_bytes

    rows = []
    for program in programs:
        median = {mode: statistics.median(values) * 1024 / MIB for mode, values in growth[program.name].items()}
        with open(program, "rb") as f:
            constants = constant_segment_bytes(f.read()) / MIB
        row = {"program": program.name, "file_mib": program.stat().st_size / MIB, "constant_segment_mib": constants,
               **{f"{mode}_mib": value for mode, value in median.items()}}
        row["allowance_met"] = median["verified"] <= median["mmap"] + constants + TOLERANCE_MIB
        row["off_no_better_than_verified"] = median["mmap"] >= median["verified"]
        rows.append(row)
    return rows


def table(rows: list[dict], modes: list[str]) -> str:
    from tabulate import tabulate

    headers = ["program", "file", "mmap loader (off)", "verified", "verified, cache hit", *modes[3:],
               "constant segment", "verified <= mmap + constants"]
    body = [[r["program"], f"{r['file_mib']:.1f}", *(f"{r[f'{m}_mib']:.1f}" for m in modes),
             f"{r['constant_segment_mib']:.1f}", "yes" if r["allowance_met"] else "NO"] for r in rows]
    return "peak RSS growth, MiB (median)\n" + tabulate(body, headers=headers, tablefmt="github")


def main(argv):
    if len(argv) < 2:
        raise cli.UsageError("usage: python -m tools.memory_cost PROGRAM... [--baseline_program P] [--out F]")
    from examples.common import machine
    from examples.common.atomic_write import write_text_atomic
    from examples.runner import client

    programs = [Path(p).resolve() for p in argv[1:]]
    for program in programs:
        if not program.is_file():
            raise cli.UsageError(f"model file not found: {program}")
    runner_dir = Path(FLAGS.runner_dir) if FLAGS.runner_dir else client.find_runner(None).parent
    builds = {mode: runner_dir for mode in MODES}
    if FLAGS.before:
        builds.update({mode: Path(FLAGS.before) for mode in BEFORE_MODES})
    baseline = Path(FLAGS.baseline_program).resolve() if FLAGS.baseline_program else None
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="verify-cache-") as cache_dir:
        growth = measure(programs, builds, baseline, FLAGS.rounds, Path(cache_dir) / "verified")
    rows = summarize(programs, growth)
    print(table(rows, list(builds)))
    if FLAGS.out:
        result = {"schema": "xnnpack-toolkit.memory-cost", "schema_version": 1, "rounds": FLAGS.rounds,
                  "method": "peak RSS (VmHWM) less the process's RSS before the load (text_generation_runner) "
                            "or less the peak of --baseline_program in the same runner (xnn_executor_runner)",
                  "builds": {mode: "this tree" if mode in MODES else FLAGS.before_label for mode in builds},
                  "baseline_program": baseline.name if baseline else None, "rows": rows,
                  "growth_kib": growth,
                  "machine": machine.fingerprint(started=started, ended=time.time(), threads=[1])}
        write_text_atomic(FLAGS.out, json.dumps(result, indent=2) + "\n")
        print(f"wrote {FLAGS.out}")
    return 0


if __name__ == "__main__":
    cli.run(main)
