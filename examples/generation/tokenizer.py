"""Streaming output for generation: the text each new token adds. The tokenizer itself is
:class:`examples.evaluation.tokenizer.TextTokenizer` (the programs and the runners see token
ids only; text lives there).

Streaming decodes the whole generated sequence after each token and prints what was added, so
SentencePiece's word-start spaces and multi-token characters come out right.
"""

from __future__ import annotations

from examples.evaluation.tokenizer import TextTokenizer


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
