# ruff: noqa: F722  (jaxtyping shape strings)
"""Failure detectors (per-neighbour timeout, φ-accrual) and crash-detection experiments.

Detectors follow the optax shape: a factory validates its options and returns a
:class:`FailureDetector` NamedTuple of pure functions over a fixed-size per-link state,
so a detector can be carried through ``lax.scan`` over ``N × K`` links (``N`` up to
1e6, ``K`` = 8) with memory independent of simulated time.

Link ``(i, k)`` is node ``i`` listening to node ``neighbors[i, k]``. A link is *monitored*
from its first accepted beacon on (as Akka's ``isMonitoring``): before that it is never
suspected, so padding entries of a neighbour table are never suspected either.

Inter-arrival statistics for φ-accrual (choice stated here, see ``estimator``):

* ``"ewma"`` (default): running mean and variance updated with weight
  ``a = max(1 / c, 2 / (window + 1))`` for the c-th sample (bootstrap samples counted):
  equal weights — exactly Akka's window mean/variance — until ``c = (window + 1) / 2``,
  then the exponentially weighted moving average whose centre of mass matches a
  ``window``-sample window. Two floats and a counter per link whatever ``window`` is:
  the choice for large N.
* ``"window"``: Akka's ``HeartbeatHistory`` exactly: the last ``window`` intervals in a
  ring buffer of ``window`` floats per link, population mean and variance over it.

Both start from Akka's bootstrap (``first_heartbeat_s`` ± ``first_heartbeat_s / 4``,
i.e. mean ``first_heartbeat_s``, std ``first_heartbeat_s / 4``) and, as Akka does, skip
an interval that ends while the link is already suspected (a long pause must not
inflate the statistics).

φ models:

* ``"normal"`` (Akka): with ``m = mean + acceptable_pause_s``,
  ``s = max(std, min_std_s)``, ``y = (Δt − m) / s``, Akka's logistic approximation of
  the normal tail gives ``φ = −log10(e / (1 + e))``, ``e = exp(−y (1.5976 + 0.070566 y²))``,
  computed here as ``softplus(y (1.5976 + 0.070566 y²)) / ln 10`` (the same value,
  stable in float32 for any ``y``).
* ``"exponential"`` (Cassandra): ``φ = Δt / (m · ln 10)`` with ``m = mean +
  acceptable_pause_s`` (Cassandra has no pause term: it is ``acceptable_pause_s = 0``).

A link is suspected when ``φ ≥ threshold`` (Akka: available iff ``φ < threshold``).
Because φ only grows with the time since the last beacon, every detector also has a
``deadline(state)``: the absolute time at which the link becomes suspected if nothing
more arrives. The experiments use it to get detection times and false-suspicion
intervals exactly (not rounded to the round length).

Times are absolute seconds in float32: at t ≈ 1e3 s the resolution is ≈ 6e-5 s,
at 1e4 s ≈ 1e-3 s.
"""

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

__all__ = [
    "DETECTOR_ESTIMATORS",
    "DETECTOR_MODELS",
    "DetectionReport",
    "DetectorState",
    "FailureDetector",
    "HeartbeatConfig",
    "HeartbeatParams",
    "SuspicionLog",
    "TrackedState",
    "beacon_detection",
    "phi_accrual_detector",
    "phi_normal",
    "simulate_detection",
    "summarize_detection",
    "timeout_detector",
    "tracked",
]

DETECTOR_MODELS = ("normal", "exponential")
DETECTOR_ESTIMATORS = ("ewma", "window")

# Akka's logistic approximation of the standard normal tail (Bowling et al. 2009).
_LOGISTIC_A = 1.5976
_LOGISTIC_B = 0.070566
_LN10 = math.log(10.0)


class DetectorState(NamedTuple):
    """Per-link detector state; every field has a leading ``[N, K]`` shape.

    Attributes:
        last_s: time of the last accepted beacon (seconds; 0 before the first).
        monitored: True once the link has carried a beacon.
        mean_s: inter-arrival mean (φ-accrual; zeros for the timeout detector).
        var_s2: inter-arrival variance (φ-accrual; zeros for the timeout detector).
        ring: the last ``window`` intervals (``estimator="window"``), shape
            ``[N, K, window]``; ``[N, K, 0]`` otherwise.
        count: samples seen, bootstrap included (``[N, K]`` int32; for the ring buffer
            ``min(count, window)`` entries are valid).
    """

    last_s: Float[Array, "nodes degree"]
    monitored: Bool[Array, "nodes degree"]
    mean_s: Float[Array, "nodes degree"]
    var_s2: Float[Array, "nodes degree"]
    ring: Float[Array, "nodes degree window"]
    count: Int[Array, "nodes degree"]


