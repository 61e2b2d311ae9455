"""Tests of meshlab.fl.orchestrators: closed-form bytes / staleness / clocks, end-to-end ALIE."""

import dataclasses

import jax
import numpy as np
import pytest

from meshlab.core.batching import stack_params
from meshlab.fl import orchestrators as orch
from meshlab.fl.aggregators import AggregatorSpec
from meshlab.fl.data import choose_byzantine, load_digits_federated, synthetic_federated
from meshlab.fl.models import ModelSpec, logistic_regression
from meshlab.fl.orchestrators import (
    DelayConfig,
    FLConfig,
    build,
    make_params,
    rollout,
    rollout_batch,
    summarize,
    time_to_accuracy,
)

N = 20
MODEL = logistic_regression(64, 10)
SPEC = ModelSpec("logistic_regression", 64, 10)
# deterministic delays: every client has the same round trip
FIXED = DelayConfig(base_latency_sigma=0.0, jitter_dist="none", compute_sigma=0.0)


@pytest.fixture(scope="module")
def digits():
    return load_digits_federated(jax.random.key(0), N, 1.0)


def _alie_run(digits, name, f):
    """Clean vs 20 % ALIE (z = 10), 2 seeds: ``(cfg, state, info)`` with axes [attack, seed]."""
    cfg = FLConfig(model=SPEC, aggregator=AggregatorSpec(name, f), n_clients=N, n_rounds=20,
                   attacks=("none", "alie"))  # fmt: skip
    keys = jax.random.split(jax.random.key(1), 4).reshape(2, 2)
    byz = [np.asarray(choose_byzantine(k, N, 4)) for k in jax.random.split(jax.random.key(2), 2)]
    points = [make_params(cfg, byz[s], attack=a, attack_strength={"alie": 10.0}, client_lr=0.3)
              for a in range(2) for s in range(2)]  # fmt: skip
    params = jax.tree.map(lambda x: x.reshape(2, 2, *x.shape[1:]), stack_params(points))
    return (cfg, *rollout_batch(build(cfg, digits), keys, params))


@pytest.fixture(scope="module")
def clipping_runs(digits):
    return _alie_run(digits, "centered_clipping", 6)


def _final(info):
    return np.asarray(info.accuracy)[:, :, -3:].mean(axis=(1, 2))  # last 3 rounds, 2 seeds


def test_alie_centered_clipping_stays_near_clean_and_detector_isolates(clipping_runs):
    cc_clean, cc_attacked = _final(clipping_runs[2])
    # measured (20 clients, 20 rounds, 2 seeds): clean ~0.88, 20 % ALIE ~0.87
    assert cc_clean > 0.8
    assert cc_attacked > cc_clean - 0.05  # within a few points of the clean run
    # the detector isolates the ALIE attackers (z = 10 puts them far from the median)
    info = clipping_runs[2]
    assert float(np.asarray(info.recall)[1, :, -1].min()) == 1.0
    assert float(np.asarray(info.precision)[1, :, -1].min()) >= 0.8


@pytest.mark.slow
def test_alie_collapses_mean_but_not_centered_clipping(digits, clipping_runs):
    clean, attacked = _final(_alie_run(digits, "mean", 0)[2])
    cc_clean, cc_attacked = _final(clipping_runs[2])
    # measured (20 clients, 20 rounds, 2 seeds): clean mean ~0.88, ALIE mean ~0.1, clipping ~0.87
    assert clean > 0.8
    assert attacked < 0.3  # collapse to near chance (0.1)
    assert cc_attacked > clean - 0.05  # robust rule within a few points of the clean mean
    assert cc_clean > clean - 0.05


def test_flat_bytes_closed_form(clipping_runs, digits):
    cfg, state, info = clipping_runs
    m = int(np.asarray(digits.mask).any(axis=1).sum())
    per_round = 2 * m * MODEL.n_params * 4  # download + upload of a float32 model per participant
    np.testing.assert_array_equal(np.asarray(info.bytes_server), per_round)
    np.testing.assert_allclose(np.asarray(state.bytes_server), per_round * cfg.n_rounds, rtol=1e-6)
    assert (np.diff(np.asarray(info.time_s), axis=-1) > 0).all()


def test_hierarchical_bytes_closed_form(digits):
    zones = 4
    cfg = FLConfig(model=SPEC, aggregator=AggregatorSpec("median", 1), n_clients=N, n_rounds=3,
                   orchestrator="hierarchical", n_zones=zones,
                   zone_aggregator=AggregatorSpec("trimmed_mean", 1))  # fmt: skip
    state, info = rollout(build(cfg, digits), jax.random.key(0), make_params(cfg))
    m = int(np.asarray(digits.mask).any(axis=1).sum())
    active = int(np.asarray(digits.mask).any(axis=1).reshape(zones, -1).any(axis=1).sum())
    d4 = MODEL.n_params * 4
    np.testing.assert_array_equal(np.asarray(info.bytes_server), 2 * active * d4)
    np.testing.assert_array_equal(np.asarray(info.bytes_total), 2 * active * d4 + 2 * m * d4)
    assert np.asarray(info.accuracy)[-1] > 0.5  # it learns
    with pytest.raises(ValueError, match="n_zones"):
        FLConfig(model=SPEC, n_clients=N, orchestrator="hierarchical", n_zones=3,
                 zone_aggregator=AggregatorSpec("mean"))  # fmt: skip


