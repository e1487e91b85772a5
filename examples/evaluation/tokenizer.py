"""A local Hugging Face tokenizer (``tokenizer.json``) that turns texts into a program's inputs.

Loaded with the ``tokenizers`` package (a dependency of ``transformers``); never downloaded.
Every text becomes exactly ``seq_len`` token ids (the tokenizer's special tokens added,
truncated, then padded with its pad token) and the 0/1 attention mask that marks the padding.
"""

from __future__ import annotations

from pathlib import Path

import torch

from examples.evaluation.dataset import DatasetError

PAD_TOKENS = ("[PAD]", "<pad>", "<PAD>", "<|pad|>")  # BERT, T5/RoBERTa-style, others


class TextTokenizer:
    def __init__(self, path: str | Path):
        path = Path(path)
        if path.is_dir():  # a Hugging Face folder: its tokenizer.json
            path = path / "tokenizer.json"
        self.path = path
        if not path.is_file():
            raise DatasetError(f"tokenizer file not found: {path} (expected a Hugging Face tokenizer.json)")
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise DatasetError("text evaluation needs the 'tokenizers' package: pip install -e '.[text]'") from None
        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # noqa: BLE001 - tokenizers raises plain Exception on a bad file
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DatasetError(f"cannot read the tokenizer {path}: {first}") from None
        self.vocab_size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        self.pad_token, self.pad_id = self._pad()

    def _pad(self) -> tuple[str, int]:
        padding = self._tokenizer.padding
        if padding:  # the file's own padding setting names the pad token
            return padding["pad_token"], padding["pad_id"]
        for token in PAD_TOKENS:
            token_id = self._tokenizer.token_to_id(token)
            if token_id is not None:
                return token, token_id
        return "", 0  # masked out anyway: the attention mask is 0 there

    def encode(self, text: str, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)``, both int64 ``1 x seq_len``."""
        # The program's length wins over any truncation/padding the file sets.
        self._tokenizer.enable_truncation(max_length=seq_len)
        self._tokenizer.enable_padding(length=seq_len, pad_id=self.pad_id, pad_token=self.pad_token)
        encoding = self._tokenizer.encode(text)
        ids = torch.tensor([encoding.ids], dtype=torch.int64)
        mask = torch.tensor([encoding.attention_mask], dtype=torch.int64)
        return ids, mask
