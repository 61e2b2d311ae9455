"""Post-quantum KEMs and signatures behind one small API, their measured costs, and the
mapping of those costs onto the mesh simulation's beacon parameters.

Backends (all real implementations):

- ``"liboqs"``: liboqs through liboqs-python (``oqs.KeyEncapsulation``/``oqs.Signature``),
  used only when the liboqs shared library is found. ``import oqs`` on a machine without
  the library starts a download-and-build of liboqs, so meshlab locates the library first
  (:func:`meshlab.liboqs_library_path`) and never imports ``oqs`` otherwise.
- ``"pqcrypto"``: the ``pqcrypto`` wheel (Rust implementations behind PyO3), the default
  when liboqs is absent.
- ``"cryptography"``: the classical baseline X25519 (as a Diffie-Hellman KEM: the
  "ciphertext" is the ephemeral public key, the shared secret the raw X25519 output) and
  Ed25519; plus, when its OpenSSL build offers them (cryptography >= 46 on OpenSSL >= 3.5),
  ML-KEM and ML-DSA, a third independent implementation used for cross-checks. Its secret
  keys are the FIPS 203/204 seeds (64 / 32 bytes), not the expanded keys.

Example::

    kem = meshlab.kem("ML-KEM-768")
    pk, sk = kem.keygen()
    ct, ss = kem.encaps(pk)
    assert kem.decaps(sk, ct) == ss

    dsa = meshlab.signature_scheme("ML-DSA-44")
    pk, sk = dsa.keygen()
    assert dsa.verify(pk, b"beacon", dsa.sign(sk, b"beacon"))

Cost profiles (:class:`CostProfile`) hold per-operation latency distributions and sizes,
either measured here (:func:`benchmark` then :meth:`CostProfile.from_benchmark`) or from
the reference table shipped in ``meshlab/crypto/data/pqc_costs.csv``
(:func:`reference_profile`). :func:`beacon_crypto_params` turns a profile and a scheme into
the mesh core's beacon parameters (``beacon_bytes``, ``verify_mean_s``, ``verify_sigma``
with ``service_dist="lognormal"``, ``handshake_s``).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import importlib.metadata
import importlib.resources
import importlib.util
import io
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from meshlab.core.registry import register_provenance
from meshlab.reporting.provenance import cpu_model, liboqs_library_path

__all__ = [
    "BACKENDS",
    "CLASSICAL_KEMS",
    "CLASSICAL_SIGNATURES",
    "KEM_ALGORITHMS",
    "SERVICE_DIST",
    "SIGNATURE_ALGORITHMS",
    "BackendUnavailableError",
    "BeaconCryptoParams",
    "CostProfile",
    "Kem",
    "KemSizes",
    "OpCost",
    "SignatureScheme",
    "SignatureSizes",
    "algorithms",
    "apply_beacon_crypto",
    "available_backends",
    "backend_description",
    "backend_version",
    "beacon_crypto_params",
    "benchmark",
    "default_backend",
    "kem",
    "reference_profile",
    "reference_table",
    "signature_scheme",
]

BACKENDS = ("liboqs", "pqcrypto", "cryptography")
"""Backend names, in order of preference for post-quantum algorithms."""

KEM_ALGORITHMS = ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024")
"""FIPS 203 parameter sets, offered by both post-quantum backends."""

SIGNATURE_ALGORITHMS = ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87")
"""FIPS 204 parameter sets, offered by both post-quantum backends."""

CLASSICAL_KEMS = ("X25519",)
CLASSICAL_SIGNATURES = ("Ed25519",)

SERVICE_DIST = "lognormal"
"""The mesh core's ``service_dist`` that :func:`beacon_crypto_params` targets."""

_Z90 = 1.2815515655446004  # standard-normal 0.9 quantile: ln(p90/p50) = sigma * z90

_SLH_VARIANTS = tuple(
    f"SLH-DSA-{h}-{n}{v}" for h in ("SHA2", "SHAKE") for n in (128, 192, 256) for v in "sf"
)
_EXTRA_KEMS = ("HQC-128", "HQC-192", "HQC-256")
_EXTRA_SIGNATURES = (*_SLH_VARIANTS, "Falcon-512", "Falcon-1024")

# Canonical name -> pqcrypto submodule (kem or sign).
_PQCRYPTO_NAMES: dict[str, tuple[str, str]] = {
    **{a: ("kem", a.lower().replace("-", "_")) for a in KEM_ALGORITHMS},
    **{a: ("kem", a.lower().replace("-", "_")) for a in _EXTRA_KEMS},
    **{a: ("sign", a.lower().replace("-", "_")) for a in SIGNATURE_ALGORITHMS},
    **{a: ("sign", a.lower().replace("-", "_")) for a in _SLH_VARIANTS},
}
# Canonical name -> liboqs mechanism name (liboqs >= 0.14 naming).
_LIBOQS_NAMES: dict[str, str] = {
    **{a: a for a in (*KEM_ALGORITHMS, *_EXTRA_KEMS, *SIGNATURE_ALGORITHMS)},
    **{a: "SLH_DSA_PURE_" + a[len("SLH-DSA-") :].replace("-", "_").upper() for a in _SLH_VARIANTS},
    "Falcon-512": "Falcon-512",
    "Falcon-1024": "Falcon-1024",
}
_KINDS: dict[str, str] = {
    **{a: "kem" for a in (*KEM_ALGORITHMS, *_EXTRA_KEMS, *CLASSICAL_KEMS)},
    **{a: "signature" for a in (*SIGNATURE_ALGORITHMS, *_EXTRA_SIGNATURES, *CLASSICAL_SIGNATURES)},
}
_OPERATIONS = {"kem": ("keygen", "encaps", "decaps"), "signature": ("keygen", "sign", "verify")}
_MAX_CONTEXT_BYTES = 255  # FIPS 204 / FIPS 205: ctx is at most 255 bytes


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


