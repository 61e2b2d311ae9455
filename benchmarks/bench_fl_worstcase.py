"""Benchmark: the worst-case grid as one compiled sweep vs its cells run one by one.

Case ``worst_case_sweep_vs_cells`` (one JSON line per rule): the grid of
:func:`meshlab.fl.experiments.worst_case_sweep` (Dirichlet alpha x Byzantine count f x
attack x seed, digits, logistic regression) for one rule,

* **sweep**: one call of ``worst_case_sweep`` (one compilation per rule, built for the
  largest f and told each cell's f at run time; inside, (attack, f) cells, alpha splits and
  seeds are nested ``lax.map`` loops of the unbatched run, so every cell is the program
  ``rollout`` compiles);
* **cells**: the same cells (clean runs included) one at a time with
  :func:`meshlab.fl.rollout`, the way a Python loop of runs does it: the rule built for each
  cell's f (one compilation per f, shared by its cells), the same keys, attacker sets and
  params, then one jitted call per cell.

Both are timed cold (compilation included: ``*_cold_s``) and warm (median of
``--repeats`` calls after the first: ``*_s``); ``max_abs_diff`` is the largest difference of
the final accuracies (0.0 when bit for bit; the rules here use no f-sized random sample,
the only part of a rule a run-time f does not resize). Results with provenance go to
``benchmarks/results/fl_worstcase.json`` (:func:`meshlab.reporting.evidence.save_benchmark`).

    uv run python benchmarks/bench_fl_worstcase.py            # n = 15, 2 alphas, f 1-7, 2 seeds
    uv run python benchmarks/bench_fl_worstcase.py --quick    # a smaller grid
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import jax
import numpy as np
import polars as pl

from meshlab import fl
from meshlab.reporting.evidence import save_benchmark

ROWS: list[dict] = []


def _emit(row: dict) -> None:
    ROWS.append(row)
    print(json.dumps(row), flush=True)


def _timed(fn, repeats: int) -> tuple[float, float, object]:
    t0 = time.perf_counter()
    out = fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        warm.append(time.perf_counter() - t0)
    return cold, statistics.median(warm), out


def bench(args) -> None:
    n, alphas, f_values, n_seeds = args.n_clients, args.alphas, args.f_values, args.seeds
    attacks = fl.WORST_CASE_ATTACKS
    data = fl.alpha_datasets(jax.random.key(0), n, alphas)
    cfg = fl.FLConfig(model=fl.ModelSpec("logistic_regression", 64, 10), n_clients=n,
                      n_rounds=args.rounds, local_steps=5, batch_size=16)  # fmt: skip
    key = jax.random.key(1)
    for rule in args.rules:

        def sweep(rule=rule):
            return fl.worst_case_sweep(
                key, data, alphas, cfg, [rule], f_values, n_seeds, attacks=attacks, client_lr=0.3
            )

        sweep_cold, sweep_warm, runs = _timed(sweep, args.repeats)
        # the same cells one by one, as a loop would run them: the rule built for each cell's
        # f (the sweep's cells tell one compiled rule their f), the sweep's keys and attacker
        # sets; the clean runs with the rule for the first f
        table = ("none", *attacks)
        base = dataclasses.replace(cfg, attacks=table, detector=None, orchestrator="sync")
        conf = {
            f: dataclasses.replace(base, aggregator=fl.aggregator_for(rule, n=n, f_max=f))
            for f in f_values
        }
        conf[0] = conf[f_values[0]]
        k_byz, k_run = jax.random.split(key)
        byz_keys, run_keys = jax.random.split(k_byz, n_seeds), jax.random.split(k_run, n_seeds)
        kernels = {
            (a, f): fl.build(c, jax.tree.map(lambda x, i=a: x[i], data))
            for f, c in conf.items() for a in range(len(alphas))
        }  # fmt: skip
        cells = [(0, a, 0, s) for a in range(len(alphas)) for s in range(n_seeds)]
        cells += [(ai, a, f, s) for ai in range(1, len(table)) for a in range(len(alphas))
                  for f in f_values for s in range(n_seeds)]  # fmt: skip
        params = {
            (ai, f, s): fl.make_params(
                conf[f], np.asarray(fl.choose_byzantine(byz_keys[s], n, f)) if f else
                np.zeros(n, bool), attack=ai, client_lr=0.3,
            )
            for ai, _, f, s in cells
        }  # fmt: skip

        def loop(cells=cells, kernels=kernels, params=params, run_keys=run_keys):
            return [
                float(fl.rollout(kernels[(a, f)], run_keys[s], params[(ai, f, s)])[1].accuracy[-1])
                for ai, a, f, s in cells
            ]

        loop_cold, loop_warm, accs = _timed(loop, args.repeats)
        ref = pl.DataFrame(
            {"alpha": [float(alphas[a]) for _, a, _, _ in cells], "f": [f for *_, f, _ in cells],
             "attack": [table[ai] for ai, *_ in cells], "seed": [s for *_, s in cells],
             "loop": accs}
        )  # fmt: skip
        both = runs.join(ref, on=["alpha", "f", "attack", "seed"], how="inner")
        assert both.height == len(cells), (both.height, len(cells))
        diff = float((both["final_accuracy"] - both["loop"]).abs().max())
        _emit({
            "case": "worst_case_sweep_vs_cells", "rule": rule, "n_clients": n,
            "alphas": list(alphas), "f_values": list(f_values), "attacks": list(attacks),
            "n_seeds": n_seeds, "rounds": args.rounds, "cells": len(cells),
            "sweep_cold_s": sweep_cold, "sweep_s": sweep_warm, "cells_cold_s": loop_cold,
            "cells_s": loop_warm, "ratio_cold": loop_cold / sweep_cold,
            "ratio": loop_warm / sweep_warm, "max_abs_diff": diff,
        })  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller grid")
    ap.add_argument("--rules", nargs="+", default=["median", "nnm+krum"])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if args.quick:
        args.n_clients, args.alphas, args.f_values, args.seeds, args.rounds = (
            8,
            [0.1, 10.0],
            [1, 3],
            2,
            5,
        )
        args.rules = args.rules[:1]
    else:
        args.n_clients, args.alphas, args.f_values, args.seeds, args.rounds = (
            15,
            [0.1, 10.0],
            [1, 2, 3, 4, 5, 6, 7],
            2,
            10,
        )
    bench(args)
    cfg = {k: v for k, v in vars(args).items()}
    summary = (
        {f"{r['rule']}_ratio": round(r["ratio"], 2) for r in ROWS}
        | {f"{r['rule']}_ratio_cold": round(r["ratio_cold"], 2) for r in ROWS}
        | {"max_abs_diff": max(r["max_abs_diff"] for r in ROWS)}
    )
    print(save_benchmark("fl_worstcase", ROWS, config=cfg, summary=summary))


if __name__ == "__main__":
    main()
