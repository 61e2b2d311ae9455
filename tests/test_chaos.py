"""Chaos subpackage: scenarios, compilation, the controller kernel and the measures."""

from __future__ import annotations

import collections
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest

import meshlab.core
from meshlab.chaos import compile as cc
from meshlab.chaos import controller as ctl
from meshlab.chaos import experiments, measures, scenario, targets
from meshlab.membership import detection, detectors
from meshlab.mesh import beacons, histogram, topology
from meshlab.mesh import faults as mf

N, K, ROUNDS = 80, 6, 40


@pytest.fixture(scope="module")
def topo():
    return topology.random_regular(jax.random.key(3), N, K)


@pytest.fixture(scope="module")
def kernel(topo):
    return ctl.build(ctl.ChaosConfig(n_rounds=ROUNDS, n_buckets=4), topo)


def _sc(faults, name="t", expected="recovers", category="network"):
    return scenario.Scenario.parse(
        {
            "name": name,
            "category": category,
            "description": "test",
            "expected": expected,
            "faults": faults,
        },
        "scenarios[0]",
    )


# ------------------------------------------------------------------ catalogue and bad input


def test_catalogue_covers_every_category():
    cat = scenario.load_catalogue()
    counts = collections.Counter(s.category for s in cat)
    need = {"network": 10, "node": 10, "byzantine": 8, "crypto": 6, "combined": 8, "endurance": 2}
    assert len(cat) >= 48
    for c, n in need.items():
        assert counts[c] >= n, (c, counts[c])
    assert all(s.description and s.expected in scenario.VERDICTS for s in cat)
    assert any(s.claim == "byzantine_30" for s in cat)
    assert any(s.claim == "recovery_5s" for s in cat)


@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        ({"kind": "meteor"}, "faults[0].kind"),
        ({"kind": "crash", "target": {"select": "tallest"}}, "faults[0].target.select"),
        ({"kind": "crash", "target": {"select": "percent", "fraction": 1.5}}, "target.fraction"),
        ({"kind": "loss", "target": "all", "p": -0.1}, "faults[0].p"),
        ({"kind": "partition", "layout": "groups", "groups": [0, 0, 0]}, "faults[0].groups"),
        ({"kind": "crash", "start": -1}, "faults[0].start"),
        ({"kind": "crash", "speed": 3}, "unknown fields ['speed']"),
    ],
)
def test_bad_fault_is_named(fault, needle):
    with pytest.raises((ValueError, TypeError)) as e:
        _sc([fault], name="bad-one")
    assert "scenarios[0] 'bad-one'" in str(e.value)
    assert needle in str(e.value)


def test_contradicting_partitions_and_windows_outside_the_run(topo):
    with pytest.raises(ValueError, match=r"'t'.faults\[1\].start: partition overlaps"):
        _sc(
            [
                {"kind": "partition", "start": 0, "duration": 10},
                {"kind": "partition", "layout": "minority_third", "start": 5, "duration": 10},
            ]
        )
    s = _sc([{"kind": "crash", "start": 50}])
    with pytest.raises(ValueError, match=r"faults\[0\].start.*outside the 40-round run"):
        cc.compile_scenario(s, topo, ROUNDS)
    g = _sc([{"kind": "partition", "layout": "groups", "groups": [0, 1, 0]}])
    with pytest.raises(ValueError, match=r"faults\[0\].groups must give a group to each of the 80"):
        cc.compile_scenario(g, topo, ROUNDS)


def test_policy_thresholds_must_be_positive():
    with pytest.raises(ValueError, match="chaos.policy.timeout_s"):
        ctl.policy(timeout_s=0.0, where="chaos.policy")
    with pytest.raises(ValueError, match="policy.convict_after"):
        ctl.policy(convict_after=0)
    with pytest.raises(ValueError, match="policy.quorum"):
        ctl.policy(quorum=0.0)


# ------------------------------------------------------------------ compilation


def _crossing_links(topo, groups):
    """Independent count: loop over every real link, cut iff the ends' groups differ."""
    nb, m = np.asarray(topo.neighbors), np.asarray(topo.mask)
    n = 0
    for i in range(nb.shape[0]):
        for k in range(nb.shape[1]):
            if m[i, k] and groups[i] != groups[nb[i, k]]:
                n += 1
    return n


def test_partition_cuts_exactly_the_crossing_links_in_its_window(topo):
    g = [int(i % 3 == 0) for i in range(N)]
    s = _sc([{"kind": "partition", "layout": "groups", "groups": g, "start": 5, "duration": 7}])
    c = cc.compile_scenario(s, topo, ROUNDS)
    nb = jnp.asarray(topo.neighbors)
    mask = np.asarray(topo.mask)
    base = beacons.neutral_chaos(N, K)

    def down(r):
        ci = mf.evaluate(c.faults, r, nb, base)
        return int((~np.asarray(ci.link_up) & mask).sum())

    assert down(4) == 0 and down(12) == 0
    assert down(5) == down(11) == _crossing_links(topo, g) > 0


