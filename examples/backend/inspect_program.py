"""Print what a program is, for a person: its card and what the program itself says.

    python -m examples.backend.inspect_program mv2_xnnpack_q8.pte
    python -m examples.backend.inspect_program mv2_xnnpack_q8.bpte --check_reference
    python -m examples.backend.inspect_program mv2_xnnpack_q8.pte --json

It verifies the file against its card (``<file>.json``; digest and size), parses the program
with ExecuTorch's flatbuffer reader (nothing is executed) and checks that the card's methods,
inputs and outputs are the program's. ``--check_reference`` runs a bundled program's reference
inputs through the wheel's Python bindings and compares the outputs with the bundled ones.

Exit codes: 0 fine; 1 unreadable file or not a program; 2 usage; 5 the program does not match
its card (or has none, with ``--verify_program=require``); 7 outputs drifted from the reference
(the runner's exit codes, where they overlap, mean the same).
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import flags

from examples.common import cli

flags.DEFINE_bool("check_reference", False, "Run a bundled program's (.bpte) reference inputs and compare outputs.")
flags.DEFINE_enum("verify_program", "auto", ["auto", "require", "off"],
                  "auto: verify when a card is present; require: fail without a valid card; off: do not verify.")
flags.DEFINE_string("verify_key", None, "Check <program>.sig (model-signing) over the program and its card "
                    "with this EC public key (PEM).")
flags.DEFINE_bool("json", False, "Print one JSON object instead of text (--check_reference's result as its "
                  "reference_check).")
flags.DEFINE_bool("verbose", False, "Show tracebacks of unexpected errors.")
FLAGS = flags.FLAGS


def _io(specs: list[dict]) -> str:
    return ", ".join(f"{s['dtype']}{s['shape']}" if "dtype" in s else s.get("kind", "?") for s in specs) or "-"


def program_bytes(path: Path, data: bytes) -> bytes:
    """The program inside: a .bpte holds it as a field of the BundledProgram."""
    if path.suffix != ".bpte":
        return data
    from executorch.devtools.bundled_program.serialize import deserialize_from_flatbuffer_to_bundled_program

    try:
        return bytes(deserialize_from_flatbuffer_to_bundled_program(data).program)
    except Exception as error:  # noqa: BLE001 - a corrupt flatbuffer raises anything
        raise cli.CliError(f"{path} is not a readable bundled program ({type(error).__name__})") from None


def card_mismatches(card: dict, described: dict) -> list[str]:
    """Where the card's methods/IO differ from the program's."""
    from examples.integrity.describe import card_methods

    ours, theirs = card.get("methods") or {}, card_methods(described)
    problems = []
    if sorted(ours) != sorted(theirs):
        problems.append(f"methods {sorted(ours)} in the card, {sorted(theirs)} in the program")
    for name in set(ours) & set(theirs):
        for part in ("inputs", "outputs", "delegates"):
            if ours[name].get(part) != theirs[name].get(part):
                problems.append(f"{name} {part}: card {ours[name].get(part)}, program {theirs[name].get(part)}")
    return problems


def text_report(path: Path, verification, described: dict) -> str:
    card = verification.card
    lines = [f"program: {path} ({path.stat().st_size} bytes)", f"card: {verification.status}"]
    if card:
        digest = card["program"]["digest"]
        lines.append(f"  {digest['algorithm']} {digest['hex']}")
        for key in ("model", "backend", "precision", "recipe", "tuned_cpu", "tuned_runner_flags", "tuned_threads", "created"):
            if card.get(key) is not None:
                lines.append(f"  {key}: {card[key]}")
        versions = ", ".join(f"{k} {v}" for k, v in sorted((card.get("packages") or {}).items()) if v)
        lines.append(f"  packages: {versions}")
        if card.get("reference"):
            ref = card["reference"]
            lines.append(f"  reference IO: {ref['test_cases']} test case(s) of {ref['method']}, tolerances "
                         + ", ".join(f"atol {t['atol']:.3g} rtol {t['rtol']:.3g}" for t in ref["tolerances"]))
    lines.append("the program says:")
    for name, method in described["methods"].items():
        lines.append(f"  method {name}: inputs {_io(method['inputs'])} -> outputs {_io(method['outputs'])}")
        lines.append(f"    delegates: {', '.join(method['delegates']) or 'none'}; "
                     f"operators outside delegates: {', '.join(method['operators']) or 'none'}")
    return "\n".join(lines)


def reference_check(path: Path) -> tuple[dict, cli.CliError | None]:
    """--check_reference: its result for the report, and the error (if any) to raise after the report."""
    from examples.integrity.bundle import check_reference

    try:
        checks = check_reference(path)
    except cli.CliError as error:  # drifted (exit 7), not a bundle (2), no valid card (5)
        return {"ok": False, "error": cli.first_line(error)}, error
    worst = max(checks, key=lambda c: c.max_abs_error / (c.allowed or 1))
    return {"ok": True, "outputs": len(checks), "worst_max_abs_error": worst.max_abs_error,
            "worst_allowed": worst.allowed}, None


def main(argv):
    if FLAGS.check_reference and FLAGS.verify_program == "off":
        raise cli.UsageError("--check_reference always verifies the program against its card: "
                             "it cannot be combined with --verify_program=off")
    path = cli.one_program_argument(argv, "python -m examples.backend.inspect_program X.pte")
    from examples.integrity.verify import ProgramVerificationFailed, verify_program

    verification = verify_program(path, FLAGS.verify_program)
    signed = None
    if FLAGS.verify_key:
        from examples.integrity.signing import verify_signature

        signed = verify_signature(path, FLAGS.verify_key)  # raises: exit 5
    from examples.common.quiet import quiet_stdio, silence_third_party

    silence_third_party(FLAGS.verbose)
    with quiet_stdio(FLAGS.verbose):  # import-time chatter of torchao/executorch
        import executorch.exir  # noqa: F401
    from examples.integrity.describe import NotAProgram, describe_program

    try:
        described = describe_program(program_bytes(path, path.read_bytes()))
    except NotAProgram as error:
        raise cli.CliError(f"{path}: {error}") from None
    problems = card_mismatches(verification.card, described) if verification.trusted else []
    # Not run when the card does not match the program (that error comes first).
    reference, failed = reference_check(path) if FLAGS.check_reference and not problems else (None, None)
    if FLAGS.json:  # one JSON object on stdout, the reference check inside it
        print(json.dumps({"program": str(path), "verification": verification.status, "card": verification.card,
                          "signature": str(signed) if signed else None, "described": described,
                          "card_mismatches": problems, "reference_check": reference}, indent=2, default=str))
    else:
        print(text_report(path, verification, described))
        if signed is not None:
            print(f"signature: {signed.name} verifies the program and its card with {FLAGS.verify_key}")
        if reference and reference["ok"]:
            print(f"reference IO: {reference['outputs']} output(s) within tolerance (worst: max abs error "
                  f"{reference['worst_max_abs_error']:.3g}, allowed {reference['worst_allowed']:.3g})")
    if problems:
        raise ProgramVerificationFailed(f"the card of {path.name} does not match the program: {problems[0]}")
    if failed is not None:
        raise failed
    return 0


if __name__ == "__main__":
    cli.run(main)
