"""Post-quantum and classical KEMs and signature schemes behind one small API.

Example::

    from meshlab.crypto import schemes

    kem = schemes.kem("ML-KEM-768")
    pk, sk = kem.keygen()
    ct, ss = kem.encaps(pk)
    assert kem.decaps(sk, ct) == ss

    dsa = schemes.signature_scheme("ML-DSA-44")
    pk, sk = dsa.keygen()
    assert dsa.verify(pk, b"beacon", dsa.sign(sk, b"beacon"))

Without a backend named, post-quantum algorithms use
:func:`~meshlab.crypto.backends.default_backend` (liboqs when present, else pqcrypto) and
the classical ones (X25519, Ed25519) use ``cryptography``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Any

import numpy as np

from meshlab.crypto import backends
from meshlab.crypto._catalog import (
    CLASSICAL_KEMS,
    CLASSICAL_SIGNATURES,
    KEM_ALGORITHMS,
    KINDS,
    SIGNATURE_ALGORITHMS,
    VARIABLE_LENGTH_SIGNATURES,
    Impl,
    KemSizes,
    SignatureSizes,
    names_of_kind,
)

__all__ = [
    "CLASSICAL_KEMS",
    "CLASSICAL_SIGNATURES",
    "KEM_ALGORITHMS",
    "SIGNATURE_ALGORITHMS",
    "Kem",
    "KemSizes",
    "SignatureScheme",
    "SignatureSizes",
    "algorithms",
    "kem",
    "kind",
    "signature_scheme",
]

_MAX_CONTEXT_BYTES = 255  # FIPS 204 / FIPS 205: ctx is at most 255 bytes
_CONTEXT_FREE = frozenset({*CLASSICAL_SIGNATURES, "Falcon-512", "Falcon-1024"})
_ML_KEM_K = {"ML-KEM-512": 2, "ML-KEM-768": 3, "ML-KEM-1024": 4}
_ML_KEM_Q = 3329


@functools.lru_cache(maxsize=16)
def _ml_kem_ek_reduced(k: int, ek: bytes) -> bool:
    """FIPS 203 section 7.2 modulus check: every 12-bit coefficient of ``ek`` is < q."""
    b = np.frombuffer(ek, dtype=np.uint8, count=384 * k).reshape(-1, 3).astype(np.uint16)
    lo = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    hi = (b[:, 1] >> 4) | (b[:, 2] << 4)
    return bool(lo.max() < _ML_KEM_Q and hi.max() < _ML_KEM_Q)


# ML-DSA (k, l, eta) per parameter set (FIPS 204 Table 1).
_ML_DSA = {"ML-DSA-44": (4, 4, 2), "ML-DSA-65": (6, 5, 4), "ML-DSA-87": (8, 7, 2)}


@functools.lru_cache(maxsize=16)
def _ml_dsa_sk_in_range(algorithm: str, sk: bytes) -> bool:
    """FIPS 204 skDecode: every coefficient of s1 and s2 lies in [-eta, eta].

    Coefficients are stored as ``eta - c`` in 3 bits (eta = 2) or 4 bits (eta = 4) after
    rho, K and tr (128 bytes); a stored value above ``2 * eta`` is out of range.
    """
    k, ell, eta = _ML_DSA[algorithm]
    bits = 3 if eta == 2 else 4
    n_bytes = (k + ell) * 256 * bits // 8
    raw = np.unpackbits(np.frombuffer(sk, np.uint8, n_bytes, offset=128), bitorder="little")
    vals = raw.reshape(-1, bits) @ (1 << np.arange(bits))
    return bool(vals.max() <= 2 * eta)


@functools.lru_cache(maxsize=16)
def _ml_kem_dk_consistent(k: int, dk: bytes) -> bool:
    """FIPS 203 section 7.3 hash check: ``H(ek) `` stored in an expanded ``dk`` matches."""
    ek = dk[384 * k : 768 * k + 32]
    return hashlib.sha3_256(ek).digest() == dk[768 * k + 32 : 768 * k + 64]


def kind(algorithm: str) -> str | None:
    """``"kem"``, ``"signature"``, or ``None`` for a name meshlab does not know."""
    return KINDS.get(algorithm) if isinstance(algorithm, str) else None


def algorithms(backend: str | None = None) -> dict[str, tuple[str, ...]]:
    """Lists the algorithms a backend offers.

    Args:
        backend: one of :data:`~meshlab.crypto.backends.BACKENDS`; ``None`` means
            :func:`~meshlab.crypto.backends.default_backend`.

    Returns:
        ``{"kem": (...), "signature": (...)}`` with canonical names (FIPS names, e.g.
        ``"ML-KEM-768"``, ``"SLH-DSA-SHA2-128f"``).
    """
    return backends.offered(backends.default_backend() if backend is None else backend)


def _resolve(algorithm: str, backend: str | None, want: str) -> tuple[str, Impl]:
    if kind(algorithm) != want:
        raise ValueError(
            f"algorithm={algorithm!r} is not a known {want}; valid: {names_of_kind(want)}"
        )
    if backend is None:
        classical = algorithm in (*CLASSICAL_KEMS, *CLASSICAL_SIGNATURES)
        backend = "cryptography" if classical else backends.default_backend()
    on_offer = backends.offered(backend)[want]
    if algorithm not in on_offer:
        raise ValueError(
            f"algorithm={algorithm!r} is not offered by backend={backend!r}; it offers: {on_offer}"
        )
    return backend, backends.implementation(backend, algorithm)


def _as_bytes(name: str, value: Any, size: int | None = None) -> bytes:
    if type(value) is not bytes:  # fast path first: this runs on every operation
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
        value = bytes(value)
    if size is not None and len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")
    return value


@dataclasses.dataclass(frozen=True)
class Kem:
    """A key-encapsulation mechanism bound to one backend. Build with :func:`kem`.

    Attributes:
        algorithm: canonical name, e.g. ``"ML-KEM-768"``.
        backend: ``"liboqs"``, ``"pqcrypto"`` or ``"cryptography"``.
        sizes: byte sizes of public key, secret key, ciphertext and shared secret.
    """

    algorithm: str
    backend: str
    sizes: KemSizes
    _impl: Impl = dataclasses.field(repr=False, compare=False)

    def keygen(self) -> tuple[bytes, bytes]:
        """Returns a fresh ``(public_key, secret_key)``."""
        return self._impl.keygen()

    def encaps(self, public_key: bytes) -> tuple[bytes, bytes]:
        """Returns ``(ciphertext, shared_secret)`` encapsulated to ``public_key``.

        Raises:
            ValueError: wrong length, or (ML-KEM) a key failing the FIPS 203 modulus check
                (a coefficient >= 3329).
        """
        pk = _as_bytes("public_key", public_key, self.sizes.public_key)
        k = _ML_KEM_K.get(self.algorithm)
        if k is not None and not _ml_kem_ek_reduced(k, pk):
            raise ValueError(
                f"public_key is not a valid {self.algorithm} encapsulation key: a coefficient "
                f"is not reduced mod {_ML_KEM_Q} (FIPS 203 modulus check)"
            )
        return self._impl.op1(pk)

    def decaps(self, secret_key: bytes, ciphertext: bytes) -> bytes:
        """Returns the shared secret in ``ciphertext``.

        ML-KEM rejects implicitly: a tampered ciphertext of the right length yields a
        pseudo-random secret that differs from the sender's (no exception).

        Raises:
            ValueError: wrong length, or (ML-KEM, expanded keys) a secret key failing the
                FIPS 203 hash check (``H(ek)`` inside the key does not match).
        """
        sk = _as_bytes("secret_key", secret_key, self.sizes.secret_key)
        ct = _as_bytes("ciphertext", ciphertext, self.sizes.ciphertext)
        k = _ML_KEM_K.get(self.algorithm)
        if k is not None and len(sk) == 768 * k + 96 and not _ml_kem_dk_consistent(k, sk):
            raise ValueError(
                f"secret_key is not a valid {self.algorithm} decapsulation key: the stored "
                "hash of the encapsulation key does not match (FIPS 203 hash check)"
            )
        return self._impl.op2(sk, ct)


@dataclasses.dataclass(frozen=True)
class SignatureScheme:
    """A signature scheme bound to one backend. Build with :func:`signature_scheme`.

    Messages may be empty (FIPS 204/205 and RFC 8032 sign any byte string); the only input
    the standards bound is the context string (at most 255 bytes; Ed25519 takes none).

    Attributes:
        algorithm: canonical name, e.g. ``"ML-DSA-44"``.
        backend: ``"liboqs"``, ``"pqcrypto"`` or ``"cryptography"``.
        sizes: byte sizes of public key, secret key and signature.
    """

    algorithm: str
    backend: str
    sizes: SignatureSizes
    _impl: Impl = dataclasses.field(repr=False, compare=False)

    @property
    def variable_length(self) -> bool:
        """Whether signatures may be shorter than ``sizes.signature`` (Falcon)."""
        return self.algorithm in VARIABLE_LENGTH_SIGNATURES

    def _context(self, context: Any) -> bytes:
        ctx = _as_bytes("context", context)
        if len(ctx) > _MAX_CONTEXT_BYTES:
            raise ValueError(
                f"context must be at most {_MAX_CONTEXT_BYTES} bytes (FIPS 204/205), got {len(ctx)}"
            )
        if ctx and self.algorithm in _CONTEXT_FREE:
            raise ValueError(
                f"context must be empty for {self.algorithm} (it has no context string), "
                f"got {len(ctx)} bytes"
            )
        return ctx

    def keygen(self) -> tuple[bytes, bytes]:
        """Returns a fresh ``(public_key, secret_key)``."""
        return self._impl.keygen()

    def sign(self, secret_key: bytes, message: bytes, context: bytes = b"") -> bytes:
        """Signs ``message`` (pure mode, optional FIPS 204/205 context string).

        Raises:
            ValueError: a secret key of the wrong length or (ML-DSA, expanded keys) with an
                s1/s2 coefficient outside [-eta, eta]; a context over 255 bytes.
        """
        sk = _as_bytes("secret_key", secret_key, self.sizes.secret_key)
        msg = _as_bytes("message", message)
        ctx = self._context(context)
        if (
            self.algorithm in _ML_DSA
            and len(sk) > 32
            and not _ml_dsa_sk_in_range(self.algorithm, sk)
        ):
            raise ValueError(
                f"secret_key is not a valid {self.algorithm} private key: an s1/s2 "
                "coefficient is outside [-eta, eta] (FIPS 204 skDecode)"
            )
        return self._impl.op1(sk, msg, ctx)

    def verify(
        self, public_key: bytes, message: bytes, signature: bytes, context: bytes = b""
    ) -> bool:
        """Returns whether ``signature`` is valid; a wrong-length signature is invalid.

        ``sizes.signature`` is the exact length for ML-DSA, SLH-DSA and Ed25519 and the
        maximum for Falcon (compressed, variable-length signatures).

        Raises:
            ValueError: a public key of the wrong length, or a context over 255 bytes.
        """
        pk = _as_bytes("public_key", public_key, self.sizes.public_key)
        msg = _as_bytes("message", message)
        sig = _as_bytes("signature", signature)
        ctx = self._context(context)
        if self.variable_length:
            if not 0 < len(sig) <= self.sizes.signature:
                return False
        elif len(sig) != self.sizes.signature:
            return False
        return bool(self._impl.op2(pk, msg, sig, ctx))


def kem(algorithm: str, backend: str | None = None) -> Kem:
    """Returns a :class:`Kem`.

    Args:
        algorithm: e.g. ``"ML-KEM-768"`` or ``"X25519"``.
        backend: ``None`` picks liboqs when present, else pqcrypto (cryptography for X25519).

    Raises:
        ValueError: unknown algorithm (the message lists the valid ones), or one the
            backend does not offer.
        BackendUnavailableError: the named backend is not installed (says how to install).
    """
    backend, impl = _resolve(algorithm, backend, "kem")
    return Kem(algorithm, backend, impl.sizes, impl)


def signature_scheme(algorithm: str, backend: str | None = None) -> SignatureScheme:
    """Returns a :class:`SignatureScheme` (see :func:`kem` for the arguments and errors)."""
    backend, impl = _resolve(algorithm, backend, "signature")
    return SignatureScheme(algorithm, backend, impl.sizes, impl)
