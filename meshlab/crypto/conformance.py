"""Conformance of every backend against Project Wycheproof's vectors (ML-KEM, ML-DSA, X25519, Ed25519).

The vectors (``meshlab/crypto/data/wycheproof/*.json.gz``, Apache-2.0, see the README there)
are run through meshlab's public API (:func:`~meshlab.crypto.schemes.kem`,
:func:`~meshlab.crypto.schemes.signature_scheme`), so what is checked is what a caller gets:
the backend plus meshlab's input checks. A test a backend's API cannot express (e.g.
seed-based key generation in pqcrypto, deterministic encapsulation or signing anywhere) is
counted as ``not_supported``, never as passed.

Outcome rules: a ``valid`` vector passes when the operation succeeds and reproduces the
expected bytes (shared secret, keys) or verifies; an ``invalid`` vector passes when it is
rejected (``verify`` returns ``False``) or raises a clear error (``ValueError``,
``TypeError``, ``RuntimeError``); an ``acceptable`` vector (X25519) passes either way as long
as a returned value is the expected one.

Example::

    from meshlab.crypto import conformance

    table = conformance.run()  # polars DataFrame, one row per (family, parameter set, backend)
    assert table["failed"].sum() == 0
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from meshlab.crypto import backends as _backends
from meshlab.crypto.schemes import kem, signature_scheme

__all__ = ["FAMILIES", "VECTOR_DIR", "cases", "load_vectors", "run"]

VECTOR_DIR = Path(__file__).parent / "data" / "wycheproof"
"""Where the gzipped Wycheproof vector files live."""

FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "mlkem_decaps": ("mlkem_{n}_test", ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024")),
    "mlkem_keygen_seed": (
        "mlkem_{n}_keygen_seed_test",
        ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"),
    ),
    "mlkem_encaps": ("mlkem_{n}_encaps_test", ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024")),
    "mlkem_semi_expanded_decaps": (
        "mlkem_{n}_semi_expanded_decaps_test",
        ("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"),
    ),
    "mldsa_verify": ("mldsa_{n}_verify_test", ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87")),
    "mldsa_sign_seed": ("mldsa_{n}_sign_seed_test", ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87")),
    "mldsa_sign_noseed": ("mldsa_{n}_sign_noseed_test", ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87")),
    "x25519": ("x25519_test", ("X25519",)),
    "ed25519_verify": ("ed25519_test", ("Ed25519",)),
}
"""Family -> (vector file stem, ``{n}`` = the parameter set's number; parameter sets)."""

_CLEAR_ERRORS = (ValueError, TypeError, RuntimeError)
PASSED, FAILED, NOT_SUPPORTED = "passed", "failed", "not_supported"


@functools.lru_cache(maxsize=32)
def load_vectors(stem: str) -> dict:
    """The parsed Wycheproof file ``<stem>.json`` (from its ``.json.gz`` copy)."""
    with gzip.open(VECTOR_DIR / f"{stem}.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def _stem(family: str, algorithm: str) -> str:
    pattern, _ = FAMILIES[family]
    return pattern.format(n=algorithm.rsplit("-", 1)[-1])


def _hex(t: dict, key: str) -> bytes | None:
    v = t.get(key)
    return None if v is None else bytes.fromhex(v)


def _expect_rejection(fn: Callable[[], Any]) -> str:
    """Passed when ``fn`` raises a clear error or returns ``False`` (a rejected signature)."""
    try:
        out = fn()
    except _CLEAR_ERRORS:
        return PASSED
    return PASSED if out is False else FAILED


def _expect_value(fn: Callable[[], Any], expected: Any) -> str:
    try:
        out = fn()
    except _CLEAR_ERRORS:
        return FAILED
    return PASSED if out == expected else FAILED


# --- backend capabilities beyond the common API (seed key generation) -----------------------


def _mlkem_from_seed(backend: str, algorithm: str, seed: bytes) -> tuple[bytes, bytes] | None:
    """``(ek, sk)`` derived from a FIPS 203 seed ``d || z``, or ``None`` when not expressible.

    ``sk`` is what the backend's :class:`~meshlab.crypto.schemes.Kem` takes: the expanded
    key for liboqs, the seed itself for OpenSSL (whose keys are seeds). A seed of the wrong
    length raises ``ValueError``.
    """
    if backend == "liboqs":
        from meshlab.crypto import backend_liboqs

        oqs = backend_liboqs._import_oqs()
        with oqs.KeyEncapsulation(backend_liboqs.mechanism(algorithm)) as k:
            ek = k.generate_keypair_seed(seed)
            return bytes(ek), bytes(k.export_secret_key())
    if backend == "cryptography":
        from cryptography.hazmat.primitives.asymmetric import mlkem

        cls = getattr(mlkem, "MLKEM" + algorithm.rsplit("-", 1)[-1] + "PrivateKey")
        if len(seed) != 64:
            raise ValueError(f"seed must be 64 bytes, got {len(seed)}")
        sk = cls.from_seed_bytes(seed)
        return sk.public_key().public_bytes_raw(), seed
    return None


# --- one function per family: yields (tcId, result, status) --------------------------------


def _mlkem_decaps(backend: str, algorithm: str, data: dict) -> Iterator[tuple[int, str, str]]:
    k = kem(algorithm, backend)
    for g in data["testGroups"]:
        for t in g["tests"]:
            seed, ct = _hex(t, "seed"), _hex(t, "c")
            if t["result"] == "invalid":

                def invalid(seed=seed, ct=ct) -> Any:
                    keys = _mlkem_from_seed(backend, algorithm, seed)
                    if keys is None:
                        raise NotImplementedError
                    return k.decaps(keys[1], ct)

                try:
                    yield t["tcId"], t["result"], _expect_rejection(invalid)
                except NotImplementedError:
                    yield t["tcId"], t["result"], NOT_SUPPORTED
                continue
            keys = _mlkem_from_seed(backend, algorithm, seed)
            if keys is None:
                yield t["tcId"], t["result"], NOT_SUPPORTED
                continue
            ek, sk = keys
            want_ek = _hex(t, "ek")
            ok_ek = want_ek is None or ek == want_ek
            status = _expect_value(lambda sk=sk, ct=ct: k.decaps(sk, ct), _hex(t, "K"))
            yield t["tcId"], t["result"], status if ok_ek else FAILED


def _mlkem_keygen_seed(backend: str, algorithm: str, data: dict) -> Iterator[tuple[int, str, str]]:
    for g in data["testGroups"]:
        for t in g["tests"]:
            keys = _mlkem_from_seed(backend, algorithm, _hex(t, "seed"))
            if keys is None:
                yield t["tcId"], t["result"], NOT_SUPPORTED
                continue
            ek, sk = keys
            # OpenSSL keeps the seed as its key: only the public key can be compared.
            ok = ek == _hex(t, "ek") and (backend == "cryptography" or sk == _hex(t, "dk"))
            yield t["tcId"], t["result"], PASSED if ok else FAILED


def _mlkem_encaps(backend: str, algorithm: str, data: dict) -> Iterator[tuple[int, str, str]]:
    k = kem(algorithm, backend)
    for g in data["testGroups"]:
        for t in g["tests"]:
            if t["result"] == "invalid":  # malformed key: must be refused, whatever m is
                yield (
                    t["tcId"],
                    t["result"],
                    _expect_rejection(functools.partial(k.encaps, _hex(t, "ek"))),
                )
            else:  # deterministic encapsulation from m: no backend's API takes m
                yield t["tcId"], t["result"], NOT_SUPPORTED


def _mlkem_semi_expanded(
    backend: str, algorithm: str, data: dict
) -> Iterator[tuple[int, str, str]]:
    if backend == "cryptography":  # OpenSSL's keys are seeds; it cannot load an expanded key
        for g in data["testGroups"]:
            for t in g["tests"]:
                yield t["tcId"], t["result"], NOT_SUPPORTED
        return
    k = kem(algorithm, backend)
    for g in data["testGroups"]:
        for t in g["tests"]:
            fn = functools.partial(k.decaps, _hex(t, "dk"), _hex(t, "c"))
            if t["result"] == "invalid":
                yield t["tcId"], t["result"], _expect_rejection(fn)
            else:
                yield t["tcId"], t["result"], _expect_value(fn, _hex(t, "K"))


def _signature_verify(backend: str, algorithm: str, data: dict) -> Iterator[tuple[int, str, str]]:
    d = signature_scheme(algorithm, backend)
    for g in data["testGroups"]:
        pk = bytes.fromhex(
            g["publicKey"]["pk"] if isinstance(g["publicKey"], dict) else g["publicKey"]
        )
        for t in g["tests"]:
            msg, sig, ctx = _hex(t, "msg"), _hex(t, "sig"), _hex(t, "ctx") or b""
            if msg is None:  # "Internal": mu only, for Verify_internal
                yield t["tcId"], t["result"], NOT_SUPPORTED
                continue
            fn = functools.partial(d.verify, pk, msg, sig, ctx)
            if t["result"] == "valid":
                yield t["tcId"], t["result"], _expect_value(fn, True)
            else:
                yield t["tcId"], t["result"], _expect_rejection(fn)


def _mldsa_sign(seeded: bool) -> Callable[[str, str, dict], Iterator[tuple[int, str, str]]]:
    def family(backend: str, algorithm: str, data: dict) -> Iterator[tuple[int, str, str]]:
        d = signature_scheme(algorithm, backend)
        # Seed keys are what OpenSSL takes; expanded keys what liboqs and pqcrypto take.
        expressible = (backend == "cryptography") == seeded
        for g in data["testGroups"]:
            key = _hex(g, "privateSeed" if seeded else "privateKey")
            for t in g["tests"]:
                msg, ctx = _hex(t, "msg"), _hex(t, "ctx") or b""
                if not expressible or msg is None or t["result"] == "valid":
                    # Exact signatures need deterministic signing (rnd = 0): no backend's
                    # API offers it (all sign hedged), nor Sign_internal (mu only).
                    yield t["tcId"], t["result"], NOT_SUPPORTED
                    continue
                yield (
                    t["tcId"],
                    t["result"],
                    _expect_rejection(
                        lambda key=key, msg=msg, ctx=ctx: d.sign(key or b"", msg, ctx)
                    ),
                )

    return family


def _x25519(backend: str, algorithm: str, data: dict) -> Iterator[tuple[int, str, str]]:
    k = kem(algorithm, backend)
    for g in data["testGroups"]:
        for t in g["tests"]:
            shared = _hex(t, "shared")
            fn = lambda t=t: k.decaps(_hex(t, "private"), _hex(t, "public"))  # noqa: E731
            if t["result"] == "valid":
                yield t["tcId"], t["result"], _expect_value(fn, shared)
            else:  # acceptable: refusing (e.g. an all-zero shared secret) or computing it
                try:
                    out = fn()
                except _CLEAR_ERRORS:
                    yield t["tcId"], t["result"], PASSED
                    continue
                yield t["tcId"], t["result"], PASSED if out == shared else FAILED


_RUNNERS: dict[str, Callable[[str, str, dict], Iterator[tuple[int, str, str]]]] = {
    "mlkem_decaps": _mlkem_decaps,
    "mlkem_keygen_seed": _mlkem_keygen_seed,
    "mlkem_encaps": _mlkem_encaps,
    "mlkem_semi_expanded_decaps": _mlkem_semi_expanded,
    "mldsa_verify": _signature_verify,
    "mldsa_sign_seed": _mldsa_sign(seeded=True),
    "mldsa_sign_noseed": _mldsa_sign(seeded=False),
    "x25519": _x25519,
    "ed25519_verify": _signature_verify,
}


def cases(
    families: Sequence[str] | None = None, backends: Sequence[str] | None = None
) -> list[dict]:
    """Runs the vectors and returns one record per (family, parameter set, backend, test).

    Args:
        families: subset of :data:`FAMILIES` (default: all).
        backends: default: every available backend. A backend that does not offer a
            parameter set gets no rows for it.

    Returns:
        Records with keys ``family, parameter_set, backend, tc_id, expected, status``
        (``status`` in ``"passed"``, ``"failed"``, ``"not_supported"``).
    """
    families = tuple(FAMILIES) if families is None else tuple(families)
    for f in families:
        if f not in FAMILIES:
            raise ValueError(f"families contains {f!r}; valid: {tuple(FAMILIES)}")
    backends = _backends.available_backends() if backends is None else tuple(backends)
    out = []
    for backend in backends:
        listed = _backends.offered(backend)
        offered = set(listed["kem"]) | set(listed["signature"])
        for family in families:
            for alg in FAMILIES[family][1]:
                if alg not in offered:
                    continue
                data = load_vectors(_stem(family, alg))
                for tc, expected, status in _RUNNERS[family](backend, alg, data):
                    out.append(
                        {
                            "family": family,
                            "parameter_set": alg,
                            "backend": backend,
                            "tc_id": int(tc),
                            "expected": expected,
                            "status": status,
                        }
                    )
    return out


def run(families: Sequence[str] | None = None, backends: Sequence[str] | None = None) -> Any:
    """The conformance matrix: one row per (family, parameter set, backend).

    Args:
        families, backends: as in :func:`cases`.

    Returns:
        A polars DataFrame with columns ``family, parameter_set, backend, tests, passed,
        failed, not_supported, failed_ids`` (the tcIds that failed, comma-separated).
    """
    import polars as pl

    recs = cases(families, backends)
    schema = {
        "family": pl.String,
        "parameter_set": pl.String,
        "backend": pl.String,
        "tc_id": pl.Int64,
        "expected": pl.String,
        "status": pl.String,
    }
    df = pl.DataFrame(recs, schema=schema)
    return (
        df.group_by("family", "parameter_set", "backend", maintain_order=True)
        .agg(
            pl.len().alias("tests"),
            (pl.col("status") == PASSED).sum().alias("passed"),
            (pl.col("status") == FAILED).sum().alias("failed"),
            (pl.col("status") == NOT_SUPPORTED).sum().alias("not_supported"),
            pl.col("tc_id")
            .filter(pl.col("status") == FAILED)
            .cast(pl.String)
            .str.join(",")
            .alias("failed_ids"),
        )
        .with_columns(
            pl.col(c).cast(pl.Int64) for c in ("tests", "passed", "failed", "not_supported")
        )
    )
