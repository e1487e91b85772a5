"""What a model's inputs are, beyond their shapes: dtype and, for integers, their value range.

Random inputs (calibration without data, smoke runs) must look like the real ones: float
inputs are ``randn``; token ids lie in ``[0, vocab)`` of the embedding they index; 0/1
masks stay 0/1. :func:`infer_input_specs` reads this from the model's exported graph (an
integer input that reaches ``aten.embedding`` as its indices takes that embedding's row
count as its bound) and, failing that, from the example values themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

# Ops an integer input may pass through on its way to an embedding without changing what
# its values mean (dtype casts, reshapes, copies).
_PASS_THROUGH = {
    "view", "reshape", "_unsafe_view", "flatten", "unsqueeze", "squeeze", "contiguous", "clone",
    "to", "_to_copy", "type_as", "long", "int", "expand", "permute", "transpose", "t",
}


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    dtype: torch.dtype
    low: int | None = None  # integer/bool inputs: values drawn from [low, high)
    high: int | None = None
    why: str = ""  # where the range comes from: "embedding of 100 rows", "example values"

    @property
    def is_float(self) -> bool:
        return self.dtype.is_floating_point or self.dtype.is_complex

    def random(self, generator: torch.Generator, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        shape = tuple(shape or self.shape)
        if self.is_float:
            return torch.randn(shape, generator=generator).to(self.dtype)
        return torch.randint(self.low, self.high, shape, generator=generator).to(self.dtype)

    def describe(self) -> str:
        text = f"{str(self.dtype).removeprefix('torch.')} {'x'.join(map(str, self.shape)) or 'scalar'}"
        if not self.is_float:
            text += f" in [{self.low}, {self.high})" + (f" ({self.why})" if self.why else "")
        return text


def _op_name(node: torch.fx.Node) -> str:
    target = node.target
    name = getattr(target, "__name__", str(target))
    return name.split(".")[0]


def embedding_bounds(graph: torch.fx.Graph) -> dict[str, int]:
    """Placeholder name -> rows of the smallest embedding its values index (following casts
    and reshapes only: arithmetic on the ids makes the bound unknown)."""
    bounds: dict[str, int] = {}
    for placeholder in (n for n in graph.nodes if n.op == "placeholder"):
        frontier, seen = [placeholder], set()
        while frontier:
            node = frontier.pop()
            for user in node.users:
                if user in seen or user.op != "call_function":
                    continue
                seen.add(user)
                name = _op_name(user)
                if name in ("embedding", "embedding_bag") and len(user.args) > 1 and user.args[1] is node:
                    weight = user.args[0].meta.get("val") if isinstance(user.args[0], torch.fx.Node) else None
                    if weight is not None:
                        rows = int(weight.shape[0])
                        bounds[placeholder.name] = min(rows, bounds.get(placeholder.name, rows))
                elif name in _PASS_THROUGH and user.args and user.args[0] is node:
                    frontier.append(user)
    return bounds


def _user_input_names(exported) -> list[str]:
    from torch.export.graph_signature import InputKind

    return [s.arg.name for s in exported.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]


def _from_values(tensor: torch.Tensor) -> InputSpec:
    shape, dtype = tuple(tensor.shape), tensor.dtype
    if dtype == torch.bool:
        return InputSpec(shape, dtype, 0, 2, "boolean")
    if tensor.numel() == 0:
        return InputSpec(shape, dtype, 0, 1, "empty example")
    low, high = int(tensor.min()), int(tensor.max())
    if low >= 0 and high <= 1:
        return InputSpec(shape, dtype, 0, 2, "0/1 mask in the example")
    return InputSpec(shape, dtype, low, high + 1, "range of the example values")


def infer_input_specs(example_inputs: Sequence[torch.Tensor], model: torch.nn.Module | None = None) -> tuple[InputSpec, ...]:
    """One :class:`InputSpec` per example input. Exports ``model`` (non-strict) only when an
    input is an integer tensor, to find the embeddings it indexes."""
    specs = [InputSpec(tuple(t.shape), t.dtype) if t.dtype.is_floating_point else _from_values(t)
             for t in example_inputs]
    if model is None or all(s.is_float for s in specs):
        return tuple(specs)
    try:
        with torch.no_grad():
            exported = torch.export.export(model.eval(), tuple(example_inputs), strict=False)
    except Exception:  # noqa: BLE001 - the example values still give a usable range
        return tuple(specs)
    bounds = embedding_bounds(exported.graph)
    for index, name in enumerate(_user_input_names(exported)[:len(specs)]):
        if name in bounds and not specs[index].is_float and specs[index].dtype != torch.bool:
            specs[index] = InputSpec(specs[index].shape, specs[index].dtype, 0, bounds[name],
                                     f"ids into an embedding of {bounds[name]} rows")
    return tuple(specs)


def random_inputs_for(specs: Sequence[InputSpec], seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Deterministic random inputs that follow ``specs`` (dtype, shape, value range)."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(spec.random(generator) for spec in specs)


def sequence_dynamic_shapes(example_inputs: Sequence[torch.Tensor], max_seq_len: int,
                            specs: Sequence[InputSpec] | None = None) -> tuple[tuple[torch.Tensor, ...], tuple]:
    """Example inputs and torch.export ``dynamic_shapes`` for a program that accepts every
    sequence length 1..``max_seq_len``: dim 1 of each integer input of rank >= 2 (token ids,
    masks: ``batch x seq``), one shared dimension. Examples longer than ``max_seq_len`` are cut."""
    from torch.export import Dim

    if max_seq_len < 1:
        raise ValueError(f"--max_seq_len must be at least 1, got {max_seq_len}")
    specs = specs or infer_input_specs(example_inputs)
    seq = Dim("seq_len", min=1, max=max_seq_len)
    inputs, shapes = [], []
    for tensor, spec in zip(example_inputs, specs):
        if spec.is_float or tensor.dim() < 2:
            inputs.append(tensor)
            shapes.append(None)
        else:
            inputs.append(tensor[:, :max_seq_len])
            shapes.append({1: seq})
    if all(s is None for s in shapes):
        raise ValueError("--max_seq_len needs an integer input of rank >= 2 (batch x sequence: token ids); "
                         f"the inputs are {', '.join(s.describe() for s in specs)}")
    return tuple(inputs), tuple(shapes)
