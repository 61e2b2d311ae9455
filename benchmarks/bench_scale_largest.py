"""The largest beacon simulation this machine can do: time and peak memory.

Default: 10⁷ nodes × degree 8 × 100 rounds (random regular mesh, default beacon params,
one seed). Measures the topology build, the first rollout chunk (compile + run) and the
remaining chunks separately, and the process's peak resident set size; writes
``benchmarks/results/scale_largest.json`` with provenance
(:func:`meshlab.reporting.evidence.save_benchmark`), which the scaling report reads.

    uv run python benchmarks/bench_scale_largest.py               # 10^7 x 8 x 100
    uv run python benchmarks/bench_scale_largest.py --nodes 100000 --rounds 20   # quick

A link-event is one directed link carrying (or not) one beacon in one round.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import jax
import numpy as np

from meshlab.mesh import beacons, topology
from meshlab.reporting.evidence import save_benchmark


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0**2  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nodes", type=int, default=10_000_000)
    ap.add_argument("--degree", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--chunk", type=int, default=25, help="rounds per rollout call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="scale_largest")
    a = ap.parse_args()
    if a.rounds % a.chunk:
        raise SystemExit(f"--rounds={a.rounds} must be a multiple of --chunk={a.chunk}")
    k_topo, k_sim = jax.random.split(jax.random.key(a.seed))
    t0 = time.perf_counter()
    topo = topology.random_regular(k_topo, n_nodes=a.nodes, degree=a.degree)
    t_topo = time.perf_counter() - t0
    rss_topo = _peak_rss_gb()
    config = beacons.BeaconConfig()
    params = beacons.params()
    kernel = beacons.build(config, topo)
    del topo
    state, chunk_s = None, []
    for c in range(a.rounds // a.chunk):
        t1 = time.perf_counter()
        state, _ = beacons.rollout(
            kernel, jax.random.fold_in(k_sim, c), params, a.chunk, state=state
        )
        jax.block_until_ready(state)
        chunk_s.append(time.perf_counter() - t1)
        # saved after every chunk: a run stopped early still leaves its figures
        _save(a, config, params, state, t_topo, rss_topo, chunk_s)


def _save(a, config, params, state, t_topo, rss_topo, chunk_s) -> None:
    summ = beacons.summarize(state, config, params)
    # the first call compiles the fresh-state rollout, the second the carried-state one
    steady = chunk_s[2:] if len(chunk_s) > 2 else chunk_s[-1:]
    done = a.chunk * len(chunk_s)
    row = {
        "n_nodes": a.nodes,
        "degree": a.degree,
        "rounds": a.rounds,
        "rounds_done": done,
        "complete": done == a.rounds,
        "topology_s": t_topo,
        "first_chunk_s": chunk_s[0],
        "chunk_s": chunk_s,
        "simulate_s": float(sum(chunk_s)),
        "total_s": t_topo + float(sum(chunk_s)),
        "steady_link_events_per_s": a.nodes * a.degree * a.chunk / float(np.median(steady)),
        "peak_rss_gb": _peak_rss_gb(),
        "peak_rss_after_topology_gb": rss_topo,
        "load_avg_1min": os.getloadavg()[0],
        "p99_ms": 1e3 * summ["p99_s"],
        "delivery_ratio": summ["delivery_ratio"],
        "cpu_util_mean": summ["cpu_util_mean"],
    }
    path = save_benchmark(a.name, [row], config=vars(a), summary=row)
    print(path, {k: v for k, v in row.items() if k != "chunk_s"}, flush=True)


if __name__ == "__main__":
    main()
