"""Make a tokenizer from local text, offline: for trying ``generate`` without downloading one.

    python -m examples.backend.train_tokenizer --text my_corpus.txt --output tokenizer.model
    python -m examples.backend.train_tokenizer --text a.txt,b.txt --output tokenizer.json --vocab_size 1000

``tokenizer.model``: SentencePiece (llama2.c's layout); ``tokenizer.json``: Hugging Face
byte-level BPE. See :mod:`examples.generation.train_tokenizer`.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from examples.common import cli
from examples.generation.train_tokenizer import read_lines, train_tokenizer

flags.DEFINE_list("text", None, "Text file(s) to train on (UTF-8; comma-separated).")
flags.DEFINE_string("output", "tokenizer.model", "Where to write: a .model (SentencePiece) or .json (Hugging Face).")
flags.DEFINE_integer("vocab_size", 512, "Most tokens the tokenizer may have (a small text gives fewer).")
cli.register_usage_errors("examples.generation.train_tokenizer", "TokenizerTrainingError")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.text:
        raise cli.UsageError("--text is required (one or more text files, comma-separated)")
    output = Path(FLAGS.output).expanduser()
    if not output.parent.is_dir():
        raise cli.UsageError(f"--output: folder {output.parent} does not exist")
    path = train_tokenizer(read_lines(FLAGS.text), output, FLAGS.vocab_size)
    from examples.evaluation.tokenizer import TextTokenizer

    tokenizer = TextTokenizer(path)
    print(f"wrote {path} ({tokenizer.kind}, {tokenizer.vocab_size} tokens, bos {tokenizer.bos_id}, "
          f"eos {tokenizer.stop_ids})")
    return 0


if __name__ == "__main__":
    cli.run(main)
