"""SVID rotation lifecycle kernel: renewal timing, outages, identity loss, latency, CA cap,
key schedule, sweeps."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from meshlab.identity import svid

TTL = 3600.0
# One config shared by the outage tests (one compilation): 300 nodes, 2 s steps, 1.5 h.
OUTAGE_CFG = svid.SvidConfig(n_nodes=300, n_steps=2700, dt_s=2.0)


def _run(key, params, config):
    """A whole run: ``(final_state, trace)``."""
    return svid.rollout(svid.build(config), key, params, config.n_steps)


def _run_with_info(key, params, config):
    """Steps the kernel under scan keeping the per-node info (small runs only), with the
    rollout's key schedule (init key, then fold_in(run key, step))."""
    kernel = svid.build(config)
    k_init, k_run = jax.random.split(key)
    state = kernel.init(k_init, params)

    @jax.jit
    def run(state):
        def body(state, i):
            return kernel.step(jax.random.fold_in(k_run, i), state, params)

        return jax.lax.scan(body, state, jnp.arange(config.n_steps))

    return run(state)


def test_renewal_instants_fall_in_the_jitter_band():
    config = svid.SvidConfig(n_nodes=300, n_steps=400, dt_s=1.0)
    params = svid.params(ttl_s=100.0, issuance_median_s=0.01, issuance_p90_s=0.01)
    final, info = _run_with_info(jax.random.key(3), params, config)
    frac = np.asarray(info.renewal_fraction)
    frac = frac[~np.isnan(frac)]
    assert frac.size > 2000  # ~300 nodes x 400 s / 50 s
    # [0.45, 0.55] x lifetime, up to float32 rounding of the absolute times (~1e-5 s / 100 s).
    assert frac.min() >= 0.45 - 1e-5 and frac.max() <= 0.55 + 1e-5
    # Uniform jitter: the band is used to its edges (P(min > 0.46) = 0.9^n ~ 1e-100) and the
    # mean is 0.5 within 4 standard errors (sd of U(0.45, 0.55) = 0.1/sqrt(12)).
    assert frac.min() < 0.46 and frac.max() > 0.54
    assert abs(frac.mean() - 0.5) < 4 * (0.1 / math.sqrt(12)) / math.sqrt(frac.size)
    # Every attempt happens inside its step: (t0, t0 + dt].
    at = np.asarray(info.attempt_at)
    t1 = (np.arange(config.n_steps) + 1.0)[:, None] * config.dt_s
    ok = ~np.isnan(at)
    assert np.all((at <= t1 + 1e-4)[ok]) and np.all((at > t1 - config.dt_s - 1e-4)[ok])
    assert not np.asarray(info.lost).any() and int(final.n_losses.sum()) == 0


def test_outage_longer_than_lifetime_loses_identity_exactly_at_expiry():
    key = jax.random.key(11)
    params = svid.params(ttl_s=TTL, outages=[(0.0, 2 * TTL)])
    f, res = _run(key, params, OUTAGE_CFG)
    # Nobody could renew: the SVID held at the end is the initial one ...
    assert float(f.valid_from.max()) <= 0.0 and int(f.successes) == 0
    assert int(f.attempts) > OUTAGE_CFG.n_nodes  # ... although everyone kept retrying.
    # ... and every node lost its identity exactly when that SVID expired, once.
    np.testing.assert_array_equal(np.asarray(f.first_loss_at), np.asarray(f.expires_at))
    assert (np.asarray(f.n_losses) == 1).all()
    # Same expiry times as an eager init from the same key (float32 rounding only).
    expected = np.asarray(svid.build(OUTAGE_CFG).init(jax.random.split(key)[0], params).expires_at)
    np.testing.assert_allclose(np.asarray(f.first_loss_at), expected, rtol=0, atol=2e-3)
    # Warm start: remaining lifetimes lie in [0.45, 1] x TTL.
    assert expected.min() >= 0.45 * TTL - 1e-2 and expected.max() <= TTL + 1e-2
    # The fraction without identity is the empirical CDF of those expiries (numpy).
    t = np.asarray(res.t_s)
    want = (np.asarray(f.expires_at)[None, :] <= t[:, None]).mean(axis=1)
    np.testing.assert_allclose(np.asarray(res.frac_without_identity), want, atol=1e-6)
    s = svid.summarize(f, OUTAGE_CFG, params)
    assert s["time_to_first_loss_s"] == pytest.approx(float(expected.min()), abs=2e-3)
    assert s["identity_losses"] == OUTAGE_CFG.n_nodes
    assert s["rotation_success_rate"] == 0.0 and s["max_frac_without_identity"] == 1.0


