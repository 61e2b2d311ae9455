"""The ``liboqs`` backend: liboqs through liboqs-python (``oqs``), only when its library exists.

``import oqs`` on a machine without the liboqs shared library starts a download-and-build
of liboqs (and prints to stdout), so this module locates the library first
(:func:`library_path`) and never imports ``oqs`` otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import importlib.util
import io
import logging
import os
import sys
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any

from meshlab.crypto._catalog import (
    KEM_ALGORITHMS,
    KINDS,
    SIGNATURE_ALGORITHMS,
    SLH_VARIANTS,
    BackendUnavailableError,
    Impl,
    KemSizes,
    SignatureSizes,
    dist_version,
)

__all__ = ["NAME", "impl", "library_path", "mechanism", "offered", "status", "version"]

NAME = "liboqs"

# Canonical name -> liboqs mechanism names, first enabled one wins (liboqs >= 0.14 naming for
# ML-KEM/ML-DSA/SLH-DSA; HQC is "HQC-128/192/256" up to liboqs 0.13 and "HQC-1/3/5" from 0.14).
_NAMES: dict[str, tuple[str, ...]] = {
    **{a: (a,) for a in (*KEM_ALGORITHMS, *SIGNATURE_ALGORITHMS)},
    **{
        a: ("SLH_DSA_PURE_" + a[len("SLH-DSA-") :].replace("-", "_").upper(),) for a in SLH_VARIANTS
    },
    "HQC-128": ("HQC-1", "HQC-128"),
    "HQC-192": ("HQC-3", "HQC-192"),
    "HQC-256": ("HQC-5", "HQC-256"),
    "Falcon-512": ("Falcon-512",),
    "Falcon-1024": ("Falcon-1024",),
}


def library_path() -> str | None:
    """Locates the liboqs shared library *without* importing ``oqs``.

    Looks in ``$OQS_INSTALL_PATH/{lib,lib64,bin}`` when that variable is set (an explicit
    install path wins over the system loader), else asks the system loader. The answer is
    cached per value of ``OQS_INSTALL_PATH`` (asking the system loader spawns ``ldconfig``
    and the compiler, tens of milliseconds); ``library_path.cache_clear()`` forgets it.

    Returns:
        The library path or name, or ``None`` if liboqs is absent.
    """
    return _library_path(os.environ.get("OQS_INSTALL_PATH"))


@functools.lru_cache(maxsize=8)
def _library_path(base: str | None) -> str | None:
    if base:
        for name in ("liboqs.so", "liboqs.dylib", "oqs.dll"):
            for sub in ("lib", "lib64", "bin"):
                p = Path(base) / sub / name
                if p.exists():
                    return str(p)
        return None
    return ctypes.util.find_library("oqs")


library_path.cache_clear = _library_path.cache_clear  # type: ignore[attr-defined]


def status() -> str | None:
    """Why liboqs cannot be used here, or ``None`` if it can (never imports ``oqs``).

    Cached per library path, like :func:`library_path`.
    """
    return _status(library_path())


@functools.lru_cache(maxsize=8)
def _status(path: str | None) -> str | None:
    if path is None:
        return (
            "the liboqs shared library was not found ($OQS_INSTALL_PATH/lib or the system "
            "loader); build liboqs as a shared library (tools/build_liboqs.sh, or cmake "
            "-DBUILD_SHARED_LIBS=ON) and set OQS_INSTALL_PATH, then `uv sync --extra liboqs`"
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
    reason = status()
    if reason is not None:
        raise BackendUnavailableError(f"backend 'liboqs' is not available: {reason}")
    path = library_path()
    if "OQS_INSTALL_PATH" not in os.environ and path and os.path.isabs(path):
        # Point liboqs-python at the library found here, so it never looks elsewhere.
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


def version() -> str:
    """E.g. ``"liboqs 0.16.0 (liboqs-python 0.14.1)"`` (imports ``oqs``)."""
    oqs = _import_oqs()
    return f"liboqs {oqs.oqs_version()} (liboqs-python {dist_version('liboqs-python')})"


def _enabled() -> set[str]:
    oqs = _import_oqs()
    return set(oqs.get_enabled_kem_mechanisms()) | set(oqs.get_enabled_sig_mechanisms())


def mechanism(algorithm: str) -> str | None:
    """The liboqs mechanism name of canonical ``algorithm`` in this build, or ``None``.

    E.g. ``"HQC-128"`` is ``"HQC-1"`` in liboqs >= 0.14 and ``"HQC-128"`` before.
    """
    enabled = _enabled()
    return next((n for n in _NAMES.get(algorithm, ()) if n in enabled), None)


def offered() -> tuple[str, ...]:
    """Canonical names of the algorithms enabled in this liboqs build (imports ``oqs``)."""
    enabled = _enabled()
    return tuple(a for a, names in _NAMES.items() if any(n in enabled for n in names))


def _free_all(objs: dict) -> None:
    for obj in objs.values():
        if obj is not None:
            with contextlib.suppress(Exception):
                obj.free()  # cleanses the secret key and frees the native object


class _Slots:
    """One thread's liboqs-python objects of one algorithm.

    ``objs["public"]`` serves keygen / encaps / verify (they need no stored secret key);
    ``objs["secret"]`` is bound to ``key``, the last secret key used in this thread, and is
    rebuilt only when the key changes. The objects are freed (secret keys cleansed) when the
    thread ends and its slots are collected.
    """

    def __init__(self) -> None:
        self.objs: dict[str, Any] = {"public": None, "secret": None}
        self.key: bytes | None = None
        weakref.finalize(self, _free_all, self.objs)


class _PerThread(threading.local):
    """Per-thread :class:`_Slots` (liboqs-python objects are not shared between threads)."""

    slots: _Slots | None = None


def _slots(local: _PerThread) -> _Slots:
    s = local.slots
    if s is None:
        s = local.slots = _Slots()
    return s


def _bound(cls: Any, name: str, local: _PerThread, sk: bytes) -> Any:
    """This thread's secret-key object, rebuilt (the previous one freed) when ``sk`` changes."""
    s = _slots(local)
    if s.key is None or s.key != sk:
        old = s.objs["secret"]
        s.objs["secret"], s.key = cls(name, secret_key=sk), sk
        if old is not None:
            old.free()
    return s.objs["secret"]


