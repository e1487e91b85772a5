"""Compare benchmark runs: ratio of medians per cell, its bootstrap interval, a verdict.

    python -m examples.backend.compare RUN.json [RUN.json ...] [--baseline RUN.json]
        [--fail_on_regression PCT] [--format md|json] [--output_dir D] [--cross_machine]

Cells are joined by (model, backend, threads). Verdicts (faster / slower / no change within
noise) only between runs with the same machine fingerprint; runs from other machines are
shown as columns of one table, grouped by ISA class (``--cross_machine`` asks for verdicts
anyway, labelled cross-machine). ``--fail_on_regression PCT`` exits 1 and names each
same-machine cell slower by more than PCT percent with an interval that excludes 1.
With ``--output_dir`` the report is written there as compare.md, compare.json and compare.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from examples.common import cli
from examples.common.atomic_write import write_bytes_atomic, write_text_atomic

flags.DEFINE_string("baseline", None, "the run the others are compared with (default: the first RUN.json)")
flags.DEFINE_float("fail_on_regression", None, "exit 1 when a same-machine cell is slower by more than this "
                   "many percent and its interval excludes no change")
flags.DEFINE_enum("format", "md", ["md", "json"], "what to print on stdout")
flags.DEFINE_string("output_dir", None, "also write compare.md, compare.json and compare.png here")
flags.DEFINE_bool("cross_machine", False, "verdicts between different machines too (labelled cross-machine)")
flags.DEFINE_float("confidence", 0.95, "confidence level of the interval")
flags.DEFINE_integer("resamples", 2000, "bootstrap resamples")
flags.DEFINE_integer("seed", 0, "bootstrap seed (same seed, same intervals)")
flags.DEFINE_bool("verbose", False, "show tracebacks of unexpected errors")

FLAGS = flags.FLAGS


def _fail(problems: list[str], error: type[cli.CliError] = cli.UsageError) -> None:
    """One ``error:`` line per problem, then exit."""
    for line in problems[:-1]:
        cli.error_line(line)
    raise error(problems[-1])


def main(argv):
    from examples.results import compare, render
    from examples.results.schema import ResultFileError, load_run

    paths = [Path(p) for p in argv[1:]]
    if FLAGS.baseline:
        paths = [Path(FLAGS.baseline)] + [p for p in paths if p.resolve() != Path(FLAGS.baseline).resolve()]
    if len(paths) < 2:
        raise cli.UsageError("give at least two RUN.json files (or one and --baseline)")
    if not 0 < FLAGS.confidence < 1 or FLAGS.resamples < 100:
        raise cli.UsageError("--confidence must be in (0, 1) and --resamples at least 100")
    if FLAGS.fail_on_regression is not None and FLAGS.fail_on_regression < 0:
        raise cli.UsageError("--fail_on_regression must be a percentage >= 0")
    runs, problems = [], []
    for path in paths:
        try:
            runs.append(load_run(path))
        except ResultFileError as error:
            problems.append(str(error))
    if problems:
        _fail(problems)
    options = {"confidence": FLAGS.confidence, "resamples": FLAGS.resamples, "seed": FLAGS.seed}
    result = compare.plan(runs[1:], runs[0], FLAGS.cross_machine, **options)
    if result.problems:
        _fail(result.problems)
    pct = FLAGS.fail_on_regression
    regressed = compare.regressions(result.comparisons, pct) if pct is not None else []
    args = (runs, result, FLAGS.confidence, FLAGS.resamples, FLAGS.seed, regressed, pct)
    markdown, as_json = render.render_markdown(*args), render.render_json(*args)
    if FLAGS.output_dir:
        from examples.results.plot import render_compare_png

        out = Path(FLAGS.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "compare.md", markdown)
        write_text_atomic(out / "compare.json", as_json)
        write_bytes_atomic(out / "compare.png", render_compare_png(result.comparisons, FLAGS.confidence))
    sys.stdout.write(markdown if FLAGS.format == "md" else as_json)
    if regressed:
        _fail([f"regression: {cell.name} is {cell.ratio:.3f}x the baseline (interval [{cell.low:.3f}, "
               f"{cell.high:.3f}], over {pct:g} %) in {c.run.path}" for c, cell in regressed], cli.CliError)


if __name__ == "__main__":
    cli.run(main)
