"""Failure detectors: Akka / Cassandra closed forms, an Akka port in plain Python, crash
detection and false-suspicion rates against closed forms, determinism, errors.
"""

import math
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import meshlab
from meshlab.membership import detection

LN10 = math.log(10.0)

# Shared detectors and one table shape, so jit caches are reused across tests.
N, K, ROUNDS = 100, 8, 80
PHI = meshlab.phi_accrual_detector()
PHI_PAUSE3 = meshlab.phi_accrual_detector(acceptable_pause_s=3.0)
EXPO = meshlab.phi_accrual_detector(model="exponential")
TIMEOUT3 = meshlab.timeout_detector(3.0)
CONFIG = meshlab.HeartbeatConfig(n_rounds=ROUNDS)


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
    """Feeds heartbeat times to a one-link detector; returns the state."""
    update = jax.jit(det.update)
    state = det.init(1, 1)
    one = jnp.ones((1, 1), bool)
    for t in times:
        state = update(state, one, jnp.full((1, 1), t, jnp.float32), jnp.float32(t))
    return state


def _crossing_closed_form(mean, std, threshold):
    """Elapsed time where Akka's φ reaches the threshold, by float64 bisection."""
    lo, hi = mean, mean + 10 * std  # phi(y = 10) = 37 > any threshold used here
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if akka_phi(mid, mean, std) < threshold else (lo, mid)
    return 0.5 * (lo + hi)


# ------------------------------------------------------------------ closed forms


