"""Load-proof latency measurement and SLA verdicts for crypto operations.

A busy machine stretches *wall-clock* latency (the thread waits for a core) but barely
changes the *thread CPU time* an operation consumes. :func:`measure` times every call both
ways, runs the operations interleaved (repeat ``r`` of every operation before repeat
``r + 1`` of any), and records the machine's load average. :func:`verdicts` judges an
objective on the CPU-time p90 of each repeat:

- ``"pass"`` when every repeat's p90 is within the objective,
- ``"fail"`` when every repeat's p90 exceeds it,
- ``"inconclusive"`` otherwise (the repeats disagree: the measurement is too unstable, or
  the cost sits on the objective), never a coin flip.

``stability`` is the spread of the per-repeat p90s relative to their median
(``(max - min) / median``); ``contention`` the ratio of wall to CPU p90 (about 1 on a quiet
machine, larger when other processes take the cores).

Example::

    from meshlab.crypto import schemes, sla

    d = schemes.signature_scheme("ML-DSA-44")
    pk, sk = d.keygen()
    t = sla.measure({"ML-DSA-44/sign": lambda: d.sign(sk, b"beacon")}, n_ops=50, repeats=5)
    sla.verdicts(t, objective_ms=5.0)  # one row per operation: verdict, stability, ...
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from meshlab.core.validation import check_int, check_real

__all__ = [
    "VERDICTS",
    "handshake_times",
    "load_average",
    "measure",
    "operations",
    "robust_sla",
    "success_trace",
    "verdicts",
]

VERDICTS = ("pass", "fail", "inconclusive")


def load_average() -> float:
    """The 1-minute load average (``nan`` where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def measure(
    operations: Mapping[str, Callable[[], Any]],
    *,
    n_ops: int = 50,
    repeats: int = 5,
    warmup: int = 2,
) -> Any:
    """Times each operation in wall and thread CPU time, interleaved and repeated.

    Args:
        operations: label -> a zero-argument callable doing one operation.
        n_ops: timed calls per (operation, repeat) (>= 5).
        repeats: interleaved rounds (>= 3).
        warmup: untimed calls per operation first (>= 0).

    Returns:
        A polars DataFrame, one row per (operation, repeat): ``operation, repeat, n_ops,
        cpu_p50_us, cpu_p90_us, wall_p50_us, wall_p90_us, load_avg_1m`` (the load when the
        repeat started).
    """
    import polars as pl

    if not operations:
        raise ValueError("operations must name at least one operation")
    n_ops = check_int("n_ops", n_ops, low=5)
    repeats = check_int("repeats", repeats, low=3)
    warmup = check_int("warmup", warmup, low=0)
    for fn in operations.values():
        for _ in range(warmup):
            fn()
    rows = []
    cpu = np.empty(n_ops)
    wall = np.empty(n_ops)
    for r in range(repeats):
        for label, fn in operations.items():
            load = load_average()
            for i in range(n_ops):
                w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
                fn()
                c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
                cpu[i], wall[i] = (c1 - c0) * 1e-3, (w1 - w0) * 1e-3
            rows.append(
                {
                    "operation": label,
                    "repeat": r,
                    "n_ops": n_ops,
                    "cpu_p50_us": float(np.percentile(cpu, 50)),
                    "cpu_p90_us": float(np.percentile(cpu, 90)),
                    "wall_p50_us": float(np.percentile(wall, 50)),
                    "wall_p90_us": float(np.percentile(wall, 90)),
                    "load_avg_1m": float(load),
                }
            )
    return pl.DataFrame(rows)


def verdicts(timings: Any, objective_ms: float, *, max_spread: float = 0.5) -> Any:
    """SLA verdicts at p90 from :func:`measure`'s repeats.

    Args:
        timings: :func:`measure`'s DataFrame.
        objective_ms: the per-operation objective at p90, in ms (> 0).
        max_spread: a ``"pass"`` / ``"fail"`` whose repeats spread more than this
            (``stability`` above it) is reported ``"inconclusive"`` unless even the most
            extreme repeat is on the same side by more than the spread (> 0).

    Returns:
        A polars DataFrame, one row per operation: ``operation, objective_ms, p90_ms`` (the
        robust statistic: median over repeats of the per-repeat CPU-time p90),
        ``p90_min_ms, p90_max_ms, wall_p90_ms, stability, contention, load_avg_1m``
        (mean over repeats) and ``verdict`` (one of :data:`VERDICTS`).
    """
    import polars as pl

    objective_ms = check_real("objective_ms", objective_ms, low=0.0, low_open=True)
    max_spread = check_real("max_spread", max_spread, low=0.0, low_open=True)
    rows = []
    for (label,), g in timings.group_by("operation", maintain_order=True):
        p90 = g["cpu_p90_us"].to_numpy() * 1e-3
        wall = g["wall_p90_us"].to_numpy() * 1e-3
        med = float(np.median(p90))
        spread = float((p90.max() - p90.min()) / med) if med > 0 else math.inf
        if p90.max() <= objective_ms:
            verdict = "pass"
        elif p90.min() > objective_ms:
            verdict = "fail"
        else:
            verdict = "inconclusive"
        if verdict != "inconclusive" and spread > max_spread:
            margin = abs(math.log(objective_ms / med)) if med > 0 else 0.0
            if margin <= spread:  # too unstable to be sure of the side
                verdict = "inconclusive"
        rows.append(
            {
                "operation": label,
                "objective_ms": objective_ms,
                "p90_ms": med,
                "p90_min_ms": float(p90.min()),
                "p90_max_ms": float(p90.max()),
                "wall_p90_ms": float(np.median(wall)),
                "stability": spread,
                "contention": float(np.median(wall / np.maximum(p90, 1e-9))),
                "load_avg_1m": float(g["load_avg_1m"].mean()),
                "verdict": verdict,
            }
        )
    return pl.DataFrame(rows)


def operations(
    algorithms: Sequence[str], backends: Sequence[str] | None = None
) -> dict[str, Callable[[], Any]]:
    """``"backend/algorithm/operation"`` -> a zero-argument call, for :func:`measure`.

    Every operation of every algorithm on every backend (default: all available) that
    offers it; signing uses one fixed 64-byte message, decapsulation and verification the
    objects made once up front.
    """
    from meshlab.crypto import backends as _backends
    from meshlab.crypto.schemes import kem, kind, signature_scheme

    ops: dict[str, Callable[[], Any]] = {}
    msg = bytes(range(64))
    for backend in _backends.available_backends() if backends is None else backends:
        listed = _backends.offered(backend)
        for alg in algorithms:
            k = kind(alg)
            if k is None or alg not in listed[k]:
                continue
            label = f"{backend}/{alg}"
            if k == "kem":
                s = kem(alg, backend)
                pk, sk = s.keygen()
                ct, _ = s.encaps(pk)
                ops[f"{label}/keygen"] = s.keygen
                ops[f"{label}/encaps"] = functools.partial(s.encaps, pk)
                ops[f"{label}/decaps"] = functools.partial(s.decaps, sk, ct)
            else:
                d = signature_scheme(alg, backend)
                pk, sk = d.keygen()
                sig = d.sign(sk, msg)
                ops[f"{label}/keygen"] = d.keygen
                ops[f"{label}/sign"] = functools.partial(d.sign, sk, msg)
                ops[f"{label}/verify"] = functools.partial(d.verify, pk, msg, sig)
    return ops


def robust_sla(
    algorithms: Sequence[str],
    objective_ms: float,
    *,
    backends: Sequence[str] | None = None,
    n_ops: int = 30,
    repeats: int = 5,
) -> Any:
    """:func:`verdicts` for every operation of :func:`operations`, with ``backend``,
    ``algorithm`` and ``op`` columns split out of the label."""
    import polars as pl

    v = verdicts(
        measure(operations(algorithms, backends), n_ops=n_ops, repeats=repeats), objective_ms
    )
    parts = pl.col("operation").str.split("/")
    return v.with_columns(
        parts.list.get(0).alias("backend"),
        parts.list.get(1).alias("algorithm"),
        parts.list.get(2).alias("op"),
    )


def success_trace(
    algorithm: str, corrupt: Any, *, backend: str | None = None, flip_bit: Any = None
) -> np.ndarray:
    """Runs real operations and records which succeeded, with corruption in transit.

    Operation ``i`` is one KEM handshake (keygen, encapsulate, decapsulate; success: both
    sides hold the same shared secret) or one signature round (keygen once, sign, verify;
    success: the signature verifies). Where ``corrupt[i]`` is set, one bit of the
    ciphertext or signature is flipped in transit, the fault a lossy or hostile link
    causes: ML-KEM's implicit rejection then yields a different secret and ML-DSA's
    verification fails, so the operation fails for real, not by assumption.

    Args:
        algorithm: a KEM or signature algorithm (e.g. ``"ML-KEM-768"``, ``"ML-DSA-65"``).
        corrupt: ``bool[n]``, which operations are corrupted (draw it from a JAX key).
        backend: crypto backend (default: :func:`meshlab.crypto.backends.default_backend`).
        flip_bit: ``int[n]`` bit index to flip (taken modulo the object's size in bits);
            default bit 0.

    Returns:
        ``bool[n]``: whether each operation succeeded.
    """
    from meshlab.crypto.schemes import kem, kind, signature_scheme

    corrupt = np.asarray(corrupt, bool)
    if corrupt.ndim != 1:
        raise ValueError(f"corrupt must be a 1-D boolean mask, got shape {corrupt.shape}")
    bits = np.zeros(corrupt.size, np.int64) if flip_bit is None else np.asarray(flip_bit)
    if bits.shape != corrupt.shape:
        raise ValueError(f"flip_bit must have the shape of corrupt {corrupt.shape}")

    def flip(blob: bytes, bit: int) -> bytes:
        b = bytearray(blob)
        bit = int(bit) % (8 * len(b))
        b[bit // 8] ^= 1 << (bit % 8)
        return bytes(b)

    k = kind(algorithm)
    ok = np.zeros(corrupt.size, bool)
    if k == "kem":
        s = kem(algorithm, backend)
        for i in range(corrupt.size):
            pk, sk = s.keygen()
            ct, secret = s.encaps(pk)
            if corrupt[i]:
                ct = flip(ct, bits[i])
            ok[i] = s.decaps(sk, ct) == secret
    elif k == "signature":
        d = signature_scheme(algorithm, backend)
        pk, sk = d.keygen()
        for i in range(corrupt.size):
            msg = i.to_bytes(8, "little") + b"meshlab beacon"
            sig = d.sign(sk, msg)
            if corrupt[i]:
                sig = flip(sig, bits[i])
            ok[i] = d.verify(pk, msg, sig)
    else:
        raise ValueError(f"algorithm={algorithm!r} is neither a KEM nor a signature scheme")
    return ok


def handshake_times(
    algorithm: str, n: int, *, backend: str | None = None, warmup: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Times ``n`` real KEM handshakes (keygen, encapsulate, decapsulate) one after another.

    Each handshake is what a link restart costs the two ends together on the critical
    path: a fresh key pair, an encapsulation against it and the decapsulation; a
    handshake whose two secrets differ raises (it never happens on clean input).

    Args:
        algorithm: a KEM (e.g. ``"ML-KEM-768"``).
        n: handshakes to time (>= 1), in time order.
        backend: crypto backend (default: :func:`meshlab.crypto.backends.default_backend`).
        warmup: untimed handshakes first (>= 0).

    Returns:
        ``(cpu_s, wall_s)``: float64 ``[n]`` thread CPU and wall seconds per handshake.
    """
    from meshlab.crypto.schemes import kem, kind

    if kind(algorithm) != "kem":
        raise ValueError(f"algorithm={algorithm!r} is not a KEM")
    n = check_int("n", n, low=1)
    warmup = check_int("warmup", warmup, low=0)
    s = kem(algorithm, backend)

    def once() -> None:
        pk, sk = s.keygen()
        ct, secret = s.encaps(pk)
        if s.decaps(sk, ct) != secret:
            raise AssertionError(f"{algorithm} handshake: the two sides' secrets differ")

    for _ in range(warmup):
        once()
    cpu, wall = np.empty(n), np.empty(n)
    for i in range(n):
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        once()
        c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
        cpu[i], wall[i] = (c1 - c0) * 1e-9, (w1 - w0) * 1e-9
    return cpu, wall
