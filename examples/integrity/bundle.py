"""Reference IO inside the program: an ExecuTorch BundledProgram (``.bpte``) and its check.

``write_bundle`` runs the eager model on the example inputs, bundles inputs and outputs with
the program (``executorch.devtools.bundled_program``) and writes ``<program>.bpte`` plus its
card, whose ``reference`` section holds one tolerance per output: a share of the output's
range set by the recipe (fp32 tight; int8 looser, static activations looser than dynamic), and
never below twice the error the freshly exported program itself showed against eager on the
same inputs (so a correct program passes and a drifting one fails). ``check_reference`` runs the
bundled inputs through the wheel's Python bindings and compares every output with its
tolerance. It loads the program in this process, so it first requires a matching card.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from examples.common import cli
from examples.common.atomic_write import write_bytes_atomic
from examples.integrity.card import digest_bytes, make_card, read_card, write_card
from examples.integrity.verify import read_verified

BUNDLE_SUFFIX = ".bpte"
EXIT_REFERENCE_MISMATCH = 7  # the runner's codes 0-6 are taken (6: memory limit)
METHOD = "forward"

# share of max |expected output| allowed as absolute error, by precision / recipe kind
RANGE_SHARE = {"fp32": 1e-3, "dynamic": 0.02, "static": 0.05}
OBSERVED_FACTOR = 2.0
RTOL = 1e-3


class ReferenceMismatch(cli.CliError):
    """The program's outputs drifted from the bundled reference outputs."""

    exit_code = EXIT_REFERENCE_MISMATCH


def bundle_path(program: str | Path) -> Path:
    return Path(program).with_suffix(BUNDLE_SUFFIX)


def tolerances(expected, precision: str, recipe: str | None, observed=None) -> list[dict]:
    """One ``{"atol", "rtol"}`` per output: a share of the output's range by recipe, at least
    ``OBSERVED_FACTOR`` x the program's own error at export (``observed``, per output)."""
    kind = "fp32" if precision == "fp32" else ("dynamic" if recipe and recipe.startswith("dynamic") else "static")
    result = []
    for i, tensor in enumerate(expected):
        scale = float(tensor.detach().abs().max()) if tensor.numel() else 0.0
        atol = RANGE_SHARE[kind] * max(scale, 1e-6)
        if observed is not None:
            atol = max(atol, OBSERVED_FACTOR * observed[i])
        result.append({"atol": atol, "rtol": RTOL})
    return result


def _observed_errors(program: bytes, test_inputs: list[tuple], expected: list[list]) -> list[float]:
    """Max abs error per output of the program (its checked bytes) against eager."""
    from executorch.runtime import Runtime

    loaded = Runtime.get().load_program(program)  # holds the bytes the method reads: kept alive here
    method = loaded.load_method(METHOD)
    worst = None
    for inputs, wanted in zip(test_inputs, expected):
        outputs = method.execute(list(inputs))
        errors = [float((got.double() - want.double()).abs().max()) if want.numel() else 0.0
                  for got, want in zip(outputs, wanted)]
        worst = errors if worst is None else [max(a, b) for a, b in zip(worst, errors)]
    return worst


def write_bundle(program: str | Path, model, test_inputs: list[tuple], *, path: str | Path | None = None) -> Path:
    """Bundle ``program`` (which has a card) with eager reference outputs for ``test_inputs``."""
    import torch
    from executorch.devtools.bundled_program.config import MethodTestCase, MethodTestSuite
    from executorch.devtools.bundled_program.core import BundledProgram
    from executorch.devtools.bundled_program.serialize import serialize_from_bundled_program_to_flatbuffer

    program = Path(program)
    card = read_card(program)
    if card is None:
        raise cli.CliError(f"{program} has no program card: save it with examples.export.lowering.save_program")
    _, data = read_verified(program, "require")  # run below in this process, from these bytes
    cases, expected = [], []
    with torch.no_grad():
        for inputs in test_inputs:
            out = model(*inputs)
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            expected.append(outs)
            cases.append(MethodTestCase(inputs=list(inputs), expected_outputs=outs))
    observed = _observed_errors(data, test_inputs, expected)
    # BundledProgram reads its program from a path: give it a private copy of the checked bytes
    # (a folder only this user can write), so the bundle holds exactly what was verified.
    with tempfile.TemporaryDirectory(prefix="bundle_") as private:
        checked = Path(private) / program.name
        checked.write_bytes(data)
        bundled = BundledProgram(None, pte_file_path=str(checked),
                                 method_test_suites=[MethodTestSuite(method_name=METHOD, test_cases=cases)])
        data = serialize_from_bundled_program_to_flatbuffer(bundled)
    target = write_bytes_atomic(path or bundle_path(program), data)
    bundle_card = dict(card)
    bundle_card.update(make_card(target, model=card.get("model"), backend=card.get("backend"),
                                 precision=card.get("precision"), recipe=card.get("recipe"),
                                 methods=card.get("methods"), tuned_cpu=card.get("tuned_cpu"),
                                 file_format="bpte", digest=(len(data), digest_bytes(data))))
    bundle_card["reference"] = {"method": METHOD, "test_cases": len(cases), "program": card["program"],
                                "tolerances": tolerances(expected[0], card.get("precision") or "fp32",
                                                         card.get("recipe"), observed),
                                "observed_max_abs_error": observed}
    bundle_card.pop("cache", None)
    write_card(target, bundle_card)
    return target


