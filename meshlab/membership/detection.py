# ruff: noqa: F722  (jaxtyping shape strings)
"""Crash detection and false suspicion: detectors driven by heartbeats or by the beacon model.

Two drivers run the detectors of :mod:`meshlab.membership.detectors` and read a
:class:`DetectionReport` off the final (tracked) detector state:

* :func:`crash_detection`: the full beacon simulation (:mod:`meshlab.mesh.beacons`: loss,
  jitter, queueing and verification included) with nodes stopped by a crash fault
  (:func:`meshlab.mesh.faults.crash`); several detectors share one rollout.
* the stand-alone heartbeat kernel (kernel convention): every sender beacons at
  ``r · interval_s`` unless it crashed before; each beacon is lost iid and otherwise
  arrives after a jittered delay::

      config = detection.HeartbeatConfig(detector=spec, interval_s=1.0)
      kernel = detection.build(config, topology)       # validated once
      prm = detection.params(det_params, crashed_nodes=[4, 9], crash_time_s=[30.5, 30.5])
      state, infos = detection.rollout(kernel, key, prm, n_rounds)
      report = detection.summarize(state, config, prm, topology)

Detection times are exact: they come from the detectors' deadlines, not rounded to the
round length.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.core.kernel import Kernel
from meshlab.core.validation import check_choice, check_int, check_key, check_prob, check_real
from meshlab.membership import detectors as _detectors
from meshlab.membership.detectors import Tracked, TrackedState, bundle, tracked
from meshlab.mesh import beacons, faults
from meshlab.mesh import topology as topology_mod

__all__ = [
    "JITTERS",
    "DetectionReport",
    "HeartbeatConfig",
    "HeartbeatData",
    "HeartbeatInfo",
    "HeartbeatParams",
    "HeartbeatState",
    "build",
    "crash_detection",
    "params",
    "report",
    "rollout",
    "rollout_seeds",
    "summarize",
]

JITTERS = ("normal", "lognormal")


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


def report(
    detector: Any,
    det_params: Any,
    state: TrackedState,
    neighbors: Int[Array, "nodes degree"],
    mask: Bool[Array, "nodes degree"],
    crashed_nodes: Int[Array, " crashed"],
    crash_time_s: Float[Array, " crashed"],
    t_end_s: float | Float[Array, ""],
) -> DetectionReport:
    """Reads detection times and false-suspicion rates off a tracked detector's final state.

    Args:
        detector: the :func:`~meshlab.membership.detectors.tracked` spec that produced
            ``state``.
        det_params: its params.
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
    deadline = detector.deadline(det_params, state)
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


# ---------------------------------------------------------------- heartbeat kernel


@dataclasses.dataclass(frozen=True)
class HeartbeatConfig:
    """Static (hashable) configuration of the synthetic heartbeat simulation.

    Attributes:
        detector: a detector spec (:class:`~meshlab.membership.detectors.Timeout`,
            :class:`~meshlab.membership.detectors.PhiAccrual`; tracked automatically).
        interval_s: heartbeat period (s, > 0): every sender beacons at ``r · interval_s``.
        jitter: ``"normal"`` (σ = ``jitter_s``, delay clipped at 0) or ``"lognormal"``
            (median ``base_latency_s``, log-sd ``jitter_s``).
    """

    detector: Any
    interval_s: float = 1.0
    jitter: str = "normal"


class HeartbeatParams(NamedTuple):
    """Array parameters of the heartbeat simulation (build with :func:`params`; vmap-able).

    Attributes:
        detector: the detector's params pytree.
        crashed_nodes: int32[M] distinct nodes that crash (crash-stop).
        crash_time_s: f32[M] their crash times (s); a sender stops beaconing from then.
        loss: per-beacon iid loss probability.
        base_latency_s: one-way delay (s; normal jitter: its mean; lognormal: its median).
        jitter_s: normal σ (s) or lognormal log-sd.
    """

    detector: Any
    crashed_nodes: Int[Array, " crashed"]
    crash_time_s: Float[Array, " crashed"]
    loss: Float[Array, ""]
    base_latency_s: Float[Array, ""]
    jitter_s: Float[Array, ""]


class HeartbeatData(NamedTuple):
    """The fixed data of a heartbeat kernel: neighbour table int32[N, K] and mask bool[N, K]."""

    neighbors: Int[Array, "nodes degree"]
    mask: Bool[Array, "nodes degree"]


class HeartbeatState(NamedTuple):
    """Carried state: the round counter and the tracked detector state."""

    round: Int[Array, ""]
    detector: TrackedState


