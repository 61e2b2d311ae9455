"""Failure detectors: Akka / Cassandra closed forms, an Akka port in plain Python, crash
detection and false-suspicion rates against closed forms, determinism, threshold sweeps that
compile once, errors.
"""

import dataclasses
import math
from collections import deque
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab.core import kernel as core_kernel
from meshlab.membership import detection, detectors
from meshlab.mesh import beacons, topology

LN10 = math.log(10.0)

# Shared detectors and one table shape, so jit caches are reused across tests.
N, K, ROUNDS = 100, 8, 80
PHI = detectors.phi_accrual()
PHI_PAUSE3 = detectors.phi_accrual(acceptable_pause_s=3.0)
EXPO = detectors.phi_accrual(model="exponential")
TIMEOUT3 = detectors.timeout(3.0)


class _Table(NamedTuple):  # a duck-typed topology (neighbours + mask)
    neighbors: np.ndarray
    mask: np.ndarray


def _simulate(key, det, table, crashed, crash_t, n_rounds=ROUNDS, **heartbeat):
    """The stand-alone heartbeat run of one (spec, params) detector -> DetectionReport."""
    spec, det_params = det
    config = detection.HeartbeatConfig(detector=spec)
    prm = detection.params(det_params, crashed, crash_t, **heartbeat)
    state, _ = detection.rollout(detection.build(config, table), key, prm, n_rounds)
    return detection.summarize(state, config, prm, table)


# ------------------------------------------------------------- plain-Python Akka port


def akka_phi(elapsed, mean, std):
    """Akka PhiAccrualFailureDetector.phi, both branches as written there (float64)."""
    y = (elapsed - mean) / std
    e = math.exp(-y * (1.5976 + 0.070566 * y * y))
    if elapsed > mean:  # Scala's log10(0) is -Infinity: phi = +Infinity
        return -math.log10(e / (1.0 + e)) if e > 0 else math.inf
    return -math.log10(1.0 - 1.0 / (1.0 + e))


class AkkaDetector:
    """Akka's detector with HeartbeatHistory (bounded window, population variance)."""

    def __init__(self, threshold, window, min_std, pause, first_hb):
        self.threshold, self.min_std, self.pause = threshold, min_std, pause
        self.window, self.first_hb = window, first_hb
        self.last = None
        self.hist = None

    def _stats(self):
        n = len(self.hist)
        mean = sum(self.hist) / n
        var = sum(x * x for x in self.hist) / n - mean * mean
        return mean, var

    def phi(self, t):
        if self.last is None:
            return 0.0
        mean, var = self._stats()
        return akka_phi(t - self.last, mean + self.pause, max(math.sqrt(max(var, 0)), self.min_std))

    def heartbeat(self, t):
        if self.last is None:
            std = self.first_hb / 4
            self.hist = deque([self.first_hb - std, self.first_hb + std], maxlen=self.window)
        elif self.phi(t) < self.threshold:  # Akka: isAvailable(timestamp)
            self.hist.append(t - self.last)
        self.last = t


def _feed(det, times):
    """Feeds heartbeat times to a one-link (spec, params) detector; returns the state."""
    spec, prm = det
    update = jax.jit(spec.update)
    state = spec.init(1, 1)
    one = jnp.ones((1, 1), bool)
    for t in times:
        state = update(prm, state, one, jnp.full((1, 1), t, jnp.float32), jnp.float32(t))
    return state


def _crossing_closed_form(mean, std, threshold):
    """Elapsed time where Akka's φ reaches the threshold, by float64 bisection."""
    lo, hi = mean, mean + 10 * std  # phi(y = 10) = 37 > any threshold used here
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if akka_phi(mid, mean, std) < threshold else (lo, mid)
    return 0.5 * (lo + hi)


# ------------------------------------------------------------------ closed forms


