"""The ``cryptography`` backend: OpenSSL through the ``cryptography`` package.

Offers the classical baseline X25519 (as a Diffie-Hellman KEM: the "ciphertext" is the
ephemeral public key, the shared secret the raw X25519 output) and Ed25519; plus, when its
OpenSSL build offers them (cryptography >= 46 on OpenSSL >= 3.5), ML-KEM and ML-DSA, a
third independent implementation used for cross-checks. Its ML-KEM / ML-DSA secret keys
are the FIPS 203/204 seeds (64 / 32 bytes), not the expanded keys.
"""

from __future__ import annotations

import importlib
import importlib.util

from meshlab.crypto._catalog import (
    CLASSICAL_KEMS,
    CLASSICAL_SIGNATURES,
    Impl,
    KemSizes,
    SignatureSizes,
    dist_version,
)

__all__ = ["NAME", "impl", "offered", "status", "version"]

NAME = "cryptography"

_CLASSES = {
    "ML-KEM-512": ("mlkem", "MLKEM512"),
    "ML-KEM-768": ("mlkem", "MLKEM768"),
    "ML-KEM-1024": ("mlkem", "MLKEM1024"),
    "ML-DSA-44": ("mldsa", "MLDSA44"),
    "ML-DSA-65": ("mldsa", "MLDSA65"),
    "ML-DSA-87": ("mldsa", "MLDSA87"),
}
_PQ: tuple[str, ...] | None = None


def status() -> str | None:
    """Why this backend cannot be used here, or ``None`` if it can."""
    if importlib.util.find_spec("cryptography") is None:
        return "cryptography is not installed; run `uv sync` (it is a meshlab dependency)"
    return None


def version() -> str:
    """E.g. ``"cryptography 46.0.3 (OpenSSL 3.5.4 30 Sep 2025)"``."""
    from cryptography.hazmat.backends.openssl import backend as openssl

    return f"cryptography {dist_version('cryptography')} ({openssl.openssl_version_text()})"


def _post_quantum() -> tuple[str, ...]:
    """ML-KEM/ML-DSA parameter sets that this OpenSSL build offers (probed once)."""
    global _PQ
    if _PQ is None:
        found = []
        for alg, (modname, cls) in _CLASSES.items():
            try:
                mod = importlib.import_module(
                    f"cryptography.hazmat.primitives.asymmetric.{modname}"
                )
                getattr(mod, f"{cls}PrivateKey").generate()
            except Exception:  # absent class, UnsupportedAlgorithm, old OpenSSL
                continue
            found.append(alg)
        _PQ = tuple(found)
    return _PQ


def offered() -> tuple[str, ...]:
    """X25519, Ed25519 and the ML-KEM / ML-DSA sets this OpenSSL build offers."""
    return (*CLASSICAL_KEMS, *CLASSICAL_SIGNATURES, *_post_quantum())


def _post_quantum_impl(algorithm: str) -> Impl:
    from cryptography.exceptions import InvalidSignature

    modname, cls = _CLASSES[algorithm]
    mod = importlib.import_module(f"cryptography.hazmat.primitives.asymmetric.{modname}")
    priv_cls, pub_cls = getattr(mod, f"{cls}PrivateKey"), getattr(mod, f"{cls}PublicKey")
    probe = priv_cls.generate()
    pk_len, sk_len = len(probe.public_key().public_bytes_raw()), len(probe.private_bytes_raw())

    def keygen() -> tuple[bytes, bytes]:
        sk = priv_cls.generate()
        return sk.public_key().public_bytes_raw(), sk.private_bytes_raw()

    if modname == "mlkem":
        ss, ct = probe.public_key().encapsulate()

        def encaps(pk: bytes) -> tuple[bytes, bytes]:
            shared, ciphertext = pub_cls.from_public_bytes(pk).encapsulate()
            return ciphertext, shared

        def decaps(sk: bytes, ct: bytes) -> bytes:
            return priv_cls.from_seed_bytes(sk).decapsulate(ct)

        return Impl(KemSizes(pk_len, sk_len, len(ct), len(ss)), keygen, encaps, decaps)

    sig_len = len(probe.sign(b""))

    def sign(sk: bytes, msg: bytes, ctx: bytes) -> bytes:
        return priv_cls.from_seed_bytes(sk).sign(msg, ctx or None)

    def verify(pk: bytes, msg: bytes, sig: bytes, ctx: bytes) -> bool:
        try:
            pub_cls.from_public_bytes(pk).verify(sig, msg, ctx or None)
        except (InvalidSignature, ValueError):
            return False
        return True

    return Impl(SignatureSizes(pk_len, sk_len, sig_len), keygen, sign, verify)


def impl(algorithm: str) -> Impl:
    """The raw operations of ``algorithm`` (one of :func:`offered`)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

    if algorithm in _CLASSES:
        return _post_quantum_impl(algorithm)
    if algorithm == "X25519":

        def keygen() -> tuple[bytes, bytes]:
            sk = x25519.X25519PrivateKey.generate()
            return sk.public_key().public_bytes_raw(), sk.private_bytes_raw()

        def encaps(pk: bytes) -> tuple[bytes, bytes]:
            eph = x25519.X25519PrivateKey.generate()
            ss = eph.exchange(x25519.X25519PublicKey.from_public_bytes(pk))
            return eph.public_key().public_bytes_raw(), ss

        def decaps(sk: bytes, ct: bytes) -> bytes:
            priv = x25519.X25519PrivateKey.from_private_bytes(sk)
            return priv.exchange(x25519.X25519PublicKey.from_public_bytes(ct))

        return Impl(KemSizes(32, 32, 32, 32), keygen, encaps, decaps)

    def keygen_sig() -> tuple[bytes, bytes]:
        sk = ed25519.Ed25519PrivateKey.generate()
        return sk.public_key().public_bytes_raw(), sk.private_bytes_raw()

    def sign(sk: bytes, msg: bytes, ctx: bytes) -> bytes:
        return ed25519.Ed25519PrivateKey.from_private_bytes(sk).sign(msg)

    def verify(pk: bytes, msg: bytes, sig: bytes, ctx: bytes) -> bool:
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        except (InvalidSignature, ValueError):
            return False
        return True

    return Impl(SignatureSizes(32, 32, 64), keygen_sig, sign, verify)