class HeartbeatInfo(NamedTuple):
    """Per-round diagnostics: links suspected at the round end (int32)."""

    suspected: Int[Array, ""]


def _nonnegative(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, np.float64)
    for v in arr.ravel().tolist():
        check_real(name, v, 0.0)
    return arr


def params(
    detector: Any,
    crashed_nodes: Any,
    crash_time_s: Any,
    loss: Any = 0.0,
    base_latency_s: Any = 0.01,
    jitter_s: Any = 0.0,
) -> HeartbeatParams:
    """Validated :class:`HeartbeatParams` (float32 / int32 arrays).

    Args:
        detector: the detector's params (e.g. the second element of
            :func:`~meshlab.membership.detectors.timeout`).
        crashed_nodes: distinct node ids (int sequence, length M >= 0).
        crash_time_s: crash time of each (s, sequence of length M; ``inf``: never).
        loss: iid loss probability in [0, 1].
        base_latency_s: one-way delay (s, >= 0).
        jitter_s: normal σ (s) or lognormal log-sd (>= 0).

    Raises:
        TypeError / ValueError: a value of the wrong type or out of range (named).
    """
    nodes = np.asarray(crashed_nodes).reshape(-1)
    if nodes.size and (nodes.dtype == bool or nodes.dtype.kind not in "iu"):
        raise TypeError(f"params.crashed_nodes must be integer node ids, got {crashed_nodes!r}")
    if nodes.size and (nodes.min() < 0 or np.unique(nodes).size != nodes.size):
        raise ValueError(f"params.crashed_nodes must be distinct ids >= 0, got {crashed_nodes!r}")
    times = np.asarray(crash_time_s, np.float64).reshape(-1)
    if times.shape != nodes.shape or np.isnan(times).any():
        raise ValueError(
            f"params.crash_time_s must be {nodes.size} times (one per crashed node, not NaN), "
            f"got {crash_time_s!r}"
        )
    check_prob("params.loss", loss)
    return HeartbeatParams(
        detector=detector,
        crashed_nodes=jnp.asarray(nodes, jnp.int32),
        crash_time_s=jnp.asarray(times, jnp.float32),
        loss=jnp.asarray(loss, jnp.float32),
        base_latency_s=jnp.asarray(
            _nonnegative("params.base_latency_s", base_latency_s), jnp.float32
        ),
        jitter_s=jnp.asarray(_nonnegative("params.jitter_s", jitter_s), jnp.float32),
    )


def _table(topology: Any) -> HeartbeatData:
    """Checks a neighbour table (anything with ``neighbors`` and ``mask``) once."""
    topology_mod.check(topology)
    nb, mask = np.asarray(topology.neighbors), np.asarray(topology.mask)
    return HeartbeatData(jnp.asarray(nb, jnp.int32), jnp.asarray(mask, bool))


def build(config: HeartbeatConfig, topology: Any) -> Kernel:
    """Validates ``config`` and ``topology`` once and returns the heartbeat :class:`Kernel`.

    Args:
        config: :class:`HeartbeatConfig`.
        topology: a ``meshlab.mesh.topology.Topology`` or anything with ``neighbors``
            int[N, K] and ``mask`` bool[N, K].
    """
    if not isinstance(config, HeartbeatConfig):
        raise TypeError(f"config must be a HeartbeatConfig, got {type(config).__name__}")
    tracked(config.detector)  # raises TypeError naming the detector
    check_real("config.interval_s", config.interval_s, 0.0, low_open=True)
    check_choice("config.jitter", config.jitter, JITTERS)
    config = dataclasses.replace(config, detector=tracked(config.detector))
    return Kernel(config, _table(topology), _init_fn, _step_fn)


def _init_fn(key, data: HeartbeatData, config: HeartbeatConfig, params: HeartbeatParams):
    del key, params  # nothing random at the start
    n, k = data.neighbors.shape
    return HeartbeatState(jnp.int32(0), config.detector.init(n, k))


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


def _step_fn(key, state: HeartbeatState, data, config: HeartbeatConfig, params, inputs):
    del inputs
    n = data.neighbors.shape[0]
    node_crash_t = (
        jnp.full((n,), jnp.inf, jnp.float32).at[params.crashed_nodes].set(params.crash_time_s)
    )
    r = state.round
    arrived, t_arr = _heartbeat_round(
        key, r, config, params, data.neighbors, data.mask, node_crash_t
    )
    t_now = jnp.float32(config.interval_s) * (r + 1).astype(jnp.float32)
    det = config.detector.update(params.detector, state.detector, arrived, t_arr, t_now)
    suspected = config.detector.suspect(params.detector, det, t_now).sum(dtype=jnp.int32)
    return HeartbeatState(r + 1, det), HeartbeatInfo(suspected)


