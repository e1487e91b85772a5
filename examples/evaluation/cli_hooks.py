"""``--eval_data DIR`` for the export CLI and the benchmark: the calls they make, kept here.

Both CLIs call :func:`check_eval_data` before anything slow (a bad folder: one line, exit 2),
then, once their programs exist, :func:`evaluate_export` / :func:`evaluate_benchmark`, which
print the accuracy table (eager fp32 and each program, top-1/top-5, agreement with eager).
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

EVAL_DATA_HELP = ("Labelled image folder (ImageFolder layout DIR/<class>/<image>; classes in sorted order "
                  "are the label indices) to report top-1/top-5 of eager fp32 and the program(s), and their "
                  "top-1 agreement with eager. Images get the model's preprocessing (resize, center crop, "
                  "normalize).")
EVAL_LIMIT_HELP = "Evaluate at most this many images of --eval_data (an even spread over the classes)."
EVAL_ENGINE_HELP = ("How --eval_data runs the programs: runner (native cmake-out/xnn_executor_runner, one "
                    "process per image), python (ExecuTorch's Python runtime), auto (runner when built).")


def define_eval_flags() -> None:
    """``--eval_data``, ``--eval_limit``, ``--eval_engine`` (idempotent)."""
    if "eval_data" in flags.FLAGS:
        return
    flags.DEFINE_string("eval_data", None, EVAL_DATA_HELP)
    flags.DEFINE_integer("eval_limit", None, EVAL_LIMIT_HELP)
    flags.DEFINE_enum("eval_engine", "auto", ["auto", "runner", "python"], EVAL_ENGINE_HELP)


def check_eval_data(path: str | None, limit: int | None = None) -> None:
    """Fail early (exit 2) on a folder that is missing or not in ImageFolder layout."""
    from examples.common import cli
    from examples.evaluation.dataset import DatasetError, ImageFolderDataset, Preprocess

    if not path:
        return
    if limit is not None and limit < 1:
        raise cli.UsageError(f"--eval_limit must be at least 1, got {limit}")
    try:
        ImageFolderDataset(path, Preprocess(8))
    except DatasetError as error:
        raise cli.UsageError(f"--eval_data: {error}") from None


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def evaluate_export(model_name: str, weights: str, programs: dict[str, str | Path], eval_data: str, *,
                    limit: int | None = None, engine: str = "auto", runner: str | Path | None = None,
                    verbose: bool = False, print_line=_line):
    """Reload the eager model as the export did, evaluate it and ``programs``; print and return the report."""
    import warnings

    from examples.evaluation.accuracy import DEFAULT_RUNNER, evaluate
    from examples.models.weights import load_eager
    from examples.models.zoo import resolve_model

    spec = resolve_model(model_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the export already warned about random weights
        loaded = load_eager(spec, weights, verbose)
    print_line(f"evaluating on {eval_data}...")
    report = evaluate(spec, loaded.model, programs, eval_data, engine=engine, limit=limit,
                      runner=runner or DEFAULT_RUNNER, example_inputs=tuple(loaded.example_inputs))
    if loaded.weights == "random":
        report.notes.append(f"'{spec.name}' has RANDOM weights: these accuracy figures are meaningless")
    print_line(report.format())
    return report


def evaluate_benchmark(doc: dict, eval_data: str, *, weights: str, limit: int | None = None,
                       engine: str = "auto", runner: str | Path | None = None, verbose: bool = False,
                       progress=lambda text: sys.stderr.write(f"[benchmark] {text}\n")) -> str:
    """Evaluate the benchmark's XNNPACK programs of each model; adds ``classification_accuracy``
    to ``doc["models"][name]`` and returns the text to print (one table per model).

    Portable programs are left out (their kernels are ~1000x slower than XNNPACK's).
    """
    texts = []
    for name in doc.get("models", {}):
        programs = {}
        for record in doc.get("records", []):
            if (record.get("model") == name and record.get("kind") == "executorch" and record.get("status") == "ok"
                    and record.get("program_file") and record.get("backend") != "portable"):
                programs.setdefault(record["backend"], record["program_file"])
        progress(f"{name}: accuracy on {eval_data} (eager{''.join(', ' + b for b in programs)})")
        report = evaluate_export(name, weights, programs, eval_data, limit=limit, engine=engine, runner=runner,
                                 verbose=verbose, print_line=lambda text: None)
        doc["models"][name]["classification_accuracy"] = report.to_dict()
        texts.append(f"\n## Classification accuracy: {name}\n\n```\n{report.format()}\n```\n")
    return "".join(texts)
