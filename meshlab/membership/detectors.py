# ruff: noqa: F722  (jaxtyping shape strings)
"""Failure detectors (per-neighbour timeout, φ-accrual) as hashable specs + a params pytree.

A detector is split in two (gymnax / evosax style), so a sweep over thresholds ``vmap``\\ s
without recompiling:

* a **spec**, a frozen dataclass of hashable primitives (which detector, which φ model,
  which estimator, how many intervals it remembers): what changes the compiled program;
* its **params**, a NamedTuple of float32 arrays (timeout, threshold, minimum standard
  deviation, acceptable pause, bootstrap interval): what varies between runs.

Every spec has the same pure methods (the contract the beacon model drives)::

    spec, params = detectors.phi_accrual(threshold=8.0)     # or detectors.timeout(3.0)
    state = spec.init(n_nodes, max_degree)
    state = spec.update(params, state, arrived, t_arrival, t_now)   # arrived: bool[N, K]
    suspected = spec.suspect(params, state, t_now)                  # bool[N, K]
    deadline = spec.deadline(params, state)                         # f32[N, K]
    phi = spec.phi(params, state, t_now)                            # φ-accrual only

Link ``(i, k)`` is node ``i`` listening to node ``neighbors[i, k]``. A link is *monitored*
from its first accepted beacon on (as Akka's ``isMonitoring``): before that it is never
suspected, so padding entries of a neighbour table are never suspected either.

Inter-arrival statistics for φ-accrual (``estimator``):

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
``deadline``: the absolute time at which the link becomes suspected if nothing more
arrives. The experiments use it to get detection times and false-suspicion intervals
exactly (not rounded to the round length).

:func:`tracked` adds a :class:`SuspicionLog` (exact false-suspicion accounting) to any
spec; :func:`bundle` runs several tracked detectors side by side on the same arrivals
(its params are the tuple of the members' params).

Times are absolute seconds in float32: at t ≈ 1e3 s the resolution is ≈ 6e-5 s,
at 1e4 s ≈ 1e-3 s.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.core.validation import check_choice, check_int, check_real

__all__ = [
    "ESTIMATORS",
    "MODELS",
    "Bundle",
    "DetectorState",
    "PhiAccrual",
    "PhiParams",
    "SuspicionLog",
    "Timeout",
    "TimeoutParams",
    "Tracked",
    "TrackedState",
    "bundle",
    "label",
    "phi_accrual",
    "phi_normal",
    "phi_params",
    "timeout",
    "timeout_params",
    "tracked",
]

MODELS = ("normal", "exponential")
ESTIMATORS = ("ewma", "window")

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


class TimeoutParams(NamedTuple):
    """Params of the timeout detector (float32 arrays; vmap over them to sweep).

    Attributes:
        timeout_s: silence (seconds, > 0) after which a monitored link is suspected.
    """

    timeout_s: Float[Array, "..."]


class PhiParams(NamedTuple):
    """Params of a φ-accrual detector (float32 arrays; build with :func:`phi_params`).

    Attributes:
        threshold: suspect when φ ≥ threshold (> 0).
        min_std_s: lower bound on the inter-arrival standard deviation (s, > 0).
        acceptable_pause_s: added to the mean interval (s, >= 0), Akka's
            ``acceptable-heartbeat-pause``.
        first_heartbeat_s: bootstrap interval estimate (s, > 0); its std bootstrap is a
            quarter of it.
        crossing: derived by :func:`phi_params` from ``threshold`` in float64 (do not set
            by hand): the standardized elapsed time ``y*`` at which φ reaches the
            threshold (normal model), or ``threshold · ln 10`` (exponential model).
    """

    threshold: Float[Array, "..."]
    min_std_s: Float[Array, "..."]
    acceptable_pause_s: Float[Array, "..."]
    first_heartbeat_s: Float[Array, "..."]
    crossing: Float[Array, "..."]


# ----------------------------------------------------------------------------- checks


def _reals(name: str, value: Any, low: float, *, low_open: bool) -> np.ndarray:
    """Checks a scalar or array of reals elementwise; returns it as float64."""
    arr = np.asarray(value)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number or an array of them, got {value!r}")
    for v in arr.ravel().tolist():
        check_real(name, v, low, low_open=low_open)
    return arr.astype(np.float64)


def _normal_crossing(threshold: np.ndarray) -> np.ndarray:
    """Solves ``phi_normal = threshold`` for the standardized time y (float64, Cardano)."""
    x = threshold * _LN10
    z = x + np.log(-np.expm1(-x))  # softplus^{-1}(x) = log(e^x - 1), overflow-free
    p, q = _LOGISTIC_A / _LOGISTIC_B, -z / _LOGISTIC_B  # y^3 + p y + q = 0, one real root
    r = np.sqrt(q * q / 4.0 + p**3 / 27.0)
    return np.cbrt(-q / 2.0 + r) + np.cbrt(-q / 2.0 - r)


def _f32(x: np.ndarray) -> jax.Array:
    return jnp.asarray(np.asarray(x, np.float64), jnp.float32)


def timeout_params(timeout_s: Any) -> TimeoutParams:
    """Validated :class:`TimeoutParams` (``timeout_s`` scalar or array, every value > 0)."""
    return TimeoutParams(_f32(_reals("timeout_s", timeout_s, 0.0, low_open=True)))


def phi_params(
    threshold: Any = 8.0,
    *,
    model: str = "normal",
    min_std_s: Any = 0.1,
    acceptable_pause_s: Any = 0.0,
    first_heartbeat_s: Any = 1.0,
) -> PhiParams:
    """Validated :class:`PhiParams` for ``model``; every field may be an array (a sweep).

    The fields are broadcast to one shape (numpy rules), so a sweep over any of them gives
    params with one leading axis on every leaf (``jax.vmap`` over them); ``crossing`` is
    derived from ``threshold`` in float64 (so deadlines do not depend on float32 algebra).

    Raises:
        TypeError / ValueError: a value of the wrong type or out of range (named).
    """
    check_choice("model", model, MODELS)
    thr = _reals("threshold", threshold, 0.0, low_open=True)
    fields = np.broadcast_arrays(
        thr,
        _reals("min_std_s", min_std_s, 0.0, low_open=True),
        _reals("acceptable_pause_s", acceptable_pause_s, 0.0, low_open=False),
        _reals("first_heartbeat_s", first_heartbeat_s, 0.0, low_open=True),
        _normal_crossing(thr) if model == "normal" else thr * _LN10,
    )
    return PhiParams(*(_f32(f) for f in fields))


# ------------------------------------------------------------------------- helpers


def _base_init(n_nodes: int, max_degree: int, window: int) -> DetectorState:
    n = check_int("n_nodes", n_nodes, low=1)
    k = check_int("max_degree", max_degree, low=1)
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


def phi_normal(
    elapsed_s: Float[Array, "..."], mean_s: Float[Array, "..."], std_s: Float[Array, "..."]
) -> Float[Array, "..."]:
    """Akka's φ for the normal model: ``−log10`` of the logistic-approximated normal tail.

    Args:
        elapsed_s: time since the last heartbeat (s).
        mean_s: expected interval (s, already including any acceptable pause).
        std_s: standard deviation (s, already clamped from below).

    Returns:
        φ, same shape as the broadcast inputs.
    """
    y = (elapsed_s - mean_s) / std_s
    return jax.nn.softplus(y * (_LOGISTIC_A + _LOGISTIC_B * y * y)) / _LN10


# ------------------------------------------------------------------------- specs


@dataclasses.dataclass(frozen=True)
class Timeout:
    """Per-neighbour timeout detector: suspect a link ``timeout_s`` after its last beacon.

    Params: :class:`TimeoutParams`. No ``phi``.
    """

    kind: str = dataclasses.field(default="timeout", init=False)

    def init(self, n_nodes: int, max_degree: int) -> DetectorState:
        """Zero state for ``n_nodes × max_degree`` links (nothing monitored yet)."""
        return _base_init(n_nodes, max_degree, 0)

    def update(self, params, state: DetectorState, arrived, t_arrival, t_now=None):
        """Records the beacons ``arrived[i, k]`` accepted at absolute times ``t_arrival``.

        ``t_now`` is accepted for the contract and not needed (arrival times suffice).
        """
        del params, t_now
        _, _, _, last, monitored = _first_and_interval(state, arrived, t_arrival)
        return state._replace(last_s=last, monitored=monitored)

    def deadline(self, params, state: DetectorState) -> Float[Array, "nodes degree"]:
        """Absolute time from which each link is suspected (``+inf`` if unmonitored)."""
        return jnp.where(state.monitored, state.last_s + params.timeout_s, jnp.inf)

    def suspect(self, params, state: DetectorState, t_now) -> Bool[Array, "nodes degree"]:
        """Monitored links silent for more than ``timeout_s`` at ``t_now``."""
        silent = jnp.asarray(t_now, jnp.float32) - state.last_s
        return state.monitored & (silent > params.timeout_s)


@dataclasses.dataclass(frozen=True)
class PhiAccrual:
    """φ-accrual failure detector (Hayashibara et al. 2004; Akka / Cassandra variants).

    Attributes:
        model: ``"normal"`` (Akka) or ``"exponential"`` (Cassandra).
        window: number of intervals the statistics remember (>= 2): the EWMA span, or the
            ring-buffer length for ``estimator="window"``.
        estimator: ``"ewma"`` (two floats per link) or ``"window"`` (exact ring buffer).

    Params: :class:`PhiParams` (build with :func:`phi_params` for the same ``model``).
    """

    model: str = "normal"
    window: int = 100
    estimator: str = "ewma"
    kind: str = dataclasses.field(default="phi", init=False)

    def __post_init__(self):
        check_choice("model", self.model, MODELS)
        check_choice("estimator", self.estimator, ESTIMATORS)
        check_int("window", self.window, low=2)

    def init(self, n_nodes: int, max_degree: int) -> DetectorState:
        """Zero state for ``n_nodes × max_degree`` links (nothing monitored yet)."""
        return _base_init(n_nodes, max_degree, self.window if self.estimator == "window" else 0)

    def _stats(self, params: PhiParams, state: DetectorState):
        mean = state.mean_s + params.acceptable_pause_s
        std = jnp.maximum(jnp.sqrt(state.var_s2), params.min_std_s)
        return mean, std

    def phi(self, params: PhiParams, state: DetectorState, t_now) -> Float[Array, "nodes degree"]:
        """φ of every link at ``t_now`` (0 for unmonitored links)."""
        elapsed = jnp.asarray(t_now, jnp.float32) - state.last_s
        mean, std = self._stats(params, state)
        if self.model == "normal":
            value = phi_normal(elapsed, mean, std)
        else:
            value = jnp.maximum(elapsed, 0.0) / (mean * _LN10)
        return jnp.where(state.monitored, value, 0.0)

    def deadline(self, params: PhiParams, state: DetectorState) -> Float[Array, "nodes degree"]:
        """Absolute time at which φ reaches the threshold (``+inf`` if unmonitored)."""
        mean, std = self._stats(params, state)
        if self.model == "normal":
            wait = mean + params.crossing * std
        else:
            wait = params.crossing * mean
        return jnp.where(state.monitored, state.last_s + wait, jnp.inf)

    def suspect(
        self, params: PhiParams, state: DetectorState, t_now
    ) -> Bool[Array, "nodes degree"]:
        """Monitored links with ``φ ≥ threshold`` at ``t_now``."""
        return state.monitored & (self.phi(params, state, t_now) >= params.threshold)

    def update(self, params: PhiParams, state: DetectorState, arrived, t_arrival, t_now=None):
        """Records the beacons ``arrived[i, k]`` accepted at absolute times ``t_arrival``."""
        del t_now
        t = jnp.asarray(t_arrival, jnp.float32)
        first, again, interval, last, monitored = _first_and_interval(state, arrived, t)
        # Akka: an interval that ends while the link is suspected is not recorded.
        record = again & (self.phi(params, state, t) < params.threshold)
        first_hb = params.first_heartbeat_s
        boot_std = first_hb / 4.0
        win = self.window
        if self.estimator == "ewma":
            # Equal weights 1/c while c <= (window + 1) / 2 (Welford: Akka's window,
            # bootstrap samples included), then the constant EWMA weight 2 / (window + 1).
            alpha = 2.0 / (win + 1.0)
            count = state.count + record.astype(jnp.int32)
            a = jnp.maximum(1.0 / jnp.maximum(count, 1).astype(jnp.float32), alpha)
            d = interval - state.mean_s
            mean = jnp.where(record, state.mean_s + a * d, state.mean_s)
            var = jnp.where(record, (1.0 - a) * (state.var_s2 + a * d * d), state.var_s2)
            mean = jnp.where(first, first_hb, mean)
            var = jnp.where(first, boot_std * boot_std, var)
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


def timeout(timeout_s: Any) -> tuple[Timeout, TimeoutParams]:
    """A timeout detector: ``(spec, params)``.

    Args:
        timeout_s: silence (seconds, > 0) after which a monitored link is suspected; an
            array gives stacked params for a sweep (``jax.vmap`` over them).
    """
    return Timeout(), timeout_params(timeout_s)


def phi_accrual(
    threshold: Any = 8.0,
    model: str = "normal",
    window: int = 100,
    min_std_s: Any = 0.1,
    acceptable_pause_s: Any = 0.0,
    first_heartbeat_s: Any = 1.0,
    estimator: str = "ewma",
) -> tuple[PhiAccrual, PhiParams]:
    """A φ-accrual detector: ``(spec, params)``.

    Args:
        threshold: suspect when φ ≥ threshold (> 0; Akka and Cassandra default 8).
        model: ``"normal"`` (Akka) or ``"exponential"`` (Cassandra).
        window: number of intervals the statistics remember (int >= 2).
        min_std_s: lower bound on the standard deviation (normal model), > 0.
        acceptable_pause_s: added to the mean interval (>= 0).
        first_heartbeat_s: bootstrap interval estimate (> 0); std bootstrap is a quarter.
        estimator: ``"ewma"`` or ``"window"``.

    The numeric options may be arrays (stacked params for a sweep).
    """
    spec = PhiAccrual(model=model, window=window, estimator=estimator)
    params = phi_params(
        threshold,
        model=model,
        min_std_s=min_std_s,
        acceptable_pause_s=acceptable_pause_s,
        first_heartbeat_s=first_heartbeat_s,
    )
    return spec, params


def label(spec: Any, params: Any) -> str:
    """A short table label from a spec and concrete scalar params (``"timeout 3s"``,
    ``"phi-normal 8"``, members joined by ``+`` for a bundle)."""
    if isinstance(spec, Tracked):
        return label(spec.inner, params)
    if isinstance(spec, Bundle):
        return "+".join(label(s, p) for s, p in zip(spec.members, params, strict=True))
    if isinstance(spec, Timeout):
        return f"timeout {float(params.timeout_s):g}s"
    if isinstance(spec, PhiAccrual):
        return f"phi-{spec.model} {float(params.threshold):g}"
    raise TypeError(f"spec must be a detector spec, got {type(spec).__name__}")


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


_SPECS = (Timeout, PhiAccrual)


@dataclasses.dataclass(frozen=True)
class Tracked:
    """A detector whose state also accumulates a :class:`SuspicionLog` (same params).

    Attributes:
        inner: the wrapped :class:`Timeout` or :class:`PhiAccrual` spec.
    """

    inner: Timeout | PhiAccrual

    def init(self, n_nodes: int, max_degree: int) -> TrackedState:
        """The inner zero state plus an empty log."""
        inner = self.inner.init(n_nodes, max_degree)
        n, k = inner.last_s.shape
        log = SuspicionLog(
            jnp.zeros((n, k), jnp.int32),
            jnp.zeros((n, k), jnp.float32),
            jnp.full((n, k), jnp.inf, jnp.float32),
        )
        return TrackedState(inner, log)

    def update(self, params, state: TrackedState, arrived, t_arrival, t_now=None):
        """The inner update; a beacon arriving after the deadline logs a mistake."""
        arrived = jnp.asarray(arrived, bool)
        t = jnp.asarray(t_arrival, jnp.float32)
        deadline = self.inner.deadline(params, state.detector)  # inf if unmonitored
        late = arrived & (t >= deadline)
        log = SuspicionLog(
            state.log.mistakes + late.astype(jnp.int32),
            state.log.suspected_s + jnp.where(late, t - deadline, 0.0),
            jnp.where(arrived, jnp.minimum(state.log.since_s, t), state.log.since_s),
        )
        return TrackedState(self.inner.update(params, state.detector, arrived, t, t_now), log)

    def suspect(self, params, state: TrackedState, t_now):
        """The inner detector's suspicion at ``t_now``."""
        return self.inner.suspect(params, state.detector, t_now)

    def deadline(self, params, state: TrackedState):
        """The inner detector's deadline."""
        return self.inner.deadline(params, state.detector)

    def phi(self, params, state: TrackedState, t_now):
        """The inner detector's φ (φ-accrual only)."""
        if not isinstance(self.inner, PhiAccrual):
            raise TypeError("phi exists only for PhiAccrual detectors")
        return self.inner.phi(params, state.detector, t_now)


