"""Print the profile in an ETDump written by the profiling runner (``prof_result.bin``).

    python -m runtime.profiler.profiler_results_cli --prof_results_bin=prof_result.bin
        [--warmup_iters=10] [--json | --csv] [--output=PATH] [--etrecord=PATH [--model_path=PROGRAM]]
        [--per_instance] [--top=N] [--verbose]

Shows "run model" (the first iteration; mean/median/p90/min/max after the warm-up) and a
per-operator table with each row's share of ``Method::execute``, the XNNPACK delegate's own
operators included. The ETDump is read by ``executorch.devtools.Inspector``. An ETRecord must
belong to the profiled program: the export step records beside it (``<etrecord>.json``) the
program's digest and the calls one run of it makes; the ETDump must show those calls, and
``--model_path`` (the profiled .pte) must have that digest.
Exit status: 0 ok, 2 bad input (missing/empty/truncated/foreign file, no profiling events,
missing or mismatched ETRecord, bad flags), 1 unexpected failure.
"""

from __future__ import annotations

import os
import sys

from absl import flags

from examples.common import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("prof_results_bin", "prof_result.bin", "ETDump written by the profiling runner.")
flags.DEFINE_integer("warmup_iters", 10, "Leading iterations left out of the statistics.", lower_bound=0)
flags.DEFINE_bool("json", False, "Print the whole report as JSON.")
flags.DEFINE_bool("csv", False, "Print the operator table as CSV.")
flags.DEFINE_string("output", None, "Write the report to this file (atomically) instead of stdout.")
flags.DEFINE_string("etrecord", None, "ETRecord from the export step: maps events back to source ops.")
flags.DEFINE_string("model_path", None, "The profiled program (.pte), with --etrecord: checked to be the one the "
                    "ETRecord was exported with (the digest the export step recorded beside it).")
flags.DEFINE_bool("per_instance", False, "One row per delegate operator instance ('... #3') instead of per type.")
flags.DEFINE_integer("top", 0, "Text output: show only the N slowest operator rows (0 = all).", lower_bound=0)
flags.DEFINE_bool("verbose", False, "Show third-party warnings/log output and tracebacks.")


def render(report, *, as_json: bool = False, as_csv: bool = False, top: int = 0) -> str:
    from runtime.profiler import formatting

    if as_json:
        return formatting.format_json(report)
    if as_csv:
        return formatting.format_csv(report)
    return formatting.format_text(report, top=top)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected argument(s): {' '.join(argv[1:])} (flags are --name=value)")
    if FLAGS.json and FLAGS.csv:
        raise cli.UsageError("--json and --csv are mutually exclusive")
    if FLAGS.output and not os.path.isdir(os.path.dirname(os.path.abspath(FLAGS.output))):
        raise cli.UsageError(f"--output: directory {os.path.dirname(os.path.abspath(FLAGS.output))} does not exist")
    from runtime.profiler import etdump_reader

    # Before torch is imported: a missing or foreign file is reported at once.
    etdump_reader.check_inputs(FLAGS.prof_results_bin, FLAGS.etrecord, FLAGS.model_path)

    from examples.common.quiet import silence_third_party
    from runtime.profiler.report import build_report

    silence_third_party(FLAGS.verbose)
    inspector = etdump_reader.open_inspector(FLAGS.prof_results_bin, FLAGS.etrecord, verbose=FLAGS.verbose,
                                             program=FLAGS.model_path)
    report = build_report(inspector, source=FLAGS.prof_results_bin, warmup_iters=FLAGS.warmup_iters,
                          etrecord=FLAGS.etrecord, per_instance=FLAGS.per_instance)
    text = render(report, as_json=FLAGS.json, as_csv=FLAGS.csv, top=FLAGS.top)
    if FLAGS.output:
        from examples.common.atomic_write import write_text_atomic

        write_text_atomic(FLAGS.output, text)
        sys.stderr.write(f"wrote {FLAGS.output}\n")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    cli.run(main)
