"""The benchmark harness: times every operation of every scheme on every backend here."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from meshlab.core.platform import cpu_model
from meshlab.core.validation import check_int, check_real
from meshlab.crypto import backends as _backends
from meshlab.crypto._catalog import (
    CLASSICAL_KEMS,
    CLASSICAL_SIGNATURES,
    KEM_ALGORITHMS,
    KINDS,
    OPERATIONS,
    SIGNATURE_ALGORITHMS,
)
from meshlab.crypto.schemes import Kem, SignatureScheme, kem, signature_scheme

__all__ = ["benchmark"]


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
        if a not in KINDS:
            raise ValueError(
                f"algorithms contains {a!r}, not a known algorithm; valid: {tuple(KINDS)}"
            )
    if backends is None:
        backends = _backends.available_backends()
    for b in backends:
        _backends.check_backend(b)
    n_ops = check_int("n_ops", n_ops, low=10)
    warmup = check_int("warmup", warmup, low=0)
    if time_budget_s is not None:
        time_budget_s = check_real("time_budget_s", time_budget_s, low=0.0, low_open=True)
    message_bytes = check_int("message_bytes", message_bytes, low=0)
    repeats = check_int("repeats", repeats, low=1)

    cpu = cpu_model()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    rows = []
    for backend in backends:
        listed = _backends.offered(backend)
        offered = set(listed["kem"]) | set(listed["signature"])
        version = _backends.backend_version(backend)
        for alg in algorithms:
            if alg not in offered:
                continue
            kind = KINDS[alg]
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
            for op in OPERATIONS[kind]:
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
