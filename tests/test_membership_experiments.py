"""The membership report functions: tidy frames that agree with the runs they summarize."""

import jax
import numpy as np
import polars as pl
import pytest

from meshlab.core.stats import mean_ci
from meshlab.membership import detection, experiments, gossip, serf
from meshlab.mesh import beacons, topology

N, DEGREE, CRASH_ROUND, ROUNDS, SEEDS = 40, 4, 12, 30, 2
LOSSES = [0.0, 0.3]


@pytest.fixture(scope="module")
def detection_frames():
    key = jax.random.key(3)
    topo = topology.random_regular(jax.random.key(1), n_nodes=N, degree=DEGREE)
    dets = experiments.report_detectors(timeout_s=3.0, phi_threshold=8.0, pause_s=3.0)
    crashed = experiments.choose_crashed(key, N, 3)
    times, rates = experiments.detection_runs(
        key, topo, dets, crashed, CRASH_ROUND, ROUNDS, LOSSES, SEEDS
    )
    return key, topo, dets, crashed, times, rates


def test_report_detectors_and_crashed_nodes():
    dets = experiments.report_detectors(timeout_s=2.0, phi_threshold=6.0, pause_s=1.5)
    assert list(dets) == [
        "timeout 2 s",
        "phi-normal 6",
        "phi-normal 6, pause 1.5 s",
        "phi-exponential 6",
    ]
    assert float(dets["phi-normal 6, pause 1.5 s"][1].acceptable_pause_s) == 1.5
    assert dets["phi-exponential 6"][0].model == "exponential"
    crashed = experiments.choose_crashed(jax.random.key(0), 50, 7)
    assert crashed.dtype == np.int64 and len(set(crashed.tolist())) == 7
    assert crashed.min() >= 0 and crashed.max() < 50
    with pytest.raises(ValueError, match="n_crashed"):
        experiments.choose_crashed(jax.random.key(0), 5, 6)


def test_detection_frames_hold_the_reports_values(detection_frames):
    key, topo, dets, crashed, times, rates = detection_frames
    n_det = len(dets)
    assert times.shape == (n_det * len(LOSSES) * SEEDS * len(crashed) * 2, 6)
    assert rates.shape == (n_det * len(LOSSES) * SEEDS, 6)
    # the frames are the crash_detection reports, row by row
    reports = detection.crash_detection(
        key, topo, list(dets.values()), crashed, CRASH_ROUND, ROUNDS,
        params=beacons.params(loss_p=LOSSES[1]), n_seeds=SEEDS,
    )  # fmt: skip
    for name, rep in zip(dets, reports, strict=True):
        sel = times.filter(
            (pl.col("detector") == name) & (pl.col("loss") == LOSSES[1]) & (pl.col("seed") == 1)
        )
        every = sel.filter(pl.col("which") == "all neighbours").sort("node")
        order = np.argsort(crashed)
        np.testing.assert_array_equal(every["detect_s"].to_numpy(), np.asarray(rep.all_s)[1][order])
        row = rates.filter(
            (pl.col("detector") == name) & (pl.col("loss") == LOSSES[1]) & (pl.col("seed") == 0)
        )
        assert row["false_suspicion_rate"][0] == float(rep.false_suspicion_rate[0])
        assert row["mistakes_per_link_hour"][0] == pytest.approx(
            3600 * float(rep.mistake_rate_per_s[0]), rel=1e-12
        )
    fs = rates["false_suspicion_rate"].to_numpy()
    assert np.all((fs >= 0) & (fs <= 1))


def test_detection_summary_is_mean_ci_of_the_frames(detection_frames):
    *_, times, rates = detection_frames
    summary = experiments.detection_summary(times, rates)
    assert summary.height == 4 * len(LOSSES)
    for row in summary.iter_rows(named=True):
        grp = times.filter(
            (pl.col("detector") == row["detector"]) & (pl.col("loss") == row["loss"])
        )
        every = grp.filter(pl.col("which") == "all neighbours")["detect_s"].to_numpy()
        first = grp.filter(pl.col("which") == "first neighbour")["detect_s"].to_numpy()
        np.testing.assert_equal(row["all_mean_s"], mean_ci(every)["mean"])  # nan == nan
        np.testing.assert_equal(row["first_ci95_s"], mean_ci(first)["ci95"])
        assert row["undetected"] == int(np.sum(~np.isfinite(every)))
        if row["undetected"] == 0:
            assert row["first_mean_s"] <= row["all_mean_s"] <= row["all_max_s"] < np.inf
        else:
            assert row["all_max_s"] == np.inf
    zero = summary.filter(pl.col("loss") == 0.0)
    assert zero["undetected"].sum() == 0 and zero["false_suspicion_rate"].max() == 0.0
    metrics = experiments.detection_metrics(summary, LOSSES)
    name = "phi-normal 8"
    assert metrics["detect_all_mean_s_loss0"][name] == experiments.pick(
        summary, name, 0.0, "all_mean_s"
    )
    assert set(metrics["false_suspicion_rate_max_loss"]) == set(summary["detector"].to_list())
    assert metrics["undetected_crashes"] == int(summary["undetected"].sum())
    with pytest.raises(ValueError, match="detector"):
        experiments.pick(summary, "nope", 0.0, "all_mean_s")


def test_gossip_frames_match_the_runs_and_the_serf_model():
    n, fanout, rounds, seeds, interval = 64, 3, 15, 3, 0.2
    curves, crossings = experiments.gossip_runs(
        jax.random.key(5), jax.random.key(6), [n], DEGREE, fanout, rounds, seeds, 0.1, interval
    )
    assert curves.height == 2 * 3 * (rounds + 1) and crossings.height == 2 * 3 * 4
    np.testing.assert_allclose(
        curves.filter((pl.col("graph") == "complete") & (pl.col("mode") == "push"))[
            "serf_envelope"
        ].to_numpy(),
        serf.convergence(np.arange(rounds + 1), n, fanout, 0.1),
    )
    assert (curves["coverage_min"] <= curves["coverage"]).all()
    assert (curves["coverage"] <= curves["coverage_max"]).all()
    assert curves["coverage"].min() >= 1 / n - 1e-7 and curves["coverage_max"].max() <= 1.0
    # one (graph, mode) recomputed directly
    config = gossip.GossipConfig(n_nodes=n, mode="pull", fanout=fanout, round_interval_s=interval)
    prm = gossip.params(0.1)
    res = gossip.summarize(
        gossip.rollout_seeds(gossip.build(config), jax.random.key(5), prm, rounds, seeds),
        config,
        prm,
    )
    sel = crossings.filter((pl.col("graph") == "complete") & (pl.col("mode") == "pull"))
    hit = np.asarray(res.rounds_to).astype(float)
    hit[hit < 0] = np.nan
    np.testing.assert_allclose(sel["rounds_mean"].to_numpy(), np.nanmean(hit, axis=0))
    assert sel["reached"].to_list() == np.isfinite(hit).sum(axis=0).tolist()
    assert np.isnan(sel["serf_rounds"][-1])
    metrics = experiments.gossip_metrics(crossings, [n])
    assert metrics["serf_rounds_to_999"][f"N={n}"] == pytest.approx(
        float(serf.rounds_to(0.999, n, fanout, 0.1))
    )
    assert len(metrics["gossip_rounds_to_999"]) == 6