def test_bridge_and_ring_layouts(topo):
    rng = np.random.default_rng(0)
    nb, mask = np.asarray(topo.neighbors), np.asarray(topo.mask)
    bridge = scenario.Fault.parse({"kind": "partition", "layout": "bridge"}, "f")
    cut = targets.link_cuts(bridge, topo, rng)
    kept_deg = (mask & ~cut).sum(axis=1)
    # exactly one node keeps every link it has across the halves: the bridge
    full = [i for i in range(N) if kept_deg[i] == mask[i].sum() and cut[nb == i].sum() == 0]
    assert cut.sum() > 0 and len(full) >= 1
    ring = scenario.Fault.parse({"kind": "partition", "layout": "majorities_ring"}, "f")
    rc = targets.link_cuts(ring, topo, np.random.default_rng(1))
    assert 0 < rc.sum() < mask.sum()


def test_targets_sizes(topo):
    rng = np.random.default_rng(0)

    def size(**kw):
        return int(targets.select(scenario.Target(**kw), topo, rng).sum())

    assert size(select="one") == 1
    assert size(select="percent", fraction=0.25) == 20
    assert size(select="minority") == (N - 1) // 2
    assert size(select="majority") == N // 2 + 1
    assert size(select="minority_third") == (N - 1) // 3
    assert 1 <= size(select="random_max_percent", fraction=0.1) <= 8
    assert size(select="ids", ids=(1, 5)) == 2
    pos = np.asarray(topo.positions)
    inside = int((np.hypot(pos[:, 0] - 0.5, pos[:, 1] - 0.5) <= 0.3).sum())
    assert size(select="region", radius=0.3) == inside


def test_compiled_size_does_not_grow_with_rounds(topo):
    s = _sc([{"kind": "crash", "target": "one", "start": 5, "duration": 10}])
    a = cc.compile_scenario(s, topo, 40)
    b = cc.compile_scenario(s, topo, 4000)
    assert [x.shape for x in jax.tree.leaves(a)] == [x.shape for x in jax.tree.leaves(b)]


# ------------------------------------------------------------------ the kernel


def _comp(s, topo, rounds=ROUNDS):
    """Compiled at one fixed capacity, so the tests share compilations."""
    return cc.compile_scenario(s, topo, rounds, n_slots=4, n_cuts=1)


def _params(comp, **pol):
    return ctl.params(comp, ctl.policy(**pol))


