"""Faults as parameters: semantics against numpy, windows, equivalence to per-round inputs, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import meshlab
from meshlab.mesh import beacons, faults, topology

N, K, ROUNDS = 60, 6, 30
TOPO = topology.random_regular(jax.random.key(3), N, K)
NB = np.asarray(TOPO.neighbors)
CONFIG = beacons.BeaconConfig()
KERNEL = beacons.build(CONFIG, TOPO)
QUIET = dict(loss_p=0.0, send_jitter_s=0.0)  # every beacon arrives: counts are exact


def _eval(f, r):
    return faults.evaluate(f, jnp.int32(r), jnp.asarray(NB), faults.neutral_chaos(N, K))


def _run(params, seed=0, rounds=ROUNDS, inputs=None):
    return beacons.rollout(KERNEL, jax.random.key(seed), params, rounds, inputs=inputs)


@pytest.mark.parametrize("direction", ["both", "to", "from"])
def test_partition_cuts_exactly_the_links_that_cross_groups(direction):
    groups = np.random.default_rng(0).integers(0, 3, N)
    f = faults.partition(groups, 5, 15, direction=direction)
    g_recv, g_send = groups[:, None], groups[NB]
    want_cut = {"both": g_send != g_recv, "to": g_send < g_recv, "from": g_send > g_recv}[direction]
    np.testing.assert_array_equal(~np.asarray(_eval(f, 7).link_up), want_cut)
    # through the model: accepted per round = links not cut, inside the window only
    _, info = _run(beacons.params(**QUIET, faults=f))
    acc = np.asarray(info.accepted)
    assert want_cut.sum() > 0
    assert (acc[5:15] == N * K - want_cut.sum()).all()
    assert (acc[:5] == N * K).all() and (acc[15:] == N * K).all()


def test_windows_start_and_end_on_the_right_rounds():
    f = faults.combine([faults.crash([4], 10, 20, n_nodes=N), faults.invalid([9], 25, n_nodes=N)])
    up = [bool(_eval(f, r).node_up[4]) for r in range(ROUNDS)]
    assert up == [not (10 <= r < 20) for r in range(ROUNDS)]
    valid = [bool(_eval(f, r).beacon_valid[9]) for r in range(ROUNDS)]
    assert valid == [r < 25 for r in range(ROUNDS)]  # end None: never ends
    _, info = _run(beacons.params(**QUIET, faults=f))
    sent = np.asarray(info.sent)
    assert (sent[10:20] == (N - 1) * K).all()  # node 4 silent (random regular: K listeners)
    assert (sent[:10] == N * K).all() and (sent[20:] == N * K).all()
    rej = np.asarray(info.rejected)
    assert (rej[25:] == K).all() and rej[:25].sum() == 0


def test_link_faults_select_links_by_direction():
    targets = [2, 7]
    recv = np.isin(np.arange(N), targets)[:, None] & np.ones((N, K), bool)
    send = np.isin(NB, targets)
    for direction, want in [("to", recv), ("from", send), ("both", recv | send)]:
        c = _eval(faults.latency(targets, 0.05, 0, n_nodes=N, direction=direction), 0)
        np.testing.assert_allclose(np.asarray(c.extra_latency_s), np.where(want, 0.05, 0.0))
        c = _eval(faults.loss(targets, 0.3, 0, n_nodes=N, direction=direction), 0)
        np.testing.assert_allclose(np.asarray(c.extra_loss), np.where(want, 0.3, 0.0), rtol=1e-6)
        c = _eval(faults.link_down(targets, 0, n_nodes=N, direction=direction), 0)
        np.testing.assert_array_equal(~np.asarray(c.link_up), want)


def test_active_slots_combine():
    f = faults.combine(
        [
            faults.slowdown([1], 2.0, 0, n_nodes=N),
            faults.slowdown([1, 3], 3.0, 0, n_nodes=N),
            faults.loss([5], 0.5, 0, n_nodes=N, direction="to"),
            faults.loss([5], 0.5, 0, n_nodes=N, direction="to"),
            faults.latency([5], 0.01, 0, n_nodes=N, direction="to"),
            faults.latency([5], 0.02, 0, n_nodes=N, direction="to"),
        ],
        n_slots=8,
    )
    assert f.n_slots == 8 and not bool(f.active[-1])
    c = _eval(f, 0)
    slow = np.asarray(c.slowdown)
    assert slow[1] == 6.0 and slow[3] == 3.0 and slow[0] == 1.0
    np.testing.assert_allclose(np.asarray(c.extra_loss)[5], 0.75, rtol=1e-6)  # 1 - 0.5 * 0.5
    np.testing.assert_allclose(np.asarray(c.extra_latency_s)[5], 0.03, rtol=1e-6)
    assert np.asarray(c.extra_loss)[6].max() == 0.0


def test_crash_fault_equals_the_same_crash_as_stacked_inputs_bit_for_bit():
    params = beacons.params(loss_p=0.05)
    node_up = np.ones((ROUNDS, N), bool)
    node_up[8:21, [3, 17]] = False
    base = faults.neutral_chaos(N, K)
    inputs = jax.tree.map(lambda x: jnp.broadcast_to(x, (ROUNDS, *x.shape)), base)
    inputs = inputs._replace(node_up=jnp.asarray(node_up))
    a = _run(params, seed=4, inputs=inputs)
    b = _run(params._replace(faults=faults.crash([3, 17], 8, 21, n_nodes=N)), seed=4)
    b = (b[0]._replace(faults=()), b[1])  # the fault state exists only with a schedule
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # and faults apply on top of per-round inputs
    c = _run(params._replace(faults=faults.crash([3, 17], 8, 21, n_nodes=N)), seed=4, inputs=inputs)
    np.testing.assert_array_equal(np.asarray(c[1].sent), np.asarray(a[1].sent))


def test_a_batch_of_schedules_under_vmap_equals_one_by_one_and_compiles_once():
    schedules = [
        faults.combine([faults.crash([1, 2], 5, 15, n_nodes=N)], n_slots=2),
        faults.combine(
            [faults.partition(np.arange(N) % 2, 3, 9), faults.slowdown([0], 4.0, 0, n_nodes=N)]
        ),
        faults.none(N, n_slots=2),
    ]
    params = beacons.params(loss_p=0.02)
    traces = []

    def counted(*args):
        traces.append(1)
        return beacons._step_fn(*args)

    kernel = KERNEL._replace(step_fn=counted)
    key = jax.random.key(8)
    one_by_one = [
        meshlab.core.rollout(kernel, key, params._replace(faults=f), ROUNDS) for f in schedules
    ]
    assert len(traces) == 1  # three schedules of one shape: one compilation
    batched = jax.jit(
        jax.vmap(
            lambda f: meshlab.core.kernel.scan_steps(kernel, key, params._replace(faults=f), ROUNDS)
        )
    )(faults.stack(schedules))
    assert len(traces) == 2  # the vmapped batch: one more, for any batch size
    for i, (state, info) in enumerate(one_by_one):
        for x, y in zip(jax.tree.leaves((state, info)), jax.tree.leaves(batched), strict=True):
            x, y = np.asarray(x), np.asarray(y)[i]
            if x.dtype.kind == "f":  # vmap may fuse sums differently: float rounding only
                np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_array_equal(x, y)
    sent = [int(np.asarray(info.sent).sum()) for _, info in one_by_one]
    assert sent[0] < sent[2] and sent[1] == sent[2]  # crash silences; partition still sends
    # the check can fail: another slot count is another shape, hence a new trace
    meshlab.core.rollout(kernel, key, params._replace(faults=faults.none(N, 3)), ROUNDS)
    assert len(traces) == 3


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: faults.crash([N], 0, n_nodes=N), ValueError, r"node ids in \[0, 60\)"),
        (lambda: faults.crash([1, 1], 0, n_nodes=N), ValueError, "distinct"),
        (lambda: faults.crash([1], 0), TypeError, "n_nodes is required"),
        (lambda: faults.crash([1], 5, 5, n_nodes=N), ValueError, "end_round must be > start_round"),
        (lambda: faults.crash([1], -1, n_nodes=N), ValueError, "start_round"),
        (lambda: faults.loss([1], 1.5, 0, n_nodes=N), ValueError, "extra_loss"),
        (lambda: faults.slowdown([1], 0.0, 0, n_nodes=N), ValueError, "factor"),
        (lambda: faults.latency([1], -0.1, 0, n_nodes=N), ValueError, "extra_s"),
        (lambda: faults.partition([0, 1, -1], 0), ValueError, "groups"),
        (lambda: faults.partition([0, 1], 0, direction="up"), ValueError, "direction"),
        (lambda: faults.combine([]), ValueError, "non-empty"),
        (
            lambda: faults.combine([faults.none(3, 1), faults.none(4, 1)]),
            ValueError,
            "one node count",
        ),
        (lambda: faults.combine([faults.none(3, 2)], n_slots=1), ValueError, "n_slots"),
        (lambda: faults.stack([faults.none(3, 1), faults.none(3, 2)]), ValueError, "pad"),
        (
            lambda: faults.check(faults.none(3, 1)._replace(active=jnp.ones(1, bool)), 3),
            ValueError,
            "start_round < end_round",
        ),
    ],
)
def test_constructors_validate_with_clear_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_no_faults_is_the_default_and_a_mask_works_as_targets():
    assert beacons.params().faults is None
    mask = np.zeros(N, bool)
    mask[[3, 5]] = True
    a, b = faults.crash(mask, 2), faults.crash([3, 5], 2, n_nodes=N)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert int(a.end_round[0]) == faults.NEVER


# ------------------------------------------------------------------------------ new kinds

BYTES = 3790.0


@jax.jit
def _fault_scan(key, f, rounds_arr, cap):
    """``faults.step`` over ``len(rounds_arr)`` rounds (the mesh's neighbour table), with the
    cascade load capped at ``cap`` (inf: no cap)."""
    nb, mask = jnp.asarray(NB), jnp.ones((N, K), bool)
    state = faults.init(jax.random.key(99), nb, mask)

    def body(st, xs):
        k, r = xs
        c, st = faults.step(
            k, f, st, r, nb, mask, faults.neutral_chaos(N, K), interval_s=1.0,
            beacon_bytes=BYTES, load_cap=cap,
        )  # fmt: skip
        out = (c.node_up, c.link_up, c.extra_latency_s, c.extra_loss, c.slowdown)
        return st, (*out, st.cascade_refused)

    keys = jax.random.split(key, rounds_arr.shape[0])
    return jax.lax.scan(body, state, (keys, rounds_arr))


SCAN_ROUNDS = 2000  # one length for every scan: one compilation


def _scan(f, seed=0, cap=np.inf):
    rounds = jnp.arange(SCAN_ROUNDS, dtype=jnp.int32)
    return _fault_scan(jax.random.key(seed), f, rounds, jnp.float32(cap))


def test_latency_jitter_laws_and_static_draws():
    f = faults.latency(range(N), 0.05, 0, n_nodes=N, jitter_s=0.01, dist="uniform")
    lat = np.asarray(_scan(f)[1][2])[:400]
    assert lat.min() >= 0.04 - 1e-7 and lat.max() <= 0.06 + 1e-7
    # "both" selects every link twice over but one slot adds once: mean 0.05, sd 0.01/sqrt(3)
    se = 0.01 / np.sqrt(3) / np.sqrt(lat.size)
    assert abs(lat.mean() - 0.05) < 5 * se
    f = faults.latency(range(N), 0.05, 0, n_nodes=N, jitter_s=0.01, per_message=False)
    lat = np.asarray(_scan(f)[1][2])
    np.testing.assert_array_equal(lat[0], lat[2])  # one draw per link for the whole run
    assert lat[0].std() > 0.005  # normal(0.05, 0.01) across links


def test_burst_loss_matches_the_gilbert_elliott_closed_forms():
    p, rr, rounds = 0.05, 0.25, SCAN_ROUNDS
    f = faults.burst_loss(range(N), p, rr, 0, n_nodes=N)
    bad = np.asarray(_scan(f)[1][3]) > 0.5  # extra loss 1 in the bad state
    share = bad.mean()
    rho = 1 - p - rr  # lag-1 autocorrelation of the chain: inflate the binomial error
    se = np.sqrt(share * (1 - share) / bad[0].size / rounds * (1 + rho) / (1 - rho))
    assert abs(share - p / (p + rr)) < 5 * se
    assert not bad[0].any() or bad[0].mean() < 0.2  # starts good (one step from good)
    runs = np.diff(np.concatenate([np.zeros((1, N, K)), bad, np.zeros((1, N, K))]), axis=0)
    n_bursts = (runs == 1).sum()
    assert abs(bad.sum() / n_bursts - 1 / rr) < 0.1 * (1 / rr)  # mean burst 1 / r rounds


def _copy_positions():
    pos = np.zeros((N, K), int)
    seen = {}
    for i in range(N):
        for k in range(K):
            j = NB[i, k]
            pos[i, k] = seen.get(j, 0)
            seen[j] = pos[i, k] + 1
    return pos


def test_bandwidth_cap_serializes_copies_and_queues_across_rounds():
    target = 4
    cap = 6 * BYTES / 0.5  # K copies take 0.5 s: fits in the 1 s round
    lat = np.asarray(_scan(faults.bandwidth([target], cap, 0, n_nodes=N))[1][2])
    want = np.where(NB == target, (_copy_positions() + 1) * BYTES / cap, 0.0)
    np.testing.assert_allclose(lat[2], want, rtol=1e-5, atol=1e-9)
    cap = 6 * BYTES / 1.5  # 1.5 s of copies per 1 s round: the backlog grows 0.5 s a round
    _, out = _scan(faults.bandwidth([target], cap, 0, n_nodes=N))
    first = np.asarray(out[2])[:5, NB == target].min(axis=1)  # backlog + one copy
    np.testing.assert_allclose(first, [0.25, 0.75, 1.25, 1.75, 2.25], rtol=1e-5)


def test_flapping_links_follow_period_and_duty_exactly():
    f = faults.flapping([7], 4, 0.5, 3, 19, n_nodes=N, direction="to")
    ups = np.array([bool(_eval(f, r).link_up[7].all()) for r in range(24)])
    want = np.ones(24, bool)
    for r in range(3, 19):
        want[r] = (r - 3) % 4 < 2
    np.testing.assert_array_equal(ups, want)


def test_churn_sessions_follow_the_weibull_law():
    lam, shape, rounds = 6.0, 1.5, SCAN_ROUNDS
    f = faults.churn(range(N), lam, 3.0, 0, n_nodes=N, shape=shape)
    up = np.asarray(_scan(f)[1][0])
    lengths = []
    for i in range(N):  # run-length encode; the last run of each node is cut by the end
        change = np.flatnonzero(np.diff(up[:, i].astype(np.int8))) + 1
        bounds = np.concatenate([[0], change, [rounds]])
        for a, b in zip(bounds[:-2], bounds[1:-1], strict=True):
            if up[a, i]:
                lengths.append(b - a)
    lengths = np.asarray(lengths)
    d = np.arange(0, 200)
    want = np.exp(-((d / lam) ** shape)).sum()  # E[ceil(W)] = sum_d P(W > d)
    se = lengths.std() / np.sqrt(lengths.size)
    assert lengths.size > 1000 and abs(lengths.mean() - want) < 5 * se


def test_cascade_matches_an_independent_simulation():
    growth, thr, rounds = 0.5, 2.6, 12
    f = faults.cascade([0], growth, thr, 2, n_nodes=N)
    up = np.asarray(_scan(f)[1][0])[:rounds]
    down, load = np.zeros(N, bool), np.ones(N)
    for r in range(rounds):
        if r < 2:
            assert up[r].all()
            continue
        down |= np.arange(N) == 0
        np.testing.assert_array_equal(~up[r], down, err_msg=f"round {r}")
        nd = down[NB].sum(axis=1)
        load = np.where(down, load, load + growth * nd)
        down = down | (load >= thr)
    assert down.sum() > 1  # it did cascade


@pytest.mark.parametrize("cap", [1.8, 3.0])
def test_a_load_cap_refuses_the_cascade_growth_past_it(cap):
    """Load shedding: a node refuses the growth past the cap (an independent simulation
    gives the refused load per node and round); under the threshold nobody else crashes."""
    growth, thr, rounds = np.float32(0.5), np.float32(2.6), 12
    f = faults.cascade([0], float(growth), float(thr), 2, n_nodes=N)
    out = _scan(f, cap=cap)
    up, refused = np.asarray(out[1][0])[:rounds], np.asarray(out[1][5])[:rounds]
    down, load = np.zeros(N, bool), np.ones(N, np.float32)
    for r in range(rounds):
        if r < 2:
            assert up[r].all() and not refused[r].any()
            continue
        down |= np.arange(N) == 0
        np.testing.assert_array_equal(~up[r], down, err_msg=f"round {r}")
        grown = load + growth * down[NB].sum(axis=1).astype(np.float32)
        kept = np.minimum(grown, np.float32(cap))
        np.testing.assert_allclose(refused[r], np.where(down, 0, grown - kept), atol=1e-6)
        load = np.where(down, load, kept)
        down = down | (load >= thr)
    if cap < thr:
        assert down.sum() == 1 and refused.sum() > 0  # contained: only the seed is down
    else:
        assert down.sum() > 1  # a cap over the threshold does not stop the cascade


def test_replays_and_verify_failures_are_rejected_and_counted_apart():
    f = faults.combine([faults.replay([9], 1.0, 2, n_nodes=N), faults.none(N, 1)])
    _, info = _run(beacons.params(**QUIET, faults=f))
    rep, rej = np.asarray(info.replayed), np.asarray(info.rejected)
    assert (rep[2:] == K).all() and rep[:2].sum() == 0  # node 9 has K listeners
    np.testing.assert_array_equal(rej, rep)
    assert (np.asarray(info.accepted)[2:] == N * K - K).all()
    f = faults.combine([faults.verify_fail(range(N), 0.3, 0, n_nodes=N), faults.none(N, 1)])
    _, info = _run(beacons.params(**QUIET, faults=f))
    vf, sent = np.asarray(info.verify_failed).sum(), np.asarray(info.sent).sum()
    assert abs(vf / sent - 0.3) < 5 * np.sqrt(0.3 * 0.7 / sent)
    assert np.asarray(info.rejected).sum() == vf and np.asarray(info.replayed).sum() == 0


def _touching(node):
    return int(((np.arange(N)[:, None] == node) | (NB == node)).sum())


@pytest.mark.parametrize("state", ["lost", "kept"])
def test_crash_restart_state_and_kem_failures_on_link_restart(state):
    node = 11
    f = faults.combine(
        [
            faults.crash([node], 5, 10, n_nodes=N, state=state),
            faults.kem_fail([node], 1.0, 0, n_nodes=N),
        ]
    )
    _, info = _run(beacons.params(**QUIET, faults=f))
    hf = np.asarray(info.handshake_failed)
    if state == "lost":  # sessions dropped: every restart handshake fails, every round
        assert hf[:10].sum() == 0 and (hf[10:] == _touching(node)).all()
    else:  # sessions kept: nothing to re-key
        assert hf.sum() == 0
        assert (np.asarray(info.accepted)[10:] == N * K).all()


def test_pause_freezes_a_node_that_comes_back_with_its_backlog():
    node, start, end = 13, 4, 9
    f = faults.combine([faults.pause([node], start, end, n_nodes=N), faults.none(N, 1)])
    state, info = _run(beacons.params(**QUIET, faults=f))
    sent = np.asarray(info.sent)
    assert (sent[start:end] == N * K - K).all() and (sent[end:] == N * K).all()
    # nothing lost: every beacon sent was accepted, the paused node's ones late
    assert int(np.asarray(info.accepted).sum()) == int(sent.sum())
    assert float(state.max_backlog_s[node]) >= (end - start - 1) * 1.0
    assert float(np.asarray(state.max_backlog_s)[np.arange(N) != node].max()) < 0.5


def test_clock_skew_and_drift_reach_the_detector_timestamps():
    f = faults.clock([2], 0.3, 5, 9, n_nodes=N, drift_ppm=1e4)
    off = [float(_eval(f, r).clock_offset_s[2]) for r in range(11)]
    want = [0.3 + 1e4 * 1e-6 * (r - 5) if 5 <= r < 9 else 0.0 for r in range(11)]
    np.testing.assert_allclose(off, want, rtol=1e-6, atol=1e-9)
    assert float(_eval(f, 6).clock_offset_s[3]) == 0.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: faults.partition(np.zeros(N, int), 0), "at least two groups"),
        (lambda: faults.pause([1], 0, None, n_nodes=N), "end_round is required"),
        (lambda: faults.burst_loss([1], 0.0, 0.2, 0, n_nodes=N), "p .*must be > 0"),
        (lambda: faults.burst_loss([1], 0.1, 0.0, 0, n_nodes=N), "r .*must be > 0"),
        (lambda: faults.flapping([1], 1, 0.5, 0, n_nodes=N), "period_rounds"),
        (lambda: faults.latency([1], 0.1, 0, n_nodes=N, dist="cauchy"), "dist"),
        (lambda: faults.crash([1], 0, n_nodes=N, state="gone"), "state"),
        (lambda: faults.cascade([1], 0.5, 1.0, 0, n_nodes=N), "threshold"),
        (
            lambda: faults.check(
                faults.combine(
                    [faults.crash([1, 2], 0, 10, n_nodes=N), faults.pause([2], 5, 8, n_nodes=N)]
                ),
                N,
            ),
            r"faults\[1\] contradicts faults\[0\] on node 2",
        ),
        (
            lambda: faults.check(faults.crash([1], 50, n_nodes=N), N, n_rounds=30),
            r"faults\[0\]\.start_round must be < the run's 30 rounds",
        ),
        (
            lambda: faults.check(
                faults.crash([1], 0, n_nodes=N)._replace(kind=jnp.asarray([99])), N
            ),
            r"faults\[0\]\.kind",
        ),
        (
            lambda: beacons.rollout(
                beacons.build(beacons.BeaconConfig(loss_model="gilbert_elliott"), TOPO),
                jax.random.key(0),
                beacons.params(ge_p=0.0, ge_r=0.0),
                5,
            ),
            "ge_p must be > 0",
        ),
        (
            lambda: beacons.rollout(
                beacons.build(beacons.BeaconConfig(loss_model="gilbert_elliott"), TOPO),
                jax.random.key(0),
                beacons.params(ge_p=1.0, ge_r=0.0),
                5,
            ),
            "ge_r must be > 0",
        ),
    ],
)
def test_new_kinds_validate_with_named_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_inactive_new_kinds_leave_the_numbers_unchanged():
    base = faults.combine([faults.crash([3], 5, 12, n_nodes=N), faults.none(N, 1)])
    extra = faults.combine(
        [faults.crash([3], 5, 12, n_nodes=N), faults.churn([4], 5, 5, 0, 1, n_nodes=N)]
    )
    extra = extra._replace(active=jnp.asarray([True, False]))
    a = _run(beacons.params(loss_p=0.05, faults=base), seed=2)
    b = _run(beacons.params(loss_p=0.05, faults=extra), seed=2)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