def _scan(kernel: Kernel, key, params, n_steps: int, state):
    """Traceable rollout: the init draws nothing, so ``key`` is split into one key per round."""
    if state is None:
        state = kernel.init_fn(None, kernel.data, kernel.config, params)
    keys = jax.random.split(key, n_steps)

    def body(carry, k):
        return kernel.step_fn(k, carry, kernel.data, kernel.config, params, None)

    return jax.lax.scan(body, state, keys)


@partial(jax.jit, static_argnums=(0, 2))
def _rollout_jit(config, data, n_steps, key, params, state):
    return _scan(Kernel(config, data, _init_fn, _step_fn), key, params, n_steps, state)


@partial(jax.jit, static_argnums=(0, 2))
def _seeds_jit(config, data, n_steps, keys, params):
    kernel = Kernel(config, data, _init_fn, _step_fn)
    return jax.vmap(lambda k: _scan(kernel, k, params, n_steps, None))(keys)


def _check_run(kernel: Kernel, key, params, n_steps) -> int:
    check_key(key)
    if not isinstance(kernel, Kernel) or not isinstance(kernel.config, HeartbeatConfig):
        raise TypeError(f"kernel must come from detection.build, got {type(kernel).__name__}")
    if not isinstance(params, HeartbeatParams):
        raise TypeError(f"params must be HeartbeatParams (see params), got {type(params).__name__}")
    n = kernel.data.neighbors.shape[0]
    if not isinstance(params.crashed_nodes, jax.core.Tracer):
        nodes = np.asarray(params.crashed_nodes)
        if nodes.size and nodes.max() >= n:
            raise ValueError(f"params.crashed_nodes must be node ids in [0, {n}), got {nodes}")
    return check_int("n_steps", n_steps, low=1)


def rollout(
    kernel: Kernel, key: jax.Array, params: HeartbeatParams, n_steps: int, *, state=None
) -> tuple[HeartbeatState, HeartbeatInfo]:
    """Runs ``n_steps`` heartbeat rounds under ``lax.scan`` (jitted).

    Round ``r`` uses ``jax.random.split(key, n_steps)[r]`` (the initial state draws
    nothing); ``state`` continues an earlier run.

    Returns:
        ``(final_state, infos)`` with ``infos`` stacked over rounds.
    """
    n_steps = _check_run(kernel, key, params, n_steps)
    return _rollout_jit(kernel.config, kernel.data, n_steps, key, params, state)


def rollout_seeds(
    kernel: Kernel, key: jax.Array, params: HeartbeatParams, n_steps: int, n_seeds: int
) -> tuple[HeartbeatState, HeartbeatInfo]:
    """:func:`rollout` for ``n_seeds`` keys ``jax.random.split(key, n_seeds)``, one ``vmap``.

    Returns:
        ``(final_states, infos)`` with a leading ``[n_seeds]`` axis.
    """
    n_steps = _check_run(kernel, key, params, n_steps)
    keys = jax.random.split(key, check_int("n_seeds", n_seeds, low=1))
    return _seeds_jit(kernel.config, kernel.data, n_steps, keys, params)


@partial(jax.jit, static_argnums=(0, 1))
def _report_jit(detector, batched, det_params, state, neighbors, mask, nodes, crash_t, t_end):
    def one(s):
        return report(detector, det_params, s, neighbors, mask, nodes, crash_t, t_end)

    return jax.vmap(one)(state) if batched else one(state)


def summarize(
    state: HeartbeatState, config: HeartbeatConfig, params: HeartbeatParams, topology: Any
) -> DetectionReport:
    """The :class:`DetectionReport` of a heartbeat run, at ``t_end = rounds · interval_s``.

    ``state`` may carry a leading seed axis (from :func:`rollout_seeds`); the report then
    has it too.
    """
    rounds = np.asarray(state.round).reshape(-1)
    t_end = int(rounds[0]) * config.interval_s
    data = _table(topology)
    return _report_jit(
        tracked(config.detector),
        np.ndim(state.round) > 0,
        params.detector,
        state.detector,
        data.neighbors,
        data.mask,
        params.crashed_nodes,
        params.crash_time_s,
        jnp.asarray(t_end, jnp.float32),
    )


# ----------------------------------------------------------- inside the beacon model