class FailureDetector(NamedTuple):
    """A failure detector as pure functions (optax-style).

    Attributes:
        init: ``init(n_nodes, max_degree) -> state``.
        update: ``update(state, arrived: bool[N,K], t_arrival: f32[N,K], t_now) -> state``;
            ``arrived[i, k]`` means node i accepted a beacon from ``neighbors[i, k]`` at
            absolute time ``t_arrival[i, k]`` (``t_now`` is accepted for the contract and
            not needed: the arrival times carry the information).
        suspect: ``suspect(state, t_now) -> bool[N,K]``.
        deadline: ``deadline(state) -> f32[N,K]``: absolute time from which the link is
            suspected if no further beacon arrives (``+inf`` for unmonitored links).
        phi: ``phi(state, t_now) -> f32[N,K]`` for φ-accrual detectors; ``None`` for the
            timeout detector.
        name: a short label for tables (``"timeout"``, ``"phi-normal"``, ...).
    """

    init: Callable[..., Any]
    update: Callable[..., Any]
    suspect: Callable[..., Any]
    deadline: Callable[..., Any]
    phi: Callable[..., Any] | None = None
    name: str = "detector"


# ----------------------------------------------------------------------------- checks


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    ok = v >= 0.0 if allow_zero else v > 0.0
    if not (math.isfinite(v) and ok):
        allowed = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {allowed}, got {value!r}")
    return v


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if int(value) < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def _check_prob(name: str, value: Any) -> None:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr > 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")


# ------------------------------------------------------------------------- detectors


def _base_init(n_nodes: int, max_degree: int, window: int) -> DetectorState:
    n = _check_int("n_nodes", n_nodes, 1)
    k = _check_int("max_degree", max_degree, 1)
    zeros = jnp.zeros((n, k), jnp.float32)
    return DetectorState(
        last_s=zeros,
        monitored=jnp.zeros((n, k), bool),
        mean_s=zeros,
        var_s2=zeros,
        ring=jnp.zeros((n, k, window), jnp.float32),
        count=jnp.zeros((n, k), jnp.int32),
    )


def _first_and_interval(state: DetectorState, arrived, t_arrival):
    """Splits arrivals into first beacons and intervals of already-monitored links."""
    t = jnp.asarray(t_arrival, jnp.float32)
    arrived = jnp.asarray(arrived, bool)
    first = arrived & ~state.monitored
    again = arrived & state.monitored
    interval = jnp.maximum(t - state.last_s, 0.0)
    last = jnp.where(first, t, jnp.where(again, jnp.maximum(state.last_s, t), state.last_s))
    return first, again, interval, last, arrived | state.monitored


def timeout_detector(timeout_s: float) -> FailureDetector:
    """Per-neighbour timeout detector: suspect a link ``timeout_s`` after its last beacon.

    Args:
        timeout_s: silence (seconds, > 0) after which a monitored link is suspected.

    Returns:
        A :class:`FailureDetector` (``phi`` is ``None``).
    """
    timeout = _check_positive("timeout_s", timeout_s)

    def init(n_nodes: int, max_degree: int) -> DetectorState:
        return _base_init(n_nodes, max_degree, 0)

    def update(state: DetectorState, arrived, t_arrival, t_now=None) -> DetectorState:
        del t_now
        _, _, _, last, monitored = _first_and_interval(state, arrived, t_arrival)
        return state._replace(last_s=last, monitored=monitored)

    def deadline(state: DetectorState) -> Float[Array, "nodes degree"]:
        return jnp.where(state.monitored, state.last_s + jnp.float32(timeout), jnp.inf)

    def suspect(state: DetectorState, t_now) -> Bool[Array, "nodes degree"]:
        return state.monitored & (jnp.asarray(t_now, jnp.float32) - state.last_s > timeout)

    return FailureDetector(init, update, suspect, deadline, None, f"timeout {timeout:g}s")