@pytest.fixture(scope="module")
def synth():
    return synthetic_federated(
        jax.random.key(3), 8, samples_per_client=8, n_features=5, n_classes=3, n_test=100
    )


def _rtt(cfg):
    ser = 8.0 * cfg.update_bytes / cfg.delay.bandwidth_bps
    return 2 * (cfg.delay.base_latency_s + ser) + cfg.local_steps * cfg.delay.compute_s_per_step


def test_streaming_staleness_and_clock_closed_form(synth):
    # identical round trips: clients arrive round-robin; in the first cycle the j-th arrival is
    # j versions stale (mean (n-1)/2), afterwards every arrival is n - 1 versions stale
    model = logistic_regression(5, 3)
    cfg = FLConfig(model=model, n_clients=8, n_rounds=4, delay=FIXED, orchestrator="streaming")
    state, info = rollout(build(cfg, synth), jax.random.key(0), make_params(cfg, server_lr=0.5))
    np.testing.assert_allclose(np.asarray(info.staleness), [3.5, 7, 7, 7], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(info.time_s), _rtt(cfg) * np.arange(1, 5), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(info.bytes_server), 2 * 8 * model.n_params * 4)
    assert int(state.version) == 32


def test_batch_async_first_k_closed_form(synth):
    # k = n/2 with identical round trips: halves alternate; the round clock advances by one
    # round trip every second round and every update after round 0 is exactly 1 version stale
    model = logistic_regression(5, 3)
    cfg = FLConfig(model=model, n_clients=8, n_rounds=6, delay=FIXED, clients_per_round=4,
                   orchestrator="batch_async")  # fmt: skip
    _, info = rollout(build(cfg, synth), jax.random.key(0), make_params(cfg))
    r = np.arange(6)
    np.testing.assert_allclose(np.asarray(info.time_s), _rtt(cfg) * (r // 2 + 1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(info.staleness), np.minimum(r, 1), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(info.n_aggregated), 4)
    d4 = model.n_params * 4
    np.testing.assert_array_equal(
        np.asarray(info.bytes_server), np.where(r == 0, 8 + 4, 4 + 4) * d4
    )
    tta = time_to_accuracy(info, 0.0)
    assert float(tta) == pytest.approx(float(info.time_s[0]))
    assert float(time_to_accuracy(info, 1.0)) == np.inf or float(info.accuracy.max()) == 1.0


def test_bad_input_raises(digits):
    with pytest.raises(ValueError, match="attacks"):
        FLConfig(model=SPEC, n_clients=N, attacks=("teleport",))
    with pytest.raises(ValueError, match="clients_per_round"):
        FLConfig(model=SPEC, n_clients=N, clients_per_round=N + 1)
    with pytest.raises(ValueError, match="n_rounds"):
        FLConfig(model=SPEC, n_clients=N, n_rounds=0)
    with pytest.raises(ValueError, match="attack_options"):
        FLConfig(model=SPEC, n_clients=N, attack_options={"alie": {"z": 1.0}})
    with pytest.raises(ValueError, match="strength of 'alie'"):
        FLConfig(model=SPEC, n_clients=N, attacks=("alie",), attack_options={"alie": {"z": 1.0}})
    with pytest.raises(ValueError, match="jitter_dist"):
        DelayConfig(jitter_dist="cauchy")
    with pytest.raises(ValueError, match="clients_per_round"):
        FLConfig(model=SPEC, n_clients=N, orchestrator="batch_async")
    with pytest.raises(ValueError, match="krum needs"):  # breakdown condition checked at once
        FLConfig(model=SPEC, n_clients=N, aggregator=AggregatorSpec("krum", 9))
    with pytest.raises(TypeError, match="model"):
        FLConfig(model=MODEL._replace(spec=None), n_clients=N)
    with pytest.raises(ValueError, match="n_clients"):
        build(FLConfig(model=SPEC, n_clients=N + 1), digits)
    cfg = FLConfig(model=SPEC, n_clients=N, attacks=("none", "gaussian"))
    with pytest.raises(ValueError, match="byzantine"):
        make_params(cfg, np.zeros(N + 1, bool))
    with pytest.raises(ValueError, match="sigma|gaussian"):
        make_params(cfg, attack_strength={"gaussian": -1.0})
    with pytest.raises(ValueError, match="client_lr"):
        make_params(cfg, client_lr=0.0)


def test_config_is_hashable_and_equal_configs_share_the_kernel(digits):
    a = FLConfig(model=MODEL, aggregator=AggregatorSpec("median", 2, {}), n_clients=N)
    b = FLConfig(model=SPEC, aggregator=AggregatorSpec("median", 2), n_clients=N)
    assert a == b and hash(a) == hash(b)
    ka, kb = build(a, digits), build(b, digits)
    assert ka.step_fn is kb.step_fn and ka.config == kb.config


def test_params_sweep_compiles_once(digits):
    """A sweep over attack strength, learning rates and attackers reuses one compilation."""
    cfg = FLConfig(model=SPEC, aggregator=AggregatorSpec("median", 4), n_clients=N, n_rounds=2,
                   local_steps=1, attacks=("none", "alie", "sign_flip"))  # fmt: skip
    kernel = build(cfg, digits)
    keys = jax.random.split(jax.random.key(0), 4)
    byz = np.asarray(choose_byzantine(jax.random.key(1), N, 4))

    def sweep(z, lr):
        pts = [make_params(cfg, byz, attack=a, attack_strength={"alie": z}, client_lr=lr,
                           server_lr=0.5 + a) for a in (0, 1, 2, 1)]  # fmt: skip
        return rollout_batch(kernel, keys, stack_params(pts))[1]

    before = orch._batch_jit._cache_size()
    i1 = sweep(10.0, 0.3)
    after_first = orch._batch_jit._cache_size()
    i2 = sweep(1.0, 0.05)
    assert after_first == before + 1
    assert orch._batch_jit._cache_size() == after_first  # new values: no recompilation
    # the values did reach the step: the ALIE run (index 1) changed, the clean run's lr did too
    assert not np.array_equal(np.asarray(i1.accuracy[1]), np.asarray(i2.accuracy[1]))
    np.testing.assert_allclose(np.asarray(i2.lr[0]), 0.05, rtol=1e-6)
    # the check can fail: a new static config (another rule) compiles again
    other = build(dataclasses.replace(cfg, aggregator=AggregatorSpec("trimmed_mean", 4)), digits)
    pts = [make_params(cfg, byz, attack=a) for a in (0, 1, 2, 1)]
    rollout_batch(other, keys, stack_params(pts))
    assert orch._batch_jit._cache_size() == after_first + 1


def test_rollout_batch_matches_rollout_and_summarize(digits):
    cfg = FLConfig(model=SPEC, aggregator=AggregatorSpec("trimmed_mean", 2), n_clients=N,
                   n_rounds=3, attacks=("none", "ipm"))  # fmt: skip
    kernel = build(cfg, digits)
    byz = np.asarray(choose_byzantine(jax.random.key(3), N, 4))
    pts = [make_params(cfg, byz, attack=1, attack_strength={"ipm": e}) for e in (0.1, 2.0)]
    keys = jax.random.split(jax.random.key(4), 2)
    states, infos = rollout_batch(kernel, keys, stack_params(pts))
    s1, i1 = rollout(kernel, keys[1], pts[1])
    np.testing.assert_allclose(np.asarray(infos.accuracy[1]), np.asarray(i1.accuracy), rtol=1e-6)
    summ = summarize((states, infos), cfg, stack_params(pts))
    assert summ["final_accuracy"].shape == (2,)
    np.testing.assert_allclose(summ["final_accuracy"], np.asarray(infos.accuracy[:, -1]))
    np.testing.assert_allclose(summ["bytes_server"], np.asarray(infos.bytes_server).sum(-1))


@pytest.mark.parametrize("orchestrator", ["sync", "batch_async"])
def test_params_f_defaults_to_the_rule_it_runs_with(digits, orchestrator):
    """Params made from a template config (no rule: f = 0) run a rule built for f = 4 with
    f = 4, as the rule's own params do; an explicit f = 0 changes the run."""
    byz = np.asarray(choose_byzantine(jax.random.key(3), N, 4))
    template = FLConfig(model=SPEC, n_clients=N, n_rounds=4, attacks=("sign_flip",),
                        orchestrator=orchestrator, clients_per_round=N // 2 if orchestrator
                        == "batch_async" else None)  # fmt: skip
    cfg = dataclasses.replace(template, aggregator=AggregatorSpec("trimmed_mean", 4))
    assert int(make_params(template, byz).f) == -1
    acc = lambda p: np.asarray(rollout(build(cfg, digits), jax.random.key(0), p)[1].accuracy)
    reused = acc(make_params(template, byz))
    np.testing.assert_array_equal(reused, acc(make_params(cfg, byz, f=4)))
    assert not np.array_equal(reused, acc(make_params(cfg, byz, f=0)))
    with pytest.raises(ValueError, match=r"f must be <= 4, got 5"):
        make_params(cfg, byz, f=5)