def test_mid_run_outage_losses_are_expiries_of_svids_held_at_outage_start():
    start = 1200.0
    params = svid.params(ttl_s=TTL, outages=[(start, start + 2 * TTL)])
    f, res = _run(jax.random.key(5), params, OUTAGE_CFG)
    loss = np.asarray(f.first_loss_at)
    # The SVID held at the outage start is the last one issued: no issuance during it.
    assert float(f.valid_from.max()) < start
    np.testing.assert_array_equal(loss, np.asarray(f.expires_at))
    # It was issued before `start` and renewal was due after `start` (r <= 0.55), so it
    # expires in (start + 0.45 TTL, start + TTL].
    assert loss.min() > start + 0.45 * TTL - 1e-2 and loss.max() <= start + TTL + 1e-2
    np.testing.assert_allclose(loss - np.asarray(f.valid_from), TTL, atol=2e-3)
    s = svid.summarize(f, OUTAGE_CFG, params)
    assert s["time_to_first_loss_s"] == pytest.approx(loss.min() - start, abs=2e-3)
    assert s["identity_losses"] == OUTAGE_CFG.n_nodes


def test_outage_shorter_than_min_remaining_lifetime_causes_no_loss():
    # Remaining lifetime at any instant is > 0.45 TTL = 27 min: a 20-min outage is absorbed.
    params = svid.params(ttl_s=TTL, outages=[(1200.0, 2400.0)])
    f, res = _run(jax.random.key(6), params, OUTAGE_CFG)
    s = svid.summarize(f, OUTAGE_CFG, params)
    assert s["identity_losses"] == 0 and s["max_frac_without_identity"] == 0.0
    assert s["rotation_success_rate"] == 1.0
    assert math.isinf(s["time_to_first_loss_s"])
    assert s["attempt_success_rate"] < 1.0  # renewals during the outage failed and retried


def test_issuance_latency_percentiles_match_the_lognormal():
    median, p90 = 0.05, 0.2
    config = svid.SvidConfig(n_nodes=500, n_steps=600, dt_s=1.0)
    params = svid.params(ttl_s=60.0, issuance_median_s=median, issuance_p90_s=p90)
    f, res = _run(jax.random.key(7), params, config)
    s = svid.summarize(f, config, params)
    n = int(f.successes)
    assert n > 8000
    sigma = math.log(p90 / median) / stats.norm.ppf(0.9)
    for q, key in [
        (0.5, "issuance_latency_p50_s"),
        (0.9, "issuance_latency_p90_s"),
        (0.99, "issuance_latency_p99_s"),
    ]:
        true = median * math.exp(sigma * stats.norm.ppf(q))
        # log-space standard error of a sample quantile, sqrt(q(1-q)/n) / phi(z_q) * sigma,
        # times 4, plus half a histogram bin (log(10**(7/512))/2) for reading the bin centre.
        z = stats.norm.ppf(q)
        se = math.sqrt(q * (1 - q) / n) / stats.norm.pdf(z) * sigma
        tol = 4 * se + 0.5 * math.log(10 ** (7 / 512))
        assert abs(math.log(s[key] / true)) < tol, (key, s[key], true)
    assert s["rotation_success_rate"] == 1.0 and s["attempt_success_rate"] == 1.0


def test_transient_failures_set_the_attempt_success_rate():
    p_fail = 0.2
    config = svid.SvidConfig(n_nodes=400, n_steps=600, dt_s=1.0)
    params = svid.params(ttl_s=60.0, failure_prob=p_fail, retry_interval_s=2.0)
    f, res = _run(jax.random.key(8), params, config)
    s = svid.summarize(f, config, params)
    n = s["attempts"]
    # Binomial: 4 standard errors.
    assert abs(s["attempt_success_rate"] - (1 - p_fail)) < 4 * math.sqrt(p_fail * (1 - p_fail) / n)
    # Retries every ~2 s within the 27+ s left: losing an identity needs >= 13 failures in a row.
    assert s["identity_losses"] == 0


def test_ca_lifetime_caps_every_svid_and_ends_identity_at_ca_expiry():
    ca_end = 2000.0
    config = svid.SvidConfig(n_nodes=200, n_steps=1500, dt_s=2.0)
    params = svid.params(ttl_s=TTL, ca_not_after_s=ca_end)
    f, res = _run(jax.random.key(9), params, config)
    assert float(f.expires_at.max()) <= ca_end + 1e-3
    np.testing.assert_allclose(np.asarray(f.first_loss_at), ca_end, atol=2e-3)
    t = np.asarray(res.t_s)
    frac = np.asarray(res.frac_without_identity)
    assert (frac[t < ca_end] == 0).all() and (frac[t >= ca_end] == 1).all()


def test_cold_start_issues_everyone_quickly_without_counting_losses():
    config = svid.SvidConfig(n_nodes=200, n_steps=50, dt_s=1.0, warm_start=False)
    params = svid.params()
    f, res = _run(jax.random.key(10), params, config)
    frac = np.asarray(res.frac_without_identity)
    # P(latency > 5 s) = P(Z > ln(100)/sigma) ~ 1e-5 per node.
    assert frac[0] < 0.05 and (frac[5:] == 0).all()
    assert int(f.n_losses.sum()) == 0 and int(f.successes) == 200


def test_has_identity_drives_beacon_validity():
    params = svid.params(ttl_s=TTL, outages=[(0.0, 2 * TTL)])
    state = svid.build(OUTAGE_CFG).init(jax.random.key(1), params)
    t = jnp.float32(3000.0)
    np.testing.assert_array_equal(
        np.asarray(svid.has_identity(state, t)), np.asarray(state.expires_at) > 3000.0
    )


