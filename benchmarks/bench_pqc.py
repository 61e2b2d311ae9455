"""PQC operation latency per backend, side by side in one run, saved with provenance.

Usage::

    uv run python benchmarks/bench_pqc.py [--n-ops 300] [--budget-s 3] [--repeats 1] [--svid]
        [--overhead-ops 300]

Writes ``benchmarks/results/pqc.json`` (:func:`meshlab.reporting.evidence.save_benchmark`):
one row per (backend, algorithm, operation) with the median and p99 in µs and ratios
measured in this run (each backend vs ``pqcrypto``, and vs the classical baseline of the
same kind: Ed25519 for signatures, X25519 for KEMs, through ``cryptography``); with
``--svid`` also the SVID lifecycle scan's node-steps per second. When liboqs is present,
also meshlab's wrapper overhead against liboqs-python called directly with its objects
reused (``case`` ``overhead/<algorithm>/<operation>``: interleaved blocks, median over
blocks of the per-block ratio; the target is <= 1.1). Each row is printed as a JSON line too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax

from meshlab import crypto
from meshlab.identity import svid
from meshlab.reporting.evidence import save_benchmark

ALGORITHMS = (
    "ML-KEM-512",
    "ML-KEM-768",
    "ML-KEM-1024",
    "ML-DSA-44",
    "ML-DSA-65",
    "ML-DSA-87",
    "SLH-DSA-SHA2-128f",
    "X25519",
    "Ed25519",
)
CLASSICAL = {"kem": "X25519", "signature": "Ed25519"}


def crypto_rows(n_ops: int, budget_s: float, repeats: int) -> list[dict]:
    """One row per post-quantum (backend, algorithm, operation), with ratios."""
    df = crypto.benchmark(ALGORITHMS, n_ops=n_ops, time_budget_s=budget_s, repeats=repeats)
    by = {
        (r["implementation"], r["algorithm"], r["operation"]): r for r in df.iter_rows(named=True)
    }
    rows = []
    for (impl, alg, op), r in by.items():
        if alg in CLASSICAL.values():
            continue
        base = by.get(("cryptography", CLASSICAL[r["kind"]], op))
        ref = by.get(("pqcrypto", alg, op))
        rows.append(
            {
                "case": f"{alg}/{op}",
                "backend": impl,
                "version": r["version"],
                "ops": r["ops_per_run"],
                "median_us": round(r["median_us"], 2),
                "p99_us": round(r["p99_us"], 2),
                "vs_pqcrypto": round(r["median_us"] / ref["median_us"], 3) if ref else None,
                "vs_classical": round(r["median_us"] / base["median_us"], 2) if base else None,
            }
        )
    return rows


def _block_us(fn, n: int) -> float:
    """Thread CPU time per call (µs): what this thread consumed, not what others stole."""
    t = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - t) * 1e-3 / n


def _overhead_pairs(oqs, name: str, alg: str) -> dict:
    """operation -> (direct liboqs-python call, meshlab call), objects reused in both."""
    msg = os.urandom(64)
    if alg.startswith("ML-KEM"):
        w = crypto.kem(alg, "liboqs")
        d = oqs.KeyEncapsulation(name)
        pk = d.generate_keypair()
        sk = d.export_secret_key()
        ct, _ = d.encap_secret(pk)
        d_sk = oqs.KeyEncapsulation(name, secret_key=sk)
        return {
            "keygen": (lambda: (d.generate_keypair(), d.export_secret_key()), w.keygen),
            "encaps": (lambda: d.encap_secret(pk), lambda: w.encaps(pk)),
            "decaps": (lambda: d_sk.decap_secret(ct), lambda: w.decaps(sk, ct)),
        }
    w = crypto.signature_scheme(alg, "liboqs")
    d = oqs.Signature(name)
    pk = d.generate_keypair()
    sk = d.export_secret_key()
    d_sk = oqs.Signature(name, secret_key=sk)
    sig = d_sk.sign(msg)
    return {
        "keygen": (lambda: (d.generate_keypair(), d.export_secret_key()), w.keygen),
        "sign": (lambda: d_sk.sign(msg), lambda: w.sign(sk, msg)),
        "verify": (lambda: d.verify(msg, sig, pk), lambda: w.verify(pk, msg, sig)),
    }


def overhead_rows(n_ops: int, blocks: int = 15) -> list[dict]:
    """meshlab's liboqs wrapper vs liboqs-python called directly, objects reused in both.

    Blocks of ``n_ops`` calls alternate between the two (so load bursts hit both alike),
    each timed in thread CPU time.
    ``ratio`` is the fastest wrapper block over the fastest direct block (the least
    contended pair on a shared machine); ``ratio_median`` the median over blocks of the
    per-block ratio (load-sensitive, for comparison).
    """
    if "liboqs" not in crypto.available_backends():
        return []
    from meshlab.crypto import backend_liboqs

    oqs = backend_liboqs._import_oqs()
    rows = []
    for alg in ("ML-KEM-768", "ML-DSA-65"):
        pairs = _overhead_pairs(oqs, backend_liboqs.mechanism(alg), alg)
        for op, (direct, wrapped) in pairs.items():
            direct(), wrapped()  # warm up
            n = max(10, n_ops // (4 if op in ("sign", "keygen") and "DSA" in alg else 1))
            ratios, d_us, w_us = [], [], []
            for _ in range(blocks):
                a, b = _block_us(direct, n), _block_us(wrapped, n)
                d_us.append(a)
                w_us.append(b)
                ratios.append(b / a)
            rows.append(
                {
                    "case": f"overhead/{alg}/{op}",
                    "backend": "liboqs",
                    "direct_us": round(min(d_us), 2),
                    "wrapper_us": round(min(w_us), 2),
                    "ratio": round(min(w_us) / min(d_us), 3),
                    "ratio_median": round(statistics.median(ratios), 3),
                    "blocks": blocks,
                    "ops_per_block": n,
                }
            )
    return rows


def svid_rows(sizes: tuple[int, ...]) -> list[dict]:
    """Node-steps per second of the SVID lifecycle rollout (after a compiling run)."""
    rows = []
    for n in sizes:
        config = svid.SvidConfig(n_nodes=n, n_steps=2520, dt_s=5.0)
        kernel, p = svid.build(config), svid.params(outages=[(1800.0, 7200.0)])
        svid.rollout(kernel, jax.random.key(0), p, config.n_steps)[1].t_s.block_until_ready()
        t = time.perf_counter()
        svid.rollout(kernel, jax.random.key(1), p, config.n_steps)[1].t_s.block_until_ready()
        dt = time.perf_counter() - t
        rows.append(
            {
                "case": f"svid.rollout/N={n}",
                "steps": config.n_steps,
                "seconds": round(dt, 3),
                "node_steps_per_s": round(n * config.n_steps / dt),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-ops", type=int, default=300)
    ap.add_argument("--budget-s", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--svid", action="store_true")
    ap.add_argument("--overhead-ops", type=int, default=300)
    ap.add_argument("--svid-sizes", type=int, nargs="+", default=[1_000, 10_000])
    args = ap.parse_args()

    rows = crypto_rows(args.n_ops, args.budget_s, args.repeats)
    over = overhead_rows(args.overhead_ops)
    rows += over
    if args.svid:
        rows += svid_rows(tuple(args.svid_sizes))
    for r in rows:
        print(json.dumps(r))
    dsa = [r for r in rows if r["case"].startswith("ML-DSA") and r["case"].endswith("/sign")]
    summary = {
        "backends": sorted({r["backend"] for r in rows if "backend" in r}),
        "ml_dsa_sign_median_us": {f"{r['backend']}/{r['case']}": r["median_us"] for r in dsa},
        "liboqs_wrapper_overhead": {r["case"][len("overhead/") :]: r["ratio"] for r in over},
    }
    config = {"algorithms": list(ALGORITHMS), **vars(args)}
    path = save_benchmark("pqc", rows, config=config, summary=summary)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
