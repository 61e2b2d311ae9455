"""The keyed counter-hash generator of the beacon step (meshlab.core.rng.uniforms).

Tolerances are statistical: chi-square thresholds at a 1e-6 tail, correlations and
frequencies within 5 standard errors (fixed seeds, so a pass is reproducible).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from meshlab.core import rng
from meshlab.mesh import beacons, topology

N_DRAWS = 1 << 21


def _draw(seed, n_streams=2, shape=(N_DRAWS,), method="counter_hash"):
    return np.asarray(rng.uniforms(jax.random.key(seed), n_streams, shape, method))


def test_triple32_is_a_bijection_on_a_block():
    x = jnp.arange(1 << 20, dtype=jnp.uint32) * jnp.uint32(4099)  # spread over uint32
    h = np.asarray(rng.triple32(x))
    assert np.unique(h).size == x.size


@pytest.mark.parametrize("seed", [0, 1])
def test_uniform_histogram_and_range(seed):
    u = _draw(seed)
    assert u.dtype == np.float32 and u.shape == (2, N_DRAWS)
    assert (u > 0).all() and (u < 1).all()
    bins = 1000
    for s in range(2):
        counts = np.bincount((u[s] * bins).astype(int), minlength=bins)
        chi2 = ((counts - N_DRAWS / bins) ** 2 / (N_DRAWS / bins)).sum()
        assert chi2 < stats.chi2.isf(1e-6, bins - 1), chi2
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)


def test_every_bit_is_balanced():
    u = _draw(2)[0]
    bits = ((u / 2.0**-23) - 0.5).astype(np.int64)  # the 23-bit grid index
    assert bits.min() >= 0 and bits.max() < 1 << 23
    freq = np.array([((bits >> b) & 1).mean() for b in range(23)])
    np.testing.assert_array_less(np.abs(freq - 0.5), 5 * 0.5 / np.sqrt(u.size))


def test_no_serial_cross_stream_or_cross_key_correlation():
    u = _draw(3)
    v = _draw(4)
    tol = 5 / np.sqrt(N_DRAWS)
    for lag in (1, 2, 8, 1024):  # neighbouring links / rows of an [N, K] draw
        r = np.corrcoef(u[0, :-lag], u[0, lag:])[0, 1]
        assert abs(r) < tol, (lag, r)
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < tol  # two streams, same index
    assert abs(np.corrcoef(u[0], v[0])[0, 1]) < tol  # two round keys, same index


def test_consecutive_pairs_fill_the_square():
    u = _draw(5)[0]
    g = 32
    a = (u[0::2] * g).astype(int)
    b = (u[1::2] * g).astype(int)
    counts = np.bincount(a * g + b, minlength=g * g)
    expected = a.size / (g * g)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < stats.chi2.isf(1e-6, g * g - 1), chi2


def test_same_key_same_draw_and_streams_differ():
    a = _draw(6, shape=(1000, 8))
    b = _draw(6, shape=(1000, 8))
    np.testing.assert_array_equal(a, b)
    assert (a[0] != a[1]).mean() > 0.99
    assert (a[0] != _draw(7, shape=(1000, 8))[0]).mean() > 0.99


def test_bad_method_and_empty_draws():
    with pytest.raises(ValueError, match="rng must be one of"):
        rng.uniforms(jax.random.key(0), 1, (3,), "mersenne")
    with pytest.raises(ValueError, match="rng must be one of"):
        beacons.BeaconConfig(rng="mersenne")
    assert rng.uniforms(jax.random.key(0), 0, (3,)).shape == (0, 3)
    # the counter is a uint32 index: a stream of 2**32 values is refused before any draw
    with pytest.raises(ValueError, match="at most 2\\*\\*32 - 1 values per stream, got 4294967296"):
        rng.uniforms(jax.random.key(0), 1, (2**16, 2**16))


def test_threefry_and_counter_hash_give_the_same_beacon_statistics():
    """Same scenario, same base latencies (same init key), per-message draws from the two
    generators: delivery within 5 binomial sd, mean latency within 5 standard errors."""
    n, k, rounds = 500, 8, 200
    topo = topology.random_regular(jax.random.key(11), n, k)
    params = beacons.params(loss_p=0.05)
    out = {}
    for method in rng.METHODS:
        config = beacons.BeaconConfig(rng=method)
        state, _ = beacons.rollout(beacons.build(config, topo), jax.random.key(12), params, rounds)
        out[method] = beacons.summarize(state, config, params)
    a, b = out["counter_hash"], out["threefry"]
    links_sent = n * k * rounds
    sd = np.sqrt(2 * 0.05 * 0.95 / links_sent)
    assert abs(a["delivery_ratio"] - 0.95) < 5 * sd
    assert abs(a["delivery_ratio"] - b["delivery_ratio"]) < 5 * sd
    # per-message latency spread: lognormal jitter (scale 0.5 ms, log-sd 1) + verify
    jitter_sd = 5e-4 * np.sqrt((np.e - 1) * np.e)
    se = jitter_sd * np.sqrt(2 / (links_sent * 0.95))
    assert abs(a["mean_latency_s"] - b["mean_latency_s"]) < 5 * se
    # quantiles of ~760k samples: relative standard error ~0.1 % at p50, ~1 % at p99
    assert abs(a["p50_s"] / b["p50_s"] - 1) < 0.01, (a["p50_s"], b["p50_s"])
    assert abs(a["p99_s"] / b["p99_s"] - 1) < 0.05, (a["p99_s"], b["p99_s"])
