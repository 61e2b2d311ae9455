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