@dataclass
class OutputCheck:
    case: int
    output: int
    max_abs_error: float
    allowed: float

    @property
    def ok(self) -> bool:
        return self.max_abs_error <= self.allowed


def _test_cases(data: bytes) -> list[tuple[list, list]]:
    """The bundled ``(inputs, expected outputs)`` of each test case, as torch tensors."""
    import torch
    from executorch.devtools.bundled_program.serialize import deserialize_from_flatbuffer_to_bundled_program

    from examples.integrity.describe import DTYPE_NAMES

    def tensors(values):
        result = []
        for value in values:
            t = value.val
            dtype = getattr(torch, DTYPE_NAMES[t.scalar_type.name])
            result.append(torch.frombuffer(bytearray(bytes(t.data)), dtype=dtype).reshape(list(t.sizes)).clone())
        return result

    bundled = deserialize_from_flatbuffer_to_bundled_program(data)
    suite = next(s for s in bundled.method_test_suites if s.method_name == METHOD)
    return [(tensors(case.inputs), tensors(case.expected_outputs)) for case in suite.test_cases]


def check_reference(path: str | Path) -> list[OutputCheck]:
    """Run every bundled test case; :class:`ReferenceMismatch` when an output drifts."""
    import torch
    from executorch.extension.pybindings import portable_lib

    from examples.common.quiet import quiet_stdio

    path = Path(path)
    # Loaded in this process: trusted files only, and only the bytes that were checked.
    verification, data = read_verified(path, "require")
    reference = verification.card.get("reference")
    if not reference:
        raise cli.UsageError(f"{path} is not a bundled program (its card has no reference section)")
    cases = _test_cases(data)
    tolerance = reference["tolerances"]
    checks = []
    with quiet_stdio():
        bundle = portable_lib._load_bundled_program_from_buffer(data)
        module = portable_lib._load_for_executorch_from_bundled_program(bundle)
        for case, (inputs, wanted) in enumerate(cases):
            outputs = module.run_method(METHOD, inputs)
            if len(outputs) != len(wanted):
                raise ReferenceMismatch(f"{path.name}: test case {case} returned {len(outputs)} outputs, "
                                        f"the reference has {len(wanted)}")
            for i, (got, want) in enumerate(zip(outputs, wanted)):
                got = torch.as_tensor(got)
                tol = tolerance[min(i, len(tolerance) - 1)]
                if got.shape != want.shape:
                    raise ReferenceMismatch(f"{path.name}: output {i} of test case {case} has shape "
                                            f"{list(got.shape)}, the reference {list(want.shape)}")
                error = float((got.double() - want.double()).abs().max()) if want.numel() else 0.0
                allowed = tol["atol"] + tol["rtol"] * float(want.double().abs().max() if want.numel() else 0)
                checks.append(OutputCheck(case, i, error, allowed))
    bad = [c for c in checks if not c.ok or c.max_abs_error != c.max_abs_error]  # NaN drifts too
    if bad:
        c = bad[0]
        raise ReferenceMismatch(f"{path.name}: output {c.output} of test case {c.case} drifted from the reference: "
                                f"max abs error {c.max_abs_error:.4g} > allowed {c.allowed:.4g} "
                                f"({len(bad)} of {len(checks)} outputs outside tolerance)")
    return checks