def phi_normal(
    elapsed_s: Float[Array, "..."], mean_s: Float[Array, "..."], std_s: Float[Array, "..."]
) -> Float[Array, "..."]:
    """Akka's φ for the normal model: ``−log10`` of the logistic-approximated normal tail.

    Args:
        elapsed_s: time since the last heartbeat.
        mean_s: expected interval (already including any acceptable pause).
        std_s: standard deviation (already clamped from below).

    Returns:
        φ, same shape as the broadcast inputs.
    """
    y = (elapsed_s - mean_s) / std_s
    return jax.nn.softplus(y * (_LOGISTIC_A + _LOGISTIC_B * y * y)) / _LN10


def _normal_quantile_y(threshold: float) -> float:
    """Solves ``phi_normal`` = threshold for the standardized time y (float64, Cardano)."""
    x = threshold * _LN10
    z = x + math.log(-math.expm1(-x))  # softplus^{-1}(x) = log(e^x - 1), overflow-free
    p, q = _LOGISTIC_A / _LOGISTIC_B, -z / _LOGISTIC_B  # y^3 + p y + q = 0, one real root
    r = math.sqrt(q * q / 4.0 + p**3 / 27.0)
    return float(np.cbrt(-q / 2.0 + r) + np.cbrt(-q / 2.0 - r))


def phi_accrual_detector(
    threshold: float = 8.0,
    model: str = "normal",
    window: int = 100,
    min_std_s: float = 0.1,
    acceptable_pause_s: float = 0.0,
    first_heartbeat_s: float = 1.0,
    estimator: str = "ewma",
) -> FailureDetector:
    """φ-accrual failure detector (Hayashibara et al. 2004; Akka / Cassandra variants).

    Args:
        threshold: suspect when φ ≥ threshold (> 0; Akka and Cassandra default 8).
        model: ``"normal"`` (Akka) or ``"exponential"`` (Cassandra).
        window: number of intervals the statistics remember (>= 2): the EWMA span, or
            the ring-buffer length for ``estimator="window"``.
        min_std_s: lower bound on the standard deviation (normal model), > 0.
        acceptable_pause_s: added to the mean interval (>= 0), Akka's
            ``acceptable-heartbeat-pause``.
        first_heartbeat_s: bootstrap interval estimate (> 0); std bootstrap is a quarter.
        estimator: ``"ewma"`` (two floats per link) or ``"window"`` (exact ring buffer).

    Returns:
        A :class:`FailureDetector` with ``phi``.
    """
    thr = _check_positive("threshold", threshold)
    if model not in DETECTOR_MODELS:
        raise ValueError(f"model must be one of {DETECTOR_MODELS}, got {model!r}")
    if estimator not in DETECTOR_ESTIMATORS:
        raise ValueError(f"estimator must be one of {DETECTOR_ESTIMATORS}, got {estimator!r}")
    win = _check_int("window", window, 2)
    min_std = _check_positive("min_std_s", min_std_s)
    pause = _check_positive("acceptable_pause_s", acceptable_pause_s, allow_zero=True)
    first_hb = _check_positive("first_heartbeat_s", first_heartbeat_s)
    alpha = 2.0 / (win + 1.0)
    ring_len = win if estimator == "window" else 0
    # Standardized elapsed time at which φ reaches the threshold (static, float64).
    y_star = _normal_quantile_y(thr) if model == "normal" else 0.0

    def init(n_nodes: int, max_degree: int) -> DetectorState:
        return _base_init(n_nodes, max_degree, ring_len)

    def _stats(state: DetectorState):
        mean = state.mean_s + jnp.float32(pause)
        std = jnp.maximum(jnp.sqrt(state.var_s2), jnp.float32(min_std))
        return mean, std

    def phi(state: DetectorState, t_now) -> Float[Array, "nodes degree"]:
        elapsed = jnp.asarray(t_now, jnp.float32) - state.last_s
        mean, std = _stats(state)
        if model == "normal":
            value = phi_normal(elapsed, mean, std)
        else:
            value = jnp.maximum(elapsed, 0.0) / (mean * _LN10)
        return jnp.where(state.monitored, value, 0.0)

    def deadline(state: DetectorState) -> Float[Array, "nodes degree"]:
        mean, std = _stats(state)
        wait = mean + jnp.float32(y_star) * std if model == "normal" else thr * _LN10 * mean
        return jnp.where(state.monitored, state.last_s + wait, jnp.inf)

    def suspect(state: DetectorState, t_now) -> Bool[Array, "nodes degree"]:
        return state.monitored & (phi(state, t_now) >= thr)

    def update(state: DetectorState, arrived, t_arrival, t_now=None) -> DetectorState:
        del t_now
        t = jnp.asarray(t_arrival, jnp.float32)
        first, again, interval, last, monitored = _first_and_interval(state, arrived, t)
        # Akka: an interval that ends while the link is suspected is not recorded.
        record = again & (phi(state, t) < thr)
        boot_std = first_hb / 4.0
        if estimator == "ewma":
            # Equal weights 1/c while c <= (window + 1) / 2 (Welford: Akka's window,
            # bootstrap samples included), then the constant EWMA weight 2 / (window + 1).
            count = state.count + record.astype(jnp.int32)
            a = jnp.maximum(1.0 / jnp.maximum(count, 1).astype(jnp.float32), alpha)
            d = interval - state.mean_s
            mean = jnp.where(record, state.mean_s + a * d, state.mean_s)
            var = jnp.where(record, (1.0 - a) * (state.var_s2 + a * d * d), state.var_s2)
            mean = jnp.where(first, jnp.float32(first_hb), mean)
            var = jnp.where(first, jnp.float32(boot_std**2), var)
            count = jnp.where(first, 2, count)
            return DetectorState(last, monitored, mean, var, state.ring, count)
        # Exact sliding window: slot = count mod window after the two bootstrap samples.
        slot = jax.nn.one_hot(state.count % win, win, dtype=bool)  # [N, K, W]
        ring = jnp.where(record[..., None] & slot, interval[..., None], state.ring)
        count = state.count + record.astype(jnp.int32)
        boot = jnp.zeros((win,), jnp.float32).at[0].set(first_hb - boot_std)
        boot = boot.at[1].set(first_hb + boot_std)
        ring = jnp.where(first[..., None], boot, ring)
        count = jnp.where(first, 2, count)
        valid = jnp.arange(win) < jnp.minimum(count, win)[..., None]
        n = jnp.maximum(jnp.minimum(count, win), 1).astype(jnp.float32)
        mean = jnp.sum(jnp.where(valid, ring, 0.0), axis=-1) / n
        var = jnp.sum(jnp.where(valid, (ring - mean[..., None]) ** 2, 0.0), axis=-1) / n
        return DetectorState(last, monitored, mean, var, ring, count)

    label = f"phi-{model} {thr:g}"
    return FailureDetector(init, update, suspect, deadline, phi, label)


