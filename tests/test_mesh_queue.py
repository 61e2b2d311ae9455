"""The per-node FIFO server: exact Lindley recursion, and M/M/1, M/D/1 closed forms."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab.mesh import beacons, histogram, queue, topology
from meshlab.reference.beacons import numpy_beacons


def _lindley(free, a, s, valid):
    """Plain-Python FIFO per row: sort by (time, slot), serve one at a time."""
    d = np.full(a.shape, np.nan)
    new_free = free.copy()
    for i in range(a.shape[0]):
        t = free[i]
        for j in sorted(np.flatnonzero(valid[i]), key=lambda j: (a[i, j], j)):
            t = max(t, a[i, j]) + s[i, j]
            d[i, j] = t
        new_free[i] = t
    return d, new_free


@pytest.mark.parametrize("k", [1, 3, 8, 16, 40])  # columns <= 8 < rank sort <= 32 < lax.sort
def test_fifo_departures_equals_plain_lindley(k):
    rng = np.random.default_rng(k)
    n = 300
    a = rng.random((n, k)).astype(np.float32)
    a[:, : k // 2] = np.round(a[:, : k // 2], 1)  # ties
    s = (rng.exponential(0.1, (n, k))).astype(np.float32)
    valid = rng.random((n, k)) < 0.8
    free = (rng.random(n) * 0.5).astype(np.float32)
    d, f = queue.fifo_departures(jnp.asarray(free), jnp.asarray(a), jnp.asarray(s), valid)
    d_ref, f_ref = _lindley(free.astype(np.float64), a, s, valid)
    np.testing.assert_allclose(np.asarray(d)[valid], d_ref[valid], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(f), f_ref, rtol=1e-5, atol=1e-6)


def test_the_compiled_beacon_round_holds_one_column_fifo_network():
    # The column FIFO is K^2 maxima per node (K per slot); XLA may copy a fused producer into
    # each consumer, which would run the network once per consumer (the departures feed the
    # backlog, the latencies, the waits, ...). Counted in the optimised HLO of one round.
    n, k = 64, 8
    topo = topology.random_regular(jax.random.key(0), n, k)
    kernel = beacons.build(beacons.BeaconConfig(), topo)
    params = beacons.params()
    state = kernel.init(jax.random.key(1), params)
    step = jax.jit(kernel.step_fn, static_argnums=(3,))
    hlo = step.lower(jax.random.key(2), state, kernel.data, kernel.config, params, None)
    hlo = hlo.compile()
    n_max = hlo.as_text().count(" maximum(")
    assert k * k <= n_max < 2 * k * k, n_max


@functools.partial(jax.jit, static_argnames="service")
def _queue_scan(key, rho, service: str):
    n, k, period, rounds = 200, 32, 10.0, 2000

    def body(free, key):
        k1, k2, k3 = jax.random.split(key, 3)
        count = jax.random.poisson(k1, period, (n,))
        a = jax.random.uniform(k2, (n, k)) * period
        valid = jnp.arange(k)[None, :] < count[:, None]
        if service == "exponential":
            s = jax.random.exponential(k3, (n, k)) * rho
        else:
            s = jnp.full((n, k), rho)
        d, free_end = queue.fifo_departures(free, a, s, valid)
        w = jnp.where(valid, d - s - a, 0.0)
        return jnp.maximum(free_end - period, 0.0), (w.sum(1), valid.sum(1))

    return jax.lax.scan(body, jnp.zeros(n), jax.random.split(key, rounds))[1]


def _poisson_queue_waits(service: str, rho: float, seed: int):
    """Mean waiting time per server for Poisson arrivals fed through fifo_departures.

    Arrivals: rate lam = 1/s, in rounds of T = 10 s, count ~ Poisson(10) per round,
    uniform in the round (a Poisson process conditioned on its count); K = 32 slots
    (P(Poisson(10) > 32) < 1e-7). Backlog is carried across rounds exactly as the beacon
    scan does (free time relative to the next round start). 200 independent servers,
    2,000 rounds, the first 300 discarded as warm-up. E[S] = rho.
    """
    w, c = _queue_scan(jax.random.key(seed), jnp.float32(rho), service)
    w, c = np.asarray(w, np.float64)[300:], np.asarray(c, np.float64)[300:]
    return w.sum(0) / c.sum(0)  # per-server mean wait


@pytest.mark.parametrize("rho", [0.5, 0.9])
@pytest.mark.parametrize("service", ["exponential", "deterministic"])
def test_queue_waiting_matches_mm1_md1(service, rho):
    # M/M/1: Wq = rho E[S] / (1 - rho); M/D/1 (Pollaczek–Khinchine): Wq = rho E[S] / (2 (1 - rho)).
    # The 200 servers are independent replicates: tolerance = 5 standard errors of their
    # mean, plus 1 % for the warm-up/initial-transient bias (300 rounds = 3,000 arrivals,
    # far beyond the relaxation time ~ E[S] / (1 - sqrt(rho))^2 ~ 350 services at 0.9).
    waits = _poisson_queue_waits(service, rho, seed=11 if service == "exponential" else 12)
    es = rho
    closed = rho * es / (1 - rho) * (1.0 if service == "exponential" else 0.5)
    se = waits.std(ddof=1) / np.sqrt(waits.size)
    assert abs(waits.mean() - closed) < 5 * se + 0.01 * closed, (waits.mean(), closed, se)


def test_rollout_matches_its_numpy_twin():
    # Same synchronous-round model, independent code and random streams: compare the
    # statistics with tolerances from their run-to-run spread (measured on 3 seeds of each).
    topo = topology.random_regular(jax.random.key(0), 100, 8)
    config = beacons.BeaconConfig(service_dist="exponential")
    params = beacons.params(
        interval_s=0.1, send_jitter_s=0.1, verify_mean_s=0.008, jitter_scale_s=0.003
    )
    rounds, seeds = 100, 3  # the shapes of test_mesh_reference: one compilation
    states, _ = beacons.rollout_seeds(
        beacons.build(config, topo), jax.random.key(1), params, rounds, seeds
    )
    jax_runs = beacons.summarize_seeds(states, config, params)
    np_p99, np_wait, np_util = [], [], []
    for seed in range(seeds):
        r = numpy_beacons(seed, topo, config, params, rounds)
        np_p99.append(histogram.quantiles(r["hist"], [0.99], config)[0])
        np_wait.append(r["wait_sum_s"] / r["accepted"])
        np_util.append(r["busy_s"].mean() / (rounds * 0.1))
    for name, ref in [("p99_s", np_p99), ("mean_wait_s", np_wait), ("cpu_util_mean", np_util)]:
        ours = jax_runs[name]
        spread = np.hypot(np.std(ours["values"], ddof=1), np.std(ref, ddof=1))
        # 5 sd of the difference of two 3-run means + the histogram bin error for quantiles
        tol = 5 * spread / np.sqrt(seeds) + (
            config.bin_rel_error * ours["mean"] if "p99" in name else 0
        )
        assert abs(ours["mean"] - np.mean(ref)) < tol, (name, ours["mean"], np.mean(ref), tol)
    # utilization is K * verify / interval = 8 * 0.008 / 0.1 = 0.64 (less the lost 1 %)
    assert abs(jax_runs["cpu_util_mean"]["mean"] - 0.64 * 0.99) < 0.01
