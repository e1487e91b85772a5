"""Token id lists on command lines (``--prompt_tokens 1,15,27``), shared by the runners' CLIs."""

from __future__ import annotations

from examples.common import cli


def parse_token_list(text: str, flag: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise cli.UsageError(f"{flag} must be comma-separated integers, got '{text}'") from None