# ------------------------------------------------------------------ suspicion logging


class SuspicionLog(NamedTuple):
    """Per-link false-suspicion accounting carried next to a detector state.

    Every beacon that arrives after the link's deadline ends a suspicion of a sender
    that was alive (it just sent a beacon): a mistake, suspected for
    ``t_arrival − deadline`` seconds (crash-stop assumption: senders do not restart).

    Attributes:
        mistakes: number of suspicions ended by a beacon, int32[N, K].
        suspected_s: total seconds suspected in those episodes, f32[N, K].
        since_s: time of the first beacon on the link (``+inf`` before), f32[N, K].
    """

    mistakes: Int[Array, "nodes degree"]
    suspected_s: Float[Array, "nodes degree"]
    since_s: Float[Array, "nodes degree"]


class TrackedState(NamedTuple):
    """State of a :func:`tracked` detector: the inner state and its suspicion log."""

    detector: DetectorState
    log: SuspicionLog


def tracked(detector: FailureDetector) -> FailureDetector:
    """Wraps a detector so its state also accumulates a :class:`SuspicionLog`.

    The wrapped detector has the same interface (``init``, ``update``, ``suspect``,
    ``deadline``, ``phi``) over a :class:`TrackedState`, so a simulation that carries a
    detector through its scan gets exact false-suspicion statistics for free.
    """
    if not isinstance(detector, FailureDetector):
        raise TypeError(f"detector must be a FailureDetector, got {type(detector).__name__}")

    def init(n_nodes: int, max_degree: int) -> TrackedState:
        inner = detector.init(n_nodes, max_degree)
        n, k = inner.last_s.shape
        log = SuspicionLog(
            jnp.zeros((n, k), jnp.int32),
            jnp.zeros((n, k), jnp.float32),
            jnp.full((n, k), jnp.inf, jnp.float32),
        )
        return TrackedState(inner, log)

    def update(state: TrackedState, arrived, t_arrival, t_now=None) -> TrackedState:
        arrived = jnp.asarray(arrived, bool)
        t = jnp.asarray(t_arrival, jnp.float32)
        late = arrived & (t >= detector.deadline(state.detector))  # deadline inf if unmonitored
        log = SuspicionLog(
            state.log.mistakes + late.astype(jnp.int32),
            state.log.suspected_s + jnp.where(late, t - detector.deadline(state.detector), 0.0),
            jnp.where(arrived, jnp.minimum(state.log.since_s, t), state.log.since_s),
        )
        return TrackedState(detector.update(state.detector, arrived, t, t_now), log)

    def suspect(state: TrackedState, t_now):
        return detector.suspect(state.detector, t_now)

    def deadline(state: TrackedState):
        return detector.deadline(state.detector)

    phi = None
    if detector.phi is not None:

        def phi(state: TrackedState, t_now):
            return detector.phi(state.detector, t_now)

    return FailureDetector(init, update, suspect, deadline, phi, detector.name)


