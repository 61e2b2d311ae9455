"""Chaos benchmark: the catalogue x seeds as batched compiled calls vs a Python loop, and
one endurance scenario at a large N (time, peak RSS at two round counts: memory flat in
rounds).

    uv run python benchmarks/bench_chaos.py                       # N = 1,000, 5 seeds
    uv run python benchmarks/bench_chaos.py --sizes 250 1000 4000  # + batch vs loop by N
    uv run python benchmarks/bench_chaos.py --endurance-nodes 1000000 --endurance-rounds 1000

Both sides of the comparison use the same compiled step (the loop calls the jitted
one-scenario, one-seed scan once per (scenario, seed); the batch ``vmap`` s scenarios and
seeds in one call per chunk); compilation is excluded from both timings (each is run once
to warm up) and reported separately. The results must be identical bit for bit.
Writes ``benchmarks/results/chaos.json`` (the catalogue) and, with ``--endurance-nodes``,
``benchmarks/results/chaos_endurance.json`` (40 to 50 minutes at 10^6 nodes x 1,000
rounds, so it is run on its own) via ``meshlab.reporting.evidence.save_benchmark``.
Chunks of ``--batch`` scenarios: on CPU ``vmap`` adds no parallelism, and large chunks
run slower than the loop (54 scenarios a chunk measured 0.56x, 6 about 1x). ``--sizes``
repeats the comparison on the first ``--sizes-limit`` scenarios at each N: what batching
can save is the fixed cost per round, which shrinks against the per-node work as N grows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import jax
import numpy as np

from meshlab.chaos import compile as cc
from meshlab.chaos import controller as ctl
from meshlab.chaos import experiments, scenario
from meshlab.mesh import topology
from meshlab.reporting.evidence import save_benchmark


def _catalogue(n_nodes: int, degree: int, n_rounds: int, n_seeds: int, batch: int, limit: int):
    scs = scenario.load_catalogue()[: limit or None]
    topo = topology.random_regular(jax.random.key(0), n_nodes, degree)
    kernel = ctl.build(ctl.ChaosConfig(n_rounds=n_rounds, n_buckets=10), topo)
    comp, errors = experiments.compile_all(scs, topo, n_rounds)
    plist = [ctl.params(c) for c in comp if c is not None]
    key = jax.random.key(1)
    keys = jax.random.split(key, n_seeds)
    chunks = [plist[i : i + batch] for i in range(0, len(plist), batch)]

    def batched():
        out = []
        for ch in chunks:
            out.append(experiments.run_batch(kernel, key, experiments._stack_params(ch), n_seeds))
        return out

    def loop():
        return [[experiments.run_one(kernel, k, p) for k in keys] for p in plist]

    t0 = time.perf_counter()
    experiments.run_batch(kernel, key, experiments._stack_params(chunks[0]), n_seeds)
    if len(chunks[-1]) != len(chunks[0]):
        experiments.run_batch(kernel, key, experiments._stack_params(chunks[-1]), n_seeds)
    compile_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    experiments.run_one(kernel, keys[0], plist[0])
    compile_loop = time.perf_counter() - t0

    t0 = time.perf_counter()
    res_b = batched()
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    res_l = loop()
    t_loop = time.perf_counter() - t0

    same = True
    for b, p_runs in enumerate(res_l):
        c, j = divmod(b, batch)
        st, info = res_b[c]
        for s, (one_st, one_info) in enumerate(p_runs):
            for name in ("last_bad", "first_detect", "convict_round", "bucket_good"):
                same &= bool(np.array_equal(st[name][j, s], one_st[name]))
            for name in ("delivery", "p99_s"):
                same &= bool(np.array_equal(info[name][j, s], one_info[name], equal_nan=True))
    return {
        "case": "catalogue",
        "n_nodes": n_nodes,
        "degree": degree,
        "n_rounds": n_rounds,
        "n_seeds": n_seeds,
        "n_scenarios": len(plist),
        "compile_errors": len(errors),
        "batch_size": batch,
        "compile_batched_s": compile_batch,
        "compile_loop_s": compile_loop,
        "batched_s": t_batch,
        "loop_s": t_loop,
        "speedup": t_loop / t_batch,
        "identical": same,
    }


def _endurance_child(n_nodes: int, degree: int, n_rounds: int) -> None:
    """Runs one endurance scenario; prints a JSON line with times and peak RSS."""
    t0 = time.perf_counter()
    topo = topology.random_regular(jax.random.key(0), n_nodes, degree)
    sc = scenario.Scenario.parse(
        {
            "name": "endurance-bench",
            "category": "endurance",
            "description": "bench",
            "expected": "recovers",
            "faults": [{"kind": "endurance", "mtbf": max(n_rounds // 8, 1), "mean_down": 5}],
        },
        "bench",
    )
    comp = cc.compile_scenario(sc, topo, n_rounds)
    t_setup = time.perf_counter() - t0
    kernel = ctl.build(ctl.ChaosConfig(n_rounds=n_rounds, n_buckets=10), topo)
    t0 = time.perf_counter()
    st, info = experiments.run_one(kernel, jax.random.key(2), ctl.params(comp))
    t_run = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "case": "endurance",
                "n_nodes": n_nodes,
                "n_rounds": n_rounds,
                "fault_slots": comp.faults.n_slots,
                "setup_s": t_setup,
                "run_s_incl_compile": t_run,
                "availability": 1.0 - int(st["bad_rounds"]) / n_rounds,
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-nodes", type=int, default=1000)
    ap.add_argument("--degree", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=120)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--limit", type=int, default=0, help="first N catalogue scenarios (0: all)")
    ap.add_argument("--sizes", type=int, nargs="*", default=[], help="also compare at these N")
    ap.add_argument("--sizes-limit", type=int, default=12, help="scenarios per --sizes run")
    ap.add_argument("--endurance-nodes", type=int, default=0)
    ap.add_argument("--endurance-rounds", type=int, default=1000)
    ap.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _endurance_child(*a.child)
        return
    if a.endurance_nodes:
        end = []
        for r in sorted({max(a.endurance_rounds // 5, 1), a.endurance_rounds}):
            cmd = [sys.executable, __file__, "--child", str(a.endurance_nodes), str(a.degree)]
            out = subprocess.run([*cmd, str(r)], capture_output=True, text=True, check=True)
            end.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(end[-1], flush=True)
        summary = {
            "endurance_n_nodes": end[-1]["n_nodes"],
            "endurance_rounds": end[-1]["n_rounds"],
            "endurance_run_s": end[-1]["run_s_incl_compile"],
            "endurance_peak_rss_gb": end[-1]["peak_rss_gb"],
            "endurance_rss_gb_by_rounds": {str(r["n_rounds"]): r["peak_rss_gb"] for r in end},
        }
        config = {k: getattr(a, k) for k in ("degree", "endurance_nodes", "endurance_rounds")}
        print(save_benchmark("chaos_endurance", end, config=config, summary=summary))
        return
    row = _catalogue(a.n_nodes, a.degree, a.rounds, a.seeds, a.batch, a.limit)
    print(row, flush=True)
    rows = [row]
    for n in a.sizes:
        r = _catalogue(n, a.degree, a.rounds, a.seeds, a.batch, a.sizes_limit)
        r["case"] = "by_size"
        r["loop_ms_per_run_round"] = 1e3 * r["loop_s"] / (r["n_scenarios"] * a.seeds * a.rounds)
        r["batched_ms_per_run_round"] = (
            1e3 * r["batched_s"] / (r["n_scenarios"] * a.seeds * a.rounds)
        )
        print(r, flush=True)
        rows.append(r)
    summary = {
        "catalogue_speedup": row["speedup"],
        "catalogue_identical": row["identical"],
        "catalogue_batched_s": row["batched_s"],
        "catalogue_loop_s": row["loop_s"],
        "catalogue_batch_size": row["batch_size"],
        "speedup_by_n": {str(r["n_nodes"]): r["speedup"] for r in rows[1:]},
        "identical_by_n": all(r["identical"] for r in rows[1:]),
    }
    config = {k: v for k, v in vars(a).items() if k not in ("child", "endurance_nodes")}
    print(save_benchmark("chaos", rows, config=config, summary=summary))


if __name__ == "__main__":
    main()
