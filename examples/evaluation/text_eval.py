"""Classification accuracy on labelled texts: tokenize each one to the program's sequence length
and hand the token ids (and attention mask) to the one accuracy loop and report
(:func:`examples.evaluation.accuracy.evaluate_samples`).

A text model here takes one or two integer ``batch x sequence`` inputs: token ids, then the
attention mask (as the zoo's ``bert_tiny``). The program's sequence length is its
``--max_seq_len`` bound, else the example inputs' length; every text is padded/truncated to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import torch

from examples.evaluation.accuracy import DEFAULT_RUNNER, EvalReport, evaluate_samples
from examples.evaluation.dataset import DatasetError
from examples.evaluation.text_dataset import TextDataset
from examples.evaluation.tokenizer import TextTokenizer


@dataclass(frozen=True)
class TextInputs:
    seq_len: int
    with_mask: bool  # the model's second input is the attention mask


def text_inputs_for(model: torch.nn.Module, example_inputs: Sequence[torch.Tensor], tokenizer: TextTokenizer,
                    max_seq_len: int | None = None) -> TextInputs:
    """What the model takes, checked against the tokenizer: :class:`DatasetError` (one line) when
    it takes no token ids, or when the tokenizer's ids would index past its embedding."""
    inputs = tuple(example_inputs)
    if not 1 <= len(inputs) <= 2 or any(t.dtype.is_floating_point or t.dim() != 2 for t in inputs):
        taken = ", ".join(f"{str(t.dtype).removeprefix('torch.')} {'x'.join(map(str, t.shape))}" for t in inputs)
        raise DatasetError("text evaluation feeds token ids (and an attention mask): one or two integer "
                           f"batch x sequence inputs; the model takes {taken}")
    from examples.models.input_specs import infer_input_specs

    ids = infer_input_specs(inputs, model)[0]
    if ids.why.startswith("ids into an embedding") and tokenizer.vocab_size > ids.high:
        raise DatasetError(f"the tokenizer {tokenizer.path} has {tokenizer.vocab_size} tokens but the model's "
                           f"embedding has {ids.high} rows: its ids would index past it (a tokenizer of another "
                           "model?)")
    return TextInputs(max_seq_len or int(inputs[0].shape[1]), len(inputs) == 2)


def evaluate_text(model: torch.nn.Module | None, programs: Mapping[str, str | Path], dataset: TextDataset,
                  tokenizer: TextTokenizer, inputs: TextInputs, *, engine: str = "auto",
                  runner: str | Path = DEFAULT_RUNNER, num_threads: int = 1, topk: int = 5, progress=None,
                  eager_threads: int | None = 1) -> EvalReport:
    """Top-1/top-k of ``model`` (eager) and each program on ``dataset``, as the image path reports it."""

    def samples():
        for text, label in dataset:
            ids, mask = tokenizer.encode_fixed(text, inputs.seq_len)
            yield ((ids, mask) if inputs.with_mask else (ids,)), label

    report = evaluate_samples(
        model, programs, samples(), count=len(dataset), dataset_name=str(dataset.path),
        classes=len(dataset.classes), labels_are=dataset.labels_are(), unit="texts", engine=engine, runner=runner,
        num_threads=num_threads, topk=topk, progress=progress, eager_threads=eager_threads)
    if dataset.string_labels:
        report.notes.append(f"class ids: {dataset.labels_are()}")
    report.notes.append(f"texts tokenized by {tokenizer.path} to {inputs.seq_len} tokens (padded/truncated)")
    return report
