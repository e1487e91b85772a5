"""How closely a quantized program follows the fp32 one on the same prompt.

Two measures: ``prefix`` counts the greedy tokens both produce before the first difference
(free-running: one flip changes everything after it), ``teacher_forced`` feeds both programs
the reference sequence and counts the positions where their next-token choices agree (the
fraction of steps on which quantization does not change the greedy choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Agreement:
    compared: int
    prefix: int  # identical leading greedy tokens
    same_position: int  # positions with the same greedy token (free-running)
    teacher_forced: int  # positions with the same next-token choice on the reference sequence

    def as_json(self) -> dict:
        return {"compared": self.compared, "prefix": self.prefix, "same_position": self.same_position,
                "teacher_forced": self.teacher_forced,
                "teacher_forced_rate": round(self.teacher_forced / self.compared, 4) if self.compared else 0.0}


def prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


def teacher_forced_choices(decoder, prompt: Sequence[int], continuation: Sequence[int]) -> list[int]:
    """The decoder's greedy choice after the prompt and after each token of ``continuation``
    (the last token of ``continuation`` is not fed)."""
    choices = [int(np.argmax(decoder.forward(list(prompt), 0)))]
    for i, token in enumerate(continuation[:-1]):
        choices.append(int(np.argmax(decoder.forward([token], len(prompt) + i))))
    return choices


def compare(reference_tokens: Sequence[int], other_tokens: Sequence[int], other_decoder,
            prompt: Sequence[int]) -> Agreement:
    n = min(len(reference_tokens), len(other_tokens))
    forced = teacher_forced_choices(other_decoder, prompt, reference_tokens[:n])
    return Agreement(compared=n, prefix=prefix_length(reference_tokens, other_tokens),
                     same_position=sum(x == y for x, y in zip(reference_tokens[:n], other_tokens[:n])),
                     teacher_forced=sum(x == y for x, y in zip(reference_tokens[:n], forced)))
