"""The ``pqcrypto`` backend: the ``pqcrypto`` wheel (Rust implementations behind PyO3).

The default post-quantum backend when liboqs is absent; a meshlab dependency.
"""

from __future__ import annotations

import importlib
import importlib.util

from meshlab.crypto._catalog import (
    EXTRA_KEMS,
    KEM_ALGORITHMS,
    SIGNATURE_ALGORITHMS,
    SLH_VARIANTS,
    Impl,
    KemSizes,
    SignatureSizes,
    dist_version,
)

__all__ = ["NAME", "impl", "offered", "status", "version"]

NAME = "pqcrypto"

# Canonical name -> pqcrypto submodule (kem or sign).
_NAMES: dict[str, tuple[str, str]] = {
    **{a: ("kem", a.lower().replace("-", "_")) for a in KEM_ALGORITHMS},
    **{a: ("kem", a.lower().replace("-", "_")) for a in EXTRA_KEMS},
    **{a: ("sign", a.lower().replace("-", "_")) for a in SIGNATURE_ALGORITHMS},
    **{a: ("sign", a.lower().replace("-", "_")) for a in SLH_VARIANTS},
}


def status() -> str | None:
    """Why this backend cannot be used here, or ``None`` if it can."""
    if importlib.util.find_spec("pqcrypto") is None:
        return "the pqcrypto wheel is not installed; run `uv sync` (it is a meshlab dependency)"
    return None


def version() -> str:
    """E.g. ``"pqcrypto 1.0.0"``."""
    return f"pqcrypto {dist_version('pqcrypto')}"


def offered() -> tuple[str, ...]:
    """Canonical names of the algorithms this backend offers."""
    return tuple(_NAMES)


def impl(algorithm: str) -> Impl:
    """The raw operations of ``algorithm`` (one of :func:`offered`)."""
    kind, sub = _NAMES[algorithm]
    mod = importlib.import_module(f"pqcrypto.{kind}.{sub}")
    if kind == "kem":
        sizes = KemSizes(
            mod.PUBLIC_KEY_SIZE, mod.SECRET_KEY_SIZE, mod.CIPHERTEXT_SIZE, mod.SHARED_SECRET_SIZE
        )
        return Impl(sizes, mod.keygen, mod.encaps, mod.decaps)
    from pqcrypto import InvalidSignatureError

    def sign(sk: bytes, msg: bytes, ctx: bytes) -> bytes:
        return mod.sign(sk, msg, ctx or None)

    def verify(pk: bytes, msg: bytes, sig: bytes, ctx: bytes) -> bool:
        try:
            mod.verify(pk, msg, sig, ctx or None)
        except (InvalidSignatureError, ValueError):
            return False
        return True

    sizes = SignatureSizes(mod.PUBLIC_KEY_SIZE, mod.SECRET_KEY_SIZE, mod.SIGNATURE_SIZE)
    return Impl(sizes, mod.keygen, sign, verify)
