"""Is this program the one its card describes? The check every path runs before a program runs.

Modes (the runner's ``--verify_program``): ``auto`` verifies when a card is present (a program
without one runs, untrusted), ``require`` refuses a program without a valid card, ``off`` skips
the check. A failed check is :class:`ProgramVerificationFailed`: one line, exit code 5
(:data:`EXIT_VERIFICATION_FAILED`, the runner's code for the same failure), before any kernel runs.

Checked: the card parses and is a program card; the file size equals the card's (a truncated
copy fails here without hashing); the BLAKE3 digest of the file equals the card's; when input
files are given, their number and byte sizes match the card's input specs of the method (with
an input manifest: their dtypes and ranks; the card's shapes are upper bounds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from examples.common import cli
from examples.integrity.card import CardError, card_path, file_digest, read_card

MODES = ("auto", "require", "off")
EXIT_VERIFICATION_FAILED = 5

# dtype name -> bytes per element (the names of the card and of the runner's manifests)
DTYPE_SIZES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int8": 1, "uint8": 1,
               "int16": 2, "int32": 4, "int64": 8, "bool": 1}


class ProgramVerificationFailed(cli.CliError):
    """The program does not match its card (or has none under ``require``)."""

    exit_code = EXIT_VERIFICATION_FAILED


@dataclass
class Verification:
    program: Path
    trusted: bool  # a card was present and the program matches it
    mode: str
    card: dict | None = None

    @property
    def status(self) -> str:
        if self.mode == "off":
            return "not checked"
        return "verified" if self.trusted else "untrusted (no card)"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise cli.UsageError(f"--verify_program must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def verify_program(program: str | Path, mode: str = "auto") -> Verification:
    program = Path(program)
    check_mode(mode)
    if mode == "off":
        return Verification(program, False, mode)
    try:
        card = read_card(program)
    except CardError as error:
        raise ProgramVerificationFailed(str(error)) from None
    if card is None:
        if mode == "require":
            raise ProgramVerificationFailed(f"{program} has no program card ({card_path(program).name}) "
                                            "and --verify_program=require")
        return Verification(program, False, mode)
    expected = card["program"]
    try:
        size = program.stat().st_size
    except OSError as error:
        raise ProgramVerificationFailed(f"cannot read {program}: {error.strerror or error}") from None
    if size != expected["size_bytes"]:
        raise ProgramVerificationFailed(
            f"{program} is {size} bytes but its card says {expected['size_bytes']} (truncated or damaged copy)")
    algorithm = expected["digest"].get("algorithm")
    if algorithm != "blake3":
        raise ProgramVerificationFailed(f"the card of {program} uses digest {algorithm!r}; only blake3 is supported")
    _, digest = file_digest(program)
    if digest != expected["digest"]["hex"]:
        raise ProgramVerificationFailed(f"{program} does not match its card: blake3 digest {digest[:16]}... "
                                        f"!= {expected['digest']['hex'][:16]}... (modified or damaged copy)")
    return Verification(program, True, mode, card)


def method_spec(verification: Verification, method: str = "forward") -> dict | None:
    if not verification.trusted:
        return None
    return (verification.card.get("methods") or {}).get(method)


def spec_nbytes(spec: dict) -> int | None:
    size = DTYPE_SIZES.get(spec.get("dtype"))
    return None if size is None else size * math.prod(spec.get("shape", []))


def check_inputs(verification: Verification, inputs: Sequence[Path], method: str = "forward",
                 shapes: Sequence[tuple[str, Sequence[int]]] | None = None) -> None:
    """Input files must match the card's input specs in number and byte size.

    ``shapes``: each file's ``(dtype, shape)`` from the input manifest that goes with them. The
    card's shapes are upper bounds (a program exported with ``--max_seq_len`` accepts shorter
    sequences), so manifest inputs are held to the card's dtype and rank only; their sizes are
    the runner's to check against the method's bounds, which it reports in one line."""
    spec = method_spec(verification, method)
    if spec is None or not inputs:
        return
    wanted = spec.get("inputs", [])
    if len(wanted) != len(inputs):
        raise ProgramVerificationFailed(f"{verification.program.name}: its card lists {len(wanted)} inputs of "
                                        f"{method!r}, {len(inputs)} input files given")
    for i, (want, path) in enumerate(zip(wanted, inputs)):
        if shapes is not None:
            dtype, shape = shapes[i]
            if dtype != want.get("dtype") or len(shape) != len(want.get("shape", [])):
                raise ProgramVerificationFailed(
                    f"input {i} ({path}) is {dtype} {list(shape)}; the card says {want.get('dtype')} "
                    f"{want.get('shape')} (at most)")
            continue
        nbytes = spec_nbytes(want)
        if nbytes is not None and Path(path).stat().st_size != nbytes:
            raise ProgramVerificationFailed(
                f"input {i} ({path}) is {Path(path).stat().st_size} bytes; the card says "
                f"{want['dtype']} {want['shape']} ({nbytes} bytes)")


def check_outputs(verification: Verification, outputs: Sequence, method: str = "forward") -> None:
    """Outputs the runner returned (numpy arrays) must have the card's dtypes and shapes."""
    spec = method_spec(verification, method)
    if spec is None:
        return
    wanted = [w for w in spec.get("outputs", []) if "dtype" in w]
    if len(wanted) != len(outputs):
        raise ProgramVerificationFailed(f"{verification.program.name} returned {len(outputs)} outputs; "
                                        f"its card lists {len(wanted)}")
    for i, (want, array) in enumerate(zip(wanted, outputs)):
        got = (str(array.dtype).replace("bool_", "bool"), list(array.shape))
        if got != (want["dtype"], list(want["shape"])):
            raise ProgramVerificationFailed(f"output {i} of {verification.program.name} is {got[0]} {got[1]}; "
                                            f"its card says {want['dtype']} {want['shape']}")
