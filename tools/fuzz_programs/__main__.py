"""Mutation campaign against a program: what the card, the runtime and reference IO catch.

    python -m tools.fuzz_programs mv2_xnnpack_q8.pte --count 2000 --seed 1 --out fuzz.json
    python -m tools.fuzz_programs add_xnnpack_q8.pte --input a.bin,b.bin --count 200 --out fuzz.json

Writes REPORT.json (atomically), reproducers of every case that was not clean in
``REPORT.cases/`` (each with the intact card beside it), and prints a table. Exit code 0 when
no case was silent, hung or killed by a signal with the card, 1 otherwise.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from absl import flags

from examples.common import cli

flags.DEFINE_string("input", None, "Comma-separated raw input files (default: the bundled reference inputs of "
                    "<program>.bpte when present, else seeded random inputs from the card's input specs).")
flags.DEFINE_integer("count", 200, "Number of mutated copies.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the mutations (and of random inputs).")
flags.DEFINE_string("out", "fuzz_report.json", "Report path (JSON); reproducers go to <out stem>.cases/.")
flags.DEFINE_string("runner", None, "The native runner (default cmake-out/xnn_executor_runner).")
flags.DEFINE_float("timeout_s", 20.0, "Time limit of one run; a run past it is a hang.", lower_bound=0.1)
flags.DEFINE_integer("max_memory_mb", 4096, "Memory bound of one run (the runner's --max_memory_mb; 0: pass none, "
                     "the runner's default bound applies).", lower_bound=0)
flags.DEFINE_integer("workers", 2, "Runs in parallel.", lower_bound=1)
flags.DEFINE_bool("verbose", False, "Show tracebacks of unexpected errors.")
FLAGS = flags.FLAGS


def main(argv):
    program = cli.one_program_argument(argv, "python -m tools.fuzz_programs PROGRAM --count N --out REPORT.json")
    import tempfile

    from examples.runner import client
    from tools.fuzz_programs import campaign

    runner = client.find_runner(FLAGS.runner)
    out = Path(FLAGS.out)
    work = Path(tempfile.mkdtemp(prefix="fuzz_inputs_"))
    reference = None
    bundle = program.with_suffix(".bpte")
    if FLAGS.input:
        inputs = [Path(p) for p in FLAGS.input.split(",")]
        missing = [str(p) for p in inputs if not p.is_file()]
        if missing:
            raise cli.UsageError(f"--input: no such file: {', '.join(missing)}")
    elif bundle.is_file():
        from examples.common.quiet import quiet_stdio

        with quiet_stdio(FLAGS.verbose):
            inputs, reference = campaign.load_reference(bundle, work)
        print(f"inputs: the reference inputs of {bundle.name}", file=sys.stderr)
    else:
        try:
            inputs = campaign.random_inputs(program, work, FLAGS.seed)
        except ValueError as error:
            raise cli.UsageError(str(error)) from None
    settings = campaign.Settings(runner, FLAGS.timeout_s, FLAGS.max_memory_mb or None, FLAGS.workers)

    def progress(done, total):
        if done % max(1, total // 10) == 0 or done == total:
            print(f"  {done}/{total} mutations", file=sys.stderr, flush=True)

    started = time.time()
    try:
        report = campaign.run_campaign(program, inputs, count=FLAGS.count, seed=FLAGS.seed, settings=settings,
                                       repro_dir=out.with_name(out.stem + ".cases"), reference=reference,
                                       progress=progress)
    except RuntimeError as error:
        raise cli.CliError(str(error)) from None
    from examples.common import machine

    report["machine"] = machine.fingerprint(started=started, ended=time.time(), threads=[settings.threads])
    campaign.write_report(report, out)
    print(campaign.format_report(report))
    print(f"wrote {out}")
    bad = {k: report["outcomes"]["card"][k] for k in ("silent", "hang", "signal") if report["outcomes"]["card"][k]}
    if bad:
        cli.error_line(f"with the card: {', '.join(f'{v} {k}' for k, v in bad.items())}")
        return 1
    return 0


if __name__ == "__main__":
    cli.run(main)
