"""Token id lists: on command lines (``--prompt_tokens 1,15,27``, shared by the runners' CLIs), and
the fixed prompt the generation benchmark and step_profile feed every engine."""

from __future__ import annotations

from examples.common import cli


def parse_token_list(text: str, flag: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise cli.UsageError(f"{flag} must be comma-separated integers, got '{text}'") from None


def prompt_tokens(length: int, vocab_size: int) -> list[int]:
    """BOS then fixed ids spread over the vocabulary: the same prompt for every engine."""
    return [1] + [(7 + 37 * i) % (vocab_size - 3) + 3 for i in range(length - 1)]
