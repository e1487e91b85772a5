"""Signatures over a program and its card, with OpenSSF ``model-signing`` (offline, EC keys).

``sign_program`` writes ``<program>.sig`` (a Sigstore bundle) covering both files;
``verify_signature`` checks it with the public key. The two files are signed as one model
folder (hard links in a temporary folder), so the card cannot be swapped for another one
without breaking the signature. Needs ``model-signing`` (extra ``signing``, which ./setup.sh installs).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from examples.common import cli
from examples.integrity.card import card_path
from examples.integrity.verify import EXIT_VERIFICATION_FAILED

SIGNATURE_SUFFIX = ".sig"


class SignatureInvalid(cli.CliError):
    """The signature does not match the program and its card, or the key."""

    exit_code = EXIT_VERIFICATION_FAILED


def signature_path(program: str | Path) -> Path:
    program = Path(program)
    return program.with_name(program.name + SIGNATURE_SUFFIX)


def _model_signing():
    try:
        import model_signing
    except ImportError:
        raise cli.UsageError("signing needs the model-signing package: pip install 'model-signing==1.1.1'") from None
    return model_signing


@contextmanager
def _signed_folder(program: Path):
    """A folder holding exactly the program and its card (hard links; copies across devices)."""
    card = card_path(program)
    if not card.is_file():
        raise cli.CliError(f"{program} has no program card to sign with it")
    folder = Path(tempfile.mkdtemp(prefix="signed_program_"))
    try:
        for source in (program, card):
            try:
                os.link(source, folder / source.name)
            except OSError:
                shutil.copyfile(source, folder / source.name)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sign_program(program: str | Path, private_key: str | Path) -> Path:
    model_signing = _model_signing()
    program = Path(program)
    target = signature_path(program)
    with _signed_folder(program) as folder:
        try:
            model_signing.signing.Config().use_elliptic_key_signer(private_key=Path(private_key)).sign(folder, target)
        except (ValueError, OSError) as error:
            raise cli.CliError(f"signing {program.name} failed: {cli.first_line(error)}") from None
    return target


def verify_signature(program: str | Path, public_key: str | Path) -> Path:
    model_signing = _model_signing()
    program = Path(program)
    signature = signature_path(program)
    if not signature.is_file():
        raise SignatureInvalid(f"{program} has no signature ({signature.name})")
    with _signed_folder(program) as folder:
        try:
            model_signing.verifying.Config().use_elliptic_key_verifier(public_key=Path(public_key)).verify(
                folder, signature)
        except Exception as error:  # noqa: BLE001 - the library raises several types for a bad signature
            raise SignatureInvalid(f"the signature of {program.name} does not verify: "
                                   f"{cli.first_line(error)[:160]}") from None
    return signature
