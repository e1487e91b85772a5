"""A fresh EC key pair for the signing tests (model-signing's elliptic-curve keys, PEM files)."""

from __future__ import annotations

from pathlib import Path


def ec_key_pair(folder: Path) -> tuple[Path, Path]:
    """``(private, public)``: a new SECP256R1 key pair written into ``folder``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "key.pem", folder / "key.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public
