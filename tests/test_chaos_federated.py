"""FL updates under chaos: the ledger balances with independently counted reasons, a planted
silent drop is caught, and the controller quarantines an attacker within its policy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab.chaos import compile as cc
from meshlab.chaos import federated as fed
from meshlab.chaos import scenario as sc
from meshlab.fl import data as fl_data
from meshlab.fl import ledger
from meshlab.fl.models import ModelSpec
from meshlab.mesh import topology

N, K, R, S = 24, 4, 60, 2
NAMES = ("net-bisect", "node-crash-5pct", "byz-invalid-10pct")
DROP = 5  # the planted drop's client


@pytest.fixture(scope="session")
def fl_run():
    topo = topology.random_regular(jax.random.key(3), N, K)
    data = fl_data.synthetic_federated(
        jax.random.key(1), N, samples_per_client=16, n_features=10, n_classes=4, n_test=100,
        model_heterogeneity=0.0, feature_heterogeneity=0.0,
    )  # fmt: skip
    cfg = fed.FedConfig(model=ModelSpec("logistic_regression", 10, 4))
    kernel = fed.build(cfg, topo, data)
    cat = {s.name: s for s in sc.load_catalogue()}
    scs = [cat[n] for n in NAMES]
    comp = cc.compile_batch(scs, topo, R)
    one = [jax.tree.map(lambda x, i=i: x[i], comp) for i in range(len(scs))]
    drop = np.zeros(N, bool)
    drop[DROP] = True
    plist = [
        fed.params(s, c, quarantine=q) for s, c in zip(scs, one, strict=True) for q in (True, False)
    ]
    plist.append(fed.params(scs[1], one[1], drop=drop))  # planted bug
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *plist)
    state, info = fed.run(kernel, jax.random.split(jax.random.key(0), S), stacked, R)
    return {"cfg": cfg, "comp": one, "state": state, "info": info, "topo": topo, "data": data}


def _info(run, b):
    return jax.tree.map(lambda x: x[b], run["info"])


def test_partition_and_crash_ledgers_balance_with_independent_counts(fl_run):
    bisect, crash = fl_run["comp"][0], fl_run["comp"][1]
    # bisect: the clients in the other group than the server's, for the 30-round window
    g = np.asarray(bisect.faults.groups[0])
    other = int((g != g[fl_run["cfg"].server_node]).sum())
    book = fed.ledger(_info(fl_run, 0))
    ledger.check(book)
    assert book.counts["partition"] == S * other * 30 > 0
    assert book.counts["crashed"] == 0
    assert book.counts["sent"] == S * R * N
    # crash from round 20, never restarted: every target's update of rounds 20..R-1
    tg = int(np.asarray(crash.faults.targets[0]).sum())
    book = fed.ledger(_info(fl_run, 2))
    ledger.check(book)
    assert book.counts["crashed"] == S * tg * (R - 20) > 0
    assert book.counts["aggregated"] + book.counts["accounted"] == book.counts["sent"]


def test_byzantine_ledger_counts_only_honest_updates(fl_run):
    byz = fl_run["comp"][2]
    tg = np.asarray(byz.faults.targets[0])
    for b in (4, 5):  # quarantine, none
        inf = _info(fl_run, b)
        ledger.check(fed.ledger(inf))
        np.testing.assert_array_equal(inf.attacker.any(axis=(0, 1)), tg)
        assert int(inf.attacker.sum()) == S * int(tg.sum()) * (R - 20)
        assert int(inf.sent.sum()) == S * (R * N - int(tg.sum()) * (R - 20))


def test_a_planted_silent_drop_is_caught(fl_run):
    inf = _info(fl_run, 6)
    book = fed.ledger(inf)
    # the dropped client's updates, except in the rounds its node was down, are unaccounted
    down = inf.crashed[:, :, DROP]
    assert int(book.unaccounted.sum()) == S * R - int(down.sum()) > 0
    assert book.unaccounted[..., DROP].all(axis=0).sum() >= 20
    with pytest.raises(AssertionError, match=rf"unaccounted updates, first \[\(0, 0, {DROP}\)"):
        ledger.check(book)
    ledger.check(fed.ledger(_info(fl_run, 2)))  # the same run without the drop balances


def test_quarantine_within_policy_and_none_baseline_side_by_side(fl_run):
    k = fed.quarantine_bound(fl_run["cfg"].detector)
    assert k == 2  # ceil(log 0.5 / log 0.7)
    tg = np.asarray(fl_run["comp"][2].faults.targets[0])
    st = fl_run["state"]
    for b in (4, 5):
        at = st.flagged_at[b]  # [S, n]
        # every attacker is flagged at the end of round start + k - 1; nobody else ever
        np.testing.assert_array_equal(at[:, tg], 20 + k - 1)
        np.testing.assert_array_equal(at[:, ~tg], -1)
    q, none = _info(fl_run, 4), _info(fl_run, 5)
    # quarantine: attack rows reach the rule only before start + k; none: every round
    assert not q.attacker_aggregated[:, 20 + k :].any()
    assert q.quarantined[:, 20 + k :, tg].all()
    assert q.attacker_aggregated[:, 20 : 20 + k].any()
    assert none.attacker_aggregated[:, 20 + k :].any()
    assert not none.quarantined.any()
    # honest updates are never rejected by the quarantine
    assert fed.ledger(q).counts["rejected"] == 0


def test_bad_input_is_named(fl_run):
    cfg, topo, data = fl_run["cfg"], fl_run["topo"], fl_run["data"]
    small = topology.random_regular(jax.random.key(3), 12, K)
    with pytest.raises(ValueError, match="data has 24 clients, the mesh 12 nodes"):
        fed.build(cfg, small, data)
    with pytest.raises(ValueError, match="server_node"):
        fed.build(fed.FedConfig(model=cfg.model, server_node=N), topo, data)
    with pytest.raises(ValueError, match="attack"):
        fed.build(fed.FedConfig(model=cfg.model, attack="nope"), topo, data)
    s = sc.load_catalogue()[1]
    with pytest.raises(ValueError, match=r"drop must be bool\[24\]"):
        fed.params(s, fl_run["comp"][0], drop=np.zeros(3, bool))
