"""``--eval_data DIR`` for the export CLI and the benchmark: the calls they make, kept here.

Both CLIs call :func:`check_eval_data` before anything slow (a bad folder: one line, exit 2),
then, once their programs exist, :func:`evaluate_export` / :func:`evaluate_benchmark`, which
print the accuracy table (eager fp32 and each program, top-1/top-5, agreement with eager).

The export CLI also takes labelled texts (``--eval_data FILE.csv|.jsonl`` with ``--tokenizer``,
:mod:`examples.evaluation.text_eval`); :func:`text_model_check` checks them against the loaded
model before its export.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

EVAL_DATA_HELP = ("Labelled image folder (ImageFolder layout DIR/<class>/<image>; classes in sorted order "
                  "are the label indices) to report top-1/top-5 of eager fp32 and the program(s), and their "
                  "top-1 agreement with eager. Images get the model's preprocessing (resize, center crop, "
                  "normalize).")
TEXT_EVAL_DATA_HELP = (" Or labelled texts: a .csv file with columns text,label or a .jsonl file of "
                       "{\"text\": ..., \"label\": ...} objects (with --tokenizer); labels are integer class "
                       "ids or class names (class ids in sorted order).")
TOKENIZER_HELP = ("Hugging Face tokenizer.json (or a folder holding one) for a text --eval_data: texts are "
                  "tokenized to the program's sequence length (--max_seq_len, else the example inputs').")
EVAL_LIMIT_HELP = "Evaluate at most this many samples of --eval_data (an even spread over the data)."
EVAL_ENGINE_HELP = ("How --eval_data runs the programs: runner (native cmake-out/xnn_executor_runner, one "
                    "process per image), python (ExecuTorch's Python runtime), auto (runner when built).")


def define_eval_flags(text: bool = False) -> None:
    """``--eval_data``, ``--eval_limit``, ``--eval_engine``; with ``text``, ``--tokenizer`` too (idempotent)."""
    if text and "tokenizer" not in flags.FLAGS:
        flags.DEFINE_string("tokenizer", None, TOKENIZER_HELP)
    if "eval_data" in flags.FLAGS:
        return
    flags.DEFINE_string("eval_data", None, EVAL_DATA_HELP + (TEXT_EVAL_DATA_HELP if text else ""))
    flags.DEFINE_integer("eval_limit", None, EVAL_LIMIT_HELP)
    flags.DEFINE_enum("eval_engine", "auto", ["auto", "runner", "python"], EVAL_ENGINE_HELP)


def check_eval_data(path: str | None, limit: int | None = None, *, tokenizer: str | None = None,
                    text: bool = False) -> None:
    """Fail early (exit 2) on a folder that is missing or not in ImageFolder layout, or (``text``:
    the CLI takes labelled texts) on a text file or tokenizer that cannot be read. Without
    --eval_data, a --eval_limit, --eval_engine or --tokenizer given gets a warning: it is unused."""
    from examples.common import cli
    from examples.evaluation.dataset import DatasetError, ImageFolderDataset, Preprocess
    from examples.evaluation.text_dataset import is_text_data

    if tokenizer and not is_text_data(path):
        cli.warning_line("--tokenizer is only used with a text --eval_data (.csv or .jsonl); ignored")
    if not path:
        # --eval_engine has a default: given on the command line (where this CLI has it) is what counts
        engine_given = "eval_engine" in flags.FLAGS and flags.FLAGS["eval_engine"].present
        for flag, given in (("eval_limit", limit is not None), ("eval_engine", engine_given)):
            if given:
                cli.warning_line(f"--{flag} is only used with --eval_data; ignored")
        return
    if limit is not None and limit < 1:
        raise cli.UsageError(f"--eval_limit must be at least 1, got {limit}")
    if is_text_data(path):
        if not text:
            raise cli.UsageError(f"--eval_data: {path} is labelled text (.csv/.jsonl); this tool evaluates image "
                                 "folders (texts: python -m examples.backend.xnnpack_examples --tokenizer ...)")
        _text_data(path, tokenizer)
        return
    try:
        ImageFolderDataset(path, Preprocess(8))
    except DatasetError as error:
        raise cli.UsageError(f"--eval_data: {error}") from None


def _text_data(path: str, tokenizer: str | None, limit: int | None = None):
    """The dataset and tokenizer of a text ``--eval_data``, or one usage-error line."""
    from examples.common import cli
    from examples.evaluation.dataset import DatasetError
    from examples.evaluation.text_dataset import TextDataset
    from examples.evaluation.tokenizer import TextTokenizer

    if not tokenizer:
        raise cli.UsageError(f"--eval_data {path} holds texts: pass --tokenizer PATH (a Hugging Face tokenizer.json)")
    try:
        dataset = TextDataset(path, limit=limit)
    except DatasetError as error:
        raise cli.UsageError(f"--eval_data: {error}") from None
    try:
        return dataset, TextTokenizer(tokenizer)
    except DatasetError as error:
        raise cli.UsageError(f"--tokenizer: {error}") from None


def text_model_check(path: str | None, tokenizer: str | None, max_seq_len: int | None = None):
    """For ``ExportRequest.check_loaded``: a text ``--eval_data`` needs a model that takes token ids
    the tokenizer's vocabulary fits; checked once the model is loaded, before its slow export."""
    from examples.evaluation.text_dataset import is_text_data

    if not is_text_data(path):
        return None

    def check(loaded) -> None:
        from examples.common import cli
        from examples.evaluation.dataset import DatasetError
        from examples.evaluation.text_eval import text_inputs_for

        _, text_tokenizer = _text_data(path, tokenizer)
        try:
            text_inputs_for(loaded.model, loaded.example_inputs, text_tokenizer, max_seq_len)
        except DatasetError as error:
            raise cli.UsageError(f"--eval_data: {error}") from None

    return check


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def evaluate_export(model_name: str, weights: str, programs: dict[str, str | Path], eval_data: str, *,
                    limit: int | None = None, engine: str = "auto", runner: str | Path | None = None,
                    verbose: bool = False, print_line=_line, tokenizer: str | None = None,
                    max_seq_len: int | None = None):
    """Reload the eager model as the export did, evaluate it and ``programs``; print and return the report.

    A text ``eval_data`` (.csv/.jsonl) is tokenized with ``tokenizer`` to ``max_seq_len`` tokens
    (else the example inputs' length)."""
    import warnings

    from examples.evaluation.accuracy import DEFAULT_RUNNER, evaluate
    from examples.evaluation.text_dataset import is_text_data
    from examples.models.weights import load_model
    from examples.models.zoo import resolve_model

    spec = resolve_model(model_name)
    with warnings.catch_warnings():
        # The export already warned about random weights (load_eager would warn again).
        warnings.simplefilter("ignore")
        loaded = load_model(spec, weights)
    print_line(f"evaluating on {eval_data}...")
    if is_text_data(eval_data):
        from examples.evaluation.text_eval import evaluate_text, text_inputs_for

        dataset, text_tokenizer = _text_data(eval_data, tokenizer, limit)
        inputs = text_inputs_for(loaded.model, loaded.example_inputs, text_tokenizer, max_seq_len)
        report = evaluate_text(loaded.model, programs, dataset, text_tokenizer, inputs, engine=engine,
                               runner=runner or DEFAULT_RUNNER)
    else:
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
