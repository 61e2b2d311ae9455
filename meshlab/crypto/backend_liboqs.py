"""The ``liboqs`` backend: liboqs through liboqs-python (``oqs``), only when its library exists.

``import oqs`` on a machine without the liboqs shared library starts a download-and-build
of liboqs (and prints to stdout), so this module locates the library first
(:func:`library_path`) and never imports ``oqs`` otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.util
import io
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from meshlab.crypto._catalog import (
    EXTRA_KEMS,
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

__all__ = ["NAME", "impl", "library_path", "offered", "status", "version"]

NAME = "liboqs"

# Canonical name -> liboqs mechanism name (liboqs >= 0.14 naming).
_NAMES: dict[str, str] = {
    **{a: a for a in (*KEM_ALGORITHMS, *EXTRA_KEMS, *SIGNATURE_ALGORITHMS)},
    **{a: "SLH_DSA_PURE_" + a[len("SLH-DSA-") :].replace("-", "_").upper() for a in SLH_VARIANTS},
    "Falcon-512": "Falcon-512",
    "Falcon-1024": "Falcon-1024",
}


def library_path() -> str | None:
    """Locates the liboqs shared library *without* importing ``oqs``.

    Looks in ``$OQS_INSTALL_PATH/{lib,lib64,bin}`` when that variable is set (an explicit
    install path wins over the system loader), else asks the system loader.

    Returns:
        The library path or name, or ``None`` if liboqs is absent.
    """
    base = os.environ.get("OQS_INSTALL_PATH")
    if base:
        for name in ("liboqs.so", "liboqs.dylib", "oqs.dll"):
            for sub in ("lib", "lib64", "bin"):
                p = Path(base) / sub / name
                if p.exists():
                    return str(p)
        return None
    return ctypes.util.find_library("oqs")


def status() -> str | None:
    """Why liboqs cannot be used here, or ``None`` if it can (never imports ``oqs``)."""
    path = library_path()
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


def offered() -> tuple[str, ...]:
    """Canonical names of the algorithms enabled in this liboqs build (imports ``oqs``)."""
    oqs = _import_oqs()
    enabled = set(oqs.get_enabled_kem_mechanisms()) | set(oqs.get_enabled_sig_mechanisms())
    return tuple(a for a, n in _NAMES.items() if n in enabled)


def impl(algorithm: str) -> Impl:
    """The raw operations of ``algorithm`` (one of :func:`offered`)."""
    oqs = _import_oqs()
    name = _NAMES[algorithm]
    if KINDS[algorithm] == "kem":
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

        return Impl(sizes, keygen, encaps, decaps)

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

    return Impl(sizes, keygen_sig, sign, verify)
