"""The beacons report's analyses as library calls: tidy polars frames and metric dicts.

Each function runs the beacon model over seeds (one ``vmap`` per point) and returns one
tidy frame, with the same key use the report has always had, so the numbers regenerate::

    from meshlab.mesh import experiments
    k_topo, k_sim, k_loss, k_cpu, k_ref = jax.random.split(jax.random.key(0), 5)
    latency = experiments.latency_by_topology(k_topo, k_sim, [100], ["grid_2d"], 8, 16, 50, 4)
    delivery = experiments.delivery_iid_vs_bursty(k_loss, 100, 8, [0.05], 0.25, 50, 4)
    cpu = experiments.cpu_vs_degree(k_cpu, 60, [4, 8, 16], 24, 0.03, 50, 4)
    approx = meshlab.reference.beacons.round_model_error(k_ref, 40, 8, 20, 4)
    metrics = experiments.summary_metrics(latency, cpu, approx)

The round-vs-event comparison lives with the references
(:func:`meshlab.reference.beacons.round_model_error`). Means are over seeds with 95 %
Student-t half-widths (``*_ci95``); latencies in ms.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
import polars as pl

from meshlab.mesh import beacons, topology

__all__ = [
    "QUANTILES",
    "cpu_vs_degree",
    "delivery_iid_vs_bursty",
    "latency_by_topology",
    "seed_stats",
    "summary_metrics",
]

QUANTILES = ("p50_s", "p95_s", "p99_s")


def seed_stats(
    key: jax.Array,
    topo: topology.Topology,
    config: beacons.BeaconConfig,
    params: beacons.BeaconParams,
    n_rounds: int,
    n_seeds: int,
) -> dict:
    """Mean ± CI over ``n_seeds`` runs of one point: :func:`beacons.summarize_seeds`."""
    kernel = beacons.build(config, topo)
    states, _ = beacons.rollout_seeds(kernel, key, params, n_rounds, n_seeds)
    return beacons.summarize_seeds(states, config, params)


def latency_by_topology(
    key_topo: jax.Array,
    key_sim: jax.Array,
    sizes: Sequence[int],
    kinds: Sequence[str],
    degree: int,
    capacity: int,
    n_rounds: int,
    n_seeds: int,
    config: beacons.BeaconConfig | None = None,
    params: beacons.BeaconParams | None = None,
) -> pl.DataFrame:
    """Latency quantiles, delivery and CPU per topology family and size.

    Every family at mean degree ``degree`` in a table of capacity ``capacity`` (one
    compiled simulation per size); point ``(i, j)`` uses ``fold_in(key, 100 i + j)``.

    Returns:
        One row per (topology, n_nodes): ``mean_degree``, ``max_degree``, ``overflow``,
        ``connected``, ``p50_ms``/``p95_ms``/``p99_ms`` and their ``*_ci95``,
        ``delivery_ratio``, ``cpu_util_max`` (means over seeds).
    """
    config = beacons.BeaconConfig() if config is None else config
    params = beacons.params() if params is None else params
    rows = []
    for i, n in enumerate(sizes):
        for j, kind in enumerate(kinds):
            topo = topology.build_topology(
                kind, jax.random.fold_in(key_topo, 100 * i + j), n, degree, capacity
            )
            deg = topology.degree_stats(topo)
            res = seed_stats(
                jax.random.fold_in(key_sim, 100 * i + j), topo, config, params, n_rounds, n_seeds
            )
            row = {
                "topology": kind,
                "n_nodes": n,
                "mean_degree": deg["mean"],
                "max_degree": deg["max"],
                "overflow": deg["overflow"],
                "connected": topology.is_connected(topo),
            }
            for m in QUANTILES:
                row[m.replace("_s", "_ms")] = 1e3 * res[m]["mean"]
                row[m.replace("_s", "_ms_ci95")] = 1e3 * res[m]["ci95"]
            row["delivery_ratio"] = res["delivery_ratio"]["mean"]
            row["cpu_util_max"] = res["cpu_util_max"]["mean"]
            rows.append(row)
    return pl.DataFrame(rows)


def delivery_iid_vs_bursty(
    key: jax.Array,
    n_nodes: int,
    degree: int,
    loss_levels: Sequence[float],
    ge_r: float,
    n_rounds: int,
    n_seeds: int,
) -> pl.DataFrame:
    """Delivery under iid vs Gilbert–Elliott loss of the same long-run rate.

    Gilbert–Elliott with bad->good ``ge_r`` and good->bad ``p = r loss / (1 - loss)``, so
    ``p / (p + r) = loss``. The topology is ``random_regular(key, n_nodes, degree)``; loss
    level ``i`` runs with ``fold_in(key, i)``.

    Returns:
        One row per (loss, model): ``delivery_ratio``, ``ci95``, ``expected`` (``1 -
        loss``), ``seed_sd`` (run-to-run standard deviation).
    """
    topo = topology.random_regular(key, n_nodes, degree)
    rows = []
    for i, loss in enumerate(loss_levels):
        for model in ("iid", "gilbert_elliott"):
            cfg = beacons.BeaconConfig(loss_model=model)
            ge_p = ge_r * loss / (1 - loss)
            prm = beacons.params(loss_p=loss, ge_p=ge_p, ge_r=ge_r)
            d = seed_stats(jax.random.fold_in(key, i), topo, cfg, prm, n_rounds, n_seeds)
            d = d["delivery_ratio"]
            rows.append(
                {
                    "loss": loss,
                    "model": model,
                    "delivery_ratio": d["mean"],
                    "ci95": d["ci95"],
                    "expected": 1 - loss,
                    "seed_sd": float(np.std(d["values"], ddof=1)) if d["n"] > 1 else float("nan"),
                }
            )
    return pl.DataFrame(rows)


def cpu_vs_degree(
    key: jax.Array,
    n_nodes: int,
    degrees: Sequence[int],
    capacity: int,
    verify_s: float,
    n_rounds: int,
    n_seeds: int,
) -> pl.DataFrame:
    """CPU utilization and queueing vs degree (exponential verify, sends spread over 1 s).

    Degree ``i`` uses the topology ``random_regular(fold_in(key, i), ...)`` with capacity
    ``capacity`` (one compilation for all degrees) and the run key ``fold_in(key, 1000 + i)``.

    Returns:
        One row per degree: ``offered_load`` (degree x verify x (1 - loss)),
        ``cpu_util_mean`` and ``cpu_util_ci95``, ``mean_wait_ms`` and ``mean_wait_ms_ci95``,
        ``p99_ms``, ``max_backlog_ms``.
    """
    cfg = beacons.BeaconConfig(service_dist="exponential")
    prm = beacons.params(verify_mean_s=verify_s, send_jitter_s=1.0)
    rows = []
    for i, d in enumerate(degrees):
        topo = topology.random_regular(jax.random.fold_in(key, i), n_nodes, d, max_degree=capacity)
        res = seed_stats(jax.random.fold_in(key, 1000 + i), topo, cfg, prm, n_rounds, n_seeds)
        rows.append(
            {
                "degree": d,
                "offered_load": d * verify_s * (1 - float(prm.loss_p)),
                "cpu_util_mean": res["cpu_util_mean"]["mean"],
                "cpu_util_ci95": res["cpu_util_mean"]["ci95"],
                "mean_wait_ms": 1e3 * res["mean_wait_s"]["mean"],
                "mean_wait_ms_ci95": 1e3 * res["mean_wait_s"]["ci95"],
                "p99_ms": 1e3 * res["p99_s"]["mean"],
                "max_backlog_ms": 1e3 * res["max_backlog_s"]["mean"],
            }
        )
    return pl.DataFrame(rows)


def summary_metrics(
    latency: pl.DataFrame,
    cpu: pl.DataFrame,
    approx: pl.DataFrame,
    config: beacons.BeaconConfig | None = None,
    params: beacons.BeaconParams | None = None,
) -> dict:
    """The report's headline scalars from the frames above.

    Returns:
        ``n_nodes_largest``, ``p50_ms_random_regular_largest``,
        ``p99_ms_random_regular_largest`` (+ ``p99_ms_ci95_...``),
        ``p99_ms_max_over_topologies_largest``, ``delivery_ratio_random_regular_largest``,
        ``cpu_util_at_max_degree``, ``mean_wait_ms_at_max_degree``,
        ``round_approx_max_rel_error``, ``round_model_tolerance``,
        ``histogram_bin_rel_error``, ``verify_mean_s``, ``beacon_bytes``.
    """
    config = beacons.BeaconConfig() if config is None else config
    params = beacons.params() if params is None else params
    rr = latency.filter(pl.col("topology") == "random_regular")
    if rr.height == 0:
        rr = latency
    big = int(rr["n_nodes"].max())
    row = rr.filter(pl.col("n_nodes") == big).row(0, named=True)
    return {
        "n_nodes_largest": big,
        "p50_ms_random_regular_largest": row["p50_ms"],
        "p99_ms_random_regular_largest": row["p99_ms"],
        "p99_ms_ci95_random_regular_largest": row["p99_ms_ci95"],
        "p99_ms_max_over_topologies_largest": float(
            latency.filter(pl.col("n_nodes") == big)["p99_ms"].max()
        ),
        "delivery_ratio_random_regular_largest": row["delivery_ratio"],
        "cpu_util_at_max_degree": float(cpu["cpu_util_mean"][-1]),
        "mean_wait_ms_at_max_degree": float(cpu["mean_wait_ms"][-1]),
        "round_approx_max_rel_error": float(approx["rel_error"].abs().max()),
        "round_model_tolerance": beacons.ROUND_MODEL_TOLERANCE,
        "histogram_bin_rel_error": config.bin_rel_error,
        "verify_mean_s": float(params.verify_mean_s),
        "beacon_bytes": float(params.beacon_bytes),
    }
