"""Latency and headroom SLIs: SVID issuance, crash detection, dissemination, handshakes,
and the beacon model's CPU / memory / network headroom, against closed forms."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from meshlab import slo
from meshlab.identity import svid
from meshlab.mesh import beacons, topology
from meshlab.slo import experiments as E
from meshlab.slo import sli as S

SPEC = slo.load_spec("monitoring/sla.yaml")


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def test_sample_slis_count_events_per_bucket_and_never_count_missing_ones_good():
    x = np.array([0.5, 2.0, np.inf, 1.0, np.nan, 0.1, 3.0])  # 7 events, 3 per bucket
    out = S.sample_slis("membership.detection_latency", x, (1.0, 2.5), 3, 60.0)
    one = out["membership.detection_latency@1"]
    np.testing.assert_array_equal(one.good, [1, 2])  # [0.5], [1.0, 0.1]; inf / nan: bad
    np.testing.assert_array_equal(one.total, [3, 3])  # the 7th event is an unfinished bucket
    np.testing.assert_array_equal(out["membership.detection_latency@2.5"].good, [2, 2])
    keyed = S.sample_slis("pqc.handshake_latency", x, (1.0,), 3, 15.0, {"algorithm": "X"})
    assert list(keyed) == ["pqc.handshake_latency[algorithm=X]@1"]


def test_latency_objectives_with_a_select_find_their_series():
    o = SPEC.by_name("pqc_handshake_10ms")
    series = S.SliSeries(np.ones(3), np.ones(3), 15.0)
    key = S.series_key(o.source, dict(o.select)) + f"@{o.threshold_s:g}"
    assert S.by_source({key: series}, o) is series
    assert S.by_source({f"{o.source}@{o.threshold_s:g}": series}, o) is None


def test_svid_issuance_latency_sli_is_the_lognormal_share_under_the_threshold():
    config = svid.SvidConfig(n_nodes=2000, n_steps=1800, dt_s=1.0, sli_thresholds_s=(0.2, 1.0))
    p = svid.params(ttl_s=600.0)
    _, trace = svid.rollout(svid.build(config), jax.random.key(3), p, config.n_steps)
    slis = S.svid_slis(trace, config.n_nodes, 1.0, 60.0, thresholds_s=config.sli_thresholds_s)
    sigma, median = float(p.issuance_sigma), float(p.issuance_median_s)
    for thr in config.sli_thresholds_s:
        s = slis[f"identity.issuance_latency@{thr:g}"]
        n = float(s.total.sum())
        expect = _phi(math.log(thr / median) / sigma)
        assert n > 10_000
        assert abs(s.ratio - expect) < 5 * math.sqrt(expect * (1 - expect) / n) + 1e-4
    # no outage, no transient failure: every request was answered
    assert int(np.asarray(trace.answered).sum()) == int(np.asarray(trace.attempts).sum())


def test_svid_issuance_latency_counts_only_answered_requests_during_an_outage():
    config = svid.SvidConfig(n_nodes=500, n_steps=720, dt_s=5.0, sli_thresholds_s=(1.0,))
    p = svid.params(ttl_s=900.0, outages=[(1200.0, 2400.0)])
    _, trace = svid.rollout(svid.build(config), jax.random.key(4), p, config.n_steps)
    t = np.asarray(trace.t_s)
    inside = (t > 1200.0 + 5.0) & (t <= 2400.0)
    assert np.asarray(trace.attempts)[inside].sum() > 0
    assert np.asarray(trace.answered)[inside].sum() == 0
    assert np.all(np.asarray(trace.fast)[:, 0] <= np.asarray(trace.answered))


def test_svid_thresholds_are_validated():
    with pytest.raises(ValueError, match=r"config.sli_thresholds_s\[1\]"):
        svid.build(svid.SvidConfig(n_nodes=2, n_steps=2, sli_thresholds_s=(1.0, -1.0)))


def _headroom_run(verify_mean_s, levels, n_rounds=20, bandwidth_bps=10e6, capacity=256):
    topo = topology.random_regular(jax.random.key(0), n_nodes=60, degree=6)
    config = beacons.BeaconConfig(
        service_dist="deterministic", headroom_thresholds=levels,
        queue_capacity_beacons=capacity,
    )  # fmt: skip
    kernel = beacons.build(config, topo)
    p = beacons.params(
        loss_p=0.0, slow_prob=0.0, verify_mean_s=verify_mean_s, bandwidth_bps=bandwidth_bps
    )
    state, infos = beacons.rollout(kernel, jax.random.key(1), p, n_rounds)
    return p, infos


def test_cpu_headroom_counts_nodes_under_each_level_closed_form():
    # 6 beacons a round at 0.125 s each: 75 % of a 1 s interval on every node
    _, infos = _headroom_run(0.125, (0.7, 0.8))
    cpu = np.asarray(infos.cpu_ok)
    np.testing.assert_array_equal(cpu[:, 0], 0)
    np.testing.assert_array_equal(cpu[:, 1], 60)
    slis = S.beacon_slis(infos, 1.0, 5.0, n_nodes=60, headroom=(0.7, 0.8))
    assert slis["system.cpu_headroom[threshold=0.7]"].ratio == 0.0
    assert slis["system.cpu_headroom[threshold=0.8]"].ratio == 1.0


def test_memory_headroom_reads_the_backlog_against_the_queue_capacity():
    # 6 x 0.25 s = 1.5 s of work a round: the backlog grows by about 0.5 s a round
    v, cap, levels = 0.25, 16, (0.5, 0.9)
    p, infos = _headroom_run(v, levels, n_rounds=12, capacity=cap)
    mem = np.asarray(infos.memory_ok)
    # independent: a node's fill is backlog / (v * cap); the model reports max backlog
    backlog = np.asarray(infos.max_backlog_s)
    assert np.all(np.diff(backlog) > 0.3)
    for m, level in enumerate(levels):
        all_under = backlog < level * v * cap  # the most backlogged node is under
        assert np.all(mem[all_under, m] == 60)
        assert np.all(mem[backlog >= level * v * cap, m] < 60)
    assert mem[0, 0] == 60 and mem[-1, 0] < 60  # 12 rounds: ~6 s backlog > 0.5 * 4 s


def test_network_headroom_is_the_beacon_share_of_link_capacity():
    b = float(beacons.params().beacon_bytes)
    bw = 8.0 * b / 0.75  # one beacon copy fills 75 % of a 1 s link
    _, infos = _headroom_run(1e-5, (), bandwidth_bps=bw)
    np.testing.assert_allclose(np.asarray(infos.link_util), 0.75, rtol=1e-6)
    slis = S.beacon_slis(infos, 1.0, 5.0, link_levels=(0.7, 0.8))
    assert slis["system.network_headroom[threshold=0.8]"].ratio == 1.0
    under = slis["system.network_headroom[threshold=0.7]"]
    sent = np.asarray(infos.sent, np.float64)[:20].sum()
    assert under.total.sum() - under.good.sum() == sent > 0


def test_headroom_levels_are_validated():
    with pytest.raises(ValueError, match=r"headroom_thresholds\[0\]"):
        beacons.BeaconConfig(headroom_thresholds=(1.5,))
    with pytest.raises(ValueError, match="queue_capacity_beacons"):
        beacons.BeaconConfig(queue_capacity_beacons=0)


def test_timeout_detection_latency_lies_within_one_interval_below_the_timeout():
    # crash detection by a timeout detector: last beacon heard + timeout - crash time, so
    # in (timeout - interval - send jitter, timeout + one-way latency]
    slis, summary = E.detection_series(
        jax.random.key(5), n_nodes=80, degree=6, thresholds_s=(1.5, 3.5, 10.0),
        n_buckets=6, crashes_per_bucket=4, bucket_s=60.0, timeout_s=3.0,
    )  # fmt: skip
    assert summary["crashes"] == 24 and summary["undetected"] == 0
    assert slis["membership.detection_latency@1.5"].ratio == 0.0
    assert slis["membership.detection_latency@3.5"].ratio == 1.0
    assert 1.9 <= summary["all_s_p50"] <= 3.0


def test_dissemination_slows_under_loss_and_the_series_counts_every_update():
    slis, summary = E.dissemination_series(
        jax.random.key(6), n_nodes=200, thresholds_s=(100.0, 0.2), n_buckets=10,
        updates_per_bucket=3, bucket_s=15.0, loss=0.0, incident_loss=0.7,
        incident_buckets=(4, 8),
    )  # fmt: skip
    assert summary["nominal"]["updates"] == 18 and summary["incident"]["updates"] == 12
    assert summary["incident"]["p50_s"] > summary["nominal"]["p50_s"]
    # push gossip needs at least log2(200) ~ 8 rounds (0.2 s each) to reach 99.9 %
    assert slis["membership.dissemination_latency@0.2"].ratio == 0.0
    assert slis["membership.dissemination_latency@100"].ratio == 1.0
    np.testing.assert_array_equal(slis["membership.dissemination_latency@100"].total, 3)


def test_handshake_series_times_real_handshakes_on_both_clocks():
    runs, summary = E.handshake_series(
        algorithm="ML-KEM-768", thresholds_s=(10.0, 1e-9), n_buckets=3, ops_per_bucket=4,
        bucket_s=15.0,
    )  # fmt: skip
    key = "pqc.handshake_latency[algorithm=ML-KEM-768]"
    for run in ("handshake_cpu", "handshake_wall"):
        assert runs[run][f"{key}@10"].ratio == 1.0
        assert runs[run][f"{key}@1e-09"].ratio == 0.0
        assert runs[run][f"{key}@10"].total.sum() == 12
    assert 0 < summary["cpu_p50_ms"] <= summary["cpu_p99_ms"]
    with pytest.raises(ValueError, match="not a KEM"):
        E.handshake_series(
            algorithm="ML-DSA-65", thresholds_s=(1.0,), n_buckets=1, ops_per_bucket=1,
            bucket_s=1.0,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("cpu", "wall", "verdict"),
    [(0.9995, 0.9992, "pass"), (0.99, 0.98, "fail"), (0.9995, 0.97, "inconclusive")],
)
def test_handshake_verdict_needs_both_clocks_to_agree(cpu, wall, verdict):
    assert E.handshake_verdict(cpu, wall, 0.999) == verdict