# ---------------------------------------------------------------------- experiments


class DetectionReport(NamedTuple):
    """Crash-detection and false-suspicion figures of one run.

    Attributes:
        first_s: per crashed node, seconds from its crash until the first neighbour
            suspects it (``+inf`` if none does; ``0`` if it was already suspected), f32[M].
        all_s: same until the last neighbour suspects it (every listening link of a
            receiver that did not crash itself), f32[M].
        link_s: per link, seconds from the sender's crash to its suspicion (``nan`` for
            links whose sender did not crash or padding), f32[N, K].
        false_suspicion_rate: fraction of live-link time spent suspected (1 − the query
            accuracy probability of Chen, Toueg & Aguilera); live links: neither end
            crashed, observed from their first beacon to the end, scalar.
        mistake_rate_per_s: wrong suspicions per live link per second, scalar.
        links_ever_suspected: fraction of live links suspected at least once, scalar.
    """

    first_s: Float[Array, " crashed"]
    all_s: Float[Array, " crashed"]
    link_s: Float[Array, "nodes degree"]
    false_suspicion_rate: Float[Array, ""]
    mistake_rate_per_s: Float[Array, ""]
    links_ever_suspected: Float[Array, ""]


def summarize_detection(
    detector: FailureDetector,
    state: TrackedState,
    neighbors: Int[Array, "nodes degree"],
    mask: Bool[Array, "nodes degree"],
    crashed_nodes: Int[Array, " crashed"],
    crash_time_s: Float[Array, " crashed"],
    t_end_s: float | Float[Array, ""],
) -> DetectionReport:
    """Reads detection times and false-suspicion rates off a tracked detector's final state.

    Args:
        detector: the :func:`tracked` detector that produced ``state``.
        state: final :class:`TrackedState` (after the last round, at ``t_end_s``).
        neighbors: int32[N, K] table, ``neighbors[i, k]`` is the node that i listens to.
        mask: bool[N, K] valid links.
        crashed_nodes: int32[M] nodes that crashed (crash-stop), distinct.
        crash_time_s: f32[M] their crash times.
        t_end_s: simulated time at the end of the run.

    Returns:
        A :class:`DetectionReport`.
    """
    n = neighbors.shape[0]
    crashed_nodes = jnp.asarray(crashed_nodes, jnp.int32)
    crash_time_s = jnp.asarray(crash_time_s, jnp.float32)
    t_end = jnp.asarray(t_end_s, jnp.float32)
    node_crash_t = jnp.full((n,), jnp.inf, jnp.float32).at[crashed_nodes].set(crash_time_s)
    sender_crash_t = node_crash_t[neighbors]  # [N, K]
    deadline = detector.deadline(state)
    # A crashed receiver's detector stops: its links count neither way.
    recv_ok = ~jnp.isfinite(node_crash_t)[:, None]
    crashed_link = mask & recv_ok & jnp.isfinite(sender_crash_t)
    # Detected at the deadline that follows the sender's last beacon, if within the run.
    detect_at = jnp.where(deadline <= t_end, jnp.maximum(deadline, sender_crash_t), jnp.inf)
    link_s = jnp.where(crashed_link, detect_at - sender_crash_t, jnp.nan)
    # Per crashed node: min / max over the links that listen to it (segment ops, O(N K)).
    seg = neighbors.ravel()
    delay = jnp.where(crashed_link, detect_at - sender_crash_t, jnp.inf).ravel()
    first_node = jax.ops.segment_min(delay, seg, num_segments=n)
    all_node = jax.ops.segment_max(jnp.where(jnp.isfinite(delay), delay, -jnp.inf), seg, n)
    n_listen = jax.ops.segment_sum(crashed_link.ravel().astype(jnp.int32), seg, n)
    undetected = (crashed_link.ravel() & ~jnp.isfinite(delay)).astype(jnp.int32)
    n_undetected = jax.ops.segment_sum(undetected, seg, n)
    first_s = first_node[crashed_nodes]
    all_ok = (n_listen[crashed_nodes] > 0) & (n_undetected[crashed_nodes] == 0)
    all_s = jnp.where(all_ok, all_node[crashed_nodes], jnp.inf)
    # False suspicion over links whose sender never crashed.
    live = mask & recv_ok & ~jnp.isfinite(sender_crash_t) & jnp.isfinite(state.log.since_s)
    open_s = jnp.maximum(t_end - deadline, 0.0)  # a suspicion still open at the end
    sus_s = state.log.suspected_s + jnp.where(live, open_s, 0.0)
    mistakes = state.log.mistakes + (live & (open_s > 0)).astype(jnp.int32)
    observed = jnp.sum(jnp.where(live, t_end - state.log.since_s, 0.0))
    observed = jnp.maximum(observed, 1e-30)
    rate = jnp.sum(jnp.where(live, sus_s, 0.0)) / observed
    mistake_rate = jnp.sum(jnp.where(live, mistakes, 0)).astype(jnp.float32) / observed
    n_live = jnp.maximum(jnp.sum(live), 1)
    ever = jnp.sum(live & (mistakes > 0)) / n_live
    return DetectionReport(first_s, all_s, link_s, rate, mistake_rate, ever)


