"""Backend discovery: which crypto implementations this machine has, and their versions.

Backends (all real implementations), in order of preference for post-quantum algorithms:

- ``"liboqs"`` (:mod:`~meshlab.crypto.backend_liboqs`): liboqs through liboqs-python, used
  only when the liboqs shared library is found (``oqs`` is never imported otherwise).
- ``"pqcrypto"`` (:mod:`~meshlab.crypto.backend_pqcrypto`): the ``pqcrypto`` wheel, the
  default when liboqs is absent.
- ``"cryptography"`` (:mod:`~meshlab.crypto.backend_openssl`): OpenSSL; the classical
  X25519 / Ed25519 baseline and, on OpenSSL >= 3.5, ML-KEM / ML-DSA for cross-checks.

Importing this module registers the ``pqc_backend`` provenance field
(:func:`backend_description`) in :mod:`meshlab.core.registry`.
"""

from __future__ import annotations

from types import ModuleType

from meshlab.core.registry import register_provenance
from meshlab.crypto import backend_liboqs, backend_openssl, backend_pqcrypto
from meshlab.crypto._catalog import KINDS, BackendUnavailableError, Impl
from meshlab.crypto.backend_liboqs import library_path as liboqs_library_path

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "available_backends",
    "backend_description",
    "backend_version",
    "check_backend",
    "default_backend",
    "implementation",
    "inventory",
    "liboqs_library_path",
    "offered",
]

_MODULES: dict[str, ModuleType] = {
    m.NAME: m for m in (backend_liboqs, backend_pqcrypto, backend_openssl)
}
BACKENDS = tuple(_MODULES)
"""Backend names, in order of preference for post-quantum algorithms."""


def available_backends() -> tuple[str, ...]:
    """Returns the backends usable on this machine, in :data:`BACKENDS` order.

    Checking for liboqs never imports ``oqs`` unless its shared library is present.
    """
    return tuple(name for name, mod in _MODULES.items() if mod.status() is None)


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


def check_backend(backend: str) -> None:
    """Requires a known backend that is installed here.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
        BackendUnavailableError: known but not installed (the message says how to install).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not a known backend; valid: {BACKENDS}")
    reason = _MODULES[backend].status()
    if reason is not None:
        raise BackendUnavailableError(f"backend {backend!r} is not available: {reason}")


def backend_version(backend: str) -> str:
    """Returns a version string for an available backend, e.g. ``"pqcrypto 1.0.0"``."""
    check_backend(backend)
    return _MODULES[backend].version()


def backend_description() -> str:
    """Returns the default post-quantum backend and its version, or ``"none"``.

    The ``pqc_backend`` provenance field; imports ``oqs`` only when liboqs is present.
    """
    try:
        return backend_version(default_backend())
    except BackendUnavailableError:
        return "none"


def offered(backend: str) -> dict[str, tuple[str, ...]]:
    """``{"kem": (...), "signature": (...)}``: canonical names ``backend`` offers here."""
    check_backend(backend)
    names = _MODULES[backend].offered()
    return {
        "kem": tuple(a for a in names if KINDS[a] == "kem"),
        "signature": tuple(a for a in names if KINDS[a] == "signature"),
    }


def implementation(backend: str, algorithm: str) -> Impl:
    """The raw operations of ``algorithm`` in ``backend`` (both already validated)."""
    return _MODULES[backend].impl(algorithm)


def inventory() -> dict[str, str]:
    """``{backend: version}`` for every backend available here (what a report depends on)."""
    return {b: backend_version(b) for b in available_backends()}


register_provenance("pqc_backend", backend_description)