@pytest.mark.parametrize("estimator", detectors.ESTIMATORS)
def test_phi_crosses_threshold_about_4_5_s_after_last_heartbeat(estimator):
    # 1 s heartbeats with sigma = 0.1 s (intervals alternate 0.9 / 1.1 s: mean 1, population
    # std 0.1), 3 s acceptable pause, 100 ms min std, threshold 8: φ reaches 8 about
    # 4.5 s after the last heartbeat.
    det = spec, prm = detectors.phi_accrual(
        threshold=8.0, window=100, min_std_s=0.1, acceptable_pause_s=3.0, estimator=estimator
    )
    times = np.cumsum(np.tile([0.9, 1.1], 150))
    state = _feed(det, times)
    last = float(times[-1])
    expected = _crossing_closed_form(1.0 + 3.0, 0.1, 8.0)
    assert abs(expected - 4.5) < 0.05  # "≈ 4.5 s"
    # window: exact stats (float32 times near 300 s: 1e-4); EWMA: mean wobbles by
    # alpha * 0.1 / 2 = 1e-3 and its std (0.099) is clamped to 0.1 -> 5e-3.
    tol = 1e-3 if estimator == "window" else 5e-3
    assert abs(float(spec.deadline(prm, state)[0, 0]) - last - expected) < tol
    before, after = last + expected - 2 * tol, last + expected + 2 * tol
    phi = spec.phi
    assert float(phi(prm, state, before)[0, 0]) < 8.0 <= float(phi(prm, state, after)[0, 0])
    assert not bool(spec.suspect(prm, state, before)[0, 0])
    assert bool(spec.suspect(prm, state, after)[0, 0])


def test_phi_normal_equals_akka_formula_on_both_branches():
    elapsed = np.linspace(0.0, 3.0, 61)
    ours = np.asarray(detectors.phi_normal(jnp.asarray(elapsed, jnp.float32), 1.0, 0.2))
    ref = np.array([akka_phi(e, 1.0, 0.2) for e in elapsed])
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_exponential_model_is_cassandra_phi():
    # Cassandra: phi = dt / (mean * ln 10). Exact 2 s intervals (bootstrap 2 s too): mean 2.
    det = spec, prm = detectors.phi_accrual(model="exponential", first_heartbeat_s=2.0)
    times = 2.0 * np.arange(1, 41)
    state = _feed(det, times)
    for dt in (0.5, 3.0, 30.0):
        phi = float(spec.phi(prm, state, times[-1] + dt)[0, 0])
        assert phi == pytest.approx(dt / (2.0 * LN10), rel=1e-5)
    wait = float(spec.deadline(prm, state)[0, 0]) - times[-1]
    assert wait == pytest.approx(8 * LN10 * 2.0, rel=1e-5)


def test_window_estimator_matches_akka_port_and_ewma_matches_until_switch():
    # Random intervals with a long pause (Akka skips intervals that end while suspected).
    rng = np.random.default_rng(0)
    intervals = rng.normal(1.0, 0.15, 60).clip(0.5)
    intervals[30] = 9.0
    times = 100.0 + np.cumsum(intervals)
    w = 21
    window, p_win = detectors.phi_accrual(threshold=6.0, window=w, estimator="window")
    ewma, p_ewma = detectors.phi_accrual(threshold=6.0, window=w, estimator="ewma")
    akka = AkkaDetector(6.0, w, 0.1, 0.0, 1.0)
    s_win, s_ewma = window.init(1, 1), ewma.init(1, 1)
    up_win, up_ewma = jax.jit(window.update), jax.jit(ewma.update)
    phi_win = jax.jit(lambda s, t: window.phi(p_win, s, t))
    one = jnp.ones((1, 1), bool)
    for j, t in enumerate(times):
        akka.heartbeat(float(t))
        tt = jnp.full((1, 1), t, jnp.float32)
        s_win = up_win(p_win, s_win, one, tt, jnp.float32(t))
        s_ewma = up_ewma(p_ewma, s_ewma, one, tt, jnp.float32(t))
        mean, var = akka._stats()
        assert float(s_win.mean_s[0, 0]) == pytest.approx(mean, abs=2e-5)
        assert float(s_win.var_s2[0, 0]) == pytest.approx(var, abs=2e-5)
        probe = float(t) + 1.3
        assert float(phi_win(s_win, jnp.float32(probe))[0, 0]) == pytest.approx(
            akka.phi(probe), rel=1e-3, abs=1e-4
        )
        if len(akka.hist) <= (w + 1) // 2 and j < 30:  # equal weights: same as the window
            assert float(s_ewma.mean_s[0, 0]) == pytest.approx(mean, abs=2e-5)
            assert float(s_ewma.var_s2[0, 0]) == pytest.approx(var, abs=2e-5)
    # The 9 s pause was not recorded (suspected at its end): max sample stays small.
    assert max(akka.hist) < 2.0
    assert float(s_win.mean_s[0, 0]) < 1.2


