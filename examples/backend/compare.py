"""Compare benchmark runs: ratio of medians per cell, its bootstrap interval, a verdict.

    python -m examples.backend.compare RUN.json [RUN.json ...] [--baseline RUN.json]
        [--fail_on_regression PCT] [--format md|json] [--output_dir D] [--cross_machine]
    python -m examples.backend.compare a1.json a2.json -- b1.json b2.json   # repeats pooled per side
    python -m examples.backend.compare a1.json,a2.json b1.json,b2.json      # the same
    python -m examples.backend.compare --measure_drift OUT.json r1.json r2.json r3.json ...

Runs of one build on one machine differ more from run to run than their rounds spread: only
repeated runs see that drift. A side given as several runs pools their rounds, and the largest
ratio between its runs is the noise floor a verdict must beat; between single runs the floor is
the drift measured by back-to-back runs of one build on this CPU class
(``results/<cpu-class>/drift/``, written by ``--measure_drift``), and the report says so.

Cells are joined by (model, backend, threads). Verdicts (faster / slower / no change within
noise) only between runs with the same machine fingerprint; runs from other machines are
shown as columns of one table, grouped by ISA class (``--cross_machine`` asks for verdicts
anyway, labelled cross-machine). ``--fail_on_regression PCT`` exits 1 and names each
same-machine cell slower by more than PCT percent with an interval that excludes 1.
With ``--output_dir`` the report is written there as compare.md, compare.json and compare.png.
"""

from __future__ import annotations

import json
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
flags.DEFINE_integer("resamples", 0, "bootstrap resamples; 0: enough for 100 draws beyond each end of the "
                     "interval (at least 4000, at most 100000), as every other verdict of the toolkit")
flags.DEFINE_string("measure_drift", None, "treat the RUN.json files as back-to-back runs of one build and write "
                    "their run-to-run drift (the floor for single-run verdicts) to this JSON file")
flags.DEFINE_integer("seed", 0, "bootstrap seed (same seed, same intervals)")
flags.DEFINE_string("results_dir", str(Path(__file__).resolve().parents[2] / "results"),
                    "where the measured run-to-run drift of each CPU class lives (<cpu-class>/drift/*.json)")
flags.DEFINE_bool("verbose", False, "show tracebacks of unexpected errors")

FLAGS = flags.FLAGS
# What --measure_drift leaves unread (it writes the drift file and compares nothing): refused with it.
COMPARING_FLAGS = ("format", "output_dir", "fail_on_regression", "cross_machine", "confidence", "resamples", "seed",
                   "results_dir")


def _fail(problems: list[str], error: type[cli.CliError] = cli.UsageError) -> None:
    """One ``error:`` line per problem, then exit."""
    for line in problems[:-1]:
        cli.error_line(line)
    raise error(problems[-1])


def _sides(argv: list[str]) -> list[list[Path]]:
    """Positional arguments as sides: ``a1,a2 b`` or ``a1 a2 -- b1 b2`` (absl drops the ``--``,
    so it is found in sys.argv)."""
    args = argv[1:]
    if "--" in sys.argv:
        after = len(sys.argv) - 1 - sys.argv.index("--")
        split = len(args) - after
        if split < 1 or after < 1:
            raise cli.UsageError("give runs on both sides of --")
        return [[Path(p) for p in args[:split]], [Path(p) for p in args[split:]]]
    return [[Path(p) for p in arg.split(",") if p] for arg in args]


def _load(sides: list[list[Path]]):
    from examples.results import compare
    from examples.results.schema import ResultFileError, load_run

    runs, problems = [], []
    for side in sides:
        loaded = []
        for path in side:
            try:
                loaded.append(load_run(path))
            except ResultFileError as error:
                problems.append(str(error))
        if loaded and not problems:
            try:
                runs.append(compare.pool_runs(loaded))
            except ValueError as error:
                problems.append(str(error))
    if problems:
        _fail(problems)
    return runs


def _measure_drift(sides: list[list[Path]]) -> None:
    from examples.results import compare
    from examples.results.schema import ResultFileError, load_run

    try:
        runs = [load_run(p) for side in sides for p in side]
    except ResultFileError as error:
        raise cli.UsageError(str(error)) from None
    if len(runs) < 2 or len({r.machine_id for r in runs}) > 1:
        raise cli.UsageError("--measure_drift needs at least two runs of one build on one machine")
    report = compare.drift_report(runs)
    write_text_atomic(Path(FLAGS.measure_drift), json.dumps(report, indent=1) + "\n")
    print(f"drift over {report['pairs']} pairs of runs: {report['drift_floor']:.1%} (largest cell); "
          f"wrote {FLAGS.measure_drift}")


def main(argv):
    from examples.results import compare, render
    from examples.results.publish import cpu_class

    sides = _sides(argv)
    if FLAGS.baseline:
        base = Path(FLAGS.baseline).resolve()
        sides = [[Path(FLAGS.baseline)]] + [s for s in sides if [p.resolve() for p in s] != [base]]
    if FLAGS.measure_drift:
        cli.refuse_flags(FLAGS, COMPARING_FLAGS, "--measure_drift (it writes the drift file and compares nothing)")
        return _measure_drift(sides)
    if len(sides) < 2:
        raise cli.UsageError("give at least two RUN.json files (or one and --baseline)")
    if not 0 < FLAGS.confidence < 1 or 0 < FLAGS.resamples < 100 or FLAGS.resamples < 0:
        raise cli.UsageError("--confidence must be in (0, 1) and --resamples 0 (automatic) or at least 100")
    if FLAGS.fail_on_regression is not None and FLAGS.fail_on_regression < 0:
        raise cli.UsageError("--fail_on_regression must be a percentage >= 0")
    runs = _load(sides)
    drift, source = compare.measured_drift(Path(FLAGS.results_dir), cpu_class(runs[0].machine))
    options = {"confidence": FLAGS.confidence, "resamples": FLAGS.resamples or None, "seed": FLAGS.seed,
               "drift": drift, "drift_source": source}
    result = compare.plan(runs[1:], runs[0], FLAGS.cross_machine, **options)
    if result.problems:
        _fail(result.problems)
    pct = FLAGS.fail_on_regression
    regressed = compare.regressions(result.comparisons, pct) if pct is not None else []
    args = (runs, result, FLAGS.confidence, FLAGS.resamples or None, FLAGS.seed, regressed, pct)
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
               f"{cell.high:.3f}], over {pct:g} % and beyond the {cell.floor:.1%} drift floor) in {c.run.path}"
               for c, cell in regressed], cli.CliError)

if __name__ == "__main__":
    cli.run(main)
