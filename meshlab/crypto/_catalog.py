"""Algorithm names, kinds, operations and size types shared by the backends and the schemes.

Private: :mod:`meshlab.crypto.schemes` re-exports the public names. Standard library only,
so every backend module can import it without importing the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

__all__ = [
    "CLASSICAL_KEMS",
    "CLASSICAL_SIGNATURES",
    "EXTRA_KEMS",
    "EXTRA_SIGNATURES",
    "KEM_ALGORITHMS",
    "KINDS",
    "OPERATIONS",
    "SIGNATURE_ALGORITHMS",
    "SLH_VARIANTS",
    "VARIABLE_LENGTH_SIGNATURES",
    "BackendUnavailableError",
    "Impl",
    "KemSizes",
    "SignatureSizes",
    "dist_version",
    "names_of_kind",
]

KEM_ALGORITHMS = ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024")
"""FIPS 203 parameter sets, offered by both post-quantum backends."""

SIGNATURE_ALGORITHMS = ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87")
"""FIPS 204 parameter sets, offered by both post-quantum backends."""

CLASSICAL_KEMS = ("X25519",)
"""Classical key agreement used as a KEM (through ``cryptography``)."""

CLASSICAL_SIGNATURES = ("Ed25519",)
"""Classical signature baseline (through ``cryptography``)."""

SLH_VARIANTS = tuple(
    f"SLH-DSA-{h}-{n}{v}" for h in ("SHA2", "SHAKE") for n in (128, 192, 256) for v in "sf"
)
"""FIPS 205 parameter sets (pure mode)."""

EXTRA_KEMS = ("HQC-128", "HQC-192", "HQC-256")
"""HQC parameter sets (pqcrypto's names; liboqs >= 0.14 calls them HQC-1/3/5)."""
EXTRA_SIGNATURES = (*SLH_VARIANTS, "Falcon-512", "Falcon-1024")

VARIABLE_LENGTH_SIGNATURES = frozenset({"Falcon-512", "Falcon-1024"})
"""Schemes whose signatures are *at most* ``SignatureSizes.signature`` bytes long (Falcon's
compressed signatures: 651-660 B for Falcon-512, 1,264-1,277 B for Falcon-1024, max 752 /
1,462). ML-DSA (FIPS 204), SLH-DSA (FIPS 205) and Ed25519 (RFC 8032) have exactly one length."""

KINDS: dict[str, str] = {
    **{a: "kem" for a in (*KEM_ALGORITHMS, *EXTRA_KEMS, *CLASSICAL_KEMS)},
    **{a: "signature" for a in (*SIGNATURE_ALGORITHMS, *EXTRA_SIGNATURES, *CLASSICAL_SIGNATURES)},
}
"""Canonical algorithm name -> ``"kem"`` or ``"signature"``."""

OPERATIONS = {"kem": ("keygen", "encaps", "decaps"), "signature": ("keygen", "sign", "verify")}
"""The timed operations of each kind."""


def names_of_kind(kind: str) -> tuple[str, ...]:
    """Every known algorithm of ``kind`` (``"kem"`` or ``"signature"``)."""
    return tuple(a for a, k in KINDS.items() if k == kind)


class BackendUnavailableError(ValueError):
    """A backend was asked for explicitly but is not installed on this machine."""


class KemSizes(NamedTuple):
    """Byte sizes of a KEM's objects."""

    public_key: int
    secret_key: int
    ciphertext: int
    shared_secret: int


class SignatureSizes(NamedTuple):
    """Byte sizes of a signature scheme's objects."""

    public_key: int
    secret_key: int
    signature: int


class Impl(NamedTuple):
    """One algorithm in one backend: sizes and the raw operations (inputs pre-validated)."""

    sizes: KemSizes | SignatureSizes
    keygen: Callable[[], tuple[bytes, bytes]]
    op1: Callable  # encaps(pk) | sign(sk, msg, ctx)
    op2: Callable  # decaps(sk, ct) | verify(pk, msg, sig, ctx) -> bool


def dist_version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or ``None``."""
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
