"""Benchmark: one federated round (local training + attack + aggregation), vmap vs a loop.

Cases (one JSON line each):

* ``round_vmap_vs_loop``: 1,000 clients on the federated digits (logistic regression,
  E = 5 local SGD steps, batch 16), 20 % ALIE attackers, aggregated with each rule in
  ``--rules``. The vectorized round is one jitted call (all clients in one ``vmap``);
  the reference runs the same jitted single-client ``local_update`` in a Python loop
  over the clients, then the same attack and aggregation; the batched baseline maps the
  same single-client update with ``lax.map`` (chunks of 32 clients, one compiled program)
  before the same attack and aggregation. ``ratio`` = loop / vmap, ``ratio_vs_lax_map`` =
  lax.map / vmap. Target: >= 20x against the loop.
* ``local_training_vmap_vs_loop``: local training alone, the ``vmap`` against the
  per-client Python loop and against a batched baseline (the same single-client update
  under ``lax.map`` in chunks of 32 clients, one compiled program).
* ``rounds_per_s``: full synchronous orchestrator rounds (training, attack, detector,
  aggregation, evaluation) on the synthetic federated set with 10,000 clients.

Times are medians of ``--repeats`` runs after a warm-up (compilation excluded). The rows
and the provenance are written to ``benchmarks/results/fl_round.json``
(:func:`meshlab.reporting.evidence.save_benchmark`).

    uv run python benchmarks/bench_fl_round.py            # full sizes
    uv run python benchmarks/bench_fl_round.py --quick    # 100 / 1,000 clients, one rule
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from meshlab import fl
from meshlab.reporting.evidence import save_benchmark

ROWS: list[dict] = []


def _emit(row: dict) -> None:
    ROWS.append(row)
    print(json.dumps(row), flush=True)


def _median_time(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # warm-up / compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_round(n_clients: int, rules: list[str], repeats: int, steps: int, batch: int) -> None:
    key = jax.random.key(0)
    k_data, k_byz, k_p, k_round = jax.random.split(key, 4)
    # 1,000 clients on 1,438 samples: some are empty by design (a throughput benchmark)
    data = fl.load_digits_federated(k_data, n_clients, 0.5, capacity=32, allow_empty_clients=True)
    model = fl.logistic_regression(64, 10)
    params = model.init(k_p)
    f = n_clients // 5
    byz = fl.choose_byzantine(k_byz, n_clients, f)
    k_train, k_att, k_agg = jax.random.split(k_round, 3)
    client_keys = jax.random.split(k_train, n_clients)
    one_client = jax.jit(
        lambda k, x, y, m: fl.local_update(
            k, model, params, x, y, m, steps=steps, batch_size=batch, lr=0.1
        )[0]
    )
    mask_any = data.mask.any(axis=1)

    def train_vmapped():
        return fl.local_updates(
            k_train, model, params, data.x, data.y, data.mask, steps=steps, batch_size=batch, lr=0.1
        )[0]

    train_vmapped = jax.jit(train_vmapped)

    def train_loop():
        rows = [
            one_client(client_keys[c], data.x[c], data.y[c], data.mask[c]) for c in range(n_clients)
        ]
        return jnp.stack(rows)

    def one_of(args):
        k, x, y, m = args
        return fl.local_update(k, model, params, x, y, m, steps=steps, batch_size=batch, lr=0.1)[0]

    # the batched baseline: one compiled program, clients mapped in chunks of 32 (lax.map)
    train_lax_map = jax.jit(
        lambda: lax.map(one_of, (client_keys, data.x, data.y, data.mask), batch_size=32)
    )

    t_vmap = _median_time(train_vmapped, repeats)
    t_loop = _median_time(train_loop, repeats)
    t_map = _median_time(train_lax_map, repeats)
    _emit({
        "case": "local_training_vmap_vs_loop", "n_clients": n_clients, "d": model.n_params,
        "local_steps": steps, "batch_size": batch, "vmap_s": t_vmap, "loop_s": t_loop,
        "lax_map_s": t_map, "ratio": t_loop / t_vmap, "ratio_vs_lax_map": t_map / t_vmap,
        "max_abs_diff": float(jnp.max(jnp.abs(train_vmapped() - train_loop()))),
        "max_abs_diff_lax_map": float(jnp.max(jnp.abs(train_vmapped() - train_lax_map()))),
    })  # fmt: skip

    def round_fns(agg):
        def attack_and_aggregate(deltas):
            return agg.aggregate(k_agg, fl.apply_attack(k_att, "alie", deltas, byz), mask_any)[0]

        attack_and_aggregate = jax.jit(attack_and_aggregate)
        vmapped = jax.jit(lambda: attack_and_aggregate(train_vmapped()))
        mapped = jax.jit(lambda: attack_and_aggregate(train_lax_map()))
        return vmapped, lambda: attack_and_aggregate(train_loop()), mapped

    for rule in rules:
        agg = fl.aggregator_for(rule, n=n_clients, f_max=f).build(n_clients)
        vmapped, loop, mapped = round_fns(agg)
        # same keys, same computation: the three results agree
        diff = float(jnp.max(jnp.abs(vmapped() - loop())))
        diff_map = float(jnp.max(jnp.abs(vmapped() - mapped())))
        t_vmap = _median_time(vmapped, repeats)
        t_loop = _median_time(loop, repeats)
        t_map = _median_time(mapped, repeats)
        _emit({
            "case": "round_vmap_vs_loop", "rule": agg.name, "f": agg.f, "n_clients": n_clients,
            "d": model.n_params, "local_steps": steps, "batch_size": batch, "vmap_s": t_vmap,
            "loop_s": t_loop, "lax_map_s": t_map, "ratio": t_loop / t_vmap,
            "ratio_vs_lax_map": t_map / t_vmap, "max_abs_diff": diff,
            "max_abs_diff_lax_map": diff_map,
        })  # fmt: skip


def bench_rounds_per_s(n_clients: int, rules: list[str], n_rounds: int, repeats: int) -> None:
    key = jax.random.key(1)
    data = fl.synthetic_federated(
        key, n_clients, samples_per_client=16, n_features=20, n_classes=10
    )
    model = fl.ModelSpec("logistic_regression", 20, 10)
    f = n_clients // 5
    byz = np.asarray(fl.choose_byzantine(jax.random.key(2), n_clients, f))
    for rule in rules:
        cfg = fl.FLConfig(model=model, aggregator=fl.aggregator_for(rule, n=n_clients, f_max=f),
                          n_clients=n_clients, n_rounds=n_rounds, attacks=("alie",))  # fmt: skip
        kernel = fl.build(cfg, data)
        scenario = fl.make_params(cfg, byz, client_lr=0.1)
        t = _median_time(
            lambda kernel=kernel, scenario=scenario: (
                fl.rollout(kernel, jax.random.key(3), scenario)[1].accuracy
            ),
            repeats,
        )
        _emit({
            "case": "rounds_per_s", "rule": cfg.aggregator.name, "n_clients": n_clients,
            "d": model.build().n_params, "n_rounds": n_rounds,
            "seconds": t, "rounds_per_s": n_rounds / t,
        })  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-clients", type=int, default=1000)
    p.add_argument("--big-clients", type=int, default=10_000)
    p.add_argument("--rules", default="mean,median,multi_krum")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--quick", action="store_true", help="100 / 1,000 clients, median, 3 repeats")
    a = p.parse_args()
    if a.quick:
        a.n_clients, a.big_clients, a.rules, a.repeats = 100, 1000, "median", 3
    rules = a.rules.split(",")
    bench_round(a.n_clients, rules, a.repeats, a.steps, a.batch)
    bench_rounds_per_s(a.big_clients, rules, a.rounds, max(1, a.repeats // 2))
    ratios = [r["ratio"] for r in ROWS if r["case"] == "round_vmap_vs_loop"]
    summary = {
        "round_vmap_vs_loop_min_ratio": min(ratios) if ratios else None,
        "round_vmap_vs_lax_map_min_ratio": min(
            (r["ratio_vs_lax_map"] for r in ROWS if r["case"] == "round_vmap_vs_loop"),
            default=None,
        ),
        "rounds_per_s": {r["rule"]: r["rounds_per_s"] for r in ROWS if r["case"] == "rounds_per_s"},
    }
    print(f"wrote {save_benchmark('fl_round', ROWS, config=vars(a), summary=summary)}")


if __name__ == "__main__":
    main()
