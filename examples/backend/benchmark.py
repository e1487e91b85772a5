"""Benchmark ExecuTorch (portable / XNNPACK fp32 / XNNPACK q8, native runner) against peers.

    python3 -m examples.backend.benchmark --models mv2
    python3 -m examples.backend.benchmark --models mv2,mv3 --threads 1,2,4
    python3 -m examples.backend.benchmark --models mv2 --backends xnnpack_fp32,xnnpack_q8,ort_int8

Exports (or reuses from the cache) each program, runs it through cmake-out/xnn_executor_runner,
runs the peers (ONNX Runtime fp32/int8, eager PyTorch) the same way, and writes
benchmark.md / benchmark.json / benchmark.png to --output_dir; the Markdown report is also
printed to stdout at the end (progress lines go to stderr).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from absl import flags

from examples.backend import startup
from examples.benchmark.backends import BACKENDS, OPT_IN, rows_reading
from examples.common import cli
from examples.common.stats import MIN_VERDICT_ROUNDS

flags.DEFINE_string("models", "mv2", "Comma-separated zoo models (see --list_models) or my_pkg.my_module:factory.")
flags.DEFINE_string("backends", "all",
                    "Comma-separated backends: " + ", ".join(BACKENDS) + "; 'all' for every one but "
                    + " and ".join(OPT_IN) + " (--tuned; xnnpack_q8_amx needs the AMX build of the runner).")
flags.DEFINE_string("report_from", None, "Measure nothing: re-render the reports of an earlier run (its benchmark.json) "
                    "into --output_dir with this version's report code (summary lines recomputed).")
flags.DEFINE_bool("tuned", False, "Add a row for tune's winner at each thread count (runs tune on each model "
                  "first: every candidate program is exported and checked once, then cached).")
flags.DEFINE_string("threads", "1", "Comma-separated thread counts, e.g. 1,2,4 (the report adds speed-ups vs 1).")
flags.DEFINE_integer("num_iters", 20, "Measured iterations per round (after the warm-up) for all backends but "
                     "portable.")
flags.DEFINE_integer("warmup_iters", 10, "Warm-up iterations (dropped; iteration 1 is one of them and is "
                     "reported alone as 'first iteration').")
flags.DEFINE_integer("rounds", 2 * MIN_VERDICT_ROUNDS,
                     "Repeat every measurement this many times, interleaved across backends (round 1 of all, in a "
                     "random order, then round 2 ...). Rows are chosen on even rounds and judged on odd ones; a "
                     f"verdict needs {MIN_VERDICT_ROUNDS} judged rounds, so fewer than the default give none.")
flags.DEFINE_integer("order_seed", None, "Seed of each round's random backend order (default: from the clock; "
                     "the results record it).")
flags.DEFINE_bool("aa", True, "Measure one row twice as two independent rows (A/A): the run's noise floor, "
                  "which every verdict must beat.")
flags.DEFINE_integer("portable_iters", 3, "Measured iterations for portable (its kernels are ~1000x slower).")
flags.DEFINE_integer("portable_warmup_iters", 0, "Warm-up iterations for portable.")
flags.DEFINE_string("weights", "auto", "Weights: auto (pretrained if cached, else random with a warning), "
                    "pretrained (cached only, never downloads), random, or a PATH to a state_dict file.")
flags.DEFINE_string("calibration_data", None, "Calibration for the q8 / ONNX int8 programs: an image folder or "
                    "a .pt file (default: random inputs).")
flags.DEFINE_integer("num_calibration_samples", None, "Calibration samples (default: all / 8 random).")
flags.DEFINE_string("quant_recipe", None, "Override every model's quantization recipe for the q8 programs "
                    "(e.g. static_per_channel_fp32_dw); default: each model's recipe from the zoo.")
flags.DEFINE_string("output_dir", "benchmark-out", "Folder for benchmark.md, benchmark.json, benchmark.png.")
flags.DEFINE_string("cache_dir", None, "Exported programs cache (default: <output_dir>/programs).")
flags.DEFINE_string("runner", None, "Native runner binary (default: cmake-out/xnn_executor_runner; built by ./setup.sh).")
flags.DEFINE_string("amx_runner", None, "The runner built with -DEXECUTORCH_SOURCE_DIR (XNNPACK's AMX kernels), for the "
                    "xnnpack_q8_amx row (default: cmake-out-amx/xnn_executor_runner).")
flags.DEFINE_float("timeout_s", 1800.0, "Time limit of one run (one backend, one thread count), in seconds.")
flags.DEFINE_bool("list_models", False, "Print the model zoo and exit.")
flags.DEFINE_bool("verbose", False, "Show third-party output and warnings, and tracebacks of unexpected errors.")
# --eval_data / --eval_limit / --eval_engine: classification accuracy (examples/evaluation).
from examples.evaluation import cli_hooks as eval_hooks  # noqa: E402

eval_hooks.define_eval_flags()

FLAGS = flags.FLAGS

# What --report_from leaves unread (it measures nothing): given with it, they are refused, never ignored.
MEASURING_FLAGS = ("models", "backends", "tuned", "threads", "num_iters", "warmup_iters", "rounds", "order_seed", "aa",
                   "portable_iters", "portable_warmup_iters", "weights", "calibration_data", "num_calibration_samples",
                   "quant_recipe", "cache_dir", "runner", "amx_runner", "timeout_s", "eval_data", "eval_limit",
                   "eval_engine")
# Flags only some rows read (examples/benchmark/backends.rows_reading): given while none of
# those rows is selected, they are unused, which a warning says.
ROW_FLAGS = (("runner",), ("amx_runner",), ("calibration_data", "num_calibration_samples"), ("quant_recipe",))


def warn_unused_row_flags(backends: list[str]) -> None:
    for names in ROW_FLAGS:
        rows = rows_reading(names[0])
        given = cli.given_flags(FLAGS, names)
        if given and not set(rows) & set(backends):
            which = "row, not selected" if len(rows) == 1 else "rows, none selected"
            cli.warning_line(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} only used by the "
                             f"{', '.join(rows)} {which} (--backends); ignored")


def settings_from_flags():
    from examples.benchmark.backends import BACKENDS, Iterations, parse_backends
    from examples.benchmark.harness import Settings
    from examples.runner import client as runner
    from examples.export.export_cli import check_quant_recipe
    from examples.models.zoo import resolve_model

    models = [m.strip() for m in FLAGS.models.split(",") if m.strip()]
    if not models:
        raise cli.UsageError("--models is empty (see --list_models)")
    for name in models:
        resolve_model(name)  # unknown model: one line, exit 2, before anything slow
    try:
        backends = parse_backends(FLAGS.backends)
    except ValueError as error:
        raise cli.UsageError(f"--backends: {error}") from None
    if FLAGS.tuned and "tuned" not in backends:
        backends.append("tuned")
    warn_unused_row_flags(backends)
    threads = cli.positive_int_list(FLAGS.threads, "threads")
    startup.check_at_least(FLAGS, 1, "num_iters", "portable_iters", "rounds")
    startup.check_at_least(FLAGS, 0, "warmup_iters", "portable_warmup_iters")
    startup.check_calibration(FLAGS.calibration_data, FLAGS.num_calibration_samples)
    check_quant_recipe(FLAGS.quant_recipe)
    output_dir, cache_dir = startup.output_and_cache(FLAGS.output_dir, FLAGS.cache_dir)
    runner_path = None
    if any(BACKENDS[b].kind == "executorch" for b in backends):
        runner_path = runner.find_runner(FLAGS.runner)  # missing: one line with the build command
    return Settings(
        models=models, backends=backends, threads=threads,
        iterations=Iterations(FLAGS.warmup_iters, FLAGS.num_iters),
        portable_iterations=Iterations(FLAGS.portable_warmup_iters, FLAGS.portable_iters),
        weights=FLAGS.weights, calibration_data=FLAGS.calibration_data,
        num_calibration_samples=FLAGS.num_calibration_samples, cache_dir=cache_dir,
        runner_path=runner_path, amx_runner=FLAGS.amx_runner, timeout_s=FLAGS.timeout_s, verbose=FLAGS.verbose,
        quant_recipe=FLAGS.quant_recipe, rounds=FLAGS.rounds, aa_twin=FLAGS.aa,
        order_seed=FLAGS.order_seed if FLAGS.order_seed is not None else int(time.time()) % 2**31,
    ), output_dir


def rerender(path: Path) -> int:
    """--report_from: the reports of an earlier run, its summary lines recomputed from its records."""
    import json

    from examples.benchmark.records import comparisons, mark_duplicates
    from examples.benchmark.report import render_markdown, write_reports
    from examples.common.result_format import METHOD_VERSION

    try:
        doc = json.loads(path.read_text())
        mark_duplicates(doc["records"])
        doc["comparisons"] = comparisons(doc["records"])
        doc["verdicts_method_version"] = METHOD_VERSION  # the statistics re-applied here
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise cli.UsageError(f"--report_from {path}: not a benchmark.json ({type(error).__name__}: "
                             f"{cli.first_line(error)})") from None
    paths = write_reports(doc, cli.writable_dir(FLAGS.output_dir))
    sys.stderr.write("[benchmark] wrote " + ", ".join(str(p) for p in paths.values()) + "\n")
    sys.stdout.write(render_markdown(doc))
    return 0


def main(argv):
    if startup.listed_models(argv, FLAGS.list_models):
        return 0
    if FLAGS.report_from:
        cli.refuse_flags(FLAGS, MEASURING_FLAGS, "--report_from (it re-renders an earlier run and measures nothing)")
        return rerender(Path(FLAGS.report_from))
    settings, output_dir = settings_from_flags()
    eval_hooks.check_eval_data(FLAGS.eval_data, FLAGS.eval_limit)  # before the slow part

    startup.quiet_imports(FLAGS.verbose)
    from examples.benchmark.harness import run_benchmark
    from examples.benchmark.report import render_markdown, write_reports

    if "tuned" in settings.backends:  # tune sits above the benchmark: its row is handed in
        from examples.tune.tuned_row import preparer

        settings.prepare_tuned = preparer(settings)
    doc = run_benchmark(settings)
    accuracy_text = ""
    if FLAGS.eval_data:  # adds models[name]["classification_accuracy"] to the JSON report
        accuracy_text = eval_hooks.evaluate_benchmark(doc, FLAGS.eval_data, weights=FLAGS.weights,
                                                      limit=FLAGS.eval_limit, engine=FLAGS.eval_engine,
                                                      runner=settings.runner_path, verbose=FLAGS.verbose)
    paths = write_reports(doc, output_dir, extra_markdown=accuracy_text)
    markdown = render_markdown(doc) + accuracy_text
    sys.stderr.write("[benchmark] wrote " + ", ".join(str(p) for p in paths.values()) + "\n")
    sys.stdout.write(markdown)
    sys.stdout.flush()
    if "chart" not in paths:
        cli.warning_line("matplotlib is not installed: no benchmark.png (pip install matplotlib)")
    failed = [r for r in doc["records"] if r["status"] == "failed"]
    if failed:
        cli.warning_line(f"{len(failed)} run(s) failed; see the report")
    if doc["partial"]:
        cli.warning_line("interrupted: the reports hold the cells measured before Ctrl-C (marked partial)")
        return cli.EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    cli.run(main)
