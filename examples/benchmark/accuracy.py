"""Output error of a program against eager PyTorch on the same inputs: max abs error and SQNR."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def _flat(outputs: Sequence) -> np.ndarray:
    arrays = [np.asarray(o, dtype=np.float64).reshape(-1) for o in outputs]
    return np.concatenate(arrays) if arrays else np.zeros(0)


def compare(reference: Sequence, actual: Sequence) -> dict:
    """``{"max_abs_error", "sqnr_db"}`` over all outputs (flattened and concatenated).

    SQNR = 10 log10(sum(ref^2) / sum((ref - actual)^2)); ``None`` when undefined: outputs
    identical (infinite SQNR; then ``max_abs_error`` is 0) or an all-zero reference. Raises ``ValueError`` when the outputs do not match in number
    or size.
    """
    if len(reference) != len(actual):
        raise ValueError(f"{len(actual)} output(s), eager PyTorch gives {len(reference)}")
    for i, (r, a) in enumerate(zip(reference, actual)):
        if np.asarray(r).size != np.asarray(a).size:
            raise ValueError(f"output {i} has {np.asarray(a).size} values, eager PyTorch gives {np.asarray(r).size}")
    ref, out = _flat(reference), _flat(actual)
    noise = float(np.sum((ref - out) ** 2))
    signal = float(np.sum(ref ** 2))
    max_abs = float(np.max(np.abs(ref - out))) if ref.size else 0.0
    sqnr = 10.0 * math.log10(signal / noise) if noise > 0.0 and signal > 0.0 else None
    return {"max_abs_error": max_abs, "sqnr_db": sqnr}
