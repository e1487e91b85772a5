"""Run a program in ExecuTorch's Python runtime, checking inputs against what it accepts.

A program exported for sequence lengths 1..S (``--max_seq_len S``) holds inputs of at most
S along the sequence; ExecuTorch's own answer to a longer one is ``set_inputs() failed with
error 0x10``. :func:`check_inputs` says instead which input, which size and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch


class InputMismatch(ValueError):
    """Inputs the program cannot take: the wrong count, dtype, rank, or a size over its bound."""


# torch dtype -> ExecuTorch ScalarType code (executorch.exir.scalar_type), as method metadata reports it.
_TORCH_TO_SCALAR = {torch.float32: 6, torch.float16: 5, torch.int64: 4, torch.int32: 3, torch.int8: 1,
                    torch.uint8: 0, torch.bool: 11, torch.int16: 2, torch.float64: 7, torch.bfloat16: 15}
_SCALAR_NAMES = {code: str(dtype).removeprefix("torch.") for dtype, code in _TORCH_TO_SCALAR.items()}


def _dtype_name(code: int) -> str:
    return _SCALAR_NAMES.get(code, f"ScalarType {code}")


def check_inputs(method_meta, inputs: Sequence[torch.Tensor]) -> None:
    """Raise :class:`InputMismatch` (one line) unless ``inputs`` fit the method's input metadata.

    Sizes are upper bounds: a dynamic dimension accepts any size up to the one recorded."""
    if len(inputs) != method_meta.num_inputs():
        raise InputMismatch(f"the program takes {method_meta.num_inputs()} input(s), got {len(inputs)}")
    for index, tensor in enumerate(inputs):
        meta = method_meta.input_tensor_meta(index)
        bound = tuple(meta.sizes())
        expected = _TORCH_TO_SCALAR.get(tensor.dtype)
        if expected is not None and expected != meta.dtype():
            raise InputMismatch(f"input {index} is {str(tensor.dtype).removeprefix('torch.')}, "
                                f"the program takes {_dtype_name(meta.dtype())}")
        if tensor.dim() != len(bound):
            raise InputMismatch(f"input {index} has {tensor.dim()} dimensions, the program takes {len(bound)} "
                                f"(at most {'x'.join(map(str, bound))})")
        for dim, (size, most) in enumerate(zip(tensor.shape, bound)):
            if size > most or size < 1:
                raise InputMismatch(f"input {index} has size {size} in dimension {dim}; the program accepts "
                                    f"1..{most} there (input at most {'x'.join(map(str, bound))}; "
                                    "re-export with a larger --max_seq_len for longer sequences)")


def load_method(program: bytes | str | Path, name: str = "forward", verify: str = "require"):
    """``program``'s method: bytes as given, or a file checked against its card (``verify``) and
    loaded from the very bytes that were checked (the path is never opened again)."""
    from executorch.runtime import Runtime

    from examples.integrity.verify import read_verified

    data = program if isinstance(program, bytes) else read_verified(Path(program), verify)[1]
    loaded = Runtime.get().load_program(data)
    method = loaded.load_method(name)
    method.program = loaded  # the Program holds the bytes the method reads: it lives as long as the method
    return method


def execute(method, inputs: Sequence[torch.Tensor]) -> list:
    """Check ``inputs`` against the method's metadata, then run it."""
    check_inputs(method.metadata, list(inputs))
    return method.execute(list(inputs))
