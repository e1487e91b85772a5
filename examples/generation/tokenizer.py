"""Text <-> token ids for generation: SentencePiece (llama2.c / Llama 2 ``tokenizer.model``),
tiktoken (Llama 3 ``tokenizer.model``) or a Hugging Face ``tokenizer.json``.

The programs and the runners see token ids only; text lives here. Streaming output decodes
the whole generated sequence after each token and prints what was added, so SentencePiece's
word-start spaces and multi-token characters come out right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

_BOS_NAMES = ("<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>")
_EOS_NAMES = ("</s>", "<|end_of_text|>", "<|endoftext|>", "<|eot_id|>", "<eos>")


class TokenizerError(ValueError):
    """A tokenizer file that none of the supported libraries can read."""


@dataclass
class TextTokenizer:
    kind: str  # "sentencepiece", "tiktoken" or "huggingface"
    vocab_size: int
    bos_id: int | None
    stop_ids: list[int] = field(default_factory=list)
    _encode: Callable[[str], list[int]] | None = None
    _decode: Callable[[Sequence[int]], str] | None = None

    def encode(self, text: str, bos: bool = True) -> list[int]:
        ids = list(self._encode(text))
        return ([self.bos_id] if bos and self.bos_id is not None else []) + ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._decode(list(ids))


def _sentencepiece(path: Path) -> TextTokenizer:
    import sentencepiece

    model = sentencepiece.SentencePieceProcessor(model_file=str(path))
    bos, eos = model.bos_id(), model.eos_id()
    return TextTokenizer("sentencepiece", model.vocab_size(), bos if bos >= 0 else None,
                         [eos] if eos >= 0 else [], model.encode, model.decode)


def _tiktoken(path: Path) -> TextTokenizer:
    from examples.common.quiet import quiet_stdio

    with quiet_stdio():  # its C++ part logs a line on import
        from pytorch_tokenizers import TiktokenTokenizer

    tok = TiktokenTokenizer(model_path=str(path))
    stops = [tok.eos_id] + [tok.special_tokens[n] for n in ("<|eot_id|>",) if n in tok.special_tokens]
    return TextTokenizer("tiktoken", tok.n_words, tok.bos_id, stops,
                         lambda text: tok.encode(text, bos=False, eos=False), tok.decode)


def _huggingface(path: Path) -> TextTokenizer:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    ids = {name: tok.token_to_id(name) for name in (*_BOS_NAMES, *_EOS_NAMES)}
    bos = next((ids[n] for n in _BOS_NAMES if ids[n] is not None), None)
    stops = [ids[n] for n in _EOS_NAMES if ids[n] is not None]
    return TextTokenizer("huggingface", tok.get_vocab_size(), bos, stops,
                         lambda text: tok.encode(text, add_special_tokens=False).ids,
                         lambda t: tok.decode(t, skip_special_tokens=True))


def load_tokenizer(path: Path) -> TextTokenizer:
    path = Path(path).expanduser()
    if not path.is_file():
        raise TokenizerError(f"tokenizer file not found: {path}")
    if path.suffix == ".json":
        loaders = (_huggingface,)
    else:
        loaders = (_sentencepiece, _tiktoken)
    errors = []
    for loader in loaders:
        try:
            return loader(path)
        except Exception as error:  # noqa: BLE001 - each library raises its own types for a foreign file
            errors.append(f"{loader.__name__.strip('_')}: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}")
    raise TokenizerError(f"cannot read tokenizer {path} as SentencePiece, tiktoken or Hugging Face "
                         f"tokenizer.json ({'; '.join(errors)})")


class StreamingDecoder:
    """Turns generated ids into the text each one adds (decode all, print the new suffix)."""

    def __init__(self, tokenizer: TextTokenizer):
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._text = ""

    def push(self, token: int) -> str:
        self._ids.append(token)
        text = self._tokenizer.decode(self._ids)
        if text.endswith("\ufffd"):  # an unfinished multi-byte character: wait for its next token
            return ""
        added = text[len(self._text):] if text.startswith(self._text) else text
        self._text = text
        return added
