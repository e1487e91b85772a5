"""The toolkit's one tokenizer: text <-> token ids, from a local file, never downloaded.

A Hugging Face ``tokenizer.json`` (``tokenizers`` package; a folder holding one works too),
SentencePiece (llama2.c / Llama 2 ``tokenizer.model``) or tiktoken (Llama 3 ``tokenizer.model``).

* Generation: :meth:`TextTokenizer.encode` / :meth:`~TextTokenizer.decode` (plain ids, an
  optional BOS) and ``stop_ids``.
* Classification: :meth:`TextTokenizer.encode_fixed` turns a text into exactly ``seq_len`` ids
  (the tokenizer's special tokens added, truncated, then padded with its pad token) and the
  0/1 attention mask that marks the padding (``tokenizer.json`` only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from examples.evaluation.dataset import DatasetError

PAD_TOKENS = ("[PAD]", "<pad>", "<PAD>", "<|pad|>")  # BERT, T5/RoBERTa-style, others
_BOS_NAMES = ("<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>")
_EOS_NAMES = ("</s>", "<|end_of_text|>", "<|endoftext|>", "<|eot_id|>", "<eos>")


class TokenizerError(DatasetError):
    """A tokenizer file that is missing or that none of the supported libraries can read."""


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class TextTokenizer:
    """``kind`` (``"huggingface"``, ``"sentencepiece"`` or ``"tiktoken"``), ``vocab_size``,
    ``bos_id`` (None: none) and ``stop_ids`` (the ids that end generation)."""

    def __init__(self, path: str | Path):
        path = Path(path).expanduser()
        if path.is_dir():  # a Hugging Face folder: its tokenizer.json
            path = path / "tokenizer.json"
        self.path = path
        if not path.is_file():
            raise TokenizerError(f"tokenizer file not found: {path} (a Hugging Face tokenizer.json, or a "
                                 f"SentencePiece / tiktoken tokenizer.model)")
        self._hf = None
        if path.suffix == ".json":
            self._load_huggingface(path)
        else:
            self._load_model_file(path)

    # ---- loading
    def _load_huggingface(self, path: Path) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise TokenizerError("a tokenizer.json needs the 'tokenizers' package: pip install -e '.[text]'") from None
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as error:  # noqa: BLE001 - tokenizers raises plain Exception on a bad file
            raise TokenizerError(f"cannot read the tokenizer {path}: {_first_line(error)}") from None
        self._hf, self.kind = tok, "huggingface"
        self.vocab_size = tok.get_vocab_size(with_added_tokens=True)
        ids = {name: tok.token_to_id(name) for name in (*_BOS_NAMES, *_EOS_NAMES)}
        self.bos_id = next((ids[n] for n in _BOS_NAMES if ids[n] is not None), None)
        self.stop_ids = [ids[n] for n in _EOS_NAMES if ids[n] is not None]
        self._encode = lambda text: tok.encode(text, add_special_tokens=False).ids
        self._decode = lambda ids: tok.decode(ids, skip_special_tokens=True)
        self.pad_token, self.pad_id = self._pad()

    def _load_model_file(self, path: Path) -> None:
        errors = []
        for loader in (self._sentencepiece, self._tiktoken):
            try:
                return loader(path)
            except Exception as error:  # noqa: BLE001 - each library raises its own types for a foreign file
                errors.append(f"{loader.__name__.strip('_')}: {_first_line(error)}")
        raise TokenizerError(f"cannot read tokenizer {path} as SentencePiece, tiktoken or Hugging Face "
                             f"tokenizer.json ({'; '.join(errors)})")

    def _sentencepiece(self, path: Path) -> None:
        import sentencepiece

        model = sentencepiece.SentencePieceProcessor(model_file=str(path))
        bos, eos = model.bos_id(), model.eos_id()
        self.kind, self.vocab_size = "sentencepiece", model.vocab_size()
        self.bos_id, self.stop_ids = (bos if bos >= 0 else None), ([eos] if eos >= 0 else [])
        self._encode, self._decode = model.encode, model.decode

    def _tiktoken(self, path: Path) -> None:
        from examples.common.quiet import quiet_stdio

        with quiet_stdio():  # its C++ part logs a line on import
            from pytorch_tokenizers import TiktokenTokenizer

        tok = TiktokenTokenizer(model_path=str(path))
        self.kind, self.vocab_size, self.bos_id = "tiktoken", tok.n_words, tok.bos_id
        self.stop_ids = [tok.eos_id] + [tok.special_tokens[n] for n in ("<|eot_id|>",) if n in tok.special_tokens]
        self._encode = lambda text: tok.encode(text, bos=False, eos=False)
        self._decode = tok.decode

    def _pad(self) -> tuple[str, int]:
        padding = self._hf.padding
        if padding:  # the file's own padding setting names the pad token
            return padding["pad_token"], padding["pad_id"]
        for token in PAD_TOKENS:
            token_id = self._hf.token_to_id(token)
            if token_id is not None:
                return token, token_id
        return "", 0  # masked out anyway: the attention mask is 0 there

    # ---- use
    def encode(self, text: str, bos: bool = True) -> list[int]:
        """The text's ids (no special tokens), after the BOS id when ``bos`` and there is one."""
        ids = list(self._encode(text))
        return ([self.bos_id] if bos and self.bos_id is not None else []) + ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._decode(list(ids))

    def encode_fixed(self, text: str, seq_len: int):
        """``(input_ids, attention_mask)`` for a classifier, both int64 ``1 x seq_len``."""
        import torch

        if self._hf is None:
            raise TokenizerError(f"{self.path}: fixed-length inputs need a Hugging Face tokenizer.json")
        # The program's length wins over any truncation/padding the file sets.
        self._hf.enable_truncation(max_length=seq_len)
        self._hf.enable_padding(length=seq_len, pad_id=self.pad_id, pad_token=self.pad_token)
        encoding = self._hf.encode(text)
        ids = torch.tensor([encoding.ids], dtype=torch.int64)
        mask = torch.tensor([encoding.attention_mask], dtype=torch.int64)
        return ids, mask