class HeartbeatConfig(NamedTuple):
    """Static configuration of the synthetic heartbeat generator.

    Attributes:
        n_rounds: number of heartbeat rounds.
        interval_s: heartbeat period (every sender beacons at ``r * interval_s``).
        jitter: ``"normal"`` (σ = ``jitter_s``, delay clipped at 0) or ``"lognormal"``
            (median ``base_latency_s``, log-sd ``jitter_s``).
    """

    n_rounds: int = 60
    interval_s: float = 1.0
    jitter: str = "normal"


class HeartbeatParams(NamedTuple):
    """Array parameters of the heartbeat generator (vmap-able).

    Attributes:
        loss: per-beacon iid loss probability.
        base_latency_s: one-way delay (normal jitter: its mean; lognormal: its median).
        jitter_s: normal σ (seconds) or lognormal log-sd.
    """

    loss: Float[Array, ""] | float = 0.0
    base_latency_s: Float[Array, ""] | float = 0.01
    jitter_s: Float[Array, ""] | float = 0.0


def _heartbeat_round(key, r, config, params, neighbors, mask, node_crash_t):
    """One round of synthetic beacons: arrived bool[N,K] and arrival times f32[N,K].

    One ``jax.random.bits`` call supplies the loss and jitter uniforms of the round.
    """
    shape = neighbors.shape
    u = ((jax.random.bits(key, (2, *shape), jnp.uint32) >> 8).astype(jnp.float32) + 0.5) * (
        jnp.float32(2.0**-24)
    )  # (0, 1) uniforms on a 24-bit grid
    t_send = jnp.float32(config.interval_s) * r.astype(jnp.float32)
    z = jnp.float32(math.sqrt(2.0)) * jax.lax.erf_inv(2.0 * u[1] - 1.0)  # standard normal
    if config.jitter == "normal":
        delay = jnp.maximum(params.base_latency_s + params.jitter_s * z, 0.0)
    else:
        delay = params.base_latency_s * jnp.exp(params.jitter_s * z)
    kept = u[0] >= params.loss
    alive = t_send < node_crash_t[neighbors]
    return mask & kept & alive, t_send + delay


