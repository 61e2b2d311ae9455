"""Link models against closed forms: loss (iid, Gilbert–Elliott), jitter and service laws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab.core import rng
from meshlab.mesh import beacons, links, topology


def _uniforms(seed, n, shape):
    bits = jax.random.bits(jax.random.key(seed), (n, *shape), jnp.uint32)
    return rng.uniform_from_bits(bits)


def _rollout(topo, config, params, rounds, seed=0):
    state, info = beacons.rollout(beacons.build(config, topo), jax.random.key(seed), params, rounds)
    return beacons.summarize(state, config, params), info


def test_delivery_ratio_is_one_minus_p():
    # iid loss, no queueing to speak of: accepted / sent ~ Binomial(n, 1 - p) / n,
    # sd = sqrt(p (1 - p) / n); 5 sd.
    topo = topology.random_regular(jax.random.key(0), 200, 8)
    config = beacons.BeaconConfig()
    for p in (0.0, 0.05, 0.3):
        params = beacons.params(loss_p=p)
        s, info = _rollout(topo, config, params, 100)  # same shapes as test_mesh_beacons
        n = int(np.asarray(info.sent).sum())
        assert n == 200 * 8 * 100  # every node beacons every round
        assert abs(s["delivery_ratio"] - (1 - p)) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-9


def test_gilbert_elliott_long_run_loss_through_the_rollout():
    # Stationary loss pi = p / (p + r). Per link, the loss indicator is a two-state chain
    # with lag-1 autocorrelation lam = 1 - p - r, so the variance of the mean over T rounds
    # is pi (1 - pi) (1 + lam) / ((1 - lam) T); links are independent. 5 sd.
    ge_p, ge_r = 0.02, 0.2
    topo = topology.random_regular(jax.random.key(1), 200, 8)
    config = beacons.BeaconConfig(loss_model="gilbert_elliott")
    params = beacons.params(ge_p=ge_p, ge_r=ge_r)
    rounds, n_links = 400, 200 * 8
    s, _ = _rollout(topo, config, params, rounds)
    pi = ge_p / (ge_p + ge_r)
    lam = 1 - ge_p - ge_r
    sd = np.sqrt(pi * (1 - pi) * (1 + lam) / ((1 - lam) * rounds * n_links))
    assert abs(s["loss_ratio"] - pi) < 5 * sd


def test_gilbert_elliott_burst_length_is_one_over_r():
    # With loss 0 in good and 1 in bad, a loss burst is a bad-state sojourn: Geometric(r),
    # mean 1 / r, sd sqrt(1 - r) / r. Per-link sequences from the same loss_step the beacon
    # scan uses; 5 standard errors over the observed bursts.
    ge_p, ge_r, n_links, rounds = 0.05, 0.25, 2000, 400
    keys = jax.random.split(jax.random.key(2), rounds)

    def body(bad, key):
        u = _uniforms_key(key, 2, (n_links,))
        lost, bad = links.loss_step("gilbert_elliott", u[0], u[1], bad, 0.0, ge_p, ge_r, 0.0, 1.0)
        return bad, lost

    bad0 = links.ge_stationary_bad(jax.random.key(3), (n_links,), ge_p, ge_r)
    _, lost = jax.lax.scan(body, bad0, keys)
    lost = np.asarray(lost)
    # bursts that start and end inside the window (no censoring)
    lengths = []
    for col in lost.T:
        edges = np.diff(np.concatenate([[0], col.astype(int), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        inner = (starts > 0) & (ends < rounds)
        lengths.extend((ends - starts)[inner].tolist())
    lengths = np.asarray(lengths)
    se = np.sqrt(1 - ge_r) / ge_r / np.sqrt(lengths.size)
    assert lengths.size > 1000
    assert abs(lengths.mean() - 1 / ge_r) < 5 * se
    assert abs(lost.mean() - ge_p / (ge_p + ge_r)) < 0.01


def _uniforms_key(key, n, shape):
    return rng.uniform_from_bits(jax.random.bits(key, (n, *shape), jnp.uint32))


def test_jitter_laws():
    n = 400_000
    u = _uniforms(4, 2, (n,))
    # order-statistic sd of a sample quantile ~ sqrt(q (1 - q) / n) / f(x_q); 5 sd in
    # probability space: compare the CDF of the sample at the closed-form quantile.
    tol = 5 * np.sqrt(0.25 / n)
    ln = np.asarray(links.jitter("lognormal", u, 1e-3, 0.7, 0.0, 0.0))
    for z, q in [(-1.2816, 0.1), (0.0, 0.5), (1.2816, 0.9)]:
        assert abs((ln <= 1e-3 * np.exp(0.7 * z)).mean() - q) < tol
    pa = np.asarray(links.jitter("pareto", u, 2e-3, 3.0, 0.0, 0.0))
    # Lomax: P(X > x) = (1 + x / s)^(-alpha)
    for x in (1e-3, 4e-3, 2e-2):
        assert abs((pa > x).mean() - (1 + x / 2e-3) ** -3.0) < tol
    no = np.asarray(links.jitter("normal", u, 1e-3, 1.0, 0.0, 0.0))
    assert abs(no.mean()) < 5 * 1e-3 / np.sqrt(n) and abs(no.std() / 1e-3 - 1) < 0.01
    bi = np.asarray(links.jitter("bimodal", u, 1e-4, 1.0, 0.02, 0.1))
    assert abs((bi > 0.1).mean() - 0.02) < 5 * np.sqrt(0.02 * 0.98 / n)
    # mean = scale + slow_prob * slow_s; sd of the mean <= sqrt(var / n)
    var = 1e-8 + 0.02 * 0.98 * 0.01
    assert abs(bi.mean() - (1e-4 + 0.02 * 0.1)) < 5 * np.sqrt(var / n)


def test_service_time_means():
    n = 400_000
    u = _uniforms(5, 1, (n,))
    ex = np.asarray(links.service_time("exponential", u, 2e-4, 0.0))
    assert abs(ex.mean() / 2e-4 - 1) < 5 / np.sqrt(n)  # cv of Exp = 1
    ln = np.asarray(links.service_time("lognormal", u, 2e-4, 0.5))
    cv = np.sqrt(np.exp(0.25) - 1)
    assert abs(ln.mean() / 2e-4 - 1) < 5 * cv / np.sqrt(n)  # mean-parametrised
    assert abs(np.median(ln) / (2e-4 * np.exp(-0.125)) - 1) < 0.01
    assert float(links.service_time("deterministic", None, 2e-4, 0.5)) == np.float32(2e-4)


def test_end_to_end_latency_adds_up_without_randomness():
    # constant base, no jitter, deterministic verify, no send jitter, one sender per round
    # per receiver slot -> queueing only among the K arrivals that land together.
    topo = topology.grid_2d(1, 2)  # two nodes, one link each way: no queueing at all
    config = beacons.BeaconConfig(
        latency_model="constant", jitter_dist="none", service_dist="deterministic"
    )
    params = beacons.params(
        send_jitter_s=0.0,
        base_latency_s=3e-3,
        loss_p=0.0,
        bandwidth_bps=8e6,
        beacon_bytes=4000.0,
        verify_mean_s=1e-3,
    )
    s, _ = _rollout(topo, config, params, 10)
    expected = 3e-3 + 8 * 4000 / 8e6 + 1e-3  # propagation + serialization + verification
    assert abs(s["mean_latency_s"] - expected) < 1e-6
    assert abs(s["p50_s"] / expected - 1) <= config.bin_rel_error
    assert s["mean_wait_s"] == 0.0
    inf_bw = params._replace(bandwidth_bps=jnp.float32(np.inf))
    s2, _ = _rollout(topo, config, inf_bw, 10)
    assert abs(s2["mean_latency_s"] - 4e-3) < 1e-6


def test_distance_latency_model():
    topo = topology.random_geometric(jax.random.key(6), 100, 0.2, 30, allow_disconnected=True)
    config = beacons.BeaconConfig(latency_model="distance")
    params = beacons.params(base_latency_s=1e-3, propagation_s_per_unit=0.05)
    state = beacons.build(config, topo).init(jax.random.key(0), params)
    pos = topo.positions
    d = np.linalg.norm(pos[:, None, :] - pos[topo.neighbors], axis=-1)
    want = np.where(topo.mask, 1e-3 + 0.05 * d, 0.0)
    np.testing.assert_allclose(np.asarray(state.base_latency_s), want, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(ge_p=0.0, ge_r=0.0), "ge_p must be > 0"),
        (dict(ge_p=0.0, ge_r=0.3), "ge_p must be > 0"),
        (dict(ge_p=1.0, ge_r=0.0), "ge_r must be > 0"),
        (dict(ge_loss_good=0.5, ge_loss_bad=0.5), "ge_loss_bad must be > ge_loss_good"),
    ],
)
def test_degenerate_gilbert_elliott_chains_are_refused_unless_opted_in(kw, match):
    g = {
        k: kw.get(k, d)
        for k, d in dict(ge_p=0.1, ge_r=0.2, ge_loss_good=0.0, ge_loss_bad=1.0).items()
    }
    with pytest.raises(ValueError, match=match):
        links.check_gilbert_elliott(g["ge_p"], g["ge_r"], g["ge_loss_good"], g["ge_loss_bad"])
    links.check_gilbert_elliott(*g.values(), allow_degenerate=True)  # the explicit opt-in
    links.check_gilbert_elliott(0.1, 0.2, 0.0, 1.0)  # a real chain passes