def test_vmap_over_scenarios_equals_separate_runs():
    config = svid.SvidConfig(n_nodes=50, n_steps=600, dt_s=5.0)
    kernel = svid.build(config)
    runs = [svid.params(outages=[(600.0, 600.0 + 60 * d)]) for d in (30, 90)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *runs)
    key = jax.random.key(2)
    _, batched = jax.vmap(lambda p: svid.rollout(kernel, key, p, config.n_steps))(stacked)
    for i, p in enumerate(runs):
        _, single = svid.rollout(kernel, key, p, config.n_steps)
        np.testing.assert_array_equal(
            np.asarray(batched.frac_without_identity[i]), np.asarray(single.frac_without_identity)
        )
    # The two scenarios really differ (the sweep is not comparing a run with itself).
    assert not np.array_equal(np.asarray(batched.attempts[0]), np.asarray(batched.attempts[1]))


def test_rollout_equals_stepping_the_kernel_and_continues_exactly():
    config = svid.SvidConfig(n_nodes=40, n_steps=120, dt_s=5.0)
    params = svid.params(ttl_s=300.0, failure_prob=0.05, outages=[(200.0, 400.0)])
    key = jax.random.key(4)
    final, trace = _run(key, params, config)
    stepped, info = _run_with_info(key, params, config)
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(stepped), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(
        np.asarray(trace.attempts), np.asarray(info.attempted).sum(axis=1)
    )
    np.testing.assert_allclose(np.asarray(trace.t_s), 5.0 * np.arange(1, 121))
    # Two chunks from the same key (the second continues the first) equal one run.
    kernel = svid.build(config)
    half, _ = svid.rollout(kernel, key, params, 50)
    whole, rest = svid.rollout(kernel, key, params, 70, state=half)
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(whole), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(rest.t_s), np.asarray(trace.t_s)[50:])
    assert int(whole.step) == 120


def test_a_params_sweep_compiles_once():
    config = svid.SvidConfig(n_nodes=30, n_steps=40, dt_s=5.0)
    kernel = svid.build(config)
    key = jax.random.key(0)
    svid.rollout(kernel, key, svid.params(), 40)
    compiled = svid._rollout_jit._cache_size()
    points = [
        svid.params(ttl_s=100.0 * (i + 1), failure_prob=0.1 * i, outages=[(50.0, 90.0 + i)])
        for i in range(3)
    ]
    finals = [svid.rollout(kernel, key, p, 40)[0] for p in points]
    assert svid._rollout_jit._cache_size() == compiled  # new values: no new compilation
    assert len({int(f.attempts) for f in finals}) > 1  # ... yet different runs
    # The counter does see compilations: a new static config compiles once more.
    svid.rollout(svid.build(config._replace(n_nodes=31)), key, points[0], 40)
    assert svid._rollout_jit._cache_size() == compiled + 1


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"ttl_s must be in \(0, inf\), got 0"):
        svid.params(ttl_s=0)
    with pytest.raises(ValueError, match=r"ttl_s must be in \(0, inf\), got -5"):
        svid.params(ttl_s=-5)
    with pytest.raises(ValueError, match=r"ttl_s must be finite, got inf"):
        svid.params(ttl_s=math.inf)
    with pytest.raises(TypeError, match=r"ttl_s must be a real number, got '1h'"):
        svid.params(ttl_s="1h")
    with pytest.raises(ValueError, match=r"renew_jitter"):
        svid.params(renew_fraction=0.9, renew_jitter=0.2)
    with pytest.raises(ValueError, match=r"issuance_p90_s=0.01 must be >= issuance_median_s"):
        svid.params(issuance_p90_s=0.01)
    with pytest.raises(ValueError, match=r"outages must be \(start_s, end_s\) pairs"):
        svid.params(outages=[(100.0, 50.0)])
    with pytest.raises(ValueError, match=r"failure_prob must be in \[0, 1\), got 1.0"):
        svid.params(failure_prob=1.0)
    params = svid.params(retry_interval_s=1.0)
    kernel = svid.build(svid.SvidConfig(10, 10, dt_s=2.0))
    with pytest.raises(ValueError, match=r"retry_interval_s\*0.9=0.9 must be >= config.dt_s=2.0"):
        svid.rollout(kernel, jax.random.key(0), params, 10)
    with pytest.raises(ValueError, match=r"config.n_nodes must be >= 1, got 0"):
        svid.build(svid.SvidConfig(0, 10))
    with pytest.raises(TypeError, match=r"config must be an SvidConfig"):
        svid.build({"n_nodes": 10})
    with pytest.raises(TypeError, match=r"params must be an SvidParams"):
        svid.rollout(svid.build(svid.SvidConfig(10, 10)), jax.random.key(0), {}, 10)
    with pytest.raises(TypeError, match=r"typed jax.random.key"):
        svid.rollout(svid.build(svid.SvidConfig(10, 10)), 0, svid.params(), 10)
