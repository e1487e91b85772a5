"""Make a tokenizer from local text, offline: for trying ``generate`` without downloading one
(the command: ``python -m examples.backend.train_tokenizer``).

``tokenizer.model``: a SentencePiece BPE model laid out as llama2.c's (``<unk>`` 0, ``<s>`` 1,
``</s>`` 2); ``tokenizer.json``: a Hugging Face byte-level BPE tokenizer with the same special
tokens and ``<pad>``. Both load with ``examples.evaluation.tokenizer.TextTokenizer``.
``--vocab_size`` is an upper bound: a small text yields fewer tokens. A tokenizer trained here
does not match a published model's vocabulary (the text it generates is not meaningful): it
makes the tools runnable end to end with nothing downloaded.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from examples.common import cli
from examples.common.atomic_write import write_bytes_atomic, write_text_atomic

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")  # ids 0..3 in a tokenizer.json
SUFFIXES = {".model": "sentencepiece", ".json": "huggingface"}


class TokenizerTrainingError(ValueError):
    """Text or options a tokenizer cannot be trained from."""


def train_sentencepiece(lines: Sequence[str], path: str | Path, vocab_size: int = 512) -> Path:
    """A SentencePiece BPE ``tokenizer.model`` trained on ``lines`` (bos 1, eos 2, unk 0)."""
    import sentencepiece

    stream = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(list(lines)), model_writer=stream, vocab_size=vocab_size,
        model_type="bpe", character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0, pad_id=-1,
        hard_vocab_limit=False, minloglevel=2)
    return write_bytes_atomic(Path(path), stream.getvalue())


def train_huggingface(lines: Sequence[str], path: str | Path, vocab_size: int = 512) -> Path:
    """A Hugging Face byte-level BPE ``tokenizer.json`` trained on ``lines``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(lines), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return write_text_atomic(Path(path), tok.to_str())


def train_tokenizer(lines: Sequence[str], path: str | Path, vocab_size: int = 512) -> Path:
    """Train the kind the file name asks for (``.model``: SentencePiece, ``.json``: Hugging Face)."""
    kind = SUFFIXES.get(Path(path).suffix)
    if kind is None:
        raise TokenizerTrainingError(f"{path}: name the output tokenizer.model (SentencePiece) or "
                                     "tokenizer.json (Hugging Face)")
    if vocab_size < 16:
        raise TokenizerTrainingError(f"--vocab_size must be at least 16, got {vocab_size}")
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise TokenizerTrainingError("the text is empty: give a file with some text to train on")
    try:
        return (train_sentencepiece if kind == "sentencepiece" else train_huggingface)(lines, path, vocab_size)
    except OSError:
        raise
    except Exception as error:  # noqa: BLE001 - the trainers raise RuntimeError/ValueError on odd input
        raise TokenizerTrainingError(f"training a {kind} tokenizer failed: {cli.first_line(error)}") from None


def read_lines(paths: Sequence[str]) -> list[str]:
    lines = []
    for name in paths:
        path = Path(name).expanduser()
        if not path.is_file():
            raise cli.UsageError(f"--text: no such file: {path}")
        try:
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as error:
            raise cli.UsageError(f"--text: cannot read {path}: {error.strerror or error}") from None
    return lines