def _public(cls: Any, name: str, local: _PerThread) -> Any:
    s = _slots(local)
    obj = s.objs["public"]
    if obj is None:
        obj = s.objs["public"] = cls(name)
    return obj


def impl(algorithm: str) -> Impl:
    """The raw operations of ``algorithm`` (one of :func:`offered`); cached per library.

    liboqs-python objects are created once per thread and reused (creating one per call
    costs about as much as an ML-KEM operation); the secret-key object is rebuilt only when
    the caller passes a different secret key.
    """
    return _impl(algorithm, library_path())


@functools.lru_cache(maxsize=64)
def _impl(algorithm: str, path: str | None) -> Impl:
    oqs = _import_oqs()
    name = mechanism(algorithm)
    if name is None:
        raise ValueError(f"algorithm={algorithm!r} is not enabled in this liboqs build")
    local = _PerThread()
    if KINDS[algorithm] == "kem":
        kem_cls = oqs.KeyEncapsulation
        with kem_cls(name) as probe:
            d = probe.details
        sizes = KemSizes(
            d["length_public_key"],
            d["length_secret_key"],
            d["length_ciphertext"],
            d["length_shared_secret"],
        )

        def keygen() -> tuple[bytes, bytes]:
            k = _public(kem_cls, name, local)
            pk = k.generate_keypair()
            return bytes(pk), bytes(k.export_secret_key())

        def encaps(pk: bytes) -> tuple[bytes, bytes]:
            ct, ss = _public(kem_cls, name, local).encap_secret(pk)
            return bytes(ct), bytes(ss)

        def decaps(sk: bytes, ct: bytes) -> bytes:
            return bytes(_bound(kem_cls, name, local, sk).decap_secret(ct))

        return Impl(sizes, keygen, encaps, decaps)

    sig_cls = oqs.Signature
    with sig_cls(name) as probe:
        d = probe.details
    sizes = SignatureSizes(d["length_public_key"], d["length_secret_key"], d["length_signature"])

    def keygen_sig() -> tuple[bytes, bytes]:
        s = _public(sig_cls, name, local)
        pk = s.generate_keypair()
        return bytes(pk), bytes(s.export_secret_key())

    def sign(sk: bytes, msg: bytes, ctx: bytes) -> bytes:
        s = _bound(sig_cls, name, local, sk)
        return bytes(s.sign_with_ctx_str(msg, ctx) if ctx else s.sign(msg))

    def verify(pk: bytes, msg: bytes, sig: bytes, ctx: bytes) -> bool:
        s = _public(sig_cls, name, local)
        if ctx:
            return bool(s.verify_with_ctx_str(msg, sig, ctx, pk))
        return bool(s.verify(msg, sig, pk))

    return Impl(sizes, keygen_sig, sign, verify)