def tracked(spec: Any) -> Tracked:
    """Wraps a spec so its state also accumulates a :class:`SuspicionLog`.

    The result has the same methods over a :class:`TrackedState` and takes the same
    params, so a simulation that carries it through its scan gets exact false-suspicion
    statistics for free. A spec that is already tracked is returned unchanged.
    """
    if isinstance(spec, Tracked):
        return spec
    if not isinstance(spec, _SPECS):
        raise TypeError(f"detector must be a Timeout or PhiAccrual spec, got {spec!r}")
    return Tracked(spec)


@dataclasses.dataclass(frozen=True)
class Bundle:
    """Several tracked detectors run side by side on the same arrivals (one scan).

    Params: a tuple with one params pytree per member. State: a tuple of
    :class:`TrackedState`. ``suspect`` / ``deadline`` are those of the first member
    (what a host simulation counts per round).

    Attributes:
        members: tuple of :class:`Tracked` specs.
    """

    members: tuple[Tracked, ...]

    def init(self, n_nodes: int, max_degree: int) -> tuple:
        """One tracked zero state per member."""
        return tuple(d.init(n_nodes, max_degree) for d in self.members)

    def update(self, params: tuple, state: tuple, arrived, t_arrival, t_now=None) -> tuple:
        """Every member's update on the same arrivals."""
        return tuple(
            d.update(p, s, arrived, t_arrival, t_now)
            for d, p, s in zip(self.members, params, state, strict=True)
        )

    def suspect(self, params: tuple, state: tuple, t_now):
        """The first member's suspicion."""
        return self.members[0].suspect(params[0], state[0], t_now)

    def deadline(self, params: tuple, state: tuple):
        """The first member's deadline."""
        return self.members[0].deadline(params[0], state[0])


def bundle(detectors) -> tuple[Bundle, tuple]:
    """Bundles ``(spec, params)`` pairs into one ``(Bundle spec, tuple of params)``.

    Args:
        detectors: a non-empty sequence of ``(spec, params)`` pairs (as returned by
            :func:`timeout` / :func:`phi_accrual`).
    """
    pairs = tuple(detectors)
    if not pairs or not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
        raise TypeError(f"detectors must be a non-empty sequence of (spec, params), got {pairs!r}")
    return Bundle(tuple(tracked(s) for s, _ in pairs)), tuple(p for _, p in pairs)