def test_timeout_detector_deadline_and_unmonitored_links():
    det, prm = detectors.timeout(2.5)
    state = det.init(2, 3)
    assert not np.any(np.asarray(det.suspect(prm, state, 1e6)))  # never heard: not suspected
    assert np.all(np.isinf(np.asarray(det.deadline(prm, state))))
    arrived = jnp.zeros((2, 3), bool).at[0, 1].set(True)
    state = det.update(prm, state, arrived, jnp.full((2, 3), 10.0, jnp.float32), 10.0)
    assert float(det.deadline(prm, state)[0, 1]) == 12.5
    assert not bool(det.suspect(prm, state, 12.4)[0, 1])
    assert bool(det.suspect(prm, state, 12.6)[0, 1])
    assert int(np.asarray(det.suspect(prm, state, 1e6)).sum()) == 1
    phi_det, phi_prm = detectors.phi_accrual()
    assert float(np.asarray(phi_det.phi(phi_prm, phi_det.init(2, 3), 50.0)).max()) == 0.0


def test_bootstrap_is_akkas_first_heartbeat_estimate():
    det = detectors.phi_accrual(first_heartbeat_s=2.0)
    state = _feed(det, [5.0])
    assert float(state.mean_s[0, 0]) == 2.0
    assert float(state.var_s2[0, 0]) == pytest.approx(0.25)  # (2 / 4)^2


# ----------------------------------------------------------- experiments (own generator)


