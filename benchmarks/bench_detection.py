"""Failure-detector update throughput: meshlab (jit + lax.scan) vs hand-vectorized numpy.

Both run the same per-link update (timeout; φ-accrual normal and exponential models with
the EWMA estimator) plus a per-round suspicion count over N x K links for R rounds, on the
same arrival pattern: link (i, k) misses the beacon of round r when (i + 3 k + r) % 10 == 0
(10 % loss) and otherwise receives it at r + offset[i, k] (a fixed jitter in [0, 0.1) s).
Prints one JSON line per case with link-updates per second for both and their ratio, plus
peak RSS, and writes them with provenance to ``benchmarks/results/detection.json``
(:func:`meshlab.reporting.evidence.save_benchmark`). The numpy result is checked against
meshlab's (same suspicion counts).

    uv run python benchmarks/bench_detection.py                  # N = 1e6, K = 8, 20 rounds
    uv run python benchmarks/bench_detection.py --quick          # N = 1e5, 2 repeats
    uv run python benchmarks/bench_detection.py --n-nodes 100000 --rounds 50
"""

import argparse
import json
import math
import os
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from meshlab.membership import detectors
from meshlab.reporting.evidence import save_benchmark

A, B = 1.5976, 0.070566


def numpy_run(kind, offset, rounds, timeout_s, threshold, window, min_std, first_hb):
    """The same detectors in plain vectorized numpy (float32), one round at a time."""
    n, k = offset.shape
    last = np.zeros((n, k), np.float32)
    monitored = np.zeros((n, k), bool)
    mean = np.zeros((n, k), np.float32)
    var = np.zeros((n, k), np.float32)
    count = np.zeros((n, k), np.int32)
    alpha = np.float32(2.0 / (window + 1.0))
    ln10 = np.float32(math.log(10.0))
    ii = np.arange(n)[:, None]
    kk = np.arange(k)[None, :]
    counts = []

    def phi(t):
        elapsed = np.float32(t) - last
        if kind == "normal":
            std = np.maximum(np.sqrt(var), np.float32(min_std))
            y = (elapsed - mean) / std
            z = y * (A + B * y * y)
            value = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / ln10  # softplus
        else:
            with np.errstate(divide="ignore", invalid="ignore"):  # unmonitored: mean 0
                value = np.maximum(elapsed, 0) / (mean * ln10)
        return np.where(monitored, value, np.float32(0))

    for r in range(rounds):
        arrived = (ii + 3 * kk + r) % 10 != 0
        t = np.float32(r) + offset
        first = arrived & ~monitored
        again = arrived & monitored
        if kind == "timeout":
            last = np.where(arrived, np.where(first, t, np.maximum(last, t)), last)
            monitored |= arrived
            t_now = np.float32(r + 1)
            counts.append(int((monitored & (t_now - last > np.float32(timeout_s))).sum()))
            continue
        interval = np.maximum(t - last, np.float32(0))
        record = again & (phi(t) < threshold)
        count = count + record
        a = np.maximum(np.float32(1) / np.maximum(count, 1).astype(np.float32), alpha)
        d = interval - mean
        mean = np.where(record, mean + a * d, mean)
        var = np.where(record, (1 - a) * (var + a * d * d), var)
        mean = np.where(first, np.float32(first_hb), mean)
        var = np.where(first, np.float32((first_hb / 4) ** 2), var)
        count = np.where(first, 2, count)
        last = np.where(first, t, np.where(again, np.maximum(last, t), last))
        monitored |= arrived
        counts.append(int((monitored & (phi(np.float32(r + 1)) >= threshold)).sum()))
    return np.asarray(counts)


def meshlab_run(det, offset, rounds):
    spec, prm = det
    n, k = offset.shape
    ii = jnp.arange(n)[:, None]
    kk = jnp.arange(k)[None, :]

    @jax.jit
    def run(offset):
        def body(state, r):
            arrived = (ii + 3 * kk + r) % 10 != 0
            t = r.astype(jnp.float32) + offset
            state = spec.update(prm, state, arrived, t, t.max())
            t_now = (r + 1).astype(jnp.float32)
            return state, spec.suspect(prm, state, t_now).sum(dtype=jnp.int32)

        return jax.lax.scan(body, spec.init(n, k), jnp.arange(rounds, dtype=jnp.int32))[1]

    compiled = run.lower(offset).compile()
    return compiled


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-nodes", type=int, default=1_000_000)
    ap.add_argument("--degree", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="N = 1e5 and 2 repeats (a short run)")
    ap.add_argument("--out-dir", default=None, help="results folder (default benchmarks/results)")
    args = ap.parse_args()
    if args.quick:
        args.n_nodes, args.repeats = 100_000, 2
    n, k, rounds = args.n_nodes, args.degree, args.rounds
    offset_np = (np.random.default_rng(0).random((n, k)) * 0.1).astype(np.float32)
    offset = jnp.asarray(offset_np)
    opts = dict(timeout_s=2.5, threshold=8.0, window=100, min_std=0.1, first_hb=1.0)
    cases = {
        "timeout": detectors.timeout(opts["timeout_s"]),
        "normal": detectors.phi_accrual(threshold=opts["threshold"], window=opts["window"]),
        "exponential": detectors.phi_accrual(
            threshold=opts["threshold"], window=opts["window"], model="exponential"
        ),
    }
    rows = []
    for kind, det in cases.items():
        compiled = meshlab_run(det, offset, rounds)
        jax_counts = np.asarray(compiled(offset))  # warm-up
        t_jax = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            compiled(offset).block_until_ready()
            t_jax.append(time.perf_counter() - t0)
        t_np = []
        for _ in range(max(1, args.repeats - 1)):
            t0 = time.perf_counter()
            np_counts = numpy_run(kind, offset_np, rounds, **opts)
            t_np.append(time.perf_counter() - t0)
        links = n * k * rounds
        rows.append(
            {
                "case": f"detector_update_{kind}",
                "n_nodes": n,
                "degree": k,
                "rounds": rounds,
                "meshlab_link_updates_per_s": links / min(t_jax),
                "numpy_link_updates_per_s": links / min(t_np),
                "ratio_meshlab_vs_numpy": min(t_np) / min(t_jax),
                "suspect_counts_equal": bool(np.array_equal(jax_counts, np_counts)),
                "max_count_diff": int(np.abs(jax_counts - np_counts).max()),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "load_avg_1m": os.getloadavg()[0],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    summary = {
        f"ratio_meshlab_vs_numpy_{r['case'].removeprefix('detector_update_')}": r[
            "ratio_meshlab_vs_numpy"
        ]
        for r in rows
    }
    summary["suspect_counts_equal"] = all(r["suspect_counts_equal"] for r in rows)
    config = {**vars(args), **opts}
    path = save_benchmark("detection", rows, config=config, summary=summary, out_dir=args.out_dir)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