@pytest.mark.slow  # long: CI runs it with the slow cases
def test_batch_equals_one_by_one_and_same_seed_is_identical(kernel, topo):
    scs = [
        _sc([{"kind": "crash", "target": {"select": "count", "count": 4}, "start": 10}], "a"),
        _sc([{"kind": "invalid", "target": "one", "start": 5}], "b"),
        _sc([{"kind": "partition", "layout": "bridge", "start": 8, "duration": 10}], "c"),
    ]
    plist = [_params(_comp(x, topo)) for x in scs]
    key = jax.random.key(7)
    st, info = experiments.run_batch(kernel, key, experiments._stack_params(plist), 2)
    st2, info2 = experiments.run_batch(kernel, key, experiments._stack_params(plist), 2)
    keys = jax.random.split(key, 2)
    for b in range(3):
        for s in range(2):
            one_st, one_info = experiments.run_one(kernel, keys[s], plist[b])
            for name in ("convict_round", "first_detect", "bucket_hist", "recv_good"):
                np.testing.assert_array_equal(st[name][b, s], one_st[name], err_msg=name)
            for name in ("delivery", "p99_s", "rejected"):
                np.testing.assert_array_equal(info[name][b, s], one_info[name], err_msg=name)
    for x, y in zip(jax.tree.leaves((st, info)), jax.tree.leaves((st2, info2)), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow  # long: CI runs it with the slow cases
def test_crash_mttd_equals_the_detection_code(kernel, topo):
    """MTTD from the per-round suspicions == the detection code's time for the same crash
    (``membership.detection.crash_detection``, same key, same arrivals) and the timeout
    detector's own deadline."""
    crash_round, timeout, node = 15, 2.5, 7
    s = _sc([{"kind": "crash", "target": {"select": "ids", "ids": [node]}, "start": crash_round}])
    p = _params(_comp(s, topo), enabled=False, timeout_s=timeout)
    key = jax.random.key(11)
    final, infos = meshlab.core.rollout(kernel, jax.random.split(key, 1)[0], p, ROUNDS)
    det = final.beacon.detector
    deadline = detectors.Timeout().deadline(detectors.timeout_params(timeout), det)
    links = np.asarray(topo.neighbors) == node
    links &= np.asarray(topo.mask)
    first_deadline = float(np.asarray(deadline)[links].min())
    # suspected at the first round end (r + 1) T strictly after the deadline
    expected = (math.floor(first_deadline) + 1 - crash_round) * 1.0
    st = {k: np.asarray(v) for k, v in final._asdict().items() if k != "beacon"}
    info = {k: np.asarray(v) for k, v in infos._asdict().items()}
    sc = {k: np.asarray(getattr(p.scenario, k)) for k in _SC_FIELDS}
    out = measures._one(st, info, sc, 1.0, 0.0, 0.95)
    assert out["mttd_first_s"] == expected
    assert 0 < out["mttd_first_s"] <= timeout + 1.5
    rep = detection.crash_detection(
        key, topo, detectors.timeout(timeout), [node], crash_round, ROUNDS, n_seeds=1
    )
    first_s = float(np.asarray(rep.first_s)[0, 0])
    assert abs(first_deadline - (crash_round + first_s)) < 1e-4
    assert out["mttd_first_s"] == math.floor(crash_round + first_s) + 1 - crash_round
    # the node that never failed is not in the MTTD: only node 7 is a primary node
    assert np.asarray(p.scenario.primary_nodes).sum() == 1


_SC_FIELDS = ("primary_start", "primary_end", "primary_nodes", "invalid_nodes")


def test_only_fault_targets_count_in_mttd():
    never = 2**31 - 1
    st = {
        "first_detect": np.array([never, 22, 25]),
        "all_detect": np.array([never, 23, 27]),
        "last_bad": np.int32(-1),
        "bad_rounds": np.int32(0),
        "recv_good": np.ones(3, np.int32),
        "recv_expected": np.ones(3, np.int32),
        "convicted": np.zeros(3, bool),
    }
    info = {
        k: np.zeros(40)
        for k in ("ok", "delivery", "p99_s", "rejected", "false_suspected", "shed", "load_refused")
    }
    sc = {
        "primary_start": 20,
        "primary_end": 40,
        "primary_nodes": np.array([False, False, True]),
        "invalid_nodes": np.zeros(3, bool),
    }
    out = measures._one(st, info, sc, 1.0, 0.0, 0.95)
    assert out["mttd_first_s"] == 6.0  # node 2 at round 25, not node 1 at 22
    assert out["mttd_all_s"] == 8.0


def test_loss_fault_lowers_delivery_to_the_product(kernel, topo):
    p, base = 0.3, 0.01
    s = _sc([{"kind": "loss", "target": "all", "p": p, "start": 0}])
    comp = _comp(s, topo)
    _, info = experiments.run_one(kernel, jax.random.key(5), _params(comp, enabled=False))
    acc = info["delivery"][3:] * info["expected"][3:]
    n = info["expected"][3:].sum()
    got = acc.sum() / n
    want = (1 - p) * (1 - base)
    assert abs(got - want) < 4 * math.sqrt(want * (1 - want) / n)


def test_latency_fault_shifts_p50_by_its_mean(kernel, topo):
    extra = 0.2
    key = jax.random.key(9)
    cfg = beacons.BeaconConfig()

    def p50(faults):
        comp = _comp(_sc(faults), topo)
        st, _ = experiments.run_one(kernel, key, _params(comp, enabled=False))
        return histogram.quantiles(st["bucket_hist"].sum(axis=0), 0.5, cfg)[0]

    shift = p50([{"kind": "latency", "target": "all", "extra_s": extra, "start": 0}]) - p50([])
    tol = (extra + 0.02) * histogram.rel_error(cfg) + 0.002
    assert abs(shift - extra) < tol


@pytest.mark.parametrize("per_message", [1, 0])
@pytest.mark.parametrize(
    ("dist", "shape", "median"),
    [
        ("normal", 1.0, 0.0),
        ("uniform", 1.0, 0.0),
        ("lognormal", 0.5, 1.0),  # exp(0.5 * 0) = 1
        ("pareto", 2.0, 2.0**0.5 - 1.0),  # Lomax median: 2^(1/alpha) - 1
    ],
)
def test_latency_distribution_shifts_p50_by_extra_plus_its_median(
    kernel, topo, dist, shape, median, per_message
):
    """p50 moves by ``extra_s + median(X)`` (= the mean for the symmetric laws): the base
    latency's spread (a few ms) is small against the jitter's (0.1 s)."""
    extra, jit = 0.2, 0.1
    cfg = beacons.BeaconConfig()
    key = jax.random.key(9)

    def p50(faults):
        comp = _comp(_sc(faults), topo)
        st, _ = experiments.run_one(kernel, key, _params(comp, enabled=False))
        return histogram.quantiles(st["bucket_hist"].sum(axis=0), 0.5, cfg)[0]

    fault = {"kind": "latency", "target": "all", "extra_s": extra, "jitter_s": jit,
             "dist": dist, "shape": shape, "per_message": per_message, "start": 0}  # fmt: skip
    want = extra + jit * median
    shift = p50([fault]) - p50([])
    # histogram bin + base-latency spread; static: one draw per link, so the sample
    # median of N*K draws (4 sigma, density of X at its median >= 1.5 / jit here)
    tol = (want + 0.02) * histogram.rel_error(cfg) + 0.005
    if not per_message:
        tol += 4 * 0.5 / math.sqrt(N * K) * jit / 1.5
    assert abs(shift - want) < tol, (shift, want, tol)


def test_latency_vocabulary_is_validated():
    with pytest.raises(ValueError, match=r"faults\[0\].dist must be one of"):
        _sc([{"kind": "latency", "target": "all", "dist": "cauchy"}])
    with pytest.raises(ValueError, match=r"faults\[0\].shape must be in"):
        _sc([{"kind": "latency", "target": "all", "shape": 0}])
    with pytest.raises(ValueError, match=r"faults\[0\].per_message must be 0 or 1"):
        _sc([{"kind": "latency", "target": "all", "per_message": 2}])
    with pytest.raises(ValueError, match=r"faults\[0\].dist applies to kind latency only"):
        _sc([{"kind": "loss", "target": "all", "dist": "normal"}])
    s = _sc([{"kind": "latency", "target": "all", "dist": "pareto", "shape": 3.0,
              "per_message": 0, "jitter_s": 0.1}])  # fmt: skip
    f = cc.compile_scenario(s, topology.random_regular(jax.random.key(3), 20, 4), 10).faults
    assert int(f.mode[0]) == mf.LATENCY_DISTS.index("pareto")
    np.testing.assert_allclose(np.asarray(f.aux[0]), [0.1, 3.0, 1.0])


def test_controller_isolates_an_invalid_node_within_its_policy(kernel, topo):
    s = _sc([{"kind": "invalid", "target": {"select": "ids", "ids": [5]}, "start": 10}])
    comp = _comp(s, topo)
    st, info = experiments.run_one(
        kernel, jax.random.key(1), _params(comp, convict_after=3, readmit_after=0)
    )
    assert st["convict_round"][5] == 10 + 3 - 1
    assert st["convicted"].sum() == 1 and st["ever_isolated"][5]
    assert (info["isolated"][:13] == 0).all() and (info["isolated"][13:] == 1).all()
    # isolated: its beacons no longer reach the verifiers
    assert info["rejected"][14:].sum() == 0 and info["rejected"][10:13].sum() > 0
    off, _ = experiments.run_one(kernel, jax.random.key(1), _params(comp, enabled=False))
    assert off["convicted"].sum() == 0


def test_load_shedding_bounds_the_backlog_and_lowers_p99(kernel, topo):
    """A 150 kbit/s uplink on 8 nodes: 6 copies x 3790 B take 1.213 s per 1 s round, so
    the backlog grows 0.213 s a round. Shedding at 0.5 s: the node skips its beacon when
    its backlog is over 0.5 s (it drains by 1 s): the shed count follows that recurrence
    exactly, and p99 falls against the ``none`` baseline at the same seed."""
    rate = 150e3
    ids = list(range(0, 80, 10))
    s = _sc([{"kind": "bandwidth", "target": {"select": "ids", "ids": ids}, "rate_bps": rate,
              "start": 0}])  # fmt: skip
    comp = _comp(s, topo)
    cfg = beacons.BeaconConfig()
    out_deg = np.bincount(np.asarray(topo.neighbors)[np.asarray(topo.mask)], minlength=N)
    assert (out_deg[ids] == K).all()
    growth = K * beacons.BEACON_BYTES / (rate / 8.0) - 1.0
    b, sheds = 0.0, 0
    for _ in range(ROUNDS):
        if b > 0.5:
            sheds, b = sheds + 1, max(b - 1.0, 0.0)
        else:
            b = max(b + growth, 0.0)
    key = jax.random.key(4)
    on, info_on = experiments.run_one(kernel, key, _params(comp, shed_backlog_s=0.5))
    off, info_off = experiments.run_one(kernel, key, _params(comp, enabled=False,
                                                             shed_backlog_s=0.5))  # fmt: skip
    assert int(info_on["shed"].sum()) == len(ids) * sheds > 0
    assert int(info_off["shed"].sum()) == 0
    p99_on = histogram.quantiles(on["bucket_hist"].sum(axis=0), 0.99, cfg)[0]
    p99_off = histogram.quantiles(off["bucket_hist"].sum(axis=0), 0.99, cfg)[0]
    assert p99_on < 0.5 * p99_off, (p99_on, p99_off)
    # nothing else changes without a backlog: no shedding in a no-fault run
    _, info_nf = experiments.run_one(kernel, key, _params(_comp(_sc([]), topo),
                                                          shed_backlog_s=0.5))  # fmt: skip
    assert int(info_nf["shed"].sum()) == 0


def test_load_shedding_contains_a_cascade(kernel, topo):
    """Node 5 crashes and loads its listeners by 0.5 per round (crash at 2.0). Shedding at
    1.5: each listener refuses the growth past 1.5 (the refused load follows the
    recurrence exactly), so nobody else crashes; the ``none`` baseline cascades."""
    casc = _sc([{"kind": "cascade", "target": {"select": "ids", "ids": [5]}, "growth": 0.5,
                 "threshold": 2.0, "start": 5, "duration": 10}])  # fmt: skip
    comp = _comp(casc, topo)
    key = jax.random.key(8)
    _, on = experiments.run_one(kernel, key, _params(comp, shed_load=1.5))
    _, off = experiments.run_one(kernel, key, _params(comp, enabled=False, shed_load=1.5))
    nb, mask = np.asarray(topo.neighbors), np.asarray(topo.mask)
    hears = ((nb == 5) & mask).sum(axis=1).astype(np.float32)  # copies of node 5 each hears
    load, refused, shedders = np.ones(N, np.float32), np.zeros(ROUNDS), np.zeros(ROUNDS)
    for r in range(5, 15):
        grown = np.where(np.arange(N) == 5, load, load + np.float32(0.5) * hears)
        kept = np.minimum(grown, np.float32(1.5))
        refused[r], shedders[r] = (grown - kept).sum(), ((grown - kept) > 0).sum()
        load = kept
    assert (on["nodes_up"][5:15] == N - 1).all() and (on["nodes_up"][15:] == N).all()
    np.testing.assert_allclose(on["load_refused"], refused, atol=1e-5)
    np.testing.assert_array_equal(on["shed"], shedders)
    assert shedders.max() == (hears > 0).sum() > 0
    assert off["nodes_up"][5:15].min() < N - K and not off["load_refused"].any()
    assert not off["shed"].any()


def test_shed_thresholds_are_checked():
    with pytest.raises(ValueError, match="chaos.shed_backlog_s"):
        ctl.policy(shed_backlog_s=0.0, where="chaos")
    with pytest.raises(ValueError, match="chaos.shed_load"):
        ctl.policy(shed_load=1.0, where="chaos")


def test_readmission_after_rekey(kernel, topo):
    s = _sc([{"kind": "invalid", "target": {"select": "ids", "ids": [5]}, "start": 5}])
    comp = _comp(s, topo)
    st, info = experiments.run_one(
        kernel, jax.random.key(1), _params(comp, convict_after=2, readmit_after=10)
    )
    # convicted at 6 (evidence in rounds 5, 6), isolated from 7; readmitted in round 16
    # (released at its end), evidence again in 17, 18 -> convicted at 18; then 30
    assert st["convict_round"][5] == 30
    assert info["isolated"][7] == 1 and info["isolated"][17] == 0 and info["isolated"][19] == 1


def test_a_batch_compiles_once(kernel, topo):
    a = _sc([{"kind": "crash", "target": "one", "start": 3}], "a")
    b = _sc([{"kind": "loss", "target": "all", "p": 0.2, "start": 3}], "b")
    before = experiments._batch_jit._cache_size()
    for x in (a, b):
        p = _params(_comp(x, topo), timeout_s=3.0)
        experiments.run_batch(kernel, jax.random.key(0), experiments._stack_params([p] * 3), 2)
    assert experiments._batch_jit._cache_size() - before <= 1


def test_a_failing_scenario_never_stops_the_report(topo):
    ok = _sc([{"kind": "crash", "target": "one", "start": 5}], "fine")
    late = _sc([{"kind": "crash", "target": "one", "start": 35}], "too-late")
    res = experiments.run_catalogue(
        [ok, late], topo, n_rounds=30, n_seeds=1, controllers=("isolate",), n_buckets=3
    )
    t = res.table
    assert set(t["scenario"]) == {"fine", "too-late"}
    bad = t.filter(pl.col("scenario") == "too-late").row(0, named=True)
    assert bad["verdict"] == "error" and "outside the 30-round run" in bad["error"]
    buckets = experiments.sli_buckets(res)
    assert buckets.height == 3 and (buckets["good"] <= buckets["total"]).all()


def test_claims_rows():
    t = pl.DataFrame(
        {
            "scenario": ["a", "b"],
            "controller": ["isolate", "isolate"],
            "verdict": ["recovers", "recovers"],
            "claim": ["recovery_5s", "byzantine_30"],
            "mttr_s": [3.0, 6.0],
            "mttr_s_ci95": [1.0, 0.5],
            "mttr_s_censored": [0, 0],
            "false_convictions": [0.0, 0.0],
        }
    )
    c = experiments.claims(t, n_nodes=1000)
    rec = c.filter(pl.col("claim") == "recovery < 5 s").row(0, named=True)
    assert rec["held"] and rec["measured"] == 4.0 and rec["margin"] == 1.0
    t2 = t.with_columns(mttr_s=pl.Series([4.5, 6.0]))
    assert not experiments.claims(t2, n_nodes=1000)["held"][0]
    # the node-count claim names what ran at the large size, not the whole table
    big = experiments.claims(t, n_nodes=1000, large_n_nodes=100000, large_scenarios=["a"])
    row = big.filter(pl.col("claim") == "1,000+-node chaos runs").row(0, named=True)
    assert row["measured"] == 100000.0
    assert row["detail"] == "2 scenarios at N = 1000; only 1 (a) at N = 100000"
    fl = pl.DataFrame(
        {"scenario": ["a", "a"], "controller": ["quarantine", "none"], "sent": [10, 10],
         "aggregated": [7, 8], "accounted": [3, 1], "balanced": [True, False]}
    )  # fmt: skip
    row = experiments.claims(t, n_nodes=1000, fl=fl).row(-1, named=True)
    assert row["claim"] == "zero FL update loss" and row["measured"] == 1.0 and not row["held"]


def test_verdicts():
    assert measures.verdict(-1, 20, 50, 100) == "recovers"
    assert measures.verdict(30, 20, 50, 100) == "recovers"
    assert measures.verdict(49, 20, 50, 100) == "degrades"
    assert measures.verdict(99, 20, 50, 100) == "not_recovered"


def test_state_memory_is_flat_in_rounds(topo):
    s = _sc([{"kind": "crash", "target": "one", "start": 3}])
    sizes = []
    for rounds in (50, 5000):
        kern = ctl.build(ctl.ChaosConfig(n_rounds=rounds, n_buckets=5), topo)
        comp = cc.compile_scenario(s, topo, rounds)
        st = jax.eval_shape(
            lambda k, p, kern=kern: kern.init_fn(k, kern.data, kern.config, p),
            jax.random.key(0),
            _params(comp),
        )
        sizes.append(sum(math.prod(x.shape) for x in jax.tree.leaves(st)))
    assert sizes[0] == sizes[1]


@pytest.mark.slow
def test_no_fault_run_never_isolates_anyone():
    t = topology.random_regular(jax.random.key(0), 1000, 8)
    kern = ctl.build(ctl.ChaosConfig(n_rounds=1000, n_buckets=10), t)
    comp = cc.compile_scenario(_sc([]), t, 1000, n_slots=4, n_cuts=1)
    st, info = experiments.run_one(kern, jax.random.key(2), _params(comp))
    assert st["ever_isolated"].sum() == 0 and info["isolated"].max() == 0
    assert st["convicted"].sum() == 0


def test_dataclasses_are_frozen():
    f = scenario.Fault.parse({"kind": "crash"}, "f")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.kind = "loss"  # type: ignore[misc]


def test_update_ledger_balances_and_catches_a_planted_drop(topo):
    from meshlab.membership import gossip

    s = _sc(
        [
            {"kind": "partition", "layout": "bisect", "start": 5, "duration": 10},
            {"kind": "crash", "target": {"select": "count", "count": 3}, "start": 8},
        ]
    )
    df = experiments.update_ledger([s], topo, n_rounds=ROUNDS, n_seeds=2, n_updates=4)
    row = df.row(0, named=True)
    assert row["balanced"] and row["expected"] > 0
    assert row["lost"] == 0 and row["stale"] == 0
    assert row["delivered"] + row["lost"] + row["stale"] == row["expected"]
    # the same run by hand, then one update silently dropped at a live node: caught
    cfg = gossip.GossipConfig(n_nodes=N, mode="pushpull", fanout=3, round_interval_s=1.0)
    kern = gossip.build(cfg, topo)
    prm = gossip.params(
        loss=0.0, source=0, faults=_comp(s, topo).faults, updates=gossip.updates([1, 2], [0, 3])
    )
    state, _ = gossip.rollout(kern, jax.random.key(4), prm, ROUNDS)
    book = gossip.ledger(state, cfg, prm, 10)
    gossip.check_ledger(book)
    j = int(np.flatnonzero(book["alive_at_end"])[0])
    held = state.ledger.held.at[0, j].set(False)
    dropped = state._replace(ledger=state.ledger._replace(held=held))
    with pytest.raises(AssertionError, match="1 lost and 0 stale|0 lost and 1 stale"):
        gossip.check_ledger(gossip.ledger(dropped, cfg, prm, 10))


# ------------------------------------------------------------------ real fault kinds

_WIRED = [
    ({"kind": "burst_loss", "target": "all", "p_enter": 0.1, "p_exit": 0.3}, "burst_loss"),
    ({"kind": "verify_failure", "target": "all", "p": 0.3}, "verify_fail"),
    ({"kind": "kem_failure", "target": "one", "duration": 10}, "kem_fail"),
    ({"kind": "bandwidth", "target": "one", "rate_bps": 1e5}, "bandwidth"),
    ({"kind": "flapping", "target": "one", "period": 5, "down_rounds": 2}, "flap"),
    ({"kind": "pause", "target": "one", "duration": 5}, "pause"),
    ({"kind": "clock_skew", "target": "one", "extra_s": 3.0, "drift_ppm": 10}, "clock"),
    ({"kind": "churn", "target": "all", "mean_session": 10, "mean_down": 3}, "churn"),
    ({"kind": "cascade", "target": "one", "growth": 0.5, "threshold": 2.0}, "cascade"),
    ({"kind": "replay", "target": "all", "p": 0.4}, "replay"),
    ({"kind": "equivocate", "target": "one"}, "replay"),
    ({"kind": "crash", "target": "one", "restart_after": 5, "keep_state": 1}, "crash"),
    ({"kind": "latency", "target": "all", "extra_s": 0.1, "jitter_s": 0.05}, "latency"),
]


@pytest.mark.parametrize(("fault", "kind"), _WIRED, ids=[w[0]["kind"] for w in _WIRED])
def test_vocabulary_compiles_onto_the_real_fault_kind(topo, fault, kind):
    comp = _comp(_sc([{**fault, "start": 10}]), topo)
    kinds = {
        mf.KINDS[int(c)] for c, a in zip(comp.faults.kind, comp.faults.active, strict=True) if a
    }
    assert kind in kinds, kinds
    assert "invalid" not in kinds  # no approximation by invalid senders
    mf.check(comp.faults, N, ROUNDS)


def test_crash_keep_state_and_bad_options_are_named(topo):
    kept = _comp(_sc([{"kind": "crash", "target": "one", "keep_state": 1, "start": 3}]), topo)
    lost = _comp(_sc([{"kind": "crash", "target": "one", "start": 3}]), topo)
    assert int(kept.faults.mode[0]) != int(lost.faults.mode[0])
    for bad, needle in (
        ({"kind": "crash", "keep_state": 2}, "faults[0].keep_state"),
        ({"kind": "flapping", "period": 4, "down_rounds": 4}, "faults[0].down_rounds"),
        ({"kind": "cascade", "growth": 0}, "faults[0].growth"),
    ):
        with pytest.raises(ValueError, match=needle.replace(".", r"\.").replace("[", r"\[")):
            _sc([bad])


def _ratio_ok(hits, total, p):
    return abs(hits / total - p) < 4 * math.sqrt(p * (1 - p) / total)


def test_verify_failure_rejects_each_beacon_with_its_probability(kernel, topo):
    """Old approximation (a share of targets fully invalid) left ``verify_failed`` at 0."""
    p = 0.3
    comp = _comp(_sc([{"kind": "verify_failure", "target": "all", "p": p, "start": 0}]), topo)
    _, info = experiments.run_one(kernel, jax.random.key(2), _params(comp, enabled=False))
    vf, acc = int(info["verify_failed"].sum()), int(info["accepted"].sum())
    assert info["replayed"].sum() == 0 and vf <= info["rejected"].sum()
    assert _ratio_ok(vf, vf + acc, p), (vf, acc)


def test_replay_rejects_each_beacon_with_its_probability(kernel, topo):
    p = 0.4
    comp = _comp(_sc([{"kind": "replay", "target": "all", "p": p, "start": 0}]), topo)
    _, info = experiments.run_one(kernel, jax.random.key(4), _params(comp, enabled=False))
    rp, acc = int(info["replayed"].sum()), int(info["accepted"].sum())
    assert info["verify_failed"].sum() == 0 and rp <= info["rejected"].sum()
    assert _ratio_ok(rp, rp + acc, p), (rp, acc)


def test_pause_keeps_the_node_up_and_leaves_a_backlog(kernel, topo):
    node, start, dur = 5, 10, 5
    s = _sc(
        [
            {
                "kind": "pause",
                "target": {"select": "ids", "ids": [node]},
                "start": start,
                "duration": dur,
            }
        ]
    )
    p = _params(_comp(s, topo), enabled=False)
    final, infos = meshlab.core.rollout(kernel, jax.random.key(3), p, ROUNDS)
    assert (np.asarray(infos.nodes_up) == N).all()  # frozen, not crashed
    backlog = np.asarray(final.beacon.max_backlog_s)
    assert backlog[node] > 0.5 * dur and np.delete(backlog, node).max() < 0.5


def test_kem_failure_drops_handshakes_after_the_restart(kernel, topo):
    s = _sc(
        [
            {
                "kind": "kem_failure",
                "target": {"select": "ids", "ids": [5]},
                "restart_after": 2,
                "handshake_rounds": 3,
                "start": 10,
                "duration": 10,
            }
        ]
    )
    _, info = experiments.run_one(kernel, jax.random.key(6), _params(_comp(s, topo), enabled=False))
    hf = info["handshake_failed"]
    assert hf[:12].sum() == 0 and hf[12:15].sum() > 0 and hf[15:].sum() == 0
    assert (info["nodes_up"][10:12] == N - 1).all() and (info["nodes_up"][12:] == N).all()


def test_churn_and_cascade_take_nodes_down_then_back(kernel, topo):
    churn = _sc(
        [
            {
                "kind": "churn",
                "target": "all",
                "mean_session": 8,
                "mean_down": 3,
                "start": 5,
                "duration": 20,
            }
        ]
    )
    casc = _sc(
        [
            {
                "kind": "cascade",
                "target": {"select": "ids", "ids": [5]},
                "growth": 0.5,
                "threshold": 2.0,
                "start": 5,
                "duration": 10,
            }
        ]
    )
    _, a = experiments.run_one(
        kernel, jax.random.key(8), _params(_comp(churn, topo), enabled=False)
    )
    _, b = experiments.run_one(kernel, jax.random.key(8), _params(_comp(casc, topo), enabled=False))
    assert a["nodes_up"][:5].min() == N and a["nodes_up"][5:25].min() < N - 5
    assert a["nodes_up"][26:].min() == N
    # the cascade spreads beyond its one target (neighbours crash after 2 rounds of load)
    assert b["nodes_up"][5] == N - 1 and b["nodes_up"][5:15].min() < N - K
    assert b["nodes_up"][16:].min() == N


def test_clock_skew_shifts_the_skewed_receivers_detector_clock(kernel, topo):
    """A constant offset shifts the receiver's arrival stamps and deadlines alike: its
    deadlines move by exactly the offset and no live neighbour is suspected."""
    node, off = 5, 3.0
    s = _sc(
        [
            {
                "kind": "clock_skew",
                "target": {"select": "ids", "ids": [node]},
                "extra_s": off,
                "start": 10,
            }
        ]
    )
    dl = []
    for sc_ in (s, _sc([])):
        p = _params(_comp(sc_, topo), enabled=False)
        final, infos = meshlab.core.rollout(kernel, jax.random.key(3), p, ROUNDS)
        det = final.beacon.detector
        dl.append(np.asarray(detectors.Timeout().deadline(p.beacon.detector, det)))
        assert int(np.asarray(infos.false_suspected).sum()) == 0
    real = np.asarray(topo.mask)
    np.testing.assert_allclose((dl[0] - dl[1])[node][real[node]], off, atol=1e-4)
    np.testing.assert_array_equal(np.delete(dl[0], node, 0), np.delete(dl[1], node, 0))


def test_sli_buckets_feed_the_sla_report_with_closed_form_availability(topo):
    # one node crashed from round 10 to the end of a 30-round run: up node-rounds are
    # exactly N * 30 - 20 per seed, whatever the draws
    sc = _sc([{"kind": "crash", "target": "one", "start": 10}], "one-down")
    res = experiments.run_catalogue(
        [sc], topo, n_rounds=30, n_seeds=2, controllers=("isolate",), n_buckets=3,
        config=beacons.BeaconConfig(sli_thresholds_s=(0.01, 10.0)),
    )  # fmt: skip
    b = experiments.sli_buckets(res)
    n = topo.neighbors.shape[0]
    assert b["node_rounds"].to_list() == [2 * 10 * n] * 3
    assert b["nodes_up"].to_list() == [2 * 10 * n, 2 * (10 * n - 10), 2 * (10 * n - 10)]
    # every accepted beacon is faster than 10 s; the 10 ms share is a proper subset
    assert (b["fast_10"] == b["sli_accepted"]).all() and (b["fast_10"] == b["accepted"]).all()
    assert (b["fast_0.01"] <= b["fast_10"]).all()
    from meshlab.slo import experiments as slo_ex

    series = slo_ex.chaos_series(b)["chaos:one-down"]
    avail = series["mesh.node_availability"]
    assert avail.ratio == pytest.approx(1.0 - 40 / (2 * 30 * n))
    assert series["beacons.latency@10"].ratio == 1.0
    assert 0.0 <= series["beacons.valid"].ratio <= 1.0
