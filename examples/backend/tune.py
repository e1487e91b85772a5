"""Pick the fastest correct ExecuTorch program of a model for this CPU.

    python3 -m examples.backend.tune --model_name mv2 --threads 1,2
    python3 -m examples.backend.tune --model_name my_pkg.models:make --eval_data ./val --max_top1_drop 1.0
    python3 -m examples.backend.tune --model_name stories110m --threads 1,2   # a language model

A language model's candidates are the generation programs (fp32, 8da4w and its variants:
examples/tune/generation_tuner.py), held to eager fp32's logits and timed in the native
text generation runner (decode ms per token, or TTFT, RSS growth, file size).

Builds every candidate (XNNPACK fp32, each int8 recipe, OpenVINO where installed) once, checks
each against eager PyTorch on held-out inputs (and top-1 on --eval_data), times the ones inside
the budget in the native runner at every thread count (interleaved rounds, medians), and
writes to --output_dir: ``<model>_tuned_t<N>.pte`` per thread count, ``<model>_tuned.pte``
(the first thread count), ``tune.json`` (every candidate with times, accuracy, size, status
and reason, the machine's fingerprint) and ``tune.md``.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

from absl import flags

from examples.backend import startup
from examples.common import cli
from examples.common.metrics import DEFAULT_MIN_SQNR_DB

flags.DEFINE_string("model_name", None, "A zoo model (see --list_models) or my_pkg.my_module:factory.")
flags.DEFINE_string("weights", "auto", "auto, pretrained (cached only), random, or a PATH to a state_dict file.")
flags.DEFINE_string("threads", "1", "Comma-separated thread counts; one winner per count.")
flags.DEFINE_string("output_dir", "tune-out", "Folder for the tuned programs, tune.json and tune.md.")
flags.DEFINE_string("cache_dir", None, "Exported programs cache (default: <output_dir>/programs).")
flags.DEFINE_string("calibration_data", None, "Calibration for static int8 candidates: an image folder or a .pt "
                    "file (default: random inputs).")
flags.DEFINE_integer("num_calibration_samples", None, "Calibration samples (default: all / 8 random).")
flags.DEFINE_string("eval_data", None, "Labelled ImageFolder: candidates are also held to --max_top1_drop.")
flags.DEFINE_integer("eval_limit", None, "Evaluate an even spread of at most this many images.")
flags.DEFINE_float("max_top1_drop", 1.0, "Largest top-1 drop vs eager, in percentage points (with --eval_data).")
flags.DEFINE_float("min_sqnr_db", DEFAULT_MIN_SQNR_DB, "Smallest SQNR vs eager on held-out inputs, in dB.")
flags.DEFINE_string("delegates", "xnnpack,openvino", "Comma-separated delegates whose candidates to try "
                    "(openvino: when installed).")
flags.DEFINE_enum("objective", "latency", ["latency", "first_result", "memory", "size"],
                  "What the winner minimizes: median latency, time to first result, peak RSS or file size "
                  "(language models: decode ms per token, time to first token, RSS growth or file size).")
flags.DEFINE_integer("num_iters", 10, "Measured iterations per timing run (per round).")
flags.DEFINE_integer("warmup_iters", 5, "Warm-up iterations per timing run.")
flags.DEFINE_integer("rounds", 10, "Interleaved timing rounds: the winner is chosen on even rounds and judged "
                     "against the default program on odd ones (a verdict needs 5 judged rounds).")
flags.DEFINE_string("runner", None, "Native runner binary (default: cmake-out/xnn_executor_runner).")
flags.DEFINE_list("variants", None, "Language models: the generation programs to try (default: fp32, 8da4w, "
                  "8da4w-2m (8da4w run with the runner's --huge_pages), 8da4w-g128, 8da4w-pc, 8da4w-fused, "
                  "8da4w-g128-fused, 8da4w-kv8, 8da4w-emb4, 8da4w-merged-forms, 8da4w-emb4-merged-forms, "
                  "8da4w-fused-merged-forms, 8da4w-fused-merged-forms-2m (run with --huge_pages), 8da4w-out8, "
                  "8da4w-fp32prefill, 8da4w-region (the layers one delegate; its accuracy checked in the native "
                  "runner)).")
flags.DEFINE_integer("prompt_len", 64, "Language models: prompt tokens of each timed run.")
flags.DEFINE_integer("max_new_tokens", 128, "Language models: tokens generated in each timed run.")
flags.DEFINE_integer("max_seq_len", 192, "Language models: KV cache length of the programs (>= prompt + new tokens).")
flags.DEFINE_float("max_sqnr_loss_db", 1.0, "Language models: how far (dB) a candidate's logits SQNR vs eager "
                   "fp32 may fall below the default 8da4w program's.")
flags.DEFINE_bool("list_models", False, "Print the model zoo and exit.")
flags.DEFINE_bool("verbose", False, "Show third-party output, warnings and tracebacks of unexpected errors.")

FLAGS = flags.FLAGS


def settings_from_flags():
    from examples.models.zoo import resolve_model
    from examples.runner import client
    from examples.tune.candidates import DELEGATES
    from examples.tune.tuner import TuneSettings

    if not FLAGS.model_name:
        raise cli.UsageError("--model_name is required (see --list_models)")
    resolve_model(FLAGS.model_name)  # unknown model: one line, exit 2, before anything slow
    delegates = [d.strip() for d in FLAGS.delegates.split(",") if d.strip()]
    unknown = [d for d in delegates if d not in DELEGATES]
    if unknown or not delegates:
        raise cli.UsageError(f"--delegates: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(DELEGATES)}")
    startup.check_at_least(FLAGS, 1, "num_iters", "rounds")
    startup.check_at_least(FLAGS, 0, "warmup_iters")
    if FLAGS.max_top1_drop < 0:
        raise cli.UsageError(f"--max_top1_drop must be >= 0 points, got {FLAGS.max_top1_drop}")
    if FLAGS["max_top1_drop"].present and not FLAGS.eval_data:
        cli.warning_line("--max_top1_drop is only used with --eval_data; ignored")
    startup.check_calibration(FLAGS.calibration_data, FLAGS.num_calibration_samples)
    from examples.evaluation import cli_hooks

    cli_hooks.check_eval_data(FLAGS.eval_data, FLAGS.eval_limit)
    output_dir, cache_dir = startup.output_and_cache(FLAGS.output_dir, FLAGS.cache_dir)
    return TuneSettings(
        model=FLAGS.model_name, threads=cli.positive_int_list(FLAGS.threads, "threads"), output_dir=output_dir,
        runner_path=client.find_runner(FLAGS.runner), cache_dir=cache_dir, weights=FLAGS.weights,
        calibration_data=FLAGS.calibration_data, num_calibration_samples=FLAGS.num_calibration_samples,
        eval_data=FLAGS.eval_data, eval_limit=FLAGS.eval_limit, max_top1_drop=FLAGS.max_top1_drop,
        min_sqnr_db=FLAGS.min_sqnr_db, objective=FLAGS.objective, warmup=FLAGS.warmup_iters,
        iterations=FLAGS.num_iters, rounds=FLAGS.rounds, verbose=FLAGS.verbose,
    ), delegates


# Flags of one kind of model only: given for the other kind, they are refused, never ignored.
IMAGE_MODEL_FLAGS = ("calibration_data", "num_calibration_samples", "eval_data", "eval_limit", "max_top1_drop",
                     "min_sqnr_db", "delegates", "num_iters", "warmup_iters", "runner")
LANGUAGE_MODEL_FLAGS = ("variants", "prompt_len", "max_new_tokens", "max_seq_len", "max_sqnr_loss_db")


def language_model_settings(model):
    """The settings of a language model's tune, every flag checked before anything slow."""
    from examples.tune.generation_tuner import CANDIDATES, CHECK_TOKENS, DEFAULT_PROGRAM, GenerationTuneSettings

    cli.refuse_flags(FLAGS, IMAGE_MODEL_FLAGS, f"a language model ({model.name})")
    if FLAGS.weights not in ("auto", "random") and not Path(FLAGS.weights).is_file():
        raise cli.UsageError(f"--weights: no such checkpoint file: {FLAGS.weights}")
    if model.needs_checkpoint and FLAGS.weights in ("auto", "random"):
        raise cli.UsageError(f"{model.name} is offered only with its checkpoint: --weights PATH")
    variants = FLAGS.variants or list(CANDIDATES)
    offered = list(CANDIDATES)
    unknown = [v for v in variants if v not in offered]
    if unknown:
        raise cli.UsageError(f"--variants: unknown {unknown[0]} (one of {', '.join(offered)})")
    if DEFAULT_PROGRAM not in variants:
        variants.insert(0, DEFAULT_PROGRAM)  # the program every winner is judged against
    startup.check_at_least(FLAGS, 1, "rounds", "prompt_len")
    startup.check_at_least(FLAGS, 2, "max_new_tokens")  # one token has no decode rate
    if FLAGS.prompt_len + FLAGS.max_new_tokens > FLAGS.max_seq_len:
        raise cli.UsageError("--prompt_len + --max_new_tokens exceeds --max_seq_len")
    if FLAGS.max_seq_len <= CHECK_TOKENS:
        raise cli.UsageError(f"--max_seq_len must exceed the accuracy check's {CHECK_TOKENS} positions")
    if FLAGS.max_sqnr_loss_db < 0:
        raise cli.UsageError(f"--max_sqnr_loss_db must be >= 0 dB, got {FLAGS.max_sqnr_loss_db}")
    output_dir, cache_dir = startup.output_and_cache(FLAGS.output_dir, FLAGS.cache_dir)
    return GenerationTuneSettings(
        threads=cli.positive_int_list(FLAGS.threads, "threads"), output_dir=output_dir, cache_dir=cache_dir,
        weights=FLAGS.weights, variants=tuple(variants), objective=FLAGS.objective, rounds=FLAGS.rounds,
        prompt_len=FLAGS.prompt_len, max_new_tokens=FLAGS.max_new_tokens, max_seq_len=FLAGS.max_seq_len,
        max_sqnr_loss_db=FLAGS.max_sqnr_loss_db)


