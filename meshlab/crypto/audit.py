"""Security-audit tables: interoperability, FIPS sizes and categories, implicit rejection.

Every table is measured on this machine with the backends present (see
:func:`~meshlab.crypto.backends.available_backends`); the conformance matrix against
Wycheproof's vectors lives in :mod:`~meshlab.crypto.conformance`.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from meshlab.crypto import backends as _backends
from meshlab.crypto.schemes import kem, signature_scheme

__all__ = ["FIPS_PARAMETERS", "implicit_rejection", "interoperability", "standard_sizes"]

FIPS_PARAMETERS: dict[str, tuple[str, int, tuple[int, ...]]] = {
    # algorithm: (standard, NIST security category, sizes from the standard's tables)
    # ML-KEM (FIPS 203 Table 3): encapsulation key, decapsulation key, ciphertext, secret.
    "ML-KEM-512": ("FIPS 203", 1, (800, 1632, 768, 32)),
    "ML-KEM-768": ("FIPS 203", 3, (1184, 2400, 1088, 32)),
    "ML-KEM-1024": ("FIPS 203", 5, (1568, 3168, 1568, 32)),
    # ML-DSA (FIPS 204 Table 2): public key, private key, signature.
    "ML-DSA-44": ("FIPS 204", 2, (1312, 2560, 2420)),
    "ML-DSA-65": ("FIPS 204", 3, (1952, 4032, 3309)),
    "ML-DSA-87": ("FIPS 204", 5, (2592, 4896, 4627)),
    # SLH-DSA (FIPS 205 Table 2): public key, private key, signature.
    "SLH-DSA-SHA2-128s": ("FIPS 205", 1, (32, 64, 7856)),
    "SLH-DSA-SHA2-128f": ("FIPS 205", 1, (32, 64, 17088)),
}
"""Sizes and security categories typed in from FIPS 203, 204 and 205."""


def standard_sizes(backends: Any = None) -> Any:
    """Sizes each backend reports next to the standard's, with the security category.

    Returns:
        A polars DataFrame, one row per (algorithm, backend): ``algorithm, standard,
        category, backend, object, bytes, standard_bytes, matches`` (``object`` is e.g.
        ``"public_key"``; OpenSSL keeps seeds as secret keys, 64 / 32 bytes, reported as
        ``"secret_key (seed)"`` and compared with the FIPS seed length).
    """
    import polars as pl

    rows = []
    for backend in _backends.available_backends() if backends is None else backends:
        listed = _backends.offered(backend)
        for alg, (std, cat, sizes) in FIPS_PARAMETERS.items():
            is_kem = alg.startswith("ML-KEM")
            if alg not in listed["kem" if is_kem else "signature"]:
                continue
            got = (kem if is_kem else signature_scheme)(alg, backend).sizes
            names = got._fields
            for name, n, want in zip(names, got, sizes, strict=True):
                seed = backend == "cryptography" and name == "secret_key"
                if seed:
                    want = 64 if is_kem else 32  # FIPS 203 d||z, FIPS 204 xi
                rows.append(
                    {
                        "algorithm": alg,
                        "standard": std,
                        "category": cat,
                        "backend": backend,
                        "object": name + (" (seed)" if seed else ""),
                        "bytes": int(n),
                        "standard_bytes": int(want),
                        "matches": int(n) == int(want),
                    }
                )
    return pl.DataFrame(rows)


def interoperability(rounds: int = 3, backends: Any = None) -> Any:
    """Keys, ciphertexts and signatures made by one backend, used by another.

    For every ordered pair ``(producer, consumer)`` of available backends and every
    ML-KEM / ML-DSA parameter set both offer: the consumer encapsulates to the producer's
    public key and the producer decapsulates (``kem_ciphertext``), and the consumer verifies
    the producer's signatures, with and without a context (``signature``), and rejects them
    on a modified message.

    Returns:
        A polars DataFrame ``producer, consumer, algorithm, check, trials, agreed``.
    """
    import polars as pl

    names = tuple(_backends.available_backends() if backends is None else backends)
    pq = [b for b in names]
    rows = []
    for producer, consumer in itertools.permutations(pq, 2):
        a, b = _backends.offered(producer), _backends.offered(consumer)
        for alg in sorted(set(a["kem"]) & set(b["kem"])):
            if not alg.startswith("ML-KEM"):
                continue
            kp, kc = kem(alg, producer), kem(alg, consumer)
            ok = 0
            for _ in range(rounds):
                pk, sk = kp.keygen()
                ct, ss = kc.encaps(pk)
                ok += kp.decaps(sk, ct) == ss
            rows.append((producer, consumer, alg, "kem_ciphertext", rounds, ok))
        for alg in sorted(set(a["signature"]) & set(b["signature"])):
            if not alg.startswith("ML-DSA"):
                continue
            dp, dc = signature_scheme(alg, producer), signature_scheme(alg, consumer)
            ok = 0
            for i in range(rounds):
                msg, ctx = os.urandom(32), b"meshlab" if i % 2 else b""
                pk, sk = dp.keygen()
                sig = dp.sign(sk, msg, ctx)
                ok += dc.verify(pk, msg, sig, ctx) and not dc.verify(pk, msg + b"!", sig, ctx)
            rows.append((producer, consumer, alg, "signature", rounds, ok))
    schema = ["producer", "consumer", "algorithm", "check", "trials", "agreed"]
    return pl.DataFrame(rows, schema=schema, orient="row")


def implicit_rejection(backends: Any = None) -> Any:
    """Whether each backend's ML-KEM rejects implicitly, as FIPS 203 requires.

    A modified ciphertext must decapsulate without error to a secret that differs from the
    sender's and is deterministic (the same tampered ciphertext gives the same value); the
    Wycheproof ``mlkem_decaps`` vectors check the exact value (see
    :mod:`~meshlab.crypto.conformance`).

    Returns:
        A polars DataFrame ``backend, algorithm, no_error, differs, deterministic, correct``.
    """
    import polars as pl

    rows = []
    for backend in _backends.available_backends() if backends is None else backends:
        for alg in _backends.offered(backend)["kem"]:
            if not alg.startswith("ML-KEM"):
                continue
            k = kem(alg, backend)
            pk, sk = k.keygen()
            ct, ss = k.encaps(pk)
            bad = bytes([ct[0] ^ 0x01]) + ct[1:]
            try:
                r1, r2 = k.decaps(sk, bad), k.decaps(sk, bad)
                no_error, differs, det = True, r1 != ss, r1 == r2
            except (ValueError, RuntimeError):
                no_error, differs, det = False, False, False
            rows.append(
                {
                    "backend": backend,
                    "algorithm": alg,
                    "no_error": no_error,
                    "differs": differs,
                    "deterministic": det,
                    "correct": no_error and differs and det,
                }
            )
    return pl.DataFrame(rows)
