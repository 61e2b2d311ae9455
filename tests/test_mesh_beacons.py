"""Beacon simulation: determinism, tracing, chaos hooks, load patterns, detector hook, CIs, bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import meshlab
from meshlab.mesh import beacons

N, K, ROUNDS = 200, 8, 100
TOPO = meshlab.random_regular(jax.random.key(0), N, K)
CONFIG = meshlab.BeaconConfig()


def _run(config=CONFIG, params=None, seed=0, rounds=ROUNDS, chaos=None):
    params = meshlab.beacon_params() if params is None else params
    return meshlab.beacon_rollout(jax.random.key(seed), TOPO, config, params, rounds, chaos)


def test_same_seed_identical_output_and_different_seed_differs():
    s1, i1 = _run(seed=3)
    s2, i2 = _run(seed=3)
    s3, _ = _run(seed=4)
    for a, b in zip(jax.tree.leaves((s1, i1)), jax.tree.leaves((s2, i2)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(s1.hist_lo), np.asarray(s3.hist_lo))


def test_step_is_traced_once():
    traces = []

    def counted(key, state, mesh, params):
        traces.append(1)
        return beacons._step(key, state, mesh, CONFIG, params, None)

    step = jax.jit(counted)
    params = meshlab.beacon_params()
    mesh = beacons._mesh(TOPO)
    state = meshlab.beacon_init(jax.random.key(0), TOPO, CONFIG, params)
    for i, p in enumerate([params, params._replace(loss_p=jnp.float32(0.2))] * 2):
        state, _ = step(jax.random.key(i), state, mesh, p)
    assert len(traces) == 1
    # the public rollout does not recompile for new params values or keys either
    before = beacons._rollout_jit._cache_size()
    _run(params=params._replace(verify_mean_s=jnp.float32(1e-3)), seed=9)
    _run(params=params._replace(loss_p=jnp.float32(0.3)), seed=10)
    assert beacons._rollout_jit._cache_size() <= before + 1


@pytest.mark.slow
def test_step_by_step_equals_rollout():
    params = meshlab.beacon_params()
    key = jax.random.key(5)
    k_init, k_run = jax.random.split(key)
    state = meshlab.beacon_init(k_init, TOPO, CONFIG, params)
    for k in jax.random.split(k_run, 5):
        state, _ = meshlab.beacon_step(k, state, TOPO, CONFIG, params)
    ref, _ = meshlab.beacon_rollout(key, TOPO, CONFIG, params, 5)
    np.testing.assert_array_equal(np.asarray(state.hist_lo), np.asarray(ref.hist_lo))
    np.testing.assert_allclose(np.asarray(state.busy_s), np.asarray(ref.busy_s), rtol=1e-6)


def _chaos(rounds, **fields):
    base = meshlab.neutral_chaos(N, K)
    full = base._replace(**fields)
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (rounds, *x.shape)), full)


def test_chaos_stopped_node_is_silent_and_deaf():
    up = np.ones(N, bool)
    up[7] = False
    state, info = _run(chaos=_chaos(ROUNDS, node_up=jnp.asarray(up)))
    assert int(state.accepted[7]) == 0 and float(state.busy_s[7]) == 0.0
    from7 = np.asarray(TOPO.neighbors) == 7
    # nobody heard node 7
    assert np.isneginf(np.asarray(state.last_heard_s)[from7]).all()
    # sent counts exclude node 7's beacons: (N - 1) * K beacons per round less the 8 to it
    assert int(np.asarray(info.sent)[0]) == (N - 1) * K


def test_chaos_invalid_beacons_are_rejected_after_verification():
    valid = np.ones(N, bool)
    valid[[3, 11]] = False
    params = meshlab.beacon_params(loss_p=0.0)
    state, info = _run(params=params, chaos=_chaos(ROUNDS, beacon_valid=jnp.asarray(valid)))
    assert int(np.asarray(info.rejected).sum()) == 2 * K * ROUNDS
    s = meshlab.summarize_beacons(state, CONFIG, params)
    assert abs(s["delivery_ratio"] - (N - 2) / N) < 1e-9
    # rejected beacons still consumed verify time: CPU = all K arrivals per round
    util = np.asarray(state.busy_s).sum() / (N * K * ROUNDS)
    assert abs(util / float(params.verify_mean_s) - 1) < 0.05  # 5 sd of an Exp mean over 160k


def test_chaos_link_down_extra_latency_loss_and_slowdown():
    params = meshlab.beacon_params(loss_p=0.0, verify_mean_s=1e-3)
    link_up = np.ones((N, K), bool)
    link_up[:, 0] = False
    # every run here takes chaos as scan xs of the same shapes: one compilation
    st, info = _run(params=params, chaos=_chaos(ROUNDS, link_up=jnp.asarray(link_up)))
    s = meshlab.summarize_beacons(st, CONFIG, params)
    assert abs(s["delivery_ratio"] - (K - 1) / K) < 1e-9
    st, _ = _run(params=params, chaos=_chaos(ROUNDS, extra_latency_s=jnp.full((N, K), 0.05)))
    s = meshlab.summarize_beacons(st, CONFIG, params)
    base = meshlab.summarize_beacons(_run(params=params, chaos=_chaos(ROUNDS))[0], CONFIG, params)
    assert abs(s["mean_latency_s"] - base["mean_latency_s"] - 0.05) < 2e-3
    st, _ = _run(params=params, chaos=_chaos(ROUNDS, extra_loss=jnp.full((N, K), 0.25)))
    s = meshlab.summarize_beacons(st, CONFIG, params)
    assert abs(s["delivery_ratio"] - 0.75) < 5 * math.sqrt(0.25 * 0.75 / (N * K * ROUNDS))
    st, _ = _run(params=params, chaos=_chaos(ROUNDS, slowdown=jnp.full((N,), 3.0)))
    s = meshlab.summarize_beacons(st, CONFIG, params)
    assert abs(s["cpu_util_mean"] / base["cpu_util_mean"] - 3.0) < 0.05


def test_chaos_fn_in_config_and_handshake_on_link_restart():
    params = meshlab.beacon_params(
        loss_p=0.0, verify_mean_s=0.0, handshake_s=0.01, send_jitter_s=0.0
    )

    def flap(r):  # every link of node 0 down in rounds 10..19
        link_up = jnp.ones((N, K), bool).at[0].set(~((r >= 10) & (r < 20)))
        return meshlab.neutral_chaos(N, K)._replace(link_up=link_up)

    config = meshlab.BeaconConfig(chaos_fn=flap, service_dist="deterministic")
    state, info = meshlab.beacon_rollout(jax.random.key(0), TOPO, config, params, 30)
    # handshakes: K links of node 0 restart once -> K * 0.01 s of CPU at node 0, none elsewhere
    busy = np.asarray(state.busy_s)
    assert abs(busy[0] - K * 0.01) < 1e-6 and busy[1:].max() == 0.0
    cold = meshlab.BeaconConfig(initial_handshake=True, service_dist="deterministic")
    state, _ = meshlab.beacon_rollout(jax.random.key(0), TOPO, cold, params, 3)
    np.testing.assert_allclose(np.asarray(state.busy_s), K * 0.01, rtol=1e-6)


@pytest.mark.parametrize("pattern", ["burst", "ramp", "diurnal"])
def test_load_patterns(pattern):
    params = meshlab.beacon_params(
        load_peak=3.0, load_start_s=10.0, load_duration_s=20.0, load_period_s=40.0
    )
    t = np.array([0.0, 9.9, 10.0, 20.0, 29.9, 30.0, 50.0])
    got = np.array([float(meshlab.load_multiplier(pattern, x, params)) for x in t])
    if pattern == "burst":
        want = np.where((t >= 10) & (t < 30), 3.0, 1.0)
    elif pattern == "ramp":
        want = 1 + 2 * np.clip((t - 10) / 20, 0, 1)
    else:
        want = 1 + 2 * 0.5 * (1 - np.cos(2 * np.pi * t / 40))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_load_multiplier_thins_and_adds_work():
    params = meshlab.beacon_params(load_peak=0.5, load_start_s=0.0, load_duration_s=1e9)
    config = meshlab.BeaconConfig(load_pattern="burst")
    _, info = meshlab.beacon_rollout(jax.random.key(1), TOPO, config, params, ROUNDS)
    frac = np.asarray(info.sent).sum() / (N * K * ROUNDS)
    # each node beacons w.p. 0.5: sd of the fraction = sqrt(.25 / (N ROUNDS))
    assert abs(frac - 0.5) < 5 * math.sqrt(0.25 / (N * ROUNDS))
    heavy = params._replace(load_peak=jnp.float32(4.0), loss_p=jnp.float32(0.0))
    st, _ = meshlab.beacon_rollout(jax.random.key(1), TOPO, config, heavy, ROUNDS)
    util = np.asarray(st.busy_s).sum() / (N * K * ROUNDS * float(heavy.verify_mean_s))
    assert abs(util - 4.0) < 0.05  # 1 verify + 3 extra messages' worth per beacon


def test_detector_hook_sees_crash_and_no_false_suspicion_at_zero_loss():
    from meshlab.membership import detection

    params = meshlab.beacon_params(loss_p=0.0)

    def crash(r):
        return meshlab.neutral_chaos(N, K)._replace(node_up=jnp.ones(N, bool).at[5].set(r < 30))

    config = meshlab.BeaconConfig(chaos_fn=crash, detector=detection.timeout_detector(3.5))
    state, info = meshlab.beacon_rollout(jax.random.key(2), TOPO, config, params, 60)
    susp = np.asarray(info.suspected)
    # node 5 last beacons in round 29 (t < 30 s); timeout 3.5 s -> all its K listeners
    # suspect it by the end of round 33 (t = 34 s), none before round 32 (t = 33 s).
    assert susp[:31].sum() == 0
    assert (susp[34:] == K).all()
    assert np.asarray(info.false_suspected).sum() == 0


def test_beacon_seeds_gives_mean_and_ci():
    params = meshlab.beacon_params(loss_p=0.1)
    out = meshlab.beacon_seeds(jax.random.key(0), TOPO, CONFIG, params, ROUNDS, 4)
    d = out["delivery_ratio"]
    assert d["n"] == 4 and len(set(d["values"])) == 4
    # seeds are independent: the CI must cover 0.9 (true value) at 95 %: check 3x CI
    assert abs(d["mean"] - 0.9) < 3 * d["ci95"] + 1e-12
    # t quantile for df=3 from tables: 3.182
    sd = np.std(d["values"], ddof=1)
    assert abs(d["ci95"] - 3.182 * sd / 2) < 1e-9


def test_hist_quantiles_within_bin_error():
    rng = np.random.default_rng(0)
    x = rng.lognormal(np.log(5e-3), 0.8, 100_000)
    idx = np.asarray(beacons._hist_index(jnp.asarray(x, jnp.float32), CONFIG))
    counts = np.bincount(idx, minlength=CONFIG.hist_bins + 2)
    for q in (0.5, 0.95, 0.99, 0.999):
        exact = np.sort(x)[math.ceil(q * x.size) - 1]
        got = meshlab.hist_quantiles(counts, [q], CONFIG)[0]
        assert abs(got / exact - 1) <= CONFIG.bin_rel_error


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(loss_p=1.5), "loss_p"),
        (dict(ge_p=-0.1), "ge_p"),
        (dict(ge_loss_bad=2.0), "ge_loss_bad"),
        (dict(base_latency_s=-1e-3), "base_latency_s"),
        (dict(interval_s=0.0), "interval_s"),
        (dict(interval_s=-1.0), "interval_s"),
        (dict(verify_mean_s=-1e-5), "verify_mean_s"),
        (dict(send_jitter_s=2.0), "send_jitter_s"),
        (dict(jitter_scale_s=float("nan")), "jitter_scale_s"),
    ],
)
def test_bad_params_raise_before_compilation(bad, match):
    with pytest.raises(ValueError, match=match):
        meshlab.beacon_params(**bad)
    # also when a bad value is patched into an existing params pytree
    params = meshlab.beacon_params()._replace(**{k: jnp.float32(v) for k, v in bad.items()})
    before = beacons._rollout_jit._cache_size()
    with pytest.raises(ValueError, match=match):
        _run(params=params)
    assert beacons._rollout_jit._cache_size() == before


def test_bad_config_and_call_arguments():
    with pytest.raises(ValueError, match="service_dist"):
        meshlab.BeaconConfig(service_dist="gamma")
    with pytest.raises(ValueError, match="loss_model"):
        meshlab.BeaconConfig(loss_model="burst")
    with pytest.raises(ValueError, match="hist_min_s"):
        meshlab.BeaconConfig(hist_min_s=1.0, hist_max_s=0.5)
    with pytest.raises(TypeError, match="unknown beacon params"):
        meshlab.beacon_params(verify_ms=1.0)
    with pytest.raises(ValueError, match="n_rounds"):
        _run(rounds=0)
    with pytest.raises(TypeError, match="typed"):
        meshlab.beacon_rollout(0, TOPO, CONFIG, meshlab.beacon_params(), 5)
    with pytest.raises(ValueError, match="chaos.node_up"):
        bad = _chaos(ROUNDS)._replace(node_up=jnp.ones((ROUNDS, N + 1), bool))
        _run(chaos=bad)