def _pairs(detectors: Any) -> tuple[tuple, bool]:
    """``((spec, params), ...)`` and whether a single pair was given."""
    if isinstance(detectors, tuple) and len(detectors) == 2 and not isinstance(detectors[0], tuple):
        pairs, single = (detectors,), True
    elif isinstance(detectors, list | tuple):
        pairs, single = tuple(detectors), False
    else:
        pairs, single = (), False
    if not pairs or not all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], _detectors._SPECS + (Tracked,))
        for p in pairs
    ):
        raise TypeError(
            "detector must be a (spec, params) pair or a non-empty sequence of them, "
            f"got {detectors!r}"
        )
    return pairs, single


def crash_detection(
    key: jax.Array,
    topology: Any,
    detectors: Any,
    crashed_nodes: Any,
    crash_round: int,
    n_rounds: int,
    config: Any = None,
    params: Any = None,
    n_seeds: int = 1,
) -> DetectionReport | tuple[DetectionReport, ...]:
    """Crash detection driven by the full beacon simulation (:mod:`meshlab.mesh.beacons`).

    The nodes in ``crashed_nodes`` stop (a :func:`meshlab.mesh.faults.crash` fault, added
    to any faults already in ``params``) from round ``crash_round`` on, i.e. at
    ``t_crash = crash_round · interval_s``; the detectors, tracked and bundled, run inside
    the beacon scan on the accepted beacons (after loss, jitter, queueing and
    verification), and the report is read from the final state. Several detectors share
    one rollout (same arrivals, one compilation); ``n_seeds`` rollouts run under one
    ``vmap`` (seed ``i`` uses ``jax.random.split(key, n_seeds)[i]``). Calls with equal
    specs, config and shapes reuse the compiled rollout (thresholds and faults are params).

    Args:
        key: typed PRNG key.
        topology: a ``meshlab.mesh.topology.Topology``.
        detectors: a ``(spec, params)`` pair or a sequence of them.
        crashed_nodes: distinct node ids (int sequence, length M >= 1).
        crash_round: first round in which they are down, in [1, n_rounds).
        n_rounds: rounds simulated (the run ends at ``n_rounds · interval_s``).
        config: ``beacons.BeaconConfig`` (default ``BeaconConfig()``); its ``detector`` is
            replaced.
        params: ``beacons.BeaconParams`` (default ``beacons.params()``); its ``detector``
            is replaced, its ``faults`` (if any) kept and the crash added.
        n_seeds: independent rollouts (>= 1).

    Returns:
        A :class:`DetectionReport` (a tuple of them, one per detector, if a sequence was
        given) whose fields have a leading ``[n_seeds]`` axis.
    """
    check_key(key)
    pairs, single = _pairs(detectors)
    config = beacons.BeaconConfig() if config is None else config
    params = beacons.params() if params is None else params
    if not isinstance(config, beacons.BeaconConfig):
        raise TypeError(f"config must be a BeaconConfig, got {type(config).__name__}")
    n_rounds = check_int("n_rounds", n_rounds, low=2)
    crash_round = check_int("crash_round", crash_round, low=1, high=n_rounds - 1)
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    n = np.shape(topology.neighbors)[0]
    crashed = np.asarray(crashed_nodes, dtype=np.int64).reshape(-1)
    if crashed.size < 1 or crashed.min() < 0 or crashed.max() >= n:
        raise ValueError(f"crashed_nodes must be node ids in [0, {n}), got {crashed_nodes!r}")
    if np.unique(crashed).size != crashed.size:
        raise ValueError(f"crashed_nodes must be distinct, got {crashed_nodes!r}")
    spec, det_params = bundle(pairs)
    crash = faults.crash(crashed.tolist(), crash_round, None, n_nodes=n)
    fault = crash if params.faults is None else faults.combine([params.faults, crash])
    run_params = params._replace(faults=fault, detector=det_params)
    kernel = beacons.build(dataclasses.replace(config, detector=spec), topology)
    states, _ = beacons.rollout_seeds(kernel, key, run_params, n_rounds, n_seeds)
    t_crash = np.float32(crash_round) * np.asarray(params.interval_s, np.float32)
    crash_t = jnp.full((crashed.size,), t_crash, jnp.float32)
    t_end = jnp.float32(n_rounds) * jnp.asarray(params.interval_s, jnp.float32)
    nb = jnp.asarray(topology.neighbors, jnp.int32)
    mask = jnp.asarray(topology.mask, bool)
    nodes = jnp.asarray(crashed, jnp.int32)
    # Op by op under vmap (not one fused jit), as the report was always computed here:
    # fusion may contract ``a * b + c`` into an FMA and move a detection time by one ulp.
    reports = tuple(
        jax.vmap(lambda s, m=member, p=p: report(m, p, s, nb, mask, nodes, crash_t, t_end))(s)
        for member, p, s in zip(spec.members, det_params, states.detector, strict=True)
    )
    return reports[0] if single else reports
