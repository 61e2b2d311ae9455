"""The beacons report's library functions: frames equal direct model runs; charts build."""

import jax
import numpy as np
import polars as pl
import pytest

from meshlab.mesh import beacons, experiments, topology
from meshlab.reference.beacons import round_model_error
from meshlab.reporting.charts import beacons as charts

ROUNDS, SEEDS = 5, 2


@pytest.fixture(scope="module")
def latency():
    return experiments.latency_by_topology(
        jax.random.key(1),
        jax.random.key(2),
        [40],
        ["random_regular", "grid_2d"],
        4,
        8,
        ROUNDS,
        SEEDS,
    )


def test_latency_by_topology_equals_direct_runs(latency):
    assert latency.height == 2 and latency["topology"].to_list() == ["random_regular", "grid_2d"]
    # point (i=0, j=1): topology and run keys folded with 100 i + j
    topo = topology.build_topology("grid_2d", jax.random.fold_in(jax.random.key(1), 1), 40, 4, 8)
    res = experiments.seed_stats(
        jax.random.fold_in(jax.random.key(2), 1),
        topo,
        beacons.BeaconConfig(),
        beacons.params(),
        ROUNDS,
        SEEDS,
    )
    row = latency.row(1, named=True)
    assert row["p99_ms"] == 1e3 * res["p99_s"]["mean"]
    assert row["p99_ms_ci95"] == 1e3 * res["p99_s"]["ci95"]
    assert row["delivery_ratio"] == res["delivery_ratio"]["mean"]
    assert (latency["p50_ms"] <= latency["p95_ms"]).all()
    assert (latency["p95_ms"] <= latency["p99_ms"]).all()


def test_delivery_and_cpu_frames():
    d = experiments.delivery_iid_vs_bursty(jax.random.key(3), 40, 4, [0.1, 0.3], 0.25, 20, SEEDS)
    assert d["model"].to_list() == ["iid", "gilbert_elliott"] * 2
    np.testing.assert_allclose(d["expected"], [0.9, 0.9, 0.7, 0.7])
    assert (d["delivery_ratio"] - d["expected"]).abs().max() < 0.1  # 1,600 links x 2 seeds
    cpu = experiments.cpu_vs_degree(jax.random.key(4), 40, [2, 6], 8, 0.05, 20, SEEDS)
    np.testing.assert_allclose(cpu["offered_load"], [2 * 0.05 * 0.99, 6 * 0.05 * 0.99])
    # utilization = offered load (busy time / time), up to sampling noise
    assert (cpu["cpu_util_mean"] - cpu["offered_load"]).abs().max() < 0.05
    assert cpu["mean_wait_ms"][1] > cpu["mean_wait_ms"][0]


def test_round_model_error_uses_the_documented_tolerance():
    approx = round_model_error(jax.random.key(5), 30, 4, 10, 2)
    assert approx["quantile"].to_list() == ["p50", "p95", "p99"]
    np.testing.assert_allclose(
        approx["tolerance"], beacons.ROUND_MODEL_TOLERANCE + approx["allowance"]
    )
    np.testing.assert_allclose(
        approx["rel_error"], approx["rounds_ms"] / approx["event_driven_ms"] - 1, rtol=1e-6
    )
    assert (approx["rel_error"].abs() <= approx["tolerance"]).all()
    one = round_model_error(jax.random.key(5), 30, 4, 10, 1)
    assert one["allowance"].is_nan().all()


def test_summary_metrics_reads_the_frames(latency):
    cpu = pl.DataFrame({"cpu_util_mean": [0.1, 0.4], "mean_wait_ms": [1.0, 9.0]})
    approx = pl.DataFrame({"rel_error": [0.01, -0.03, 0.02]})
    m = experiments.summary_metrics(latency, cpu, approx)
    assert m["n_nodes_largest"] == 40
    assert m["p99_ms_random_regular_largest"] == latency["p99_ms"][0]
    assert m["p99_ms_max_over_topologies_largest"] == latency["p99_ms"].max()
    assert m["cpu_util_at_max_degree"] == 0.4 and m["round_approx_max_rel_error"] == 0.03
    assert m["beacon_bytes"] == beacons.BEACON_BYTES
    assert m["round_model_tolerance"] == beacons.ROUND_MODEL_TOLERANCE


def test_chart_builders_take_frames(latency):
    delivery = pl.DataFrame(
        {"loss": [0.1, 0.1], "model": ["iid", "ge"], "delivery_ratio": [0.9, 0.89],
         "ci95": [0.01, 0.02], "expected": [0.9, 0.9]}
    )  # fmt: skip
    cpu = pl.DataFrame({"degree": [4, 8], "cpu_util_mean": [0.1, 0.2], "mean_wait_ms": [1, 2]})
    times = pl.DataFrame(
        {"detector": ["a", "a"], "loss": [0.0, 0.0], "which": ["first", "all"],
         "detect_s": [1.0, float("inf")]}
    )  # fmt: skip
    summary = pl.DataFrame({"detector": ["a"], "loss": [0.0], "false_suspicion_rate": [0.0]})
    curves = pl.DataFrame(
        {"graph": ["complete"] * 2, "mode": ["push"] * 2, "round": [0, 1],
         "coverage": [0.1, 0.5], "serf_envelope": [0.1, 0.4]}
    )  # fmt: skip
    crossings = pl.DataFrame(
        {"n_nodes": [64], "graph": ["complete"], "mode": ["push"], "level": [0.999],
         "rounds_mean": [9.0], "serf_rounds": [10.0]}
    )  # fmt: skip
    specs = [
        charts.latency_by_topology(latency),
        charts.delivery(delivery),
        charts.cpu_vs_degree(cpu),
        charts.detection_times(times),
        charts.false_suspicion(summary),
        charts.gossip_curves(curves, "t"),
        charts.gossip_rounds(crossings),
    ]
    for chart in specs:
        assert isinstance(chart.to_dict(), dict)
    # the undetected (inf) time is dropped before plotting
    assert len(specs[3].to_dict()["datasets"].popitem()[1]) == 1
