"""Is this program the one its card describes? The check every path runs before a program runs.

Modes (the runner's ``--verify_program``): ``auto`` verifies when a card is present (a program
without one runs, untrusted, after one ``warning:`` line on stderr), ``require`` refuses a program without a valid card, ``off`` skips
the check. A failed check is :class:`ProgramVerificationFailed`: one line, exit code 5
(:data:`EXIT_VERIFICATION_FAILED`, the runner's code for the same failure), before any kernel runs.

Checked: the card parses and is a program card; the file size equals the card's (a truncated
copy fails here without hashing); the BLAKE3 digest of the file equals the card's. This is the
check for programs loaded in this process (:func:`read_verified`: the bytes checked are the
bytes loaded); the native runner makes the same check itself
(``--verify_program``, runtime/executor_runner/program_verification.cpp) on the bytes it then
loads, and also compares the card's method inputs/outputs and CPU class with the program.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from examples.common import cli
from examples.integrity.card import CardError, card_path, digest_bytes, file_digest, read_card

MODES = ("auto", "require", "off")
EXIT_VERIFICATION_FAILED = 5
_warned: set[Path] = set()  # programs already named in an `auto` warning by this process


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
    """Check the file against its card (hashed through mmap, no copy). For a program this process
    then loads, use :func:`read_verified`: a check of the file says nothing of a later read."""
    return _verify(Path(program), mode, None)[0]


def read_verified(program: str | Path, mode: str = "require") -> tuple[Verification, bytes]:
    """The program's bytes, read once, and their verification: load *these* bytes
    (``Runtime.load_program(data)``), never the path again, so a rewrite of the file after the
    check cannot reach the runtime."""
    program = Path(program)
    try:
        data = program.read_bytes()
    except OSError as error:
        raise ProgramVerificationFailed(f"cannot read {program}: {error.strerror or error}") from None
    return _verify(program, mode, data)


def _verify(program: Path, mode: str, data: bytes | None) -> tuple[Verification, bytes | None]:
    check_mode(mode)
    if mode == "off":
        return Verification(program, False, mode), data
    try:
        card = read_card(program)
    except CardError as error:
        raise ProgramVerificationFailed(str(error)) from None
    if card is None:
        if mode == "require":
            raise ProgramVerificationFailed(f"{program} has no program card ({card_path(program).name}) "
                                            "and --verify_program=require")
        _warn_unchecked(program)
        return Verification(program, False, mode), data
    expected = card["program"]
    try:
        size = len(data) if data is not None else program.stat().st_size
    except OSError as error:
        raise ProgramVerificationFailed(f"cannot read {program}: {error.strerror or error}") from None
    if size != expected["size_bytes"]:
        raise ProgramVerificationFailed(
            f"{program} is {size} bytes but its card says {expected['size_bytes']} (truncated or damaged copy)")
    algorithm = expected["digest"].get("algorithm")
    if algorithm != "blake3":
        raise ProgramVerificationFailed(f"the card of {program} uses digest {algorithm!r}; only blake3 is supported")
    digest = digest_bytes(data) if data is not None else file_digest(program)[1]
    if digest != expected["digest"]["hex"]:
        raise ProgramVerificationFailed(f"{program} does not match its card: blake3 digest {digest[:16]}... "
                                        f"!= {expected['digest']['hex'][:16]}... (modified or damaged copy)")
    _check_compiled_for_this_cpu(card, program)
    return Verification(program, True, mode, card), data


def _warn_unchecked(program: Path) -> None:
    """``auto`` without a card: one `warning:` line, as the native runner prints, once per
    program and process (a path that checks a file and then reads it says it once)."""
    key = program.resolve()
    if key in _warned:
        return
    _warned.add(key)
    print(f"warning: {program} has no program card ({card_path(program).name}): running it unchecked; "
          "--verify_program=require refuses such programs", file=sys.stderr, flush=True)


def _check_compiled_for_this_cpu(card: dict, program: Path) -> None:
    """Ahead-of-time compiled code (OpenVINO's blob) runs only on the CPU class it was made for."""
    if not ((card.get("extra") or {}).get("compiled_for") or {}).get("cpu_class"):
        return  # reading the CPU's flags takes a while: only when the card asks
    from examples.integrity.card import WrongCpu, check_runs_here
    from examples.quantization.cpu_caps import detect

    try:
        check_runs_here(card, program, detect().cpu_class)
    except WrongCpu as error:
        raise ProgramVerificationFailed(str(error)) from None
