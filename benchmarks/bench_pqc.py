"""PQC operation latency per backend, side by side in one run (one JSON line per case).

Usage::

    uv run python benchmarks/bench_pqc.py [--n-ops 300] [--budget-s 3] [--svid]

Each line: algorithm, operation, the median (and p99) in µs per available backend, and
ratios measured in this run: each backend vs ``pqcrypto``, and vs the classical baseline
of the same kind (Ed25519 for signatures, X25519 for KEMs, through ``cryptography``).
With ``--svid`` it also times the SVID lifecycle scan (node-steps per second).
"""

from __future__ import annotations

import argparse
import json
import time

import meshlab

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-ops", type=int, default=300)
    ap.add_argument("--budget-s", type=float, default=3.0)
    ap.add_argument("--svid", action="store_true")
    args = ap.parse_args()

    df = meshlab.benchmark(ALGORITHMS, n_ops=args.n_ops, time_budget_s=args.budget_s)
    med = {
        (r["implementation"], r["algorithm"], r["operation"]): r for r in df.iter_rows(named=True)
    }
    classical = {"kem": "X25519", "signature": "Ed25519"}
    classical_op = {"encaps": "encaps", "decaps": "decaps", "keygen": "keygen"}
    for (impl, alg, op), r in med.items():
        if alg in ("X25519", "Ed25519"):
            continue
        base = med.get(("cryptography", classical[r["kind"]], classical_op.get(op, op)))
        ref = med.get(("pqcrypto", alg, op))
        print(
            json.dumps(
                {
                    "case": f"{alg}/{op}",
                    "backend": impl,
                    "version": r["version"],
                    "ops": r["ops_per_run"],
                    "median_us": round(r["median_us"], 2),
                    "p99_us": round(r["p99_us"], 2),
                    "vs_pqcrypto": round(r["median_us"] / ref["median_us"], 3) if ref else None,
                    "vs_classical": round(r["median_us"] / base["median_us"], 2) if base else None,
                    "cpu": r["cpu_model"],
                }
            )
        )
    if args.svid:
        import jax

        for n in (1_000, 10_000):
            cfg = meshlab.SvidConfig(n_nodes=n, n_steps=2520, dt_s=5.0)
            p = meshlab.svid_params(outages=[(1800.0, 7200.0)])
            meshlab.simulate_svids(jax.random.key(0), p, cfg).t_s.block_until_ready()  # compile
            t = time.perf_counter()
            meshlab.simulate_svids(jax.random.key(1), p, cfg).t_s.block_until_ready()
            dt = time.perf_counter() - t
            print(
                json.dumps(
                    {
                        "case": f"simulate_svids/N={n}",
                        "steps": cfg.n_steps,
                        "seconds": round(dt, 3),
                        "node_steps_per_s": round(n * cfg.n_steps / dt),
                    }
                )
            )


if __name__ == "__main__":
    main()