@pytest.mark.parametrize("estimator", meshlab.DETECTOR_ESTIMATORS)
def test_phi_crosses_threshold_about_4_5_s_after_last_heartbeat(estimator):
    # 1 s heartbeats with sigma = 0.1 s (intervals alternate 0.9 / 1.1 s: mean 1, population
    # std 0.1), 3 s acceptable pause, 100 ms min std, threshold 8 (the case).
    det = meshlab.phi_accrual_detector(
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
    assert abs(float(det.deadline(state)[0, 0]) - last - expected) < tol
    before, after = last + expected - 2 * tol, last + expected + 2 * tol
    assert float(det.phi(state, before)[0, 0]) < 8.0 <= float(det.phi(state, after)[0, 0])
    assert not bool(det.suspect(state, before)[0, 0])
    assert bool(det.suspect(state, after)[0, 0])


def test_phi_normal_equals_akka_formula_on_both_branches():
    elapsed = np.linspace(0.0, 3.0, 61)
    ours = np.asarray(meshlab.phi_normal(jnp.asarray(elapsed, jnp.float32), 1.0, 0.2))
    ref = np.array([akka_phi(e, 1.0, 0.2) for e in elapsed])
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_exponential_model_is_cassandra_phi():
    # Cassandra: phi = dt / (mean * ln 10). Exact 2 s intervals (bootstrap 2 s too): mean 2.
    det = meshlab.phi_accrual_detector(model="exponential", first_heartbeat_s=2.0)
    times = 2.0 * np.arange(1, 41)
    state = _feed(det, times)
    for dt in (0.5, 3.0, 30.0):
        phi = float(det.phi(state, times[-1] + dt)[0, 0])
        assert phi == pytest.approx(dt / (2.0 * LN10), rel=1e-5)
    assert float(det.deadline(state)[0, 0]) - times[-1] == pytest.approx(8 * LN10 * 2.0, rel=1e-5)


def test_window_estimator_matches_akka_port_and_ewma_matches_until_switch():
    # Random intervals with a long pause (Akka skips intervals that end while suspected).
    rng = np.random.default_rng(0)
    intervals = rng.normal(1.0, 0.15, 60).clip(0.5)
    intervals[30] = 9.0
    times = 100.0 + np.cumsum(intervals)
    w = 21
    window = meshlab.phi_accrual_detector(threshold=6.0, window=w, estimator="window")
    ewma = meshlab.phi_accrual_detector(threshold=6.0, window=w, estimator="ewma")
    akka = AkkaDetector(6.0, w, 0.1, 0.0, 1.0)
    s_win, s_ewma = window.init(1, 1), ewma.init(1, 1)
    up_win, up_ewma, phi_win = jax.jit(window.update), jax.jit(ewma.update), jax.jit(window.phi)
    one = jnp.ones((1, 1), bool)
    for j, t in enumerate(times):
        akka.heartbeat(float(t))
        tt = jnp.full((1, 1), t, jnp.float32)
        s_win = up_win(s_win, one, tt, jnp.float32(t))
        s_ewma = up_ewma(s_ewma, one, tt, jnp.float32(t))
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
    det = meshlab.timeout_detector(2.5)
    state = det.init(2, 3)
    assert not np.any(np.asarray(det.suspect(state, 1e6)))  # never heard: not suspected
    assert np.all(np.isinf(np.asarray(det.deadline(state))))
    arrived = jnp.zeros((2, 3), bool).at[0, 1].set(True)
    state = det.update(state, arrived, jnp.full((2, 3), 10.0, jnp.float32), 10.0)
    assert float(det.deadline(state)[0, 1]) == 12.5
    assert not bool(det.suspect(state, 12.4)[0, 1])
    assert bool(det.suspect(state, 12.6)[0, 1])
    assert int(np.asarray(det.suspect(state, 1e6)).sum()) == 1
    phi_det = meshlab.phi_accrual_detector()
    assert float(np.asarray(phi_det.phi(phi_det.init(2, 3), 50.0)).max()) == 0.0


def test_bootstrap_is_akkas_first_heartbeat_estimate():
    det = meshlab.phi_accrual_detector(first_heartbeat_s=2.0)
    state = _feed(det, [5.0])
    assert float(state.mean_s[0, 0]) == 2.0
    assert float(state.var_s2[0, 0]) == pytest.approx(0.25)  # (2 / 4)^2


# ----------------------------------------------------------- experiments (own generator)


def _random_table(n, k, seed=0):
    rng = np.random.default_rng(seed)
    nb = np.stack([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    return jnp.asarray(nb, jnp.int32), jnp.ones((n, k), bool)


def test_crash_detection_time_closed_form_without_jitter():
    # Beacons at r s arrive at r + 0.01 s; nodes crash at 30.5 s, so their last beacon
    # arrives at 30.01 s. Timeout 3 s -> every listener suspects at 33.01 s (2.51 s after
    # the crash). φ-normal, 1 s mean, std clamped to 0.1 s, threshold 8 -> 30.01 + 1 +
    # 0.1 * y* with y* from the closed form.
    nb, mask = _random_table(N, K)
    crashed = jnp.asarray([4, 9, 33], jnp.int32)
    crash_t = jnp.full((3,), 30.5, jnp.float32)
    params = meshlab.HeartbeatParams(loss=0.0, base_latency_s=0.01, jitter_s=0.0)
    y_star = _crossing_closed_form(0.0, 1.0, 8.0)
    for det, delay in [
        (TIMEOUT3, 30.01 + 3.0 - 30.5),
        (PHI, 30.01 + 1.0 + 0.1 * y_star - 30.5),
    ]:
        rep = meshlab.simulate_detection(
            jax.random.key(0), det, nb, mask, crashed, crash_t, CONFIG, params
        )
        link_s = np.asarray(rep.link_s)
        # Links into a crashed node from a crashed node count neither way.
        alive_rx = ~np.isin(np.arange(N), np.asarray(crashed))[:, None]
        listening = np.isin(np.asarray(nb), np.asarray(crashed)) & alive_rx
        np.testing.assert_allclose(link_s[listening], delay, atol=2e-4)
        assert np.all(np.isnan(link_s[~listening]))
        np.testing.assert_allclose(np.asarray(rep.first_s), delay, atol=2e-4)
        np.testing.assert_allclose(np.asarray(rep.all_s), delay, atol=2e-4)
        assert float(rep.false_suspicion_rate) == 0.0


def test_crash_detected_by_all_neighbours_and_no_false_suspicion_at_zero_loss():
    # Issue's setting: 1 s heartbeats, jitter sigma 0.1 s, phi with 3 s acceptable pause.
    nb, mask = _random_table(N, K, seed=1)
    crashed = jnp.asarray([0, 17, 99], jnp.int32)
    crash_t = jnp.asarray([40.0, 40.3, 55.5], jnp.float32)
    for loss in (0.0, 0.1):
        params = meshlab.HeartbeatParams(loss=loss, base_latency_s=0.3, jitter_s=0.1)
        for det in (PHI_PAUSE3, EXPO, TIMEOUT3):
            rep = meshlab.simulate_detection(
                jax.random.key(1), det, nb, mask, crashed, crash_t, CONFIG, params
            )
            first, every = np.asarray(rep.first_s), np.asarray(rep.all_s)
            assert np.all(np.isfinite(every)), (det.name, loss, every)
            assert np.all((first >= 0) & (first <= every))
            if loss == 0.0:
                assert float(rep.false_suspicion_rate) == 0.0, det.name
                assert float(rep.mistake_rate_per_s) == 0.0, det.name


def test_false_suspicion_rate_of_timeout_matches_closed_form():
    # Zero jitter, iid loss p, timeout tau in (1, 2) s: a run of L lost beacons leaves a
    # gap of L + 1 s, suspected for L + 1 - tau s. Per link-second: suspected fraction
    # p + p (1 - p)(1 - tau), mistakes (runs) p (1 - p). 64k beacon slots: the standard
    # error is about sqrt(p (1 - p) / 64k) * 1.5 = 2.4e-3; tolerance 5 SE + 2e-3 (edges).
    nb, mask = _random_table(N, K, seed=2)
    p, tau = 0.2, 1.5
    rep = meshlab.simulate_detection(
        jax.random.key(2),
        meshlab.timeout_detector(tau),
        nb,
        mask,
        jnp.asarray([0, 1, 2], jnp.int32),
        jnp.full((3,), 1e9, jnp.float32),  # never within the run
        CONFIG,
        meshlab.HeartbeatParams(loss=p, base_latency_s=0.01, jitter_s=0.0),
    )
    tol = 5 * 2.4e-3 + 2e-3
    assert float(rep.false_suspicion_rate) == pytest.approx(p + p * (1 - p) * (1 - tau), abs=tol)
    assert float(rep.mistake_rate_per_s) == pytest.approx(p * (1 - p), abs=tol)


def test_same_seed_identical_other_seed_differs():
    nb, mask = _random_table(N, K, seed=3)
    crashed, crash_t = jnp.asarray([1, 2, 3], jnp.int32), jnp.asarray([20.0, 25.0, 30.0])
    params = meshlab.HeartbeatParams(loss=0.2, base_latency_s=0.05, jitter_s=0.05)
    run = [
        meshlab.simulate_detection(
            jax.random.key(s), PHI, nb, mask, crashed, crash_t, CONFIG, params
        )
        for s in (4, 4, 5)
    ]
    for x, y in zip(run[0], run[1], strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(run[0].link_s), np.asarray(run[2].link_s), equal_nan=True)


def test_detector_in_a_jitted_scan_is_traced_once():
    det = meshlab.phi_accrual_detector()
    traces = []

    @jax.jit
    def run(state, arrived, t):
        traces.append(1)

        def body(s, xs):
            a, tt = xs
            s = det.update(s, a, tt, tt.max())
            return s, det.suspect(s, tt.max()).sum()

        return jax.lax.scan(body, state, (arrived, t))

    n, k, r = 1000, 8, 5
    arrived = jnp.ones((r, n, k), bool)
    t = jnp.broadcast_to(jnp.arange(r, dtype=jnp.float32)[:, None, None], (r, n, k))
    state, _ = run(det.init(n, k), arrived, t)
    state, _ = run(state, arrived, t + 5.0)
    assert len(traces) == 1
    assert state.mean_s.shape == (n, k)


def test_beacon_simulation_drives_the_detectors():
    # Full beacon model (meshlab.beacons), no loss; two detectors share one rollout. A
    # crashed node's last beacon is sent at 19 s + U(0, 0.1) s and accepted within ~10 ms.
    # φ: the EWMA mean is 1 s within 0.1 / 21 (telescoping intervals) and the std is
    # clamped to 0.1 s, so listeners suspect 0.1 * y* = 0.522 s after (mean - 1) + offset
    # + latency: in [0.51, 0.65] s after the crash at 20 s. Timeout 3 s: in [2.0, 2.12] s.
    topo = meshlab.random_regular(jax.random.key(0), n_nodes=64, degree=8)
    params = meshlab.beacon_params(loss_p=0.0)
    phi, timeout = meshlab.beacon_detection(
        jax.random.key(1), topo, (PHI, TIMEOUT3), [3, 40], 20, 40, params=params
    )
    listening = np.isin(topo.neighbors, [3, 40]) & topo.mask
    for rep, lo, hi in ((phi, 0.51, 0.65), (timeout, 2.0, 2.12)):
        link_s = np.asarray(rep.link_s)[0]
        assert np.all((link_s[listening] > lo) & (link_s[listening] < hi)), link_s[listening]
        assert np.all(np.isfinite(np.asarray(rep.all_s)))
        assert float(rep.false_suspicion_rate[0]) == 0.0


# -------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (meshlab.phi_accrual_detector, dict(threshold=0.0), "threshold"),
        (meshlab.phi_accrual_detector, dict(model="weibull"), "model"),
        (meshlab.phi_accrual_detector, dict(window=1), "window"),
        (meshlab.phi_accrual_detector, dict(min_std_s=0.0), "min_std_s"),
        (meshlab.phi_accrual_detector, dict(acceptable_pause_s=-1.0), "acceptable_pause_s"),
        (meshlab.phi_accrual_detector, dict(first_heartbeat_s=float("nan")), "first_heartbeat_s"),
        (meshlab.phi_accrual_detector, dict(estimator="median"), "estimator"),
        (meshlab.timeout_detector, dict(timeout_s=-2.0), "timeout_s"),
    ],
)
def test_bad_detector_options_name_the_parameter(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(TypeError, match="timeout_s"):
        meshlab.timeout_detector("3")
    with pytest.raises(TypeError, match="window"):
        meshlab.phi_accrual_detector(window=10.5)
    det = meshlab.timeout_detector(1.0)
    with pytest.raises(ValueError, match="n_nodes"):
        det.init(0, 8)
    with pytest.raises(ValueError, match="max_degree"):
        det.init(10, 0)
    nb, mask = _random_table(20, 4)
    args = (jax.random.key(0), det, nb, mask, jnp.asarray([1]), jnp.asarray([5.0]))
    with pytest.raises(ValueError, match="params.loss"):
        meshlab.simulate_detection(*args, params=meshlab.HeartbeatParams(loss=1.5))
    with pytest.raises(ValueError, match="params.jitter_s"):
        meshlab.simulate_detection(*args, params=meshlab.HeartbeatParams(jitter_s=-0.1))
    with pytest.raises(ValueError, match="config.n_rounds"):
        meshlab.simulate_detection(*args, config=meshlab.HeartbeatConfig(n_rounds=0))
    with pytest.raises(ValueError, match="config.jitter"):
        meshlab.simulate_detection(*args, config=meshlab.HeartbeatConfig(jitter="cauchy"))
    with pytest.raises(TypeError, match="detector"):
        meshlab.simulate_detection(args[0], "phi", *args[2:])
    topo = meshlab.random_regular(jax.random.key(0), n_nodes=16, degree=4)
    with pytest.raises(ValueError, match="crash_round"):
        meshlab.beacon_detection(jax.random.key(0), topo, det, [1], 10, 10)
    with pytest.raises(ValueError, match="crashed_nodes"):
        meshlab.beacon_detection(jax.random.key(0), topo, det, [16], 5, 10)
    with pytest.raises(ValueError, match="crashed_nodes"):
        meshlab.beacon_detection(jax.random.key(0), topo, det, [1, 1], 5, 10)
    with pytest.raises(TypeError, match="detector"):
        detection.tracked(object())