def tune_language_model_main(model) -> int:
    from examples.runner.text_generation_client import DEFAULT_TEXT_RUNNER
    from examples.tune.generation_tuner import tune_language_model
    from examples.tune.report import write_outputs

    settings = language_model_settings(model)
    if not DEFAULT_TEXT_RUNNER.is_file():
        raise cli.CliError(f"{DEFAULT_TEXT_RUNNER} is not built (./setup.sh builds it): tune times the native runner")
    startup.quiet_imports(FLAGS.verbose)
    doc, winners = tune_language_model(model, settings)
    paths = write_outputs(doc, winners, settings.output_dir, model.name)
    return _finish(doc, winners, paths)


def _finish(doc: dict, winners: dict, paths: list) -> int:
    from examples.tune.report import render_markdown

    sys.stdout.write(render_markdown(doc))
    sys.stderr.write("[tune] wrote " + ", ".join(str(p) for p in paths) + "\n")
    if doc["partial"]:
        cli.warning_line("interrupted: tune.json holds what was measured before Ctrl-C (marked partial)")
        return cli.EXIT_INTERRUPTED
    if not winners:
        raise cli.CliError("no candidate passed the accuracy budget and ran; see tune.md for each reason")
    return 0


def main(argv):
    from examples.models.llama_zoo import LLM_MODELS

    if startup.listed_models(argv, FLAGS.list_models):
        return 0
    if FLAGS.model_name in LLM_MODELS:
        return tune_language_model_main(LLM_MODELS[FLAGS.model_name])
    cli.refuse_flags(FLAGS, LANGUAGE_MODEL_FLAGS, f"{FLAGS.model_name or 'this model'}: they are for the zoo's "
                     f"language models ({', '.join(LLM_MODELS)})")
    settings, delegates = settings_from_flags()
    startup.quiet_imports(FLAGS.verbose)
    from examples.benchmark.programs import load_model_context
    from examples.tune.candidates import candidates_for
    from examples.tune.report import write_outputs
    from examples.tune.tuner import tune

    candidates = candidates_for(delegates)
    with tempfile.TemporaryDirectory(prefix="tune-") as tmp:
        with warnings.catch_warnings():
            if not FLAGS.verbose:
                warnings.simplefilter("ignore")
            ctx = load_model_context(settings.model, settings.weights, Path(tmp), settings.verbose)
        doc, winners = tune(settings, candidates, ctx)
        paths = write_outputs(doc, winners, settings.output_dir, ctx.spec.name)
    return _finish(doc, winners, paths)


if __name__ == "__main__":
    cli.run(main)