def simulate_detection(
    key: jax.Array,
    detector: FailureDetector,
    neighbors: Int[Array, "nodes degree"],
    mask: Bool[Array, "nodes degree"],
    crashed_nodes: Int[Array, " crashed"],
    crash_time_s: Float[Array, " crashed"],
    config: HeartbeatConfig | None = None,
    params: HeartbeatParams | None = None,
) -> DetectionReport:
    """Runs a detector over synthetic periodic heartbeats with loss, jitter and crashes.

    Each sender beacons at ``r * interval_s`` (r = 0 .. n_rounds−1) unless it crashed
    before; each beacon is lost iid with ``loss`` and otherwise arrives after a jittered
    delay. The detector (wrapped by :func:`tracked`) runs in a ``lax.scan`` over rounds.
    This is the stand-alone driver; ``meshlab.beacons`` drives the same detectors with
    the full beacon model.

    Args:
        key: typed PRNG key.
        detector: an untracked :class:`FailureDetector`.
        neighbors: int32[N, K]; mask: bool[N, K].
        crashed_nodes: int32[M] distinct nodes that crash; crash_time_s: f32[M].
        config: static :class:`HeartbeatConfig` (default ``HeartbeatConfig()``).
        params: :class:`HeartbeatParams` arrays (default ``HeartbeatParams()``).

    Returns:
        A :class:`DetectionReport`, evaluated at ``t_end = n_rounds * interval_s``.
    """
    config = HeartbeatConfig() if config is None else config
    params = HeartbeatParams() if params is None else params
    if not isinstance(detector, FailureDetector):
        raise TypeError(f"detector must be a FailureDetector, got {type(detector).__name__}")
    _check_int("config.n_rounds", config.n_rounds, 1)
    _check_positive("config.interval_s", config.interval_s)
    if config.jitter not in ("normal", "lognormal"):
        raise ValueError(f"config.jitter must be 'normal' or 'lognormal', got {config.jitter!r}")
    if not isinstance(params.loss, jax.Array):
        _check_prob("params.loss", params.loss)
    for name in ("base_latency_s", "jitter_s"):
        value = getattr(params, name)
        if not isinstance(value, jax.Array) and not float(value) >= 0.0:
            raise ValueError(f"params.{name} must be >= 0, got {value!r}")
    return _simulate_detection(
        key, detector, neighbors, mask, crashed_nodes, crash_time_s, config, params
    )


@functools.partial(jax.jit, static_argnames=("detector", "config"))
def _simulate_detection(
    key, detector, neighbors, mask, crashed_nodes, crash_time_s, config, params
):
    neighbors = jnp.asarray(neighbors, jnp.int32)
    mask = jnp.asarray(mask, bool)
    n, k = neighbors.shape
    params = HeartbeatParams(*(jnp.asarray(p, jnp.float32) for p in params))
    crashed_nodes = jnp.asarray(crashed_nodes, jnp.int32)
    crash_time_s = jnp.asarray(crash_time_s, jnp.float32)
    node_crash_t = jnp.full((n,), jnp.inf, jnp.float32).at[crashed_nodes].set(crash_time_s)
    det = tracked(detector)

    def step(state, xs):
        r, k_r = xs
        arrived, t_arr = _heartbeat_round(k_r, r, config, params, neighbors, mask, node_crash_t)
        t_now = jnp.float32(config.interval_s) * (r + 1).astype(jnp.float32)
        return det.update(state, arrived, t_arr, t_now), None

    rounds = jnp.arange(config.n_rounds, dtype=jnp.int32)
    keys = jax.random.split(key, config.n_rounds)
    state, _ = jax.lax.scan(step, det.init(n, k), (rounds, keys))
    t_end = config.n_rounds * config.interval_s
    return summarize_detection(det, state, neighbors, mask, crashed_nodes, crash_time_s, t_end)


def _bundle(detectors: tuple) -> FailureDetector:
    """Runs several tracked detectors side by side on the same arrivals (one scan).

    Its state is a tuple of :class:`TrackedState`; ``suspect``/``deadline``/``phi`` are
    those of the first detector (what a host simulation counts per round).
    """
    dets = tuple(tracked(d) for d in detectors)

    def init(n_nodes, max_degree):
        return tuple(d.init(n_nodes, max_degree) for d in dets)

    def update(state, arrived, t_arrival, t_now=None):
        return tuple(
            d.update(s, arrived, t_arrival, t_now) for d, s in zip(dets, state, strict=True)
        )

    def suspect(state, t_now):
        return dets[0].suspect(state[0], t_now)

    def deadline(state):
        return dets[0].deadline(state[0])

    return FailureDetector(init, update, suspect, deadline, None, "+".join(d.name for d in dets))


@functools.lru_cache(maxsize=64)
def _crash_config(config, detectors: tuple, crashed: tuple, crash_round: int, n: int, k: int):
    """A BeaconConfig with the bundled detectors and the crash schedule (cached, so that
    repeated calls with the same inputs reuse the compiled rollout)."""
    import dataclasses

    from meshlab.mesh import beacons

    down = np.zeros(n, bool)
    down[list(crashed)] = True
    user_chaos = config.chaos_fn

    def crash_chaos(r):
        base = beacons.neutral_chaos(n, k) if user_chaos is None else user_chaos(r)
        return base._replace(node_up=base.node_up & ~(jnp.asarray(down) & (r >= crash_round)))

    return dataclasses.replace(config, detector=_bundle(detectors), chaos_fn=crash_chaos)


