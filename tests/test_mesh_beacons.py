"""Beacon model: determinism, compile-once, per-round inputs, load patterns, detector hook, CIs."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import meshlab
from meshlab.core import kernel as core_kernel
from meshlab.mesh import beacons, faults, histogram, topology

N, K, ROUNDS = 200, 8, 100
TOPO = topology.random_regular(jax.random.key(0), N, K)
CONFIG = beacons.BeaconConfig()
KERNEL = beacons.build(CONFIG, TOPO)


def _run(config=CONFIG, params=None, seed=0, rounds=ROUNDS, chaos=None):
    params = beacons.params() if params is None else params
    kernel = KERNEL if config is CONFIG else beacons.build(config, TOPO)
    return beacons.rollout(kernel, jax.random.key(seed), params, rounds, inputs=chaos)


@dataclasses.dataclass(frozen=True)
class TinyTimeout:
    """A hashable timeout detector spec (the mesh side of the detector contract)."""

    def init(self, n_nodes, max_degree):
        return jnp.full((n_nodes, max_degree), -jnp.inf, jnp.float32)

    def update(self, det_params, last, arrived, t_arrival, t_now):
        return jnp.where(arrived, jnp.maximum(last, t_arrival), last)

    def suspect(self, det_params, last, t_now):
        return jnp.isfinite(last) & (t_now - last > det_params)


def test_same_seed_identical_output_and_different_seed_differs():
    s1, i1 = _run(seed=3)
    s2, i2 = _run(seed=3)
    s3, _ = _run(seed=4)
    for a, b in zip(jax.tree.leaves((s1, i1)), jax.tree.leaves((s2, i2)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(s1.hist_lo), np.asarray(s3.hist_lo))


def test_params_sweep_compiles_once_and_a_new_config_recompiles():
    traces = []

    def counted(*args):
        traces.append(1)  # Python side effect: runs once per trace
        return beacons._step_fn(*args)

    kernel = KERNEL._replace(step_fn=counted)
    params = beacons.params()
    key = jax.random.key(1)
    for p in [params, params._replace(loss_p=jnp.float32(0.2), verify_mean_s=jnp.float32(1e-3))]:
        meshlab.core.rollout(kernel, key, p, 5)
    assert len(traces) == 1
    # a vmapped sweep over params is one more compilation, whatever the number of points
    sweep = meshlab.core.stack_params([params._replace(loss_p=jnp.float32(x)) for x in (0, 0.3)])
    run = jax.jit(jax.vmap(lambda p: core_kernel.scan_steps(kernel, key, p, 5)[0].accepted.sum()))
    got = np.asarray(run(sweep))
    assert len(traces) == 2
    assert got[0] > got[1]  # more loss, fewer accepted
    # the check can fail: a different static config is a new trace
    other = beacons.build(dataclasses.replace(CONFIG, jitter_dist="none"), TOPO)
    meshlab.core.rollout(other._replace(step_fn=counted), key, params, 5)
    assert len(traces) == 3


@pytest.mark.slow
def test_step_by_step_equals_rollout():
    params = beacons.params()
    key = jax.random.key(5)
    k_init, k_run = jax.random.split(key)
    state = KERNEL.init(k_init, params)
    for k in jax.random.split(k_run, 5):
        state, _ = KERNEL.step(k, state, params)
    ref, _ = beacons.rollout(KERNEL, key, params, 5)
    np.testing.assert_array_equal(np.asarray(state.hist_lo), np.asarray(ref.hist_lo))
    np.testing.assert_allclose(np.asarray(state.busy_s), np.asarray(ref.busy_s), rtol=1e-6)


def test_default_beacon_size_is_the_wire_format_one():
    from meshlab.crypto.wire import BEACON_PAYLOAD_BYTES

    assert BEACON_PAYLOAD_BYTES == 58
    assert beacons.BEACON_BYTES == BEACON_PAYLOAD_BYTES + 2420 + 1312 == 3790
    assert float(beacons.params().beacon_bytes) == 3790.0


def _chaos(rounds, **fields):
    base = beacons.neutral_chaos(N, K)
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
    params = beacons.params(loss_p=0.0)
    state, info = _run(params=params, chaos=_chaos(ROUNDS, beacon_valid=jnp.asarray(valid)))
    assert int(np.asarray(info.rejected).sum()) == 2 * K * ROUNDS
    s = beacons.summarize(state, CONFIG, params)
    assert abs(s["delivery_ratio"] - (N - 2) / N) < 1e-9
    # rejected beacons still consumed verify time: CPU = all K arrivals per round
    util = np.asarray(state.busy_s).sum() / (N * K * ROUNDS)
    assert abs(util / float(params.verify_mean_s) - 1) < 0.05  # 5 sd of an Exp mean over 160k


def test_chaos_link_down_extra_latency_loss_and_slowdown():
    params = beacons.params(loss_p=0.0, verify_mean_s=1e-3)
    link_up = np.ones((N, K), bool)
    link_up[:, 0] = False
    # every run here takes chaos as scan xs of the same shapes: one compilation
    st, info = _run(params=params, chaos=_chaos(ROUNDS, link_up=jnp.asarray(link_up)))
    s = beacons.summarize(st, CONFIG, params)
    assert abs(s["delivery_ratio"] - (K - 1) / K) < 1e-9
    st, _ = _run(params=params, chaos=_chaos(ROUNDS, extra_latency_s=jnp.full((N, K), 0.05)))
    s = beacons.summarize(st, CONFIG, params)
    base = beacons.summarize(_run(params=params, chaos=_chaos(ROUNDS))[0], CONFIG, params)
    assert abs(s["mean_latency_s"] - base["mean_latency_s"] - 0.05) < 2e-3
    st, _ = _run(params=params, chaos=_chaos(ROUNDS, extra_loss=jnp.full((N, K), 0.25)))
    s = beacons.summarize(st, CONFIG, params)
    assert abs(s["delivery_ratio"] - 0.75) < 5 * math.sqrt(0.25 * 0.75 / (N * K * ROUNDS))
    st, _ = _run(params=params, chaos=_chaos(ROUNDS, slowdown=jnp.full((N,), 3.0)))
    s = beacons.summarize(st, CONFIG, params)
    assert abs(s["cpu_util_mean"] / base["cpu_util_mean"] - 3.0) < 0.05


def test_link_fault_and_handshake_on_link_restart():
    params = beacons.params(
        loss_p=0.0,
        verify_mean_s=0.0,
        handshake_s=0.01,
        send_jitter_s=0.0,
        # every link into node 0 down in rounds 10..19
        faults=faults.link_down([0], 10, 20, n_nodes=N, direction="to"),
    )
    config = beacons.BeaconConfig(service_dist="deterministic")
    state, info = beacons.rollout(beacons.build(config, TOPO), jax.random.key(0), params, 30)
    # handshakes: K links of node 0 restart once -> K * 0.01 s of CPU at node 0, none elsewhere
    busy = np.asarray(state.busy_s)
    assert abs(busy[0] - K * 0.01) < 1e-6 and busy[1:].max() == 0.0
    assert (np.asarray(info.accepted)[10:20] == N * K - K).all()
    cold = beacons.BeaconConfig(initial_handshake=True, service_dist="deterministic")
    state, _ = beacons.rollout(
        beacons.build(cold, TOPO), jax.random.key(0), params._replace(faults=None), 3
    )
    np.testing.assert_allclose(np.asarray(state.busy_s), K * 0.01, rtol=1e-6)


@pytest.mark.parametrize("pattern", ["burst", "ramp", "diurnal"])
def test_load_patterns(pattern):
    params = beacons.params(
        load_peak=3.0, load_start_s=10.0, load_duration_s=20.0, load_period_s=40.0
    )
    t = np.array([0.0, 9.9, 10.0, 20.0, 29.9, 30.0, 50.0])
    got = np.array([float(beacons.load_multiplier(pattern, x, params)) for x in t])
    if pattern == "burst":
        want = np.where((t >= 10) & (t < 30), 3.0, 1.0)
    elif pattern == "ramp":
        want = 1 + 2 * np.clip((t - 10) / 20, 0, 1)
    else:
        want = 1 + 2 * 0.5 * (1 - np.cos(2 * np.pi * t / 40))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_load_multiplier_thins_and_adds_work():
    params = beacons.params(load_peak=0.5, load_start_s=0.0, load_duration_s=1e9)
    config = beacons.BeaconConfig(load_pattern="burst")
    _, info = _run(config, params, seed=1)
    frac = np.asarray(info.sent).sum() / (N * K * ROUNDS)
    # each node beacons w.p. 0.5: sd of the fraction = sqrt(.25 / (N ROUNDS))
    assert abs(frac - 0.5) < 5 * math.sqrt(0.25 / (N * ROUNDS))
    heavy = params._replace(load_peak=jnp.float32(4.0), loss_p=jnp.float32(0.0))
    st, _ = _run(config, heavy, seed=1)
    util = np.asarray(st.busy_s).sum() / (N * K * ROUNDS * float(heavy.verify_mean_s))
    assert abs(util - 4.0) < 0.05  # 1 verify + 3 extra messages' worth per beacon


def test_detector_hook_sees_crash_and_no_false_suspicion_at_zero_loss():
    crash = faults.crash([5], 30, n_nodes=N)
    config = beacons.BeaconConfig(detector=TinyTimeout())
    params = beacons.params(loss_p=0.0, faults=crash, detector=jnp.float32(3.5))
    state, info = _run(config, params, seed=2, rounds=60)
    susp = np.asarray(info.suspected)
    # node 5 last beacons in round 29 (t < 30 s); timeout 3.5 s -> all its K listeners
    # suspect it by the end of round 33 (t = 34 s), none before round 32 (t = 33 s).
    assert susp[:31].sum() == 0
    assert (susp[34:] == K).all()
    assert np.asarray(info.false_suspected).sum() == 0
    # the threshold is a param: a shorter timeout suspects earlier, without a new config
    _, info2 = _run(config, params._replace(detector=jnp.float32(1.5)), seed=2, rounds=60)
    first = np.argmax(np.asarray(info2.suspected) == K)
    assert first < np.argmax(susp == K)


def test_detector_must_be_a_hashable_spec():
    class Unhashable(TinyTimeout):
        __hash__ = None

    with pytest.raises(TypeError, match="hashable"):
        beacons.BeaconConfig(detector=Unhashable())
    with pytest.raises(TypeError, match="init, update and suspect"):
        beacons.BeaconConfig(detector=object())


def test_summarize_seeds_gives_mean_and_ci():
    params = beacons.params(loss_p=0.1)
    states, _ = beacons.rollout_seeds(KERNEL, jax.random.key(0), params, ROUNDS, 4)
    out = beacons.summarize_seeds(states, CONFIG, params)
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
    idx = np.asarray(histogram.bin_index(jnp.asarray(x, jnp.float32), CONFIG))
    counts = np.bincount(idx, minlength=CONFIG.hist_bins + 2)
    for q in (0.5, 0.95, 0.99, 0.999):
        exact = np.sort(x)[math.ceil(q * x.size) - 1]
        got = histogram.quantiles(counts, [q], CONFIG)[0]
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
        beacons.params(**bad)
    # also when a bad value is patched into an existing params pytree
    params = beacons.params()._replace(**{k: jnp.float32(v) for k, v in bad.items()})
    before = core_kernel._rollout_jit._cache_size()
    with pytest.raises(ValueError, match=match):
        _run(params=params)
    assert core_kernel._rollout_jit._cache_size() == before


def test_bad_config_and_call_arguments():
    with pytest.raises(ValueError, match="service_dist"):
        beacons.BeaconConfig(service_dist="gamma")
    with pytest.raises(ValueError, match="loss_model"):
        beacons.BeaconConfig(loss_model="burst")
    with pytest.raises(ValueError, match="hist_min_s"):
        beacons.BeaconConfig(hist_min_s=1.0, hist_max_s=0.5)
    with pytest.raises(TypeError, match="unknown beacon params"):
        beacons.params(verify_ms=1.0)
    with pytest.raises(ValueError, match="n_steps"):
        _run(rounds=0)
    with pytest.raises(TypeError, match="typed"):
        beacons.rollout(KERNEL, 0, beacons.params(), 5)
    with pytest.raises(ValueError, match="inputs.node_up"):
        bad = _chaos(ROUNDS)._replace(node_up=jnp.ones((ROUNDS, N + 1), bool))
        _run(chaos=bad)
    with pytest.raises(ValueError, match="faults.targets"):
        _run(params=beacons.params(faults=faults.crash([1], 0, n_nodes=N + 1)))
    with pytest.raises(TypeError, match="beacons.build"):
        beacons.rollout(
            KERNEL._replace(step_fn=lambda *a: a), jax.random.key(0), beacons.params(), 5
        )


def test_build_validates_the_topology_once():
    with pytest.raises(TypeError, match="Topology"):
        beacons.build(CONFIG, np.zeros((3, 2), int))
    nb = np.array(TOPO.neighbors)
    nb[0, 0] = N
    bad = TOPO._replace(neighbors=nb)
    with pytest.raises(ValueError, match=r"node ids in \[0, 200\)"):
        beacons.build(CONFIG, bad)
    with pytest.raises(ValueError, match="topology.mask"):
        beacons.build(CONFIG, TOPO._replace(mask=TOPO.mask.astype(int)))
    with pytest.raises(ValueError, match="positions"):
        beacons.build(CONFIG, TOPO._replace(positions=np.zeros((N, 3))))
    with pytest.raises(TypeError, match="BeaconConfig"):
        beacons.build({"service_dist": "exponential"}, TOPO)
