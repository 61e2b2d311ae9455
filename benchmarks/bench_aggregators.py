"""Robust aggregators: meshlab (JAX, jit) vs the plain-numpy references, side by side.

Every rule at n in {100, 1000}, d in {1e4, 1e5}, f = 20 % of n, float32 updates (honest
rows N(0, 1), the f Byzantine rows shifted by +1 in every coordinate). JAX: compiled and
warmed up, timed with ``block_until_ready``; numpy: ``meshlab.reference.aggregators``, the
test oracle. One JSON line per case (both times, the ratio, the max |difference|), then the
geometric-mean speed-up per size and the peak RSS. The rows, the per-size summary and the provenance are written to
``benchmarks/results/aggregators.json`` (:func:`meshlab.reporting.evidence.save_benchmark`).

    uv run python benchmarks/bench_aggregators.py                      # full grid
    uv run python benchmarks/bench_aggregators.py --quick              # n = 100, d = 1e4
    uv run python benchmarks/bench_aggregators.py --n 100 --d 10000    # one size
    uv run python benchmarks/bench_aggregators.py --rules krum median  # some rules
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from meshlab.fl.aggregators import AGGREGATORS, make_aggregator
from meshlab.reference import aggregators as ref
from meshlab.reporting.evidence import save_benchmark

RULES = [*AGGREGATORS, "nnm+krum"]


def _time_jax(fn, *args, repeats: int) -> tuple[float, np.ndarray]:
    out = jax.block_until_ready(fn(*args))  # compile + warm-up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best, np.asarray(out[0])


def _time_numpy(fn, *args, repeats: int) -> tuple[float, np.ndarray]:
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--d", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rules", nargs="+", default=RULES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="n = 100, d = 1e4, 3 repeats")
    args = parser.parse_args()
    if args.quick:
        args.n, args.d = [100], [10_000]
    rows, summaries = [], []

    speedups: dict[tuple[int, int], list[float]] = {}
    for n in args.n:
        for d in args.d:
            f = n // 5
            rng = np.random.default_rng(args.seed)
            x = rng.standard_normal((n, d), dtype=np.float32)
            x[:f] += np.float32(1.0)
            mask = np.ones(n, bool)
            xj, mj = jnp.asarray(x), jnp.asarray(mask)
            key = jax.random.key(args.seed)
            big = n * d >= 10**8
            repeats = 3 if args.quick else (2 if big else 7)
            for name in args.rules:
                agg = make_aggregator(name, n=n, f=f)
                t_jax, out = _time_jax(agg.aggregate, key, xj, mj, repeats=repeats)
                t_np, want = _time_numpy(ref.aggregate, name, x, mask, f, repeats=repeats)
                ratio = t_np / t_jax
                speedups.setdefault((n, d), []).append(ratio)
                line = {
                    "bench": "aggregators",
                    "rule": name,
                    "n": n,
                    "d": d,
                    "f": f,
                    "jax_s": round(t_jax, 4),
                    "numpy_s": round(t_np, 4),
                    "speedup": round(ratio, 2),
                    "max_abs_diff": float(np.max(np.abs(out - want))),
                    "backend": jax.default_backend(),
                }
                rows.append(line)
                print(json.dumps(line), flush=True)
            del xj
    for (n, d), r in speedups.items():
        geo = math.exp(sum(math.log(v) for v in r) / len(r))
        summary = {
            "bench": "aggregators_summary",
            "n": n,
            "d": d,
            "geomean_speedup": round(geo, 2),
            "min_speedup": round(min(r), 2),
            "rules": len(r),
        }
        summaries.append(summary)
        print(json.dumps(summary), flush=True)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"bench": "aggregators_peak_rss_gb", "value": round(peak_gb, 2)}))
    path = save_benchmark(
        "aggregators",
        rows,
        config=vars(args),
        summary={"per_size": summaries, "peak_rss_gb": round(peak_gb, 2)},
    )
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