def beacon_detection(
    key: jax.Array,
    topology: Any,
    detector: FailureDetector | tuple[FailureDetector, ...] | list[FailureDetector],
    crashed_nodes: Any,
    crash_round: int,
    n_rounds: int,
    config: Any = None,
    params: Any = None,
    n_seeds: int = 1,
) -> DetectionReport | tuple[DetectionReport, ...]:
    """Crash detection driven by the full beacon simulation (:mod:`meshlab.beacons`).

    The nodes in ``crashed_nodes`` stop (chaos hook ``node_up = False``) from round
    ``crash_round`` on, i.e. at ``t_crash = crash_round * interval_s``; the detector(s),
    wrapped by :func:`tracked`, run inside the beacon scan on the accepted beacons
    (after loss, jitter, queueing and verification), and the report is read from the
    final state. Several detectors share one rollout (same arrivals, one compilation);
    ``n_seeds`` rollouts run under one ``vmap``. Repeated calls with the same detector
    objects, crash schedule and config reuse the compiled rollout (params may change).

    Args:
        key: typed PRNG key.
        topology: a ``meshlab.Topology``.
        detector: an untracked :class:`FailureDetector`, or a tuple/list of them.
        crashed_nodes: distinct node ids (int sequence, length M >= 1).
        crash_round: first round in which they are down, in [1, n_rounds).
        n_rounds: rounds simulated (the run ends at ``n_rounds * interval_s``).
        config: ``meshlab.BeaconConfig`` (default ``BeaconConfig()``); its ``detector`` is
            replaced, its ``chaos_fn`` (if any) is kept and the crash is applied on top.
        params: ``meshlab.BeaconParams`` (default ``beacon_params()``).
        n_seeds: independent rollouts (>= 1).

    Returns:
        A :class:`DetectionReport` (a tuple of them, one per detector, if a sequence was
        given) whose fields have a leading ``[n_seeds]`` axis.
    """
    from meshlab.mesh import beacons

    single = isinstance(detector, FailureDetector)
    dets = (detector,) if single else tuple(detector) if isinstance(detector, list | tuple) else ()
    if not dets or not all(isinstance(d, FailureDetector) for d in dets):
        raise TypeError(
            f"detector must be a FailureDetector or a non-empty sequence of them, got {detector!r}"
        )
    config = beacons.BeaconConfig() if config is None else config
    params = beacons.beacon_params() if params is None else params
    if not isinstance(config, beacons.BeaconConfig):
        raise TypeError(f"config must be a BeaconConfig, got {type(config).__name__}")
    n_rounds = _check_int("n_rounds", n_rounds, 2)
    crash_round = _check_int("crash_round", crash_round, 1)
    if crash_round >= n_rounds:
        raise ValueError(f"crash_round must be < n_rounds={n_rounds}, got {crash_round}")
    n_seeds = _check_int("n_seeds", n_seeds, 1)
    n, k = np.shape(topology.neighbors)
    crashed = np.asarray(crashed_nodes, dtype=np.int64).reshape(-1)
    if crashed.size < 1 or crashed.min() < 0 or crashed.max() >= n:
        raise ValueError(f"crashed_nodes must be node ids in [0, {n}), got {crashed_nodes!r}")
    if np.unique(crashed).size != crashed.size:
        raise ValueError(f"crashed_nodes must be distinct, got {crashed_nodes!r}")
    cfg = _crash_config(config, dets, tuple(crashed.tolist()), crash_round, n, k)
    tracked_dets = [tracked(d) for d in dets]
    t_crash = np.float32(crash_round) * np.asarray(params.interval_s, np.float32)
    crash_t = jnp.full((crashed.size,), t_crash, jnp.float32)
    t_end = jnp.float32(n_rounds) * jnp.asarray(params.interval_s, jnp.float32)
    nb = jnp.asarray(topology.neighbors, jnp.int32)
    mask = jnp.asarray(topology.mask, bool)
    nodes = jnp.asarray(crashed, jnp.int32)

    def one(k_seed):
        state, _ = beacons.beacon_rollout(k_seed, topology, cfg, params, n_rounds)
        return tuple(
            summarize_detection(d, s, nb, mask, nodes, crash_t, t_end)
            for d, s in zip(tracked_dets, state.detector, strict=True)
        )

    reports = jax.vmap(one)(jax.random.split(key, n_seeds))
    return reports[0] if single else reports
