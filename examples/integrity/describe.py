"""What a ``.pte`` file says about itself: methods, their inputs/outputs, delegates, segments.

Parsed with ExecuTorch's own (pure Python) flatbuffer reader, so nothing of the program is
executed and a corrupt file can only raise: safe for untrusted programs. It imports
``executorch.exir`` (and torch), which takes seconds: the per-run check in
:mod:`examples.integrity.verify` uses only the card and the digest.
"""

from __future__ import annotations

# ExecuTorch ScalarType names -> the torch-style names the runner's manifests use.
DTYPE_NAMES = {"FLOAT": "float32", "DOUBLE": "float64", "HALF": "float16", "BFLOAT16": "bfloat16",
               "BYTE": "uint8", "CHAR": "int8", "SHORT": "int16", "INT": "int32", "LONG": "int64",
               "BOOL": "bool"}


class NotAProgram(ValueError):
    """The bytes do not parse as an ExecuTorch program."""


def _value_spec(value) -> dict:
    val = value.val
    kind = type(val).__name__
    if kind == "Tensor":
        name = getattr(val.scalar_type, "name", str(val.scalar_type))
        return {"dtype": DTYPE_NAMES.get(name, name.lower()), "shape": [int(s) for s in val.sizes]}
    return {"kind": kind}


def describe_program(data: bytes) -> dict:
    """``{"methods": {name: {"inputs", "outputs", "delegates", "operators"}}, "segments": n}``."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    try:
        program = deserialize_pte_binary(bytes(data)).program
    except Exception as error:  # noqa: BLE001 - a corrupt flatbuffer raises anything
        raise NotAProgram(f"not a readable ExecuTorch program ({type(error).__name__}: {error})"[:300]) from None
    methods = {}
    for plan in program.execution_plan:
        try:
            methods[plan.name] = {
                "inputs": [_value_spec(plan.values[i]) for i in plan.inputs],
                "outputs": [_value_spec(plan.values[i]) for i in plan.outputs],
                "delegates": [d.id for d in plan.delegates],
                "operators": sorted({op.name + (f".{op.overload}" if op.overload else "") for op in plan.operators}),
            }
        except (IndexError, AttributeError, TypeError) as error:
            raise NotAProgram(f"method {plan.name!r} is malformed: {error}") from None
    return {"methods": methods, "segments": len(program.segments)}


def card_methods(description: dict) -> dict:
    """The per-method part a card keeps (inputs, outputs, delegates)."""
    return {name: {k: m[k] for k in ("inputs", "outputs", "delegates")}
            for name, m in description["methods"].items()}
