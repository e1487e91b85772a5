"""Print the profile in an ETDump written by the profiling runner (``prof_result.bin``).

    python -m runtime.profiler.profiler_results_cli --prof_results_bin=prof_result.bin
        [--warmup_iters=10] [--json | --csv] [--output=PATH] [--etrecord=PATH]
        [--per_instance] [--top=N] [--verbose]

Shows "run model" (first iteration; mean/median/p90/min/max after warm-up), a per-operator
table (including the XNNPACK delegate's own operators) and the framework overhead.
Exit status: 0 ok, 2 bad input (missing/empty/truncated/foreign file, no profiling events,
unusable ETRecord, bad flags), 1 unexpected failure.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Optional

from absl import app, flags

PROG = "profiler_results_cli"
EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

FLAGS = flags.FLAGS
flags.DEFINE_string("prof_results_bin", "prof_result.bin", "ETDump written by the profiling runner.")
flags.DEFINE_integer("warmup_iters", 10, "Leading iterations left out of the statistics.", lower_bound=0)
flags.DEFINE_bool("json", False, "Print the report as JSON.")
flags.DEFINE_bool("csv", False, "Print the report as CSV (sections: run_model, operator, framework_overhead).")
flags.DEFINE_string("output", None, "Write the report to this file (atomically) instead of stdout.")
flags.DEFINE_string("etrecord", None, "ETRecord from the export step: maps events back to source ops.")
flags.DEFINE_bool("per_instance", False, "One row per delegate operator instance ('... #3') instead of per type.")
flags.DEFINE_integer("top", 0, "Text output: show only the N slowest operator rows (0 = all).", lower_bound=0)
flags.DEFINE_bool("verbose", False, "Show third-party warnings/log output and tracebacks.")


@dataclass
class Options:
    prof_results_bin: str = "prof_result.bin"
    warmup_iters: int = 10
    json: bool = False
    csv: bool = False
    output: Optional[str] = None
    etrecord: Optional[str] = None
    per_instance: bool = False
    top: int = 0
    verbose: bool = False


def _error(msg: str) -> None:
    sys.stderr.write(f"{PROG}: error: {msg}\n")
    sys.stderr.flush()


def render(report, opts: Options) -> str:
    from runtime.profiler import formatting

    if opts.json:
        return formatting.format_json(report)
    if opts.csv:
        return formatting.format_csv(report)
    return formatting.format_text(report, top=opts.top)


def run(opts: Options) -> int:
    """Decode and print; returns the exit status. Errors are one line on stderr."""
    from runtime.profiler.decode import EtdumpError, check_etdump_bytes

    if opts.json and opts.csv:
        _error("--json and --csv are mutually exclusive")
        return EXIT_BAD_INPUT
    if opts.output:
        parent = os.path.dirname(os.path.abspath(opts.output))
        if not os.path.isdir(parent):
            _error(f"--output: directory {parent} does not exist")
            return EXIT_BAD_INPUT
    # Fast checks first: a missing or foreign file should not wait for torch to import.
    path = opts.prof_results_bin
    try:
        if not os.path.exists(path):
            raise EtdumpError(f"{path}: no such file (run the profiling runner first, or pass --prof_results_bin)")
        if os.path.isdir(path):
            raise EtdumpError(f"{path}: is a directory, expected an ETDump file")
        with open(path, "rb") as f:
            check_etdump_bytes(f.read(), path)
        if opts.etrecord:
            import zipfile

            if not os.path.isfile(opts.etrecord):
                raise EtdumpError(f"{opts.etrecord}: no such ETRecord file")
            if not zipfile.is_zipfile(opts.etrecord):
                raise EtdumpError(f"{opts.etrecord}: cannot use as ETRecord (not an ETRecord zip archive)")
    except EtdumpError as e:
        _error(str(e))
        return EXIT_BAD_INPUT
    except OSError as e:
        _error(f"{path}: cannot read ({e.strerror or e})")
        return EXIT_BAD_INPUT

    from examples.common.quiet import quiet_stdio, silence_third_party

    silence_third_party(opts.verbose)
    failure: Optional[BaseException] = None
    report = None
    with quiet_stdio(opts.verbose):
        try:
            from runtime.profiler.decode import decode_file

            report = decode_file(path, warmup_iters=opts.warmup_iters, etrecord=opts.etrecord,
                                 per_instance=opts.per_instance)
        except Exception as e:  # reported below, after the captured third-party output is dropped
            failure = e
    if failure is not None:
        if isinstance(failure, EtdumpError):
            _error(str(failure))
            return EXIT_BAD_INPUT
        if opts.verbose:
            import traceback

            traceback.print_exception(failure)
        _error(f"decoding {path} failed: {type(failure).__name__}: {str(failure).splitlines()[0] if str(failure) else ''}"
               + ("" if opts.verbose else " (--verbose for details)"))
        return EXIT_FAILURE

    text = render(report, opts)
    if opts.output:
        from examples.common.atomic_write import write_text_atomic

        try:
            write_text_atomic(opts.output, text)
        except OSError as e:
            _error(f"--output {opts.output}: cannot write ({e.strerror or e})")
            return EXIT_BAD_INPUT
        sys.stderr.write(f"wrote {opts.output}\n")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return EXIT_OK


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        _error(f"unexpected argument(s): {' '.join(argv[1:])} (flags are --name=value)")
        return EXIT_BAD_INPUT
    return run(Options(
        prof_results_bin=FLAGS.prof_results_bin, warmup_iters=FLAGS.warmup_iters, json=FLAGS.json, csv=FLAGS.csv,
        output=FLAGS.output, etrecord=FLAGS.etrecord, per_instance=FLAGS.per_instance, top=FLAGS.top,
        verbose=FLAGS.verbose,
    ))


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        return FLAGS(argv)
    except flags.Error as e:
        _error(f"{e} (--helpshort lists the flags)")
        sys.exit(EXIT_BAD_INPUT)


def entry() -> None:
    try:
        app.run(main, flags_parser=_parse_flags)
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    entry()
