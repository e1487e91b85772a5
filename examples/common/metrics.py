"""Output error of a program against a reference on the same inputs: max abs error and SQNR.

The one home of SQNR in the toolkit (benchmark, evaluation, tune, tests).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


# The default accuracy budget of a reduced-precision program: SQNR vs eager on held-out inputs.
# tune rejects candidates below it; the benchmark compares programs and peers inside it.
DEFAULT_MIN_SQNR_DB = 20.0

def _flat(outputs: Sequence) -> np.ndarray:
    arrays = [np.asarray(o, dtype=np.float64).reshape(-1) for o in outputs]
    return np.concatenate(arrays) if arrays else np.zeros(0)


def sqnr_db(reference, actual) -> float:
    """SQNR in dB = 10 log10(sum(ref^2) / sum((ref - actual)^2)) of one or several outputs
    (tensors or arrays; a list is flattened and concatenated). ``inf`` when identical,
    ``nan`` when the reference is all zeros and the outputs differ."""
    ref = _flat(reference if isinstance(reference, (list, tuple)) else [reference])
    out = _flat(actual if isinstance(actual, (list, tuple)) else [actual])
    if ref.size != out.size:
        raise ValueError(f"{out.size} values, the reference has {ref.size}")
    noise = float(np.sum((ref - out) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return math.nan
    return 10.0 * math.log10(signal / noise)


def compare(reference: Sequence, actual: Sequence) -> dict:
    """``{"max_abs_error", "sqnr_db"}`` over all outputs (flattened and concatenated).

    ``sqnr_db`` is ``None`` when undefined: outputs identical (infinite SQNR; then
    ``max_abs_error`` is 0) or an all-zero reference. Raises ``ValueError`` when the outputs
    do not match in number or size.
    """
    if len(reference) != len(actual):
        raise ValueError(f"{len(actual)} output(s), eager PyTorch gives {len(reference)}")
    for i, (r, a) in enumerate(zip(reference, actual)):
        if np.asarray(r).size != np.asarray(a).size:
            raise ValueError(f"output {i} has {np.asarray(a).size} values, eager PyTorch gives {np.asarray(r).size}")
    ref, out = _flat(reference), _flat(actual)
    max_abs = float(np.max(np.abs(ref - out))) if ref.size else 0.0
    sqnr = sqnr_db(list(reference), list(actual))
    return {"max_abs_error": max_abs, "sqnr_db": sqnr if math.isfinite(sqnr) else None}