# --------------------------------------------------------------------------- backends


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _liboqs_status() -> str | None:
    """Returns why liboqs cannot be used, or ``None`` if it can (never imports ``oqs``)."""
    path = liboqs_library_path()
    if path is None:
        return (
            "the liboqs shared library was not found ($OQS_INSTALL_PATH/lib or the system "
            "loader); build liboqs as a shared library (cmake -DBUILD_SHARED_LIBS=ON) and "
            "set OQS_INSTALL_PATH, then `uv sync --extra liboqs`"
        )
    if importlib.util.find_spec("oqs") is None:
        return (
            f"liboqs was found ({path}) but liboqs-python is not installed; "
            "run `uv sync --extra liboqs` (or `pip install liboqs-python`)"
        )
    try:  # a library that does not load would make `import oqs` try to build one
        ctypes.CDLL(path)
    except OSError as e:
        return f"the liboqs shared library at {path} does not load: {e}"
    return None


_OQS_MODULE: Any = None


def _import_oqs() -> Any:
    """Imports liboqs-python once, only after the library was found and loaded.

    liboqs-python prints to stdout and warns on a liboqs/liboqs-python version mismatch at
    import time; both are kept out of the caller's stdout and warning filters.
    """
    global _OQS_MODULE
    if _OQS_MODULE is not None:
        return _OQS_MODULE
    reason = _liboqs_status()
    if reason is not None:
        raise BackendUnavailableError(f"backend 'liboqs' is not available: {reason}")
    path = liboqs_library_path()
    if "OQS_INSTALL_PATH" not in os.environ and path and os.path.isabs(path):
        # Point liboqs-python at the library meshlab found, so it never looks elsewhere.
        os.environ["OQS_INSTALL_PATH"] = os.path.dirname(os.path.dirname(path))
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import oqs  # guarded: only after the library was found (see module docstring)
    # Its module logger may hold a StreamHandler bound to stdout (or to `sink`, if it was
    # created inside the redirect): drop those so later calls stay quiet too.
    for name in ("oqs", "oqs.oqs"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if getattr(handler, "stream", None) in (sys.stdout, sys.__stdout__, sink):
                logger.removeHandler(handler)
    _OQS_MODULE = oqs
    return oqs


class _Impl(NamedTuple):
    """One algorithm in one backend: sizes and the raw operations (inputs pre-validated)."""

    sizes: KemSizes | SignatureSizes
    keygen: Callable[[], tuple[bytes, bytes]]
    op1: Callable  # encaps(pk) | sign(sk, msg, ctx)
    op2: Callable  # decaps(sk, ct) | verify(pk, msg, sig, ctx) -> bool


def _pqcrypto_impl(algorithm: str) -> _Impl:
    import importlib

    kind, sub = _PQCRYPTO_NAMES[algorithm]
    mod = importlib.import_module(f"pqcrypto.{kind}.{sub}")
    if kind == "kem":
        sizes = KemSizes(
            mod.PUBLIC_KEY_SIZE, mod.SECRET_KEY_SIZE, mod.CIPHERTEXT_SIZE, mod.SHARED_SECRET_SIZE
        )
        return _Impl(sizes, mod.keygen, mod.encaps, mod.decaps)
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
    return _Impl(sizes, mod.keygen, sign, verify)


def _liboqs_impl(algorithm: str) -> _Impl:
    oqs = _import_oqs()
    name = _LIBOQS_NAMES[algorithm]
    if _KINDS[algorithm] == "kem":
        with oqs.KeyEncapsulation(name) as probe:
            d = probe.details
        sizes = KemSizes(
            d["length_public_key"],
            d["length_secret_key"],
            d["length_ciphertext"],
            d["length_shared_secret"],
        )

        def keygen() -> tuple[bytes, bytes]:
            with oqs.KeyEncapsulation(name) as k:
                pk = k.generate_keypair()
                return bytes(pk), bytes(k.export_secret_key())

        def encaps(pk: bytes) -> tuple[bytes, bytes]:
            with oqs.KeyEncapsulation(name) as k:
                ct, ss = k.encap_secret(pk)
                return bytes(ct), bytes(ss)

        def decaps(sk: bytes, ct: bytes) -> bytes:
            with oqs.KeyEncapsulation(name, secret_key=sk) as k:
                return bytes(k.decap_secret(ct))

        return _Impl(sizes, keygen, encaps, decaps)

    with oqs.Signature(name) as probe:
        d = probe.details
    sizes = SignatureSizes(d["length_public_key"], d["length_secret_key"], d["length_signature"])

    def keygen_sig() -> tuple[bytes, bytes]:
        with oqs.Signature(name) as s:
            pk = s.generate_keypair()
            return bytes(pk), bytes(s.export_secret_key())

    def sign(sk: bytes, msg: bytes, ctx: bytes) -> bytes:
        with oqs.Signature(name, secret_key=sk) as s:
            return bytes(s.sign_with_ctx_str(msg, ctx) if ctx else s.sign(msg))

    def verify(pk: bytes, msg: bytes, sig: bytes, ctx: bytes) -> bool:
        with oqs.Signature(name) as s:
            if ctx:
                return bool(s.verify_with_ctx_str(msg, sig, ctx, pk))
            return bool(s.verify(msg, sig, pk))

    return _Impl(sizes, keygen_sig, sign, verify)


_OPENSSL_CLASSES = {
    "ML-KEM-512": ("mlkem", "MLKEM512"),
    "ML-KEM-768": ("mlkem", "MLKEM768"),
    "ML-KEM-1024": ("mlkem", "MLKEM1024"),
    "ML-DSA-44": ("mldsa", "MLDSA44"),
    "ML-DSA-65": ("mldsa", "MLDSA65"),
    "ML-DSA-87": ("mldsa", "MLDSA87"),
}
_OPENSSL_PQ: tuple[str, ...] | None = None


def _cryptography_pq() -> tuple[str, ...]:
    """ML-KEM/ML-DSA parameter sets that `cryptography`'s OpenSSL build offers (cached)."""
    global _OPENSSL_PQ
    if _OPENSSL_PQ is None:
        import importlib

        found = []
        for alg, (modname, cls) in _OPENSSL_CLASSES.items():
            try:
                mod = importlib.import_module(
                    f"cryptography.hazmat.primitives.asymmetric.{modname}"
                )
                getattr(mod, f"{cls}PrivateKey").generate()
            except Exception:  # absent class, UnsupportedAlgorithm, old OpenSSL
                continue
            found.append(alg)
        _OPENSSL_PQ = tuple(found)
    return _OPENSSL_PQ


def _openssl_pq_impl(algorithm: str) -> _Impl:
    """ML-KEM / ML-DSA through `cryptography` (OpenSSL). Secret keys are FIPS seeds."""
    import importlib

    from cryptography.exceptions import InvalidSignature

    modname, cls = _OPENSSL_CLASSES[algorithm]
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

        return _Impl(KemSizes(pk_len, sk_len, len(ct), len(ss)), keygen, encaps, decaps)

    sig_len = len(probe.sign(b""))

    def sign(sk: bytes, msg: bytes, ctx: bytes) -> bytes:
        return priv_cls.from_seed_bytes(sk).sign(msg, ctx or None)

    def verify(pk: bytes, msg: bytes, sig: bytes, ctx: bytes) -> bool:
        try:
            pub_cls.from_public_bytes(pk).verify(sig, msg, ctx or None)
        except (InvalidSignature, ValueError):
            return False
        return True

    return _Impl(SignatureSizes(pk_len, sk_len, sig_len), keygen, sign, verify)


def _cryptography_impl(algorithm: str) -> _Impl:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

    if algorithm in _OPENSSL_CLASSES:
        return _openssl_pq_impl(algorithm)
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

        return _Impl(KemSizes(32, 32, 32, 32), keygen, encaps, decaps)

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

    return _Impl(SignatureSizes(32, 32, 64), keygen_sig, sign, verify)


def available_backends() -> tuple[str, ...]:
    """Returns the backends usable on this machine, in :data:`BACKENDS` order.

    Checking for liboqs never imports ``oqs`` unless its shared library is present.
    """
    out = []
    if _liboqs_status() is None:
        out.append("liboqs")
    if importlib.util.find_spec("pqcrypto") is not None:
        out.append("pqcrypto")
    if importlib.util.find_spec("cryptography") is not None:
        out.append("cryptography")
    return tuple(out)


def default_backend() -> str:
    """Returns the post-quantum backend used when none is named: liboqs if present."""
    avail = available_backends()
    for b in ("liboqs", "pqcrypto"):
        if b in avail:
            return b
    raise BackendUnavailableError(
        "no post-quantum backend is available: install the `pqcrypto` wheel "
        "(a meshlab dependency) or liboqs + `uv sync --extra liboqs`"
    )


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not a known backend; valid: {BACKENDS}")
    if backend not in available_backends():
        if backend == "liboqs":
            raise BackendUnavailableError(f"backend 'liboqs' is not available: {_liboqs_status()}")
        raise BackendUnavailableError(
            f"backend {backend!r} is not installed; run `uv sync` (it is a meshlab dependency)"
        )


def backend_version(backend: str) -> str:
    """Returns a version string for an available backend, e.g. ``"pqcrypto 1.0.0"``."""
    _check_backend(backend)
    if backend == "liboqs":
        oqs = _import_oqs()
        return f"liboqs {oqs.oqs_version()} (liboqs-python {_dist_version('liboqs-python')})"
    if backend == "cryptography":
        from cryptography.hazmat.backends.openssl import backend as openssl

        return f"cryptography {_dist_version('cryptography')} ({openssl.openssl_version_text()})"
    return f"{backend} {_dist_version(backend)}"


def backend_description() -> str:
    """Returns the default post-quantum backend and its version, or ``"none"``.

    Used by :func:`meshlab.provenance`; imports ``oqs`` only when liboqs is present.
    """
    try:
        return backend_version(default_backend())
    except BackendUnavailableError:
        return "none"


def algorithms(backend: str | None = None) -> dict[str, tuple[str, ...]]:
    """Lists the algorithms a backend offers.

    Args:
        backend: one of :data:`BACKENDS`; ``None`` means :func:`default_backend`.

    Returns:
        ``{"kem": (...), "signature": (...)}`` with canonical names (FIPS names, e.g.
        ``"ML-KEM-768"``, ``"SLH-DSA-SHA2-128f"``).
    """
    backend = default_backend() if backend is None else backend
    _check_backend(backend)
    if backend == "cryptography":
        pq = _cryptography_pq()
        return {
            "kem": (*CLASSICAL_KEMS, *(a for a in pq if _KINDS[a] == "kem")),
            "signature": (*CLASSICAL_SIGNATURES, *(a for a in pq if _KINDS[a] == "signature")),
        }
    if backend == "pqcrypto":
        names = tuple(_PQCRYPTO_NAMES)
    else:
        oqs = _import_oqs()
        enabled = set(oqs.get_enabled_kem_mechanisms()) | set(oqs.get_enabled_sig_mechanisms())
        names = tuple(a for a, n in _LIBOQS_NAMES.items() if n in enabled)
    return {
        "kem": tuple(a for a in names if _KINDS[a] == "kem"),
        "signature": tuple(a for a in names if _KINDS[a] == "signature"),
    }


def _offered(backend: str) -> set[str]:
    listed = algorithms(backend)
    return set(listed["kem"]) | set(listed["signature"])


def _all_names() -> tuple[str, ...]:
    return tuple(_KINDS)


def _resolve(algorithm: str, backend: str | None, kind: str) -> tuple[str, _Impl]:
    if not isinstance(algorithm, str) or algorithm not in _KINDS or _KINDS[algorithm] != kind:
        valid = tuple(a for a in _all_names() if _KINDS[a] == kind)
        raise ValueError(f"algorithm={algorithm!r} is not a known {kind}; valid: {valid}")
    if backend is None:
        backend = "cryptography" if algorithm in (*CLASSICAL_KEMS, *CLASSICAL_SIGNATURES) else None
        backend = backend or default_backend()
    _check_backend(backend)
    offered = algorithms(backend)[kind]
    if algorithm not in offered:
        raise ValueError(
            f"algorithm={algorithm!r} is not offered by backend={backend!r}; it offers: {offered}"
        )
    make = {"liboqs": _liboqs_impl, "pqcrypto": _pqcrypto_impl, "cryptography": _cryptography_impl}
    return backend, make[backend](algorithm)


def _check_bytes(name: str, value: Any, size: int | None = None) -> bytes:
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
    _impl: _Impl = dataclasses.field(repr=False, compare=False)

    def keygen(self) -> tuple[bytes, bytes]:
        """Returns a fresh ``(public_key, secret_key)``."""
        return self._impl.keygen()

    def encaps(self, public_key: bytes) -> tuple[bytes, bytes]:
        """Returns ``(ciphertext, shared_secret)`` encapsulated to ``public_key``."""
        pk = _check_bytes("public_key", public_key, self.sizes.public_key)
        return self._impl.op1(pk)

    def decaps(self, secret_key: bytes, ciphertext: bytes) -> bytes:
        """Returns the shared secret in ``ciphertext``.

        ML-KEM rejects implicitly: a tampered ciphertext of the right length yields a
        pseudo-random secret that differs from the sender's (no exception).
        """
        sk = _check_bytes("secret_key", secret_key, self.sizes.secret_key)
        ct = _check_bytes("ciphertext", ciphertext, self.sizes.ciphertext)
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
    _impl: _Impl = dataclasses.field(repr=False, compare=False)

    def _context(self, context: Any) -> bytes:
        ctx = _check_bytes("context", context)
        if len(ctx) > _MAX_CONTEXT_BYTES:
            raise ValueError(
                f"context must be at most {_MAX_CONTEXT_BYTES} bytes (FIPS 204/205), got {len(ctx)}"
            )
        if ctx and self.algorithm in CLASSICAL_SIGNATURES:
            raise ValueError(f"context must be empty for {self.algorithm}, got {len(ctx)} bytes")
        return ctx

    def keygen(self) -> tuple[bytes, bytes]:
        """Returns a fresh ``(public_key, secret_key)``."""
        return self._impl.keygen()

    def sign(self, secret_key: bytes, message: bytes, context: bytes = b"") -> bytes:
        """Signs ``message`` (pure mode, optional FIPS 204/205 context string)."""
        sk = _check_bytes("secret_key", secret_key, self.sizes.secret_key)
        msg = _check_bytes("message", message)
        return self._impl.op1(sk, msg, self._context(context))

    def verify(
        self, public_key: bytes, message: bytes, signature: bytes, context: bytes = b""
    ) -> bool:
        """Returns whether ``signature`` is valid; a wrong-length signature is invalid."""
        pk = _check_bytes("public_key", public_key, self.sizes.public_key)
        msg = _check_bytes("message", message)
        sig = _check_bytes("signature", signature)
        ctx = self._context(context)
        if len(sig) != self.sizes.signature:
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


# --------------------------------------------------------------------------- benchmark


def _time_ops(fn: Callable[[int], Any], n_ops: int, warmup: int, budget_s: float | None):
    for i in range(warmup):
        fn(i)
    times = np.empty(n_ops, dtype=np.float64)
    start = time.perf_counter()
    done = 0
    for i in range(n_ops):
        t0 = time.perf_counter_ns()
        fn(i)
        times[i] = (time.perf_counter_ns() - t0) * 1e-3
        done = i + 1
        if budget_s is not None and done >= 10 and time.perf_counter() - start > budget_s:
            break
    return times[:done]


def _bench_kem(k: Kem, n_ops: int, warmup: int, budget: float | None) -> dict:
    pk, sk = k.keygen()
    cts: list[bytes] = []
    out = {"keygen": _time_ops(lambda i: k.keygen(), n_ops, warmup, budget)}
    out["encaps"] = _time_ops(lambda i: cts.append(k.encaps(pk)[0]), n_ops, warmup, budget)
    out["decaps"] = _time_ops(lambda i: k.decaps(sk, cts[i % len(cts)]), n_ops, warmup, budget)
    return out


def _bench_signature(
    d: SignatureScheme, n_ops: int, warmup: int, budget: float | None, message_bytes: int
) -> dict:
    pk, sk = d.keygen()
    msgs = [os.urandom(message_bytes) for _ in range(n_ops + warmup)]
    sigs: list[bytes] = []  # sigs[j] signs msgs[j]
    ok: list[bool] = []
    out = {"keygen": _time_ops(lambda i: d.keygen(), n_ops, warmup, budget)}
    out["sign"] = _time_ops(
        lambda i: sigs.append(d.sign(sk, msgs[len(sigs)])), n_ops, warmup, budget
    )
    out["verify"] = _time_ops(
        lambda i: ok.append(d.verify(pk, msgs[i % len(sigs)], sigs[i % len(sigs)])),
        n_ops,
        warmup,
        budget,
    )
    if not all(ok):
        raise RuntimeError(f"{d.algorithm} on {d.backend}: a fresh signature did not verify")
    return out


def benchmark(
    algorithms: Sequence[str] | None = None,
    *,
    backends: Sequence[str] | None = None,
    n_ops: int = 200,
    warmup: int = 5,
    time_budget_s: float | None = None,
    message_bytes: int = 64,
    repeats: int = 1,
) -> Any:
    """Times every operation of every algorithm on every backend that offers it.

    Each operation is timed individually (``perf_counter_ns``) after ``warmup`` untimed
    calls; signing uses a fresh random message per call, verification and decapsulation
    use the objects made in the timed runs. ML-DSA signing is a rejection loop, so its
    latency is a distribution (see ``p10_us``..``p99_us``), not a constant. With
    ``repeats > 1`` every statistic is the median over the runs of the per-run statistic
    (the reference table's method), which damps bursts of CPU contention on a shared
    machine; ``load_avg_1m`` records the machine's load when the benchmark started.

    Args:
        algorithms: canonical names; default: ML-KEM-512/768/1024, ML-DSA-44/65/87,
            X25519 and Ed25519.
        backends: default: every available backend.
        n_ops: timed operations per (algorithm, operation) (>= 10).
        warmup: untimed calls first (>= 0).
        time_budget_s: optional cap per (algorithm, operation): timing stops after this
            many seconds (but not before 10 operations); ``ops_per_run`` says how many ran.
        message_bytes: size of the signed messages (>= 0).
        repeats: independent runs per (algorithm, operation) (>= 1).

    Returns:
        A polars DataFrame, one row per (backend, algorithm, operation), with columns
        ``implementation, version, algorithm, kind, operation, ops_per_run, mean_us,
        p10_us, median_us, p90_us, p99_us, max_us, public_key_bytes, secret_key_bytes,
        ciphertext_bytes, signature_bytes, shared_secret_bytes, cpu_model, load_avg_1m,
        source`` (the reference table's columns plus provenance; ``source="measured"``;
        ``ops_per_run`` is per run).
    """
    import polars as pl

    if algorithms is None:
        algorithms = (
            *KEM_ALGORITHMS,
            *SIGNATURE_ALGORITHMS,
            *CLASSICAL_KEMS,
            *CLASSICAL_SIGNATURES,
        )
    if isinstance(algorithms, str):
        raise TypeError(f"algorithms must be a sequence of names, got the string {algorithms!r}")
    for a in algorithms:
        if a not in _KINDS:
            raise ValueError(
                f"algorithms contains {a!r}, not a known algorithm; valid: {_all_names()}"
            )
    if backends is None:
        backends = available_backends()
    for b in backends:
        _check_backend(b)
    if isinstance(n_ops, bool) or not isinstance(n_ops, int) or n_ops < 10:
        raise ValueError(f"n_ops must be an int >= 10, got {n_ops!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
    if time_budget_s is not None and not time_budget_s > 0:
        raise ValueError(f"time_budget_s must be > 0 or None, got {time_budget_s!r}")
    if not isinstance(message_bytes, int) or message_bytes < 0:
        raise ValueError(f"message_bytes must be an int >= 0, got {message_bytes!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")

    cpu = cpu_model()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    rows = []
    for backend in backends:
        offered = _offered(backend)
        version = backend_version(backend)
        for alg in algorithms:
            if alg not in offered:
                continue
            kind = _KINDS[alg]
            if kind == "kem":
                k = kem(alg, backend)
                runs = [_bench_kem(k, n_ops, warmup, time_budget_s) for _ in range(repeats)]
                s = k.sizes
                sizes = (s.public_key, s.secret_key, s.ciphertext, None, s.shared_secret)
            else:
                d = signature_scheme(alg, backend)
                runs = [
                    _bench_signature(d, n_ops, warmup, time_budget_s, message_bytes)
                    for _ in range(repeats)
                ]
                s = d.sizes
                sizes = (s.public_key, s.secret_key, None, s.signature, None)
            for op in _OPERATIONS[kind]:
                per_run = np.array(
                    [
                        [
                            *np.percentile(r[op], [10, 50, 90, 99]),
                            r[op].mean(),
                            r[op].max(),
                            r[op].size,
                        ]
                        for r in runs
                    ]
                )
                p10, p50, p90, p99, mean, mx, n_done = np.median(per_run, axis=0)
                rows.append(
                    {
                        "implementation": backend,
                        "version": version,
                        "algorithm": alg,
                        "kind": kind,
                        "operation": op,
                        "ops_per_run": int(n_done),
                        "mean_us": float(mean),
                        "p10_us": float(p10),
                        "median_us": float(p50),
                        "p90_us": float(p90),
                        "p99_us": float(p99),
                        "max_us": float(mx),
                        "public_key_bytes": sizes[0],
                        "secret_key_bytes": sizes[1],
                        "ciphertext_bytes": sizes[2],
                        "signature_bytes": sizes[3],
                        "shared_secret_bytes": sizes[4],
                        "cpu_model": cpu,
                        "load_avg_1m": float(load),
                        "source": "measured",
                    }
                )
    return pl.DataFrame(rows, schema=_bench_schema())


def _bench_schema() -> dict:
    import polars as pl

    f, i, s = pl.Float64, pl.Int64, pl.String
    return {
        "implementation": s,
        "version": s,
        "algorithm": s,
        "kind": s,
        "operation": s,
        "ops_per_run": i,
        "mean_us": f,
        "p10_us": f,
        "median_us": f,
        "p90_us": f,
        "p99_us": f,
        "max_us": f,
        "public_key_bytes": i,
        "secret_key_bytes": i,
        "ciphertext_bytes": i,
        "signature_bytes": i,
        "shared_secret_bytes": i,
        "cpu_model": s,
        "load_avg_1m": f,
        "source": s,
    }


# --------------------------------------------------------------------------- cost profiles

# The reference README's classical contrast (medians only), measured through
# `cryptography` on the reference machine. X25519 as a KEM: encaps = keygen + derive,
# decaps = derive.
_REFERENCE_CLASSICAL = (
    ("X25519", "kem", "keygen", 31.9, (32, 32, 32, None, 32)),
    ("X25519", "kem", "encaps", 31.9 + 30.3, (32, 32, 32, None, 32)),
    ("X25519", "kem", "decaps", 30.3, (32, 32, 32, None, 32)),
    ("Ed25519", "signature", "keygen", 31.3, (32, 32, None, 64, None)),
    ("Ed25519", "signature", "sign", 31.6, (32, 32, None, 64, None)),
    ("Ed25519", "signature", "verify", 102.1, (32, 32, None, 64, None)),
)
_REFERENCE_SOURCE = (
    "reference: meshlab/crypto/data/pqc_costs.csv (copy of shared/reference/pqc_costs.csv; "
    "2-vCPU x86-64 CI-class machine, Python 3.11)"
)


def reference_table() -> Any:
    """Returns the shipped reference table (``meshlab/crypto/data/pqc_costs.csv``) as polars.

    Columns as in the CSV: implementation, version, algorithm, operation, median_us,
    p10_us, p90_us, ops_per_run and the byte sizes.
    """
    import polars as pl

    data = importlib.resources.files("meshlab").joinpath("crypto", "data", "pqc_costs.csv").read_bytes()
    return pl.read_csv(io.BytesIO(data))


class OpCost(NamedTuple):
    """Latency of one operation, microseconds. ``p10_us``/``p90_us``/``p99_us`` may be NaN."""

    median_us: float
    p10_us: float
    p90_us: float
    p99_us: float = math.nan
    mean_us: float = math.nan

    def lognormal(self) -> tuple[float, float]:
        """Fits a lognormal from the median and p90.

        Returns:
            ``(mean_s, sigma)``: ``sigma = ln(p90/p50) / z_0.9`` (0 when p90 is unknown or
            not above the median) and ``mean_s = median * exp(sigma**2 / 2)`` in seconds.
        """
        med = self.median_us
        p90 = self.p90_us
        sigma = math.log(p90 / med) / _Z90 if (math.isfinite(p90) and p90 > med) else 0.0
        return med * 1e-6 * math.exp(0.5 * sigma * sigma), sigma


@dataclasses.dataclass(frozen=True, eq=False)
class CostProfile:
    """Per-operation latency distributions and byte sizes for a set of algorithms.

    Build with :meth:`from_reference` / :func:`reference_profile` (shipped table) or
    :meth:`from_benchmark` (a :func:`benchmark` result measured here). ``source`` says
    which; every report prints it next to its numbers.

    Attributes:
        name: short label, e.g. ``"reference:pqcrypto"`` or ``"measured:pqcrypto"``.
        source: where the numbers come from (file or machine, versions).
        table: polars DataFrame, one row per (algorithm, operation) with ``median_us``,
            ``p10_us``, ``p90_us`` (and ``p99_us``/``mean_us`` when measured) and sizes.
    """

    name: str
    source: str
    table: Any

    @classmethod
    def from_reference(cls, implementation: str = "pqcrypto") -> CostProfile:
        """Profile from the shipped reference table plus its classical contrast rows.

        Args:
            implementation: ``"pqcrypto"`` or ``"liboqs"`` (rows of the reference table).
        """
        import polars as pl

        ref = reference_table()
        impls = tuple(sorted(set(ref["implementation"])))
        if implementation not in impls:
            raise ValueError(
                f"implementation={implementation!r} is not in the reference table; valid: {impls}"
            )
        pq = ref.filter(pl.col("implementation") == implementation).with_columns(
            pl.lit(None, pl.Float64).alias("p99_us"), pl.lit(None, pl.Float64).alias("mean_us")
        )
        classical = pl.DataFrame(
            [
                {
                    "implementation": "cryptography",
                    "version": "cryptography (reference README)",
                    "algorithm": a,
                    "operation": op,
                    "median_us": med,
                    "p10_us": None,
                    "p90_us": None,
                    "ops_per_run": None,
                    "public_key_bytes": sz[0],
                    "secret_key_bytes": sz[1],
                    "ciphertext_bytes": sz[2],
                    "signature_bytes": sz[3],
                    "shared_secret_bytes": sz[4],
                    "p99_us": None,
                    "mean_us": None,
                }
                for a, _, op, med, sz in _REFERENCE_CLASSICAL
            ],
            schema=pq.schema,
        )
        version = pq["version"][0]
        return cls(
            name=f"reference:{implementation}",
            source=f"{_REFERENCE_SOURCE}; {version}",
            table=pl.concat([pq, classical]),
        )

    @classmethod
    def from_benchmark(cls, df: Any, implementation: str | None = None) -> CostProfile:
        """Profile from a :func:`benchmark` DataFrame measured on this machine.

        Args:
            df: the benchmark result.
            implementation: which backend's rows to use when ``df`` has several;
                default: the first non-``cryptography`` one. The classical X25519 /
                Ed25519 rows (``cryptography``) are always kept.
        """
        import polars as pl

        impls = [i for i in dict.fromkeys(df["implementation"].to_list()) if i != "cryptography"]
        if implementation is None:
            if not impls:
                raise ValueError("df has no post-quantum rows (only 'cryptography')")
            implementation = impls[0]
        if implementation not in impls:
            raise ValueError(f"implementation={implementation!r} not in df; it has: {impls}")
        classical = (*CLASSICAL_KEMS, *CLASSICAL_SIGNATURES)
        rows = df.filter(
            (pl.col("implementation") == implementation)
            | ((pl.col("implementation") == "cryptography") & pl.col("algorithm").is_in(classical))
        )
        version = rows.filter(pl.col("implementation") == implementation)["version"][0]
        cpu = rows["cpu_model"][0] if "cpu_model" in rows.columns else "unknown CPU"
        load = f", load avg {rows['load_avg_1m'][0]:.1f}" if "load_avg_1m" in rows.columns else ""
        return cls(
            name=f"measured:{implementation}",
            source=f"measured here: {version} on {cpu} ({os.cpu_count()} CPUs{load})",
            table=rows,
        )

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Algorithms in this profile, in table order."""
        return tuple(dict.fromkeys(self.table["algorithm"].to_list()))

    def _row(self, algorithm: str, operation: str) -> dict:
        import polars as pl

        sel = self.table.filter(
            (pl.col("algorithm") == algorithm) & (pl.col("operation") == operation)
        )
        if sel.height == 0:
            if algorithm not in self.algorithms:
                raise ValueError(
                    f"algorithm={algorithm!r} is not in profile {self.name!r}; "
                    f"it has: {self.algorithms}"
                )
            raise ValueError(
                f"operation={operation!r} is not in profile {self.name!r} for {algorithm}; "
                f"valid: {_OPERATIONS[_KINDS.get(algorithm, 'kem')]}"
            )
        return sel.row(0, named=True)

    def latency(self, algorithm: str, operation: str) -> OpCost:
        """Returns the latency distribution of one operation (microseconds)."""
        r = self._row(algorithm, operation)

        def f(key: str) -> float:
            v = r.get(key)
            return math.nan if v is None else float(v)

        return OpCost(f("median_us"), f("p10_us"), f("p90_us"), f("p99_us"), f("mean_us"))

    def sizes(self, algorithm: str) -> KemSizes | SignatureSizes:
        """Returns the byte sizes of ``algorithm``."""
        kind = _KINDS.get(algorithm)
        r = self._row(algorithm, "keygen")
        if kind == "kem":
            return KemSizes(
                int(r["public_key_bytes"]),
                int(r["secret_key_bytes"]),
                int(r["ciphertext_bytes"]),
                int(r["shared_secret_bytes"]),
            )
        return SignatureSizes(
            int(r["public_key_bytes"]), int(r["secret_key_bytes"]), int(r["signature_bytes"])
        )

    def mean_s(self, algorithm: str, operation: str) -> float:
        """Mean latency in seconds: measured mean if present, else the lognormal fit's."""
        c = self.latency(algorithm, operation)
        return c.mean_us * 1e-6 if math.isfinite(c.mean_us) else c.lognormal()[0]


def reference_profile(implementation: str = "pqcrypto") -> CostProfile:
    """Shorthand for :meth:`CostProfile.from_reference`."""
    return CostProfile.from_reference(implementation)


# --------------------------------------------------------------------------- into the mesh


class BeaconCryptoParams(NamedTuple):
    """What a signature scheme (+ KEM) costs a beacon, in the mesh core's units.

    The first four fields are the mesh contract's beacon parameters; the rest are extra
    context for reports (not consumed by the mesh core).

    Attributes:
        beacon_bytes: bytes on the wire per beacon (payload + signature [+ key/cert]).
        verify_mean_s: mean receiver verification time (lognormal mean).
        verify_sigma: lognormal log-sd of the verification time.
        handshake_s: KEM handshake time added when a link comes (back) up.
        sign_mean_s: mean signing time (sender CPU per beacon).
        handshake_bytes: bytes exchanged by one handshake.
        profile: the profile's name (which numbers produced this).
    """

    beacon_bytes: float
    verify_mean_s: float
    verify_sigma: float
    handshake_s: float
    sign_mean_s: float
    handshake_bytes: float
    profile: str


_CARRY = ("none", "public_key", "certificate")


def beacon_crypto_params(
    profile: CostProfile,
    signature: str,
    kem: str = "ML-KEM-768",
    *,
    payload_bytes: int | None = None,
    carry: str = "none",
    certificate_bytes: int | None = None,
    authenticated_handshake: bool = True,
) -> BeaconCryptoParams:
    """Maps a cost profile and a scheme onto the mesh core's beacon parameters.

    - ``beacon_bytes = payload + signature`` (+ the signer's public key if
      ``carry="public_key"``, + an X.509-SVID if ``carry="certificate"``).
    - ``verify_mean_s``, ``verify_sigma``: lognormal fitted to the profile's verify median
      and p90 (``sigma = ln(p90/p50)/1.2816``, ``mean = median*exp(sigma**2/2)``); use
      ``service_dist="lognormal"`` (:data:`SERVICE_DIST`) in the mesh config.
    - ``handshake_s``: one KEM handshake on the critical path, keygen + encaps + decaps
      (means), plus, if ``authenticated_handshake``, each side signing its handshake
      message and the other verifying it (2 x (sign + verify)).

    Args:
        profile: where the numbers come from.
        signature: beacon signature scheme, e.g. ``"ML-DSA-44"`` or ``"Ed25519"``.
        kem: link-establishment KEM, e.g. ``"ML-KEM-768"`` or ``"X25519"``.
        payload_bytes: signed beacon payload; default :data:`meshlab.BEACON_PAYLOAD_BYTES`.
        carry: ``"none"``, ``"public_key"`` or ``"certificate"``.
        certificate_bytes: certificate size when ``carry="certificate"``; default: an
            X.509-SVID estimate for the scheme (:func:`meshlab.svid_certificate_bytes`).
        authenticated_handshake: add the handshake's signatures (see above).

    Returns:
        A :class:`BeaconCryptoParams`.
    """
    if not isinstance(profile, CostProfile):
        raise TypeError(f"profile must be a CostProfile, got {type(profile).__name__}")
    if _KINDS.get(signature) != "signature":
        valid = tuple(a for a in _all_names() if _KINDS[a] == "signature")
        raise ValueError(f"signature={signature!r} is not a signature scheme; valid: {valid}")
    if _KINDS.get(kem) != "kem":
        valid = tuple(a for a in _all_names() if _KINDS[a] == "kem")
        raise ValueError(f"kem={kem!r} is not a KEM; valid: {valid}")
    if carry not in _CARRY:
        raise ValueError(f"carry={carry!r} is not valid; valid: {_CARRY}")
    if payload_bytes is None:
        from meshlab.crypto.wire import BEACON_PAYLOAD_BYTES

        payload_bytes = BEACON_PAYLOAD_BYTES
    if not isinstance(payload_bytes, int) or payload_bytes < 0:
        raise ValueError(f"payload_bytes must be an int >= 0, got {payload_bytes!r}")
    sig_sizes = profile.sizes(signature)
    kem_sizes = profile.sizes(kem)
    extra = 0
    if carry == "public_key":
        extra = sig_sizes.public_key
    elif carry == "certificate":
        if certificate_bytes is None:
            from meshlab.identity.x509 import svid_certificate_bytes

            certificate_bytes = svid_certificate_bytes(sig_sizes)
        if not isinstance(certificate_bytes, int) or certificate_bytes <= 0:
            raise ValueError(f"certificate_bytes must be an int > 0, got {certificate_bytes!r}")
        extra = certificate_bytes
    verify_mean_s, verify_sigma = profile.latency(signature, "verify").lognormal()
    sign_mean_s = profile.latency(signature, "sign").lognormal()[0]
    hs = sum(profile.latency(kem, op).lognormal()[0] for op in ("keygen", "encaps", "decaps"))
    hs_bytes = kem_sizes.public_key + kem_sizes.ciphertext
    if authenticated_handshake:
        hs += 2 * (sign_mean_s + verify_mean_s)
        hs_bytes += 2 * sig_sizes.signature
    return BeaconCryptoParams(
        beacon_bytes=float(payload_bytes + sig_sizes.signature + extra),
        verify_mean_s=float(verify_mean_s),
        verify_sigma=float(verify_sigma),
        handshake_s=float(hs),
        sign_mean_s=float(sign_mean_s),
        handshake_bytes=float(hs_bytes),
        profile=profile.name,
    )


_MESH_FIELDS = ("beacon_bytes", "verify_mean_s", "verify_sigma", "handshake_s")


def apply_beacon_crypto(params: Any, crypto: BeaconCryptoParams) -> Any:
    """Returns the mesh core's beacon params with the four crypto fields replaced.

    Works for a NamedTuple / dataclass params pytree (``_replace`` /
    ``dataclasses.replace``) or a mapping. Values keep each field's dtype when the field
    is an array (float32 in the mesh core).
    """
    values = {f: getattr(crypto, f) for f in _MESH_FIELDS}

    def cast(old: Any, new: float) -> Any:
        dtype = getattr(old, "dtype", None)
        if dtype is None:
            return new
        import jax.numpy as jnp

        return jnp.full(jnp.shape(old), new, dtype=dtype)

    if isinstance(params, Mapping):
        missing = [f for f in _MESH_FIELDS if f not in params]
        if missing:
            raise ValueError(f"params lacks the beacon crypto fields {missing}")
        return {**params, **{k: cast(params[k], v) for k, v in values.items()}}
    missing = [f for f in _MESH_FIELDS if not hasattr(params, f)]
    if missing:
        raise ValueError(
            f"params ({type(params).__name__}) lacks the beacon crypto fields {missing}"
        )
    new = {k: cast(getattr(params, k), v) for k, v in values.items()}
    if hasattr(params, "_replace"):
        return params._replace(**new)
    if dataclasses.is_dataclass(params):
        return dataclasses.replace(params, **new)
    raise TypeError(
        f"params must be a NamedTuple, dataclass or mapping, got {type(params).__name__}"
    )


register_provenance("pqc_backend", backend_description)