def _random_table(n, k, seed=0):
    rng = np.random.default_rng(seed)
    nb = np.stack([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    return _Table(nb.astype(np.int32), np.ones((n, k), bool))


def test_crash_detection_time_closed_form_without_jitter():
    # Beacons at r s arrive at r + 0.01 s; nodes crash at 30.5 s, so their last beacon
    # arrives at 30.01 s. Timeout 3 s -> every listener suspects at 33.01 s (2.51 s after
    # the crash). φ-normal, 1 s mean, std clamped to 0.1 s, threshold 8 -> 30.01 + 1 +
    # 0.1 * y* with y* from the closed form.
    table = _random_table(N, K)
    crashed = [4, 9, 33]
    crash_t = [30.5] * 3
    y_star = _crossing_closed_form(0.0, 1.0, 8.0)
    for det, delay in [
        (TIMEOUT3, 30.01 + 3.0 - 30.5),
        (PHI, 30.01 + 1.0 + 0.1 * y_star - 30.5),
    ]:
        rep = _simulate(jax.random.key(0), det, table, crashed, crash_t, base_latency_s=0.01)
        link_s = np.asarray(rep.link_s)
        # Links into a crashed node from a crashed node count neither way.
        alive_rx = ~np.isin(np.arange(N), crashed)[:, None]
        listening = np.isin(table.neighbors, crashed) & alive_rx
        np.testing.assert_allclose(link_s[listening], delay, atol=2e-4)
        assert np.all(np.isnan(link_s[~listening]))
        np.testing.assert_allclose(np.asarray(rep.first_s), delay, atol=2e-4)
        np.testing.assert_allclose(np.asarray(rep.all_s), delay, atol=2e-4)
        assert float(rep.false_suspicion_rate) == 0.0


def test_crash_detected_by_all_neighbours_and_no_false_suspicion_at_zero_loss():
    # 1 s heartbeats, jitter sigma 0.1 s, phi with 3 s acceptable pause.
    table = _random_table(N, K, seed=1)
    crashed, crash_t = [0, 17, 99], [40.0, 40.3, 55.5]
    for loss in (0.0, 0.1):
        for det in (PHI_PAUSE3, EXPO, TIMEOUT3):
            rep = _simulate(
                jax.random.key(1), det, table, crashed, crash_t,
                loss=loss, base_latency_s=0.3, jitter_s=0.1,
            )  # fmt: skip
            first, every = np.asarray(rep.first_s), np.asarray(rep.all_s)
            name = detectors.label(*det)
            assert np.all(np.isfinite(every)), (name, loss, every)
            assert np.all((first >= 0) & (first <= every))
            if loss == 0.0:
                assert float(rep.false_suspicion_rate) == 0.0, name
                assert float(rep.mistake_rate_per_s) == 0.0, name


def test_false_suspicion_rate_of_timeout_matches_closed_form():
    # Zero jitter, iid loss p, timeout tau in (1, 2) s: a run of L lost beacons leaves a
    # gap of L + 1 s, suspected for L + 1 - tau s. Per link-second: suspected fraction
    # p + p (1 - p)(1 - tau), mistakes (runs) p (1 - p). 64k beacon slots: the standard
    # error is about sqrt(p (1 - p) / 64k) * 1.5 = 2.4e-3; tolerance 5 SE + 2e-3 (edges).
    table = _random_table(N, K, seed=2)
    p, tau = 0.2, 1.5
    rep = _simulate(
        jax.random.key(2), detectors.timeout(tau), table, [0, 1, 2], [1e9] * 3,  # never
        loss=p, base_latency_s=0.01,
    )  # fmt: skip
    tol = 5 * 2.4e-3 + 2e-3
    assert float(rep.false_suspicion_rate) == pytest.approx(p + p * (1 - p) * (1 - tau), abs=tol)
    assert float(rep.mistake_rate_per_s) == pytest.approx(p * (1 - p), abs=tol)


def test_same_seed_identical_other_seed_differs_and_seeds_match_split_keys():
    table = _random_table(N, K, seed=3)
    heartbeat = dict(loss=0.2, base_latency_s=0.05, jitter_s=0.05)
    args = (PHI, table, [1, 2, 3], [20.0, 25.0, 30.0])
    run = [_simulate(jax.random.key(s), *args, **heartbeat) for s in (4, 4, 5)]
    for x, y in zip(run[0], run[1], strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(run[0].link_s), np.asarray(run[2].link_s), equal_nan=True)
    # rollout_seeds: seed i is the run of jax.random.split(key, n)[i].
    config = detection.HeartbeatConfig(detector=PHI[0])
    prm = detection.params(PHI[1], *args[2:], **heartbeat)
    states, _ = detection.rollout_seeds(
        detection.build(config, table), jax.random.key(6), prm, 40, 2
    )
    many = detection.summarize(states, config, prm, table)
    # the batched and the unbatched program may round differently (by ~1e-6 relative at XLA's
    # optimisation level 0, which the default test run uses); another key differs by far more
    for i, k in enumerate(jax.random.split(jax.random.key(6), 2)):
        one = _simulate(k, *args, n_rounds=40, **heartbeat)
        for field, x in zip(one._fields, one, strict=True):
            got, want = np.asarray(getattr(many, field))[i], np.asarray(x)
            if np.issubdtype(want.dtype, np.floating):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)
            else:
                np.testing.assert_array_equal(got, want)


def test_detector_in_a_jitted_scan_is_traced_once():
    spec, prm = detectors.phi_accrual()
    traces = []

    @jax.jit
    def run(prm, state, arrived, t):
        traces.append(1)

        def body(s, xs):
            a, tt = xs
            s = spec.update(prm, s, a, tt, tt.max())
            return s, spec.suspect(prm, s, tt.max()).sum()

        return jax.lax.scan(body, state, (arrived, t))

    n, k, r = 1000, 8, 5
    arrived = jnp.ones((r, n, k), bool)
    t = jnp.broadcast_to(jnp.arange(r, dtype=jnp.float32)[:, None, None], (r, n, k))
    state, _ = run(prm, spec.init(n, k), arrived, t)
    _, prm2 = detectors.phi_accrual(threshold=3.0, acceptable_pause_s=1.0)
    state, _ = run(prm2, state, arrived, t + 5.0)  # other thresholds: same compiled code
    assert len(traces) == 1
    assert state.mean_s.shape == (n, k)


def test_specs_are_hashable_and_thresholds_do_not_change_them():
    a, pa = detectors.phi_accrual(threshold=8.0)
    b, pb = detectors.phi_accrual(threshold=12.0, acceptable_pause_s=2.0)
    assert a == b and hash(a) == hash(b)  # one compiled program for both
    assert a != detectors.phi_accrual(model="exponential")[0]
    assert a != detectors.phi_accrual(window=20)[0]
    assert detectors.timeout(1.0)[0] == detectors.timeout(5.0)[0]
    assert float(pa.threshold) == 8.0 and float(pb.acceptable_pause_s) == 2.0
    spec, params = detectors.bundle([PHI, TIMEOUT3])
    assert spec == detectors.bundle([detectors.phi_accrual(9.0), detectors.timeout(1.0)])[0]
    assert params == (PHI[1], TIMEOUT3[1])
    assert detectors.label(spec, params) == "phi-normal 8+timeout 3s"


def test_threshold_sweep_under_vmap_compiles_once_and_equals_single_runs():
    # A Python side effect in the detector's update runs once per trace. Sweeping 3
    # thresholds (params with a leading axis) under vmap, then 3 others, traces once;
    # a different spec traces again (so the counter does count traces).
    traces = []

    @dataclasses.dataclass(frozen=True)
    class CountingPhi(detectors.PhiAccrual):
        def update(self, params, state, arrived, t_arrival, t_now=None):
            traces.append(1)
            return super().update(params, state, arrived, t_arrival, t_now)

    table = _random_table(N, K, seed=4)
    args = ([5, 6], [30.0, 30.0])
    hb = dict(loss=0.1, base_latency_s=0.05, jitter_s=0.05)
    config = detection.HeartbeatConfig(detector=CountingPhi())
    kernel = detection.build(config, table)

    @jax.jit
    def sweep(det_params):
        def one(p):
            prm = detection.params(p, *args, **hb)
            state, _ = detection.rollout(kernel, jax.random.key(7), prm, 50)
            return state

        return jax.vmap(one)(det_params)

    thresholds = np.array([2.0, 5.0, 9.0])
    states = sweep(detectors.phi_params(thresholds, acceptable_pause_s=0.5))
    sweep(detectors.phi_params(np.array([1.0, 3.0, 12.0]), acceptable_pause_s=0.5))
    assert len(traces) == 1
    for j, thr in enumerate(thresholds):
        det = detectors.phi_accrual(threshold=float(thr), acceptable_pause_s=0.5)
        one = _simulate(jax.random.key(7), det, table, *args, n_rounds=50, **hb)
        prm = detection.params(det[1], *args, **hb)
        state_j = jax.tree.map(lambda x, j=j: x[j], states)
        rep = detection.summarize(state_j, config, prm, table)
        for field, x in zip(one._fields, one, strict=True):
            np.testing.assert_array_equal(np.asarray(getattr(rep, field)), np.asarray(x))
    # higher thresholds suspect later (deadlines grow with the threshold)
    deadlines = [
        np.asarray(detectors.tracked(config.detector).deadline(
            detectors.phi_params(float(t), acceptable_pause_s=0.5),
            jax.tree.map(lambda x, j=j: x[j], states.detector),
        ))
        for j, t in enumerate(thresholds)
    ]  # fmt: skip
    assert np.all(deadlines[0] <= deadlines[1]) and np.all(deadlines[1] <= deadlines[2])
    other = detection.build(detection.HeartbeatConfig(detector=CountingPhi(window=10)), table)
    detection.rollout(other, jax.random.key(7), detection.params(PHI[1], *args), 5)
    assert len(traces) == 2


def test_beacon_simulation_drives_the_detectors():
    # Full beacon model (meshlab.mesh.beacons), no loss; two detectors share one rollout.
    # A crashed node's last beacon is sent at 19 s + U(0, 0.1) s and accepted within
    # ~10 ms. φ: the EWMA mean is 1 s within 0.1 / 21 (telescoping intervals) and the std
    # is clamped to 0.1 s, so listeners suspect 0.1 * y* = 0.522 s after (mean - 1) +
    # offset + latency: in [0.51, 0.65] s after the crash at 20 s. Timeout 3 s: in
    # [2.0, 2.12] s.
    topo = topology.random_regular(jax.random.key(0), n_nodes=64, degree=8)
    params = beacons.params(loss_p=0.0)
    phi, timeout = detection.crash_detection(
        jax.random.key(1), topo, [PHI, TIMEOUT3], [3, 40], 20, 40, params=params
    )
    listening = np.isin(topo.neighbors, [3, 40]) & topo.mask
    for rep, lo, hi in ((phi, 0.51, 0.65), (timeout, 2.0, 2.12)):
        link_s = np.asarray(rep.link_s)[0]
        assert np.all((link_s[listening] > lo) & (link_s[listening] < hi)), link_s[listening]
        assert np.all(np.isfinite(np.asarray(rep.all_s)))
        assert float(rep.false_suspicion_rate[0]) == 0.0
    # Other thresholds reuse the compiled beacon rollout (thresholds are params).
    size = core_kernel._seeds_jit._cache_size()
    phi2, _ = detection.crash_detection(
        jax.random.key(1), topo, [detectors.phi_accrual(threshold=4.0), detectors.timeout(2.0)],
        [3, 40], 20, 40, params=params,
    )  # fmt: skip
    assert core_kernel._seeds_jit._cache_size() == size
    # a lower threshold detects earlier, on every listening link
    assert np.all(np.asarray(phi2.link_s)[0][listening] < np.asarray(phi.link_s)[0][listening])


@pytest.mark.slow  # long: CI runs it with the slow cases
def test_crash_detection_keeps_the_faults_already_in_params():
    # An extra fault in params (node 7 crashed from round 5) is applied on top of the
    # reported crash (node 3 from round 10): the report does not know about node 7, so the
    # silence of its links shows up as false suspicion, which is zero without it.
    from meshlab.mesh import faults

    topo = topology.random_regular(jax.random.key(0), n_nodes=32, degree=4)
    base = beacons.params(loss_p=0.0)
    extra = base._replace(faults=faults.crash([7], 5, None, n_nodes=32))
    plain = detection.crash_detection(jax.random.key(2), topo, TIMEOUT3, [3], 10, 20, params=base)
    both = detection.crash_detection(jax.random.key(2), topo, TIMEOUT3, [3], 10, 20, params=extra)
    assert float(plain.false_suspicion_rate[0]) == 0.0
    assert float(both.false_suspicion_rate[0]) > 0.0
    assert np.all(np.isfinite(np.asarray(both.first_s)))


# -------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (detectors.phi_accrual, dict(threshold=0.0), "threshold"),
        (detectors.phi_accrual, dict(model="weibull"), "model"),
        (detectors.phi_accrual, dict(window=1), "window"),
        (detectors.phi_accrual, dict(min_std_s=0.0), "min_std_s"),
        (detectors.phi_accrual, dict(acceptable_pause_s=-1.0), "acceptable_pause_s"),
        (detectors.phi_accrual, dict(first_heartbeat_s=float("nan")), "first_heartbeat_s"),
        (detectors.phi_accrual, dict(estimator="median"), "estimator"),
        (detectors.phi_accrual, dict(threshold=np.array([8.0, -1.0])), "threshold"),
        (detectors.timeout, dict(timeout_s=-2.0), "timeout_s"),
    ],
)
def test_bad_detector_options_name_the_parameter(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(TypeError, match="timeout_s"):
        detectors.timeout("3")
    with pytest.raises(TypeError, match="window"):
        detectors.phi_accrual(window=10.5)
    det, det_prm = detectors.timeout(1.0)
    with pytest.raises(ValueError, match="n_nodes"):
        det.init(0, 8)
    with pytest.raises(ValueError, match="max_degree"):
        det.init(10, 0)
    table = _random_table(20, 4)
    with pytest.raises(ValueError, match="params.loss"):
        detection.params(det_prm, [1], [5.0], loss=1.5)
    with pytest.raises(ValueError, match="params.jitter_s"):
        detection.params(det_prm, [1], [5.0], jitter_s=-0.1)
    with pytest.raises(ValueError, match="params.crash_time_s"):
        detection.params(det_prm, [1, 2], [5.0])
    with pytest.raises(ValueError, match="params.crashed_nodes"):
        detection.params(det_prm, [1, 1], [5.0, 6.0])
    kernel = detection.build(detection.HeartbeatConfig(detector=det), table)
    with pytest.raises(ValueError, match="params.crashed_nodes"):
        detection.rollout(kernel, jax.random.key(0), detection.params(det_prm, [20], [5.0]), 5)
    with pytest.raises(ValueError, match="n_steps"):
        detection.rollout(kernel, jax.random.key(0), detection.params(det_prm, [1], [5.0]), 0)
    with pytest.raises(ValueError, match="config.interval_s"):
        detection.build(detection.HeartbeatConfig(detector=det, interval_s=0.0), table)
    with pytest.raises(ValueError, match="config.jitter"):
        detection.build(detection.HeartbeatConfig(detector=det, jitter="cauchy"), table)
    with pytest.raises(TypeError, match="detector"):
        detection.build(detection.HeartbeatConfig(detector="phi"), table)
    with pytest.raises(TypeError, match=r"topology\.mask must be bool"):
        detection.build(detection.HeartbeatConfig(detector=det), _Table(table.neighbors, None))
    topo = topology.random_regular(jax.random.key(0), n_nodes=16, degree=4)
    pair = (det, det_prm)
    with pytest.raises(ValueError, match="crash_round"):
        detection.crash_detection(jax.random.key(0), topo, pair, [1], 10, 10)
    with pytest.raises(ValueError, match="crashed_nodes"):
        detection.crash_detection(jax.random.key(0), topo, pair, [16], 5, 10)
    with pytest.raises(ValueError, match="crashed_nodes"):
        detection.crash_detection(jax.random.key(0), topo, pair, [1, 1], 5, 10)
    with pytest.raises(TypeError, match="detector"):
        detection.crash_detection(jax.random.key(0), topo, det, [1], 5, 10)
    with pytest.raises(TypeError, match="detector"):
        detectors.tracked(object())
    with pytest.raises(TypeError, match="phi"):
        detectors.tracked(det).phi(det_prm, det.init(2, 2), 1.0)
