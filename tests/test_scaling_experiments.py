"""The scaling report's analyses at small sizes: fitted on small meshes, checked on a larger one."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import numpy as np
import polars as pl
import pytest
import yaml

from meshlab.mesh import beacons
from meshlab.scaling import experiments, predict

DEGREE = 6
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def runs():
    key = jax.random.key(4)
    k_small, k_large, k_gossip = jax.random.split(key, 3)
    small = experiments.simulate_sizes(k_small, [60, 120, 240], DEGREE, 12, 3)
    large = experiments.simulate_sizes(k_large, [960], DEGREE, 12, 4)
    gossip = experiments.gossip_sizes(k_gossip, [64, 256, 1024, 8192], 3, 30, 4)
    return small, large, gossip


@pytest.mark.slow  # four beacon and four gossip compilations (~40 s of CPU)
def test_local_quantities_extrapolate_within_their_intervals(runs):
    small, large, _ = runs
    err = experiments.prediction_errors(small, large, ["p99_ms", "delivery_ratio"])
    assert err.height == 2
    for r in err.iter_rows(named=True):
        # fitted band + seed CI, plus one histogram bin for the p99
        allowance = r["rel_error_ci95"] + (
            large["bin_rel_error"][0] if r["quantity"] == "p99_ms" else 0
        )
        assert abs(r["rel_error"]) <= allowance, r
    # p99 is local to a fixed-degree mesh: the fitted ln N slope is ~0 (under 5 % per e-fold)
    p99 = err.filter(pl.col("quantity") == "p99_ms").row(0, named=True)
    assert abs(p99["slope"]) < 0.05 * p99["predicted"]


@pytest.mark.slow  # four beacon and four gossip compilations (~40 s of CPU)
def test_closed_forms_match_the_simulated_node_load(runs):
    _, large, _ = runs
    err = experiments.closed_form_errors(large, DEGREE)
    by = {r["quantity"]: r for r in err.iter_rows(named=True)}
    assert by["rx_bps"]["rel_error"] == pytest.approx(0.0, abs=1e-6)  # exact: counts
    # verify CPU: degree x rate x verify x (1 - loss); seed CI plus the verify-time spread
    assert (
        abs(by["cpu_util_mean"]["rel_error"]) <= 3 * by["cpu_util_mean"]["rel_error_ci95"] + 0.005
    )
    assert (
        abs(by["delivery_ratio"]["rel_error"]) <= 3 * by["delivery_ratio"]["rel_error_ci95"] + 1e-3
    )


@pytest.mark.slow  # four beacon and four gossip compilations (~40 s of CPU)
def test_gossip_rounds_grow_like_log_n_and_extrapolate(runs):
    _, _, gossip = runs
    small = gossip.filter(pl.col("n_nodes") <= 1024)
    large = gossip.filter(pl.col("n_nodes") > 1024)
    err = experiments.prediction_errors(small, large, ["rounds_999"])
    r = err.row(0, named=True)
    assert r["slope"] > 0.5  # rounds grow with ln N
    # rounds are integers: allow one round of discretisation besides the intervals
    assert abs(r["predicted"] - r["simulated"]) <= r["predicted_ci95"] + 1.0 + (
        r["simulated_ci95"] if math.isfinite(r["simulated_ci95"]) else 0
    )


def test_sla_table_crossings():
    costs = predict.scheme_costs()
    table = experiments.sla_table(costs, [1.0, 10.0], [0.01, 0.05, 0.1], 0.005)
    assert table.height == 2 * len(costs)
    for r in table.iter_rows(named=True):
        es, rate = r["verify_mean_us"] * 1e-6, r["beacon_rate_hz"]
        d = r["degree_rho_bound"]
        assert float(predict.verify_queue(d, rate, es)["rho"]) >= 0.8
        assert float(predict.verify_queue(d - 1, rate, es)["rho"]) < 0.8
        assert r["degree_p99_10ms"] <= r["degree_p99_50ms"] <= r["degree_p99_100ms"]
    # slower verification pushes the queue past 0.8 at a smaller degree
    one_hz = table.filter(pl.col("beacon_rate_hz") == 1.0).sort("verify_mean_us")
    assert one_hz["degree_rho_bound"].is_sorted(descending=True)


def test_seed_extrapolation_contrasts_the_naive_fit():
    fit = predict.fit_log([100, 200, 400, 800], [11.0, 11.1, 10.9, 11.0])
    t = experiments.seed_extrapolation(fit, [100, 500, 1000, 2000, 10_000], 1e-4, 1.0)
    row = {r["n_nodes"]: r for r in t.iter_rows(named=True)}
    assert row[1000]["claimed_ms"] == 100.0
    assert row[2000]["naive_linear_ms"] == pytest.approx(200.0, rel=1e-6)
    assert row[10_000]["model_ms"] == pytest.approx(11.0, abs=1.0)
    assert row[10_000]["full_mesh_rho"] == pytest.approx(9999 * 1e-4)


def test_roofline_and_usl_of_the_simulator():
    roof = experiments.roofline(1000, 8, 2e7, 10.0)
    # state read + written once and the neighbour table read: tens of bytes per link
    assert 10 < roof["bytes_per_link_event"] < 200
    assert roof["fraction_of_bound"] == pytest.approx(2e7 / roof["bound_link_events_per_s"])
    n = np.array([1e3, 3e3, 1e4, 3e4, 1e5, 3e5])
    thr = pl.DataFrame({"n_nodes": n, "link_events_per_s": 5e3 * n / (1 + 2e-3 * (n - 1))})
    fit = experiments.simulator_usl(thr)
    assert fit["alpha"] == pytest.approx(2e-3, rel=1e-4)
    assert fit["ceiling"] == pytest.approx(5e3 / 2e-3, rel=1e-4)


def test_power_law_prediction_of_aggregation_times():
    n_small = [100, 200, 400, 800]
    small = pl.DataFrame(
        [
            {"rule": r, "n": n, "seconds": c * n**k}
            for r, c, k in [("a", 1e-6, 1), ("b", 1e-8, 2)]
            for n in n_small
        ]
    )
    large = pl.DataFrame(
        [{"rule": r, "n": 10_000, "seconds": s} for r, s in [("a", 1e-2), ("b", 1.0)]]
    )
    err = experiments.fl_prediction_errors(small, large)
    by = {r["rule"]: r for r in err.iter_rows(named=True)}
    assert by["a"]["exponent"] == pytest.approx(1.0) and by["b"]["exponent"] == pytest.approx(2.0)
    assert by["a"]["rel_error"] == pytest.approx(0.0, abs=1e-9)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match=r"sizes\[0\]"):
        experiments.gossip_sizes(jax.random.key(0), [1], 3, 5, 2)
    with pytest.raises(ValueError, match="sizes must list at least one size"):
        experiments.simulate_sizes(jax.random.key(0), [], 8, 5, 2)
    with pytest.raises(ValueError, match="quantity 'nope'"):
        small = pl.DataFrame({"n_nodes": [1, 2, 3], "x": [1.0, 2.0, 3.0]})
        experiments.prediction_errors(small, small, ["nope"])
    with pytest.raises(ValueError, match="degree"):
        experiments.roofline(100, 0, 1.0, 1.0)
    assert beacons.params() is not None


def _report_params(**over):
    base = dict(
        seed=0, degree=8, fit_sizes=[100, 200, 400], check_sizes=[800], n_rounds=8, n_seeds=3,
        gossip_fanout=3, gossip_fit_sizes=[100, 300, 1000], gossip_check_sizes=[3000],
        gossip_rounds=25, detection_fit_sizes=[], detection_check_sizes=[],
        detection_timeout_s=3.0, detection_rounds=20, fl_rules=["mean"], fl_fit_n=[16, 32, 64],
        fl_check_n=[128], fl_dim=8, schemes=["ML-DSA-44"], beacon_rates_hz=[1.0],
        sla_thresholds_ms=[10.0], throughput_sizes=[], throughput_rounds=5, throughput_repeats=1,
        extrapolate_sizes=[100, 1000], partition_sizes=[256], partition_shards=[2],
        calibrate_mb=8,
    )  # fmt: skip
    return {**base, **over}


def test_every_scaling_parameter_of_the_pipeline_is_checked():
    section = yaml.safe_load((ROOT / "params.yaml").read_text())["scaling"]
    assert set(section) == set(experiments.REPORT_PARAMS)
    assert set(_report_params()) == set(experiments.REPORT_PARAMS)


def test_report_params_are_checked_with_their_names():
    assert experiments.check_report_params(_report_params())["degree"] == 8
    with pytest.raises(ValueError, match=r"scaling\.fit_sizes\[1\] must be >= 4, got 2"):
        experiments.check_report_params(_report_params(fit_sizes=[100, 2, 400]))
    with pytest.raises(ValueError, match=r"scaling\.fit_sizes must have >= 3"):
        experiments.check_report_params(_report_params(fit_sizes=[100, 200]))
    with pytest.raises(ValueError, match=r"scaling\.schemes\[0\] must be one of"):
        experiments.check_report_params(_report_params(schemes=["RSA-2048"]))
    with pytest.raises(ValueError, match=r"scaling\.throughput_sizes must be empty"):
        experiments.check_report_params(_report_params(throughput_sizes=[1000, 2000]))
    with pytest.raises(ValueError, match=r"scaling\.detection_fit_sizes needs >= 3"):
        experiments.check_report_params(_report_params(detection_check_sizes=[1000]))
    with pytest.raises(ValueError, match=r"scaling\.throughput_repeats must be >= 1, got 0"):
        experiments.check_report_params(_report_params(throughput_repeats=0))
    missing = _report_params()
    del missing["degree"]
    with pytest.raises(ValueError, match="degree"):
        experiments.check_report_params(missing)
