# ruff: noqa: F722  (jaxtyping shape strings)
"""The beacon simulation: every node beacons every interval; receivers verify through a FIFO.

API (blackjax / gymnax style; static config + params pytree + key first)::

    import jax, meshlab
    topo = meshlab.random_regular(jax.random.key(1), n_nodes=1000, degree=8)
    config = meshlab.BeaconConfig(service_dist="lognormal", loss_model="gilbert_elliott")
    params = meshlab.beacon_params(loss_p=0.01, verify_mean_s=2e-4, beacon_bytes=3932)
    state, info = meshlab.beacon_rollout(jax.random.key(0), topo, config, params, n_rounds=200)
    summary = meshlab.summarize_beacons(state, config, params)   # dict of floats
    summary["p99_s"], summary["delivery_ratio"], summary["cpu_util_max"]

    # mean ± CI over seeds in one call (vmap over keys):
    stats = meshlab.beacon_seeds(jax.random.key(0), topo, config, params, 200, n_seeds=8)
    stats["p99_s"]  # {"mean": ..., "ci95": ..., "values": [...]}

    # one round at a time (state carried by you):
    state = meshlab.beacon_init(key, topo, config, params)
    state, info = meshlab.beacon_step(key, state, topo, config, params, chaos)

* ``BeaconConfig`` (frozen dataclass, hashable, static under jit): model choices
  (``latency_model``, ``jitter_dist``, ``loss_model``, ``service_dist``, ``load_pattern``),
  histogram bins, ``initial_handshake``, an optional ``chaos_fn(round) -> ChaosInput``
  and an optional ``detector`` (:class:`meshlab.detection.FailureDetector`). It does not
  depend on N: one config serves every topology.
* ``BeaconParams`` (NamedTuple of float32 arrays; build with :func:`beacon_params`, which
  validates): every number of the model. Sweeps ``vmap`` over it without recompiling. PQC
  fields: ``beacon_bytes``, ``verify_mean_s``, ``verify_sigma`` (log-sd when
  ``service_dist == "lognormal"``), ``handshake_s``.
* ``ChaosInput`` per round (link_up, extra_latency_s, extra_loss, node_up, slowdown,
  beacon_valid): from ``config.chaos_fn(round_index)`` (a pure function of the int32 round
  index) or stacked along a leading round axis and passed as ``chaos=`` to
  :func:`beacon_rollout` (scan xs). :func:`neutral_chaos` is the default.

Model of one round ``r`` (length ``T = interval_s``; times relative to the round start):

1. The load multiplier ``m = load(t)`` (:func:`load_multiplier`). Each up node ``j``
   beacons with probability ``min(m, 1)`` at offset ``o_j ~ U(0, send_jitter_s)``.
2. On link ``(i, k)`` (``i`` receives from ``j = neighbors[i, k]``) the beacon arrives at
   ``a = o_j + max(0, base + 8 * beacon_bytes / bandwidth + jitter + extra_latency)``
   unless it is lost (iid or Gilbert–Elliott, combined with chaos ``extra_loss``), the
   link is down, or the receiver is down.
3. Receiver ``i`` serves its arrivals in arrival order with one FIFO server whose free
   time (backlog) is carried across rounds. Service = verify time (``service_dist``,
   mean ``verify_mean_s``) x ``slowdown_i`` + ``(m - 1)^+ x verify_mean_s x slowdown_i``
   (extra load messages riding ahead of the beacon) + ``handshake_s`` on the first beacon
   of a link whose session is (re)starting. Departures are computed with the max-plus form
   of Lindley's recursion (``d_k = C_k + max(free, max_{j<=k} a_j - C_{j-1})``, ``C`` the
   cumulative service), vectorised over nodes.
4. A beacon whose sender is marked invalid consumes its verify time and is rejected;
   otherwise it is accepted at ``d`` with end-to-end latency
   ``d - o_j`` = propagation + serialization + jitter + queueing + verification.

Synchronous-round approximation: a round's arrivals queue behind all earlier rounds'
arrivals, so when latencies exceed ``T`` the FIFO order across rounds can differ from a
true event-driven simulation (:mod:`meshlab.reference` measures the error).

Streaming metrics (memory independent of the number of rounds): a latency histogram on
``hist_bins`` log-spaced bins in ``[hist_min_s, hist_max_s]`` plus under/overflow bins,
exact uint64 counts as two uint32 words; quantiles are interpolated log-linearly inside
the bin that holds the exact sample quantile, so they are within ``bin_rel_error =
ratio - 1`` of it (defaults: 480 bins over 1e-6..1e2 s, ratio 1.039, error <= 3.9 %).
Per node: sent/accepted/lost/rejected counts, busy (CPU) seconds, latency and waiting
sums, max backlog, last-heard times per link.

Detector hook: with ``config.detector`` set, ``detector.update(state, accepted, t_accept,
t_now)`` runs every round on the accepted beacons (absolute acceptance times, after
queueing and verification; ``t_now`` = round end) and ``detector.suspect`` at the round
end feeds ``info.suspected`` / ``info.false_suspected``; the detector state is
``state.detector``. A beacon accepted after the round end is reported in its own round.

Random numbers: per round 2 uniforms per node and 1-4 per link, 23-bit uniforms in (0, 1)
from the round's key by ``config.rng`` (default the keyed counter hash of
:func:`meshlab.links.random_uniforms`; ``"threefry"`` for ``jax.random.bits``). Long runs can be chunked:
``beacon_rollout(key_i, ..., state=previous_state)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, UInt32

from meshlab.core.stats import mean_ci
from meshlab.mesh import links
from meshlab.mesh.topology import Topology

__all__ = [
    "LOAD_PATTERNS",
    "BeaconConfig",
    "BeaconInfo",
    "BeaconParams",
    "BeaconState",
    "ChaosInput",
    "beacon_init",
    "beacon_params",
    "beacon_rollout",
    "beacon_seeds",
    "beacon_step",
    "fifo_departures",
    "hist_edges",
    "hist_quantiles",
    "load_multiplier",
    "mean_ci",
    "neutral_chaos",
    "summarize_beacons",
]

LOAD_PATTERNS = ("steady", "burst", "ramp", "diurnal")
_IDLE = 1e30  # gathered sender code: up but not beaconing this round
_COLUMN_FIFO_MAX = 8  # up to this K the FIFO works on K column vectors (no sort at all)
_RANK_SORT_MAX = 32  # up to this K the FIFO sorts by ranking (K^2 work, fused)


# ------------------------------------------------------------------------------ config


@dataclasses.dataclass(frozen=True)
class BeaconConfig:
    """Static (hashable) choices of the beacon model; independent of N.

    Attributes:
        latency_model: per-link base latency, one of ``links.LATENCY_MODELS``.
        jitter_dist: per-message jitter, one of ``links.JITTER_DISTS``.
        loss_model: ``"iid"`` or ``"gilbert_elliott"``.
        service_dist: verification time, one of ``"deterministic"``, ``"exponential"``,
            ``"lognormal"``.
        load_pattern: one of :data:`LOAD_PATTERNS` (see :func:`load_multiplier`).
        hist_bins: number of log-spaced latency bins.
        hist_min_s: lower edge of the first bin (seconds, > 0).
        hist_max_s: upper edge of the last bin.
        initial_handshake: if True every link starts without a session and pays
            ``handshake_s`` on its first beacon (cold start); default warm.
        chaos_fn: optional pure ``chaos_fn(round_index: int32) -> ChaosInput``.
        detector: optional ``meshlab.detection.FailureDetector`` run inside the scan.
        rng: per-round random bits, one of ``links.RNG_METHODS``: ``"counter_hash"``
            (default; keyed counter hash, ~8x cheaper at large N) or ``"threefry"``
            (``jax.random.bits`` with the key's generator). See :mod:`meshlab.links`.
    """

    latency_model: str = "lognormal"
    jitter_dist: str = "lognormal"
    loss_model: str = "iid"
    service_dist: str = "exponential"
    load_pattern: str = "steady"
    hist_bins: int = 480
    hist_min_s: float = 1e-6
    hist_max_s: float = 100.0
    initial_handshake: bool = False
    chaos_fn: Callable | None = None
    detector: Any = None
    rng: str = "counter_hash"

    def __post_init__(self):
        for name, allowed in [
            ("latency_model", links.LATENCY_MODELS),
            ("jitter_dist", links.JITTER_DISTS),
            ("loss_model", links.LOSS_MODELS),
            ("service_dist", links.SERVICE_DISTS),
            ("load_pattern", LOAD_PATTERNS),
            ("rng", links.RNG_METHODS),
        ]:
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if isinstance(self.hist_bins, bool) or not isinstance(self.hist_bins, int):
            raise TypeError(f"hist_bins must be an int, got {self.hist_bins!r}")
        if self.hist_bins < 1:
            raise ValueError(f"hist_bins must be >= 1, got {self.hist_bins}")
        if not 0 < self.hist_min_s < self.hist_max_s:
            raise ValueError(
                "need 0 < hist_min_s < hist_max_s, got "
                f"hist_min_s={self.hist_min_s}, hist_max_s={self.hist_max_s}"
            )
        if self.chaos_fn is not None and not callable(self.chaos_fn):
            raise TypeError(f"chaos_fn must be callable, got {type(self.chaos_fn).__name__}")
        if self.detector is not None and not all(
            callable(getattr(self.detector, f, None)) for f in ("init", "update", "suspect")
        ):
            raise TypeError("detector must be a FailureDetector (init, update, suspect)")

    @property
    def bin_ratio(self) -> float:
        """Ratio between consecutive histogram edges."""
        return (self.hist_max_s / self.hist_min_s) ** (1.0 / self.hist_bins)

    @property
    def bin_rel_error(self) -> float:
        """Max relative error of a histogram quantile (one bin: ``bin_ratio - 1``)."""
        return self.bin_ratio - 1.0


class BeaconParams(NamedTuple):
    """Numbers of the beacon model (float32 arrays; a pytree to vmap over).

    Attributes:
        interval_s: beacon interval T = round length (> 0).
        send_jitter_s: send offset within the round, ``U(0, send_jitter_s)`` (in [0, T]).
        base_latency_s: constant / median / floor base latency (>= 0).
        base_latency_sigma: log-sd of the lognormal base latency (>= 0).
        propagation_s_per_unit: seconds per unit distance (distance model, >= 0).
        jitter_scale_s: jitter scale (>= 0). jitter_shape: lognormal log-sd or pareto
            alpha (> 0). slow_prob: bimodal slow probability. slow_s: bimodal slow delay.
        loss_p: iid loss probability. ge_p, ge_r: Gilbert–Elliott good->bad and bad->good
            transition probabilities per round. ge_loss_good, ge_loss_bad: loss in each state.
        bandwidth_bps: link bandwidth, bits/s (> 0, may be inf).
        beacon_bytes: bytes on the wire per beacon (payload + signature [+ key/cert]).
        verify_mean_s: mean verification service time. verify_sigma: its log-sd (lognormal).
        handshake_s: KEM handshake cost on the first beacon of a (re)started link session.
        load_peak: peak load multiplier. load_start_s, load_duration_s: burst / ramp window.
        load_period_s: diurnal period.
    """

    interval_s: Float[Array, ""]
    send_jitter_s: Float[Array, ""]
    base_latency_s: Float[Array, ""]
    base_latency_sigma: Float[Array, ""]
    propagation_s_per_unit: Float[Array, ""]
    jitter_scale_s: Float[Array, ""]
    jitter_shape: Float[Array, ""]
    slow_prob: Float[Array, ""]
    slow_s: Float[Array, ""]
    loss_p: Float[Array, ""]
    ge_p: Float[Array, ""]
    ge_r: Float[Array, ""]
    ge_loss_good: Float[Array, ""]
    ge_loss_bad: Float[Array, ""]
    bandwidth_bps: Float[Array, ""]
    beacon_bytes: Float[Array, ""]
    verify_mean_s: Float[Array, ""]
    verify_sigma: Float[Array, ""]
    handshake_s: Float[Array, ""]
    load_peak: Float[Array, ""]
    load_start_s: Float[Array, ""]
    load_duration_s: Float[Array, ""]
    load_period_s: Float[Array, ""]


_PARAM_DEFAULTS = dict(
    interval_s=1.0,
    send_jitter_s=0.1,
    base_latency_s=2e-3,
    base_latency_sigma=0.5,
    propagation_s_per_unit=0.02,
    jitter_scale_s=5e-4,
    jitter_shape=1.0,
    slow_prob=0.01,
    slow_s=0.05,
    loss_p=0.01,
    ge_p=0.01,
    ge_r=0.25,
    ge_loss_good=0.0,
    ge_loss_bad=1.0,
    bandwidth_bps=10e6,
    beacon_bytes=3932.0,  # 200 B payload + ML-DSA-44 signature 2420 B + public key 1312 B
    verify_mean_s=1.9e-5,  # ML-DSA-44 verify, liboqs median (shared/reference/pqc_costs.csv)
    verify_sigma=0.1,
    handshake_s=2.0e-5,
    load_peak=1.0,
    load_start_s=0.0,
    load_duration_s=0.0,
    load_period_s=86400.0,
)

_PROBS = ("slow_prob", "loss_p", "ge_p", "ge_r", "ge_loss_good", "ge_loss_bad")
_POSITIVE = ("interval_s", "bandwidth_bps", "jitter_shape", "load_period_s")


def _check_params(params: BeaconParams) -> None:
    """Raises ValueError naming the field if any (concrete) value is out of range."""
    for name, value in params._asdict().items():
        if isinstance(value, jax.core.Tracer):
            continue
        v = np.asarray(value, dtype=np.float64)
        if np.isnan(v).any():
            raise ValueError(f"{name} must not be NaN, got {value}")
        if name in _PROBS:
            if (v < 0).any() or (v > 1).any():
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        elif name in _POSITIVE:
            if (v <= 0).any():
                raise ValueError(f"{name} must be > 0, got {value}")
        elif (v < 0).any():
            raise ValueError(
                f"{name} must be >= 0 (no negative times, sizes or rates), got {value}"
            )
        elif name != "bandwidth_bps" and np.isinf(v).any():
            raise ValueError(f"{name} must be finite, got {value}")
    sj, iv = params.send_jitter_s, params.interval_s
    if not isinstance(sj, jax.core.Tracer) and not isinstance(iv, jax.core.Tracer):
        if (np.asarray(sj) > np.asarray(iv)).any():
            raise ValueError(f"send_jitter_s must be in [0, interval_s={iv}], got {sj}")


def beacon_params(**overrides) -> BeaconParams:
    """Builds validated :class:`BeaconParams` from defaults plus ``overrides``.

    Defaults: 1 s interval, 0.1 s send jitter, lognormal base latency median 2 ms
    (log-sd 0.5), lognormal jitter 0.5 ms, 1 % loss, GE p=0.01 r=0.25, 10 Mbit/s,
    3932-byte beacons (ML-DSA-44 signature + public key + 200 B payload), verify 19 µs
    (ML-DSA-44, liboqs reference), handshake 20 µs, steady load.

    Raises:
        TypeError: unknown field names.
        ValueError: a value out of range (named, with the allowed range).
    """
    unknown = set(overrides) - set(BeaconParams._fields)
    if unknown:
        raise TypeError(f"unknown beacon params {sorted(unknown)}; allowed {BeaconParams._fields}")
    values = {**_PARAM_DEFAULTS, **overrides}
    params = BeaconParams(**{k: jnp.asarray(values[k], jnp.float32) for k in BeaconParams._fields})
    _check_params(params)
    return params


# ------------------------------------------------------------------------------ chaos


class ChaosInput(NamedTuple):
    """Per-round fault inputs (see CONTRACTS.md).

    Attributes:
        link_up: ``bool[N, K]``; False: the link carries nothing this round.
        extra_latency_s: ``f32[N, K]`` added to the link latency.
        extra_loss: ``f32[N, K]`` extra loss probability (independent of the channel's).
        node_up: ``bool[N]``; a stopped node neither sends nor processes (backlog dropped).
        slowdown: ``f32[N]`` multiplier on the node's service times.
        beacon_valid: ``bool[N]``; False: this sender's beacons fail verification (rejected
            after consuming verify time).
    """

    link_up: Bool[Array, "nodes degree"]
    extra_latency_s: Float[Array, "nodes degree"]
    extra_loss: Float[Array, "nodes degree"]
    node_up: Bool[Array, " nodes"]
    slowdown: Float[Array, " nodes"]
    beacon_valid: Bool[Array, " nodes"]


def neutral_chaos(n_nodes: int, max_degree: int) -> ChaosInput:
    """The no-fault :class:`ChaosInput` for an ``N x K`` mesh."""
    return ChaosInput(
        jnp.ones((n_nodes, max_degree), bool),
        jnp.zeros((n_nodes, max_degree), jnp.float32),
        jnp.zeros((n_nodes, max_degree), jnp.float32),
        jnp.ones((n_nodes,), bool),
        jnp.ones((n_nodes,), jnp.float32),
        jnp.ones((n_nodes,), bool),
    )


# ------------------------------------------------------------------------------ state


class BeaconState(NamedTuple):
    """Carried state (memory independent of the number of rounds).

    Attributes:
        round: int32 round index.
        base_latency_s: ``f32[N, K]`` static per-link base latency.
        ge_bad: ``bool[N, K]`` Gilbert–Elliott state (True = bad).
        session: ``bool[N, K]`` link has a live session (no handshake needed).
        free_s: ``f32[N]`` server free time relative to the next round start (>= 0: backlog).
        last_heard_s: ``f32[N, K]`` absolute time of the last accepted beacon (-inf: never).
        hist_lo, hist_hi: ``uint32[B + 2]`` latency histogram (underflow, B bins, overflow)
            as low / high words of a uint64 count.
        sent, accepted, lost, rejected: ``int32[N]`` beacons addressed to / accepted by /
            lost on the way to / rejected by each receiver.
        busy_s: ``f32[N]`` total service (CPU) seconds.
        latency_sum_s, wait_sum_s: ``f32[N]`` sums of accepted latencies / queue waits.
        max_backlog_s: ``f32[N]`` max unfinished work at a round end.
        detector: the detector state (``()`` when no detector).
    """

    round: Int[Array, ""]
    base_latency_s: Float[Array, "nodes degree"]
    ge_bad: Bool[Array, "nodes degree"]
    session: Bool[Array, "nodes degree"]
    free_s: Float[Array, " nodes"]
    last_heard_s: Float[Array, "nodes degree"]
    hist_lo: UInt32[Array, " bins"]
    hist_hi: UInt32[Array, " bins"]
    sent: Int[Array, " nodes"]
    accepted: Int[Array, " nodes"]
    lost: Int[Array, " nodes"]
    rejected: Int[Array, " nodes"]
    busy_s: Float[Array, " nodes"]
    latency_sum_s: Float[Array, " nodes"]
    wait_sum_s: Float[Array, " nodes"]
    max_backlog_s: Float[Array, " nodes"]
    detector: Any


class BeaconInfo(NamedTuple):
    """Per-round scalar diagnostics (stacked by the rollout: O(rounds) scalars).

    Attributes:
        sent, accepted, lost, rejected: int32 totals over links this round.
        mean_latency_s: mean latency of this round's accepted beacons (nan if none).
        max_backlog_s: max backlog over nodes at the round end.
        load: load multiplier of this round.
        suspected: links of up receivers suspected at the round end (0 without detector).
        false_suspected: suspected links whose sender, receiver and link are up.
        live_links: links whose sender, receiver and link are up (false-suspicion
            denominator).
    """

    sent: Int[Array, ""]
    accepted: Int[Array, ""]
    lost: Int[Array, ""]
    rejected: Int[Array, ""]
    mean_latency_s: Float[Array, ""]
    max_backlog_s: Float[Array, ""]
    load: Float[Array, ""]
    suspected: Int[Array, ""]
    false_suspected: Int[Array, ""]
    live_links: Int[Array, ""]


class _Mesh(NamedTuple):
    neighbors: Array
    mask: Array
    positions: Array


def _mesh(topology: Topology) -> _Mesh:
    if not isinstance(topology, Topology):
        raise TypeError(f"topology must be a meshlab Topology, got {type(topology).__name__}")
    nb = np.asarray(topology.neighbors)
    if nb.ndim != 2 or nb.shape[0] < 1 or nb.shape[1] < 1:
        raise ValueError(f"topology.neighbors must be int[N>=1, K>=1], got shape {nb.shape}")
    return _Mesh(
        jnp.asarray(nb, jnp.int32),
        jnp.asarray(topology.mask, bool),
        jnp.asarray(topology.positions, jnp.float32),
    )


# ------------------------------------------------------------------------------ pieces


def load_multiplier(pattern: str, t, params: BeaconParams) -> Float[Array, ""]:
    """Load multiplier at time ``t`` (seconds).

    * ``"steady"``: 1.
    * ``"burst"`` (flash crowd): ``load_peak`` during ``[load_start_s, load_start_s +
      load_duration_s)``, else 1.
    * ``"ramp"``: linear from 1 at ``load_start_s`` to ``load_peak`` at ``load_start_s +
      load_duration_s``, then flat.
    * ``"diurnal"``: ``1 + (load_peak - 1) (1 - cos(2 pi t / load_period_s)) / 2``.

    Multipliers below 1 thin the beacons (each node beacons w.p. ``m``); above 1 each beacon
    brings ``m - 1`` extra messages' worth of verification work.
    """
    t = jnp.asarray(t, jnp.float32)
    peak, start, dur = params.load_peak, params.load_start_s, params.load_duration_s
    if pattern == "steady":
        return jnp.float32(1.0)
    if pattern == "burst":
        return jnp.where((t >= start) & (t < start + dur), peak, 1.0)
    if pattern == "ramp":
        frac = jnp.clip((t - start) / jnp.maximum(dur, 1e-30), 0.0, 1.0)
        return 1.0 + (peak - 1.0) * jnp.where(dur > 0, frac, (t >= start).astype(jnp.float32))
    if pattern == "diurnal":
        return 1.0 + (peak - 1.0) * 0.5 * (1.0 - jnp.cos(2.0 * jnp.pi * t / params.load_period_s))
    raise ValueError(f"load_pattern must be one of {LOAD_PATTERNS}, got {pattern!r}")


def fifo_departures(
    free_s: Float[Array, " nodes"],
    arrival_s: Float[Array, "nodes slots"],
    service_s: Float[Array, "nodes slots"],
    valid: Bool[Array, "nodes slots"],
) -> tuple[Float[Array, "nodes slots"], Float[Array, " nodes"]]:
    """Single FIFO server per row: departure times of the valid arrivals, any slot order.

    Lindley's recursion in max-plus form over the arrivals sorted by time:
    ``d_k = C_k + max(free, max_{j<=k} (a_j - C_{j-1}))`` with ``C`` the cumulative service.

    Args:
        free_s: time each server becomes free (backlog from earlier arrivals).
        arrival_s: arrival times; invalid slots are ignored.
        service_s: service times.
        valid: which slots hold an arrival.

    Returns:
        ``(departure_s, new_free_s)``: departures in the input slot order (garbage on
        invalid slots) and the time each server becomes free after serving them.
    """
    n, k = arrival_s.shape
    key = jnp.where(valid, arrival_s, jnp.inf)
    svc = jnp.where(valid, service_s, 0.0)
    if k <= _COLUMN_FIFO_MAX:
        return _fifo_columns(free_s, key, svc, valid)
    if k <= _RANK_SORT_MAX:
        # rank sort: K^2 comparisons per row in one fused reduce (much faster than a
        # comparator sort for small K); ties broken by slot, as a stable sort would.
        j = jnp.arange(k, dtype=jnp.int32)
        earlier = (key[:, None, :] < key[:, :, None]) | (
            (key[:, None, :] == key[:, :, None]) & (j[None, :] < j[:, None])[None]
        )
        rank = earlier.sum(axis=-1, dtype=jnp.int32)  # position of slot k in sorted order
        order = jnp.sum(
            jnp.where(rank[:, :, None] == j[None, None, :], j[None, :, None], 0),
            axis=1,
            dtype=jnp.int32,
        )  # slot at sorted position r
        a_sorted = jnp.take_along_axis(key, order, axis=1)
        s_sorted = jnp.take_along_axis(svc, order, axis=1)
    else:
        slot = jnp.broadcast_to(jnp.arange(k, dtype=jnp.int32), (n, k))
        a_sorted, s_sorted, order = jax.lax.sort((key, svc, slot), dimension=1, num_keys=1)
        rank = None
    c = jnp.cumsum(s_sorted, axis=1)
    term = jnp.where(jnp.isfinite(a_sorted), a_sorted - (c - s_sorted), -jnp.inf)
    d_sorted = c + jax.lax.cummax(jnp.maximum(term, free_s[:, None]), axis=1)
    if rank is not None:
        d = jnp.take_along_axis(d_sorted, rank, axis=1)
    else:
        _, d = jax.lax.sort((order, d_sorted), dimension=1, num_keys=1)
    return d, d_sorted[:, -1]


def _fifo_columns(free_s, key, svc, valid):
    """:func:`fifo_departures` for small K without sorting, on K vectors of length N.

    With ``e[k, j]`` = "slot j is served no later than slot k" (arrival before, or equal
    arrival and ``j <= k``), the cumulative service up to k is ``C_k = sum_j e[k, j] s_j``
    and ``d_k = C_k + max(free, max_{j: e[k, j]} (a_j - C_j + s_j))``: Lindley's max-plus
    form in slot order. ``K^2`` elementwise operations on columns vectorise over N.
    """
    k = key.shape[1]
    a, s, v = list(key.T), list(svc.T), list(valid.T)
    before = [
        [j == i or (a[j] <= a[i] if j < i else a[j] < a[i]) for j in range(k)] for i in range(k)
    ]
    c = []
    for i in range(k):
        ci = s[i]
        for j in range(k):
            if j != i:
                ci = ci + jnp.where(before[i][j], s[j], 0.0)
        c.append(ci)
    term = [jnp.where(v[i], a[i] - (c[i] - s[i]), -jnp.inf) for i in range(k)]
    d, free_end = [], free_s
    for i in range(k):
        m = jnp.maximum(term[i], free_s)
        for j in range(k):
            if j != i:
                m = jnp.maximum(m, jnp.where(before[i][j], term[j], -jnp.inf))
        d.append(c[i] + m)
        free_end = jnp.maximum(free_end, jnp.where(v[i], d[i], free_end))
    return jnp.stack(d, axis=1), free_end


def hist_edges(config: BeaconConfig) -> np.ndarray:
    """``float64[B + 1]`` bin edges of the latency histogram (seconds)."""
    return np.geomspace(config.hist_min_s, config.hist_max_s, config.hist_bins + 1)


def _hist_index(latency_s, config: BeaconConfig):
    lo = math.log(config.hist_min_s)
    width = math.log(config.bin_ratio)
    x = (jnp.log(jnp.maximum(latency_s, 1e-30)) - lo) / width
    return jnp.clip(jnp.floor(x) + 1.0, 0, config.hist_bins + 1).astype(jnp.int32)


def hist_quantiles(counts, qs, config: BeaconConfig) -> np.ndarray:
    """Quantiles read from a histogram (``counts[B + 2]`` incl. under/overflow bins).

    The exact sample quantile (the ``ceil(q n)``-th smallest value) lies in the bin where
    the cumulative count first reaches ``q n``; the value returned is interpolated
    log-linearly inside that bin, hence within ``config.bin_rel_error`` of the exact one.
    Quantiles in the under/overflow bins return ``hist_min_s`` / ``hist_max_s``; an empty
    histogram gives nan.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    edges = hist_edges(config)
    cdf = np.cumsum(counts)
    out = []
    for q in np.atleast_1d(qs):
        if total == 0:
            out.append(np.nan)
            continue
        target = max(q * total, 1.0)
        idx = int(np.searchsorted(cdf, target, side="left"))
        if idx == 0:
            out.append(config.hist_min_s)
        elif idx > config.hist_bins:
            out.append(config.hist_max_s)
        else:
            before = cdf[idx - 1]
            frac = (target - before) / counts[idx]
            lo, hi = edges[idx - 1], edges[idx]
            out.append(float(lo * (hi / lo) ** frac))
    return np.asarray(out)


# ------------------------------------------------------------------------------ core


def _init(key, mesh: _Mesh, config: BeaconConfig, params: BeaconParams) -> BeaconState:
    n, k = mesh.neighbors.shape
    k_lat, k_ge = jax.random.split(key)
    base = links.base_latency(
        k_lat,
        config.latency_model,
        mesh.neighbors,
        mesh.mask,
        mesh.positions,
        params.base_latency_s,
        params.base_latency_sigma,
        params.propagation_s_per_unit,
    )
    if config.loss_model == "gilbert_elliott":
        bad = links.ge_stationary_bad(k_ge, (n, k), params.ge_p, params.ge_r) & mesh.mask
    else:
        bad = jnp.zeros((n, k), bool)
    zeros_n = jnp.zeros((n,), jnp.float32)
    zeros_i = jnp.zeros((n,), jnp.int32)
    det = () if config.detector is None else config.detector.init(n, k)
    return BeaconState(
        round=jnp.int32(0),
        base_latency_s=base,
        ge_bad=bad,
        session=jnp.full((n, k), not config.initial_handshake),
        free_s=zeros_n,
        last_heard_s=jnp.full((n, k), -jnp.inf, jnp.float32),
        hist_lo=jnp.zeros((config.hist_bins + 2,), jnp.uint32),
        hist_hi=jnp.zeros((config.hist_bins + 2,), jnp.uint32),
        sent=zeros_i,
        accepted=zeros_i,
        lost=zeros_i,
        rejected=zeros_i,
        busy_s=zeros_n,
        latency_sum_s=zeros_n,
        wait_sum_s=zeros_n,
        max_backlog_s=zeros_n,
        detector=det,
    )


def _step(key, state: BeaconState, mesh: _Mesh, config: BeaconConfig, params, chaos):
    n, k = mesh.neighbors.shape
    nb, mask = mesh.neighbors, mesh.mask
    if chaos is None:
        chaos = config.chaos_fn(state.round) if config.chaos_fn is not None else None
    if chaos is None:
        chaos = neutral_chaos(n, k)
    period = params.interval_s
    t0 = state.round.astype(jnp.float32) * period
    m = load_multiplier(config.load_pattern, t0 + 0.5 * period, params)

    n_ge = 1 if config.loss_model == "gilbert_elliott" else 0
    n_jit = links.jitter_uniforms(config.jitter_dist)
    n_svc = links.service_uniforms(config.service_dist)
    n_link = 1 + n_ge + n_jit + n_svc
    # per round: 2 uniforms per node, n_link per link (counter hash: fused into consumers)
    k_node, k_link = jax.random.split(key)
    u_node = links.random_uniforms(k_node, 2, (n,), config.rng)
    u = links.random_uniforms(k_link, n_link, (n, k), config.rng)
    u_loss, u_ge = u[0], (u[1] if n_ge else None)
    u_jit = u[1 + n_ge : 1 + n_ge + n_jit]
    u_svc = u[1 + n_ge + n_jit :]

    # senders
    offset = u_node[0] * params.send_jitter_s
    sends = chaos.node_up & (u_node[1] < m)
    # one gather carries the sender's offset and flags: +inf down, _IDLE up but silent,
    # offset >= 0 valid beacon, -1 - offset invalid beacon
    code = jnp.where(
        ~chaos.node_up,
        jnp.inf,
        jnp.where(~sends, _IDLE, jnp.where(chaos.beacon_valid, offset, -1.0 - offset)),
    )[nb]
    up_l = code < jnp.inf
    sends_l = code < _IDLE
    valid_l = code >= 0.0
    o_l = jnp.where(valid_l, code, -1.0 - code)
    recv_up = chaos.node_up[:, None]
    emitted = mask & sends_l

    # channel
    lost, ge_bad = links.loss_step(
        config.loss_model,
        u_ge,
        u_loss,
        state.ge_bad,
        params.loss_p,
        params.ge_p,
        params.ge_r,
        params.ge_loss_good,
        params.ge_loss_bad,
        chaos.extra_loss,
    )
    ge_bad = ge_bad & mask
    delay = (
        state.base_latency_s
        + links.serialization_delay(params.beacon_bytes, params.bandwidth_bps)
        + links.jitter(
            config.jitter_dist,
            u_jit,
            params.jitter_scale_s,
            params.jitter_shape,
            params.slow_prob,
            params.slow_s,
        )
        + chaos.extra_latency_s
    )
    arrival = o_l + jnp.maximum(delay, 0.0)
    link_open = chaos.link_up & recv_up
    arrive = emitted & link_open & ~lost
    channel_lost = emitted & link_open & lost

    # receivers: FIFO verification
    slow = chaos.slowdown[:, None]
    svc = links.service_time(config.service_dist, u_svc, params.verify_mean_s, params.verify_sigma)
    svc = jnp.broadcast_to(svc, (n, k))
    extra = jnp.maximum(m - 1.0, 0.0) * params.verify_mean_s
    session_ok = state.session & link_open & up_l
    service = (svc + extra) * slow + jnp.where(session_ok, 0.0, params.handshake_s)
    depart, free_end = fifo_departures(state.free_s, arrival, service, arrive)
    accepted = arrive & valid_l
    rejected = arrive & ~valid_l
    latency = depart - o_l
    wait = depart - service - arrival

    free_next = jnp.where(chaos.node_up, jnp.maximum(free_end - period, 0.0), 0.0)
    backlog = free_next
    session = jnp.where(arrive, True, session_ok)

    # metrics
    acc_i = accepted.astype(jnp.int32)
    idx = _hist_index(latency, config)
    h_round = jnp.zeros((config.hist_bins + 2,), jnp.int32).at[idx.ravel()].add(acc_i.ravel())
    lo_new = state.hist_lo + h_round.astype(jnp.uint32)
    hi_new = state.hist_hi + (lo_new < state.hist_lo).astype(jnp.uint32)
    t_accept = t0 + depart
    last_heard = jnp.where(accepted, t_accept, state.last_heard_s)
    n_acc = acc_i.sum()
    lat_sum_i = jnp.where(accepted, latency, 0.0).sum(axis=1)

    # detector
    t_now = t0 + period
    live = mask & up_l & chaos.link_up & recv_up
    if config.detector is not None:
        det = config.detector.update(state.detector, accepted, t_accept, t_now)
        suspect = config.detector.suspect(det, t_now) & mask & recv_up
        n_susp = suspect.sum(dtype=jnp.int32)
        n_false = (suspect & live).sum(dtype=jnp.int32)
    else:
        det = state.detector
        n_susp = n_false = jnp.int32(0)

    new_state = BeaconState(
        round=state.round + 1,
        base_latency_s=state.base_latency_s,
        ge_bad=ge_bad,
        session=session,
        free_s=free_next,
        last_heard_s=last_heard,
        hist_lo=lo_new,
        hist_hi=hi_new,
        sent=state.sent + emitted.sum(axis=1, dtype=jnp.int32),
        accepted=state.accepted + acc_i.sum(axis=1),
        lost=state.lost + channel_lost.sum(axis=1, dtype=jnp.int32),
        rejected=state.rejected + rejected.sum(axis=1, dtype=jnp.int32),
        busy_s=state.busy_s + jnp.where(arrive, service, 0.0).sum(axis=1),
        latency_sum_s=state.latency_sum_s + lat_sum_i,
        wait_sum_s=state.wait_sum_s + jnp.where(arrive, wait, 0.0).sum(axis=1),
        max_backlog_s=jnp.maximum(state.max_backlog_s, backlog),
        detector=det,
    )
    info = BeaconInfo(
        sent=emitted.sum(dtype=jnp.int32),
        accepted=n_acc,
        lost=channel_lost.sum(dtype=jnp.int32),
        rejected=rejected.sum(dtype=jnp.int32),
        mean_latency_s=lat_sum_i.sum() / n_acc.astype(jnp.float32),
        max_backlog_s=backlog.max(),
        load=jnp.asarray(m, jnp.float32),
        suspected=n_susp,
        false_suspected=n_false,
        live_links=live.sum(dtype=jnp.int32),
    )
    return new_state, info


@partial(jax.jit, static_argnames=("config",))
def _init_jit(key, mesh, config, params):
    return _init(key, mesh, config, params)


@partial(jax.jit, static_argnames=("config",))
def _step_jit(key, state, mesh, config, params, chaos):
    return _step(key, state, mesh, config, params, chaos)


@partial(jax.jit, static_argnames=("config", "n_rounds"))
def _rollout_jit(key, mesh, config, params, n_rounds, chaos, state=None):
    k_init, k_run = jax.random.split(key)
    if state is None:
        state = _init(k_init, mesh, config, params)
    keys = jax.random.split(k_run, n_rounds)

    def body(state, xs):
        key, ch = xs
        return _step(key, state, mesh, config, params, ch)

    return jax.lax.scan(body, state, (keys, chaos))


def _check_key(key) -> None:
    if not (hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(
            f"key must be a typed jax.random.key, got {type(key).__name__}; "
            "create one with jax.random.key(seed)"
        )


def _check_all(key, config, params) -> None:
    _check_key(key)
    if not isinstance(config, BeaconConfig):
        raise TypeError(f"config must be a BeaconConfig, got {type(config).__name__}")
    if not isinstance(params, BeaconParams):
        raise TypeError(f"params must be BeaconParams (see beacon_params), got {type(params)}")
    _check_params(params)


def beacon_init(key, topology: Topology, config: BeaconConfig, params: BeaconParams):
    """Initial :class:`BeaconState` (draws the static per-link latencies and GE states)."""
    _check_all(key, config, params)
    return _init_jit(key, _mesh(topology), config, params)


def beacon_step(
    key,
    state: BeaconState,
    topology: Topology,
    config: BeaconConfig,
    params: BeaconParams,
    chaos: ChaosInput | None = None,
) -> tuple[BeaconState, BeaconInfo]:
    """One round (jitted; compiled once per config and shapes).

    Args:
        key: a fresh typed key for this round.
        state: the carried :class:`BeaconState`.
        topology, config, params: the mesh, static choices and numbers.
        chaos: this round's :class:`ChaosInput`; default ``config.chaos_fn(round)`` or neutral.

    Returns:
        ``(new_state, info)``.
    """
    _check_all(key, config, params)
    return _step_jit(key, state, _mesh(topology), config, params, chaos)


def beacon_rollout(
    key,
    topology: Topology,
    config: BeaconConfig,
    params: BeaconParams,
    n_rounds: int,
    chaos: ChaosInput | None = None,
    state: BeaconState | None = None,
) -> tuple[BeaconState, BeaconInfo]:
    """Runs ``n_rounds`` rounds under ``lax.scan`` from :func:`beacon_init` (or ``state``).

    Args:
        key: typed key (split into the init key and one key per round).
        topology: the mesh.
        config: static choices (hashable).
        params: :class:`BeaconParams`.
        n_rounds: number of rounds (>= 1).
        chaos: optional :class:`ChaosInput` with a leading ``n_rounds`` axis on every field
            (scan xs); otherwise ``config.chaos_fn`` or neutral.
        state: continue from this state (e.g. to run a long simulation in chunks with
            fresh keys); default: a fresh :func:`beacon_init` state drawn from ``key``.

    Returns:
        ``(final_state, info)`` with ``info`` fields stacked over rounds (scalars per round).

    Raises:
        ValueError / TypeError: bad inputs, before any compilation.
    """
    _check_all(key, config, params)
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, int | np.integer):
        raise TypeError(f"n_rounds must be an int, got {n_rounds!r}")
    if n_rounds < 1:
        raise ValueError(f"n_rounds must be >= 1, got {n_rounds}")
    mesh = _mesh(topology)
    if chaos is not None:
        n, k = mesh.neighbors.shape
        want = neutral_chaos(n, k)
        for name, arr, ref in zip(ChaosInput._fields, chaos, want, strict=True):
            if tuple(np.shape(arr)) != (n_rounds, *ref.shape):
                raise ValueError(
                    f"chaos.{name} must have shape {(n_rounds, *ref.shape)}, got {np.shape(arr)}"
                )
    return _rollout_jit(key, mesh, config, params, int(n_rounds), chaos, state)


# ------------------------------------------------------------------------------ summaries


def summarize_beacons(state: BeaconState, config: BeaconConfig, params: BeaconParams) -> dict:
    """Headline metrics of one run (Python floats; per-node arrays under ``per_node``).

    Keys: ``p50_s``, ``p95_s``, ``p99_s``, ``p999_s`` (histogram quantiles, relative error
    <= ``bin_rel_error``), ``mean_latency_s``, ``mean_wait_s`` (queueing),
    ``delivery_ratio`` (accepted / sent), ``loss_ratio`` (channel), ``rejected``,
    ``delivered_per_s`` (accepted beacons per simulated second, whole mesh),
    ``cpu_util_mean``, ``cpu_util_max`` (busy / simulated time), ``max_backlog_s``,
    ``n_rounds``, ``sim_seconds``, ``bin_rel_error``; ``per_node`` holds ``cpu_util``,
    ``max_backlog_s``, ``accepted``, ``sent``.
    """
    hist = np.asarray(state.hist_lo, np.float64) + np.asarray(state.hist_hi, np.float64) * 2.0**32
    q = hist_quantiles(hist, [0.5, 0.95, 0.99, 0.999], config)
    rounds = int(state.round)
    sim_s = rounds * float(params.interval_s)
    sent = np.asarray(state.sent, np.int64).sum()
    acc = np.asarray(state.accepted, np.int64).sum()
    arrived = acc + np.asarray(state.rejected, np.int64).sum()
    util = np.asarray(state.busy_s, np.float64) / sim_s
    return {
        "p50_s": float(q[0]),
        "p95_s": float(q[1]),
        "p99_s": float(q[2]),
        "p999_s": float(q[3]),
        "mean_latency_s": float(np.asarray(state.latency_sum_s, np.float64).sum() / max(acc, 1)),
        "mean_wait_s": float(np.asarray(state.wait_sum_s, np.float64).sum() / max(arrived, 1)),
        "delivery_ratio": float(acc / max(sent, 1)),
        "loss_ratio": float(np.asarray(state.lost, np.int64).sum() / max(sent, 1)),
        "rejected": int(np.asarray(state.rejected, np.int64).sum()),
        "delivered_per_s": float(acc / sim_s),
        "cpu_util_mean": float(util.mean()),
        "cpu_util_max": float(util.max()),
        "max_backlog_s": float(np.asarray(state.max_backlog_s).max()),
        "n_rounds": rounds,
        "sim_seconds": sim_s,
        "bin_rel_error": config.bin_rel_error,
        "per_node": {
            "cpu_util": util,
            "max_backlog_s": np.asarray(state.max_backlog_s),
            "accepted": np.asarray(state.accepted),
            "sent": np.asarray(state.sent),
        },
    }


# Student-t 0.975 quantiles for df = 1..30 (standard tables); beyond, the normal 1.95996
# plus the first Cornish–Fisher terms (error < 1e-4 for df > 30).
_SEED_METRICS = (
    "p50_s",
    "p95_s",
    "p99_s",
    "p999_s",
    "mean_latency_s",
    "mean_wait_s",
    "delivery_ratio",
    "loss_ratio",
    "delivered_per_s",
    "cpu_util_mean",
    "cpu_util_max",
    "max_backlog_s",
)


@partial(jax.jit, static_argnames=("config", "n_rounds"))
def _seeds_jit(keys, mesh, config, params, n_rounds):
    def one(key):
        state, info = _rollout_jit(key, mesh, config, params, n_rounds, None)
        return state, info

    return jax.vmap(one)(keys)


def beacon_seeds(
    key,
    topology: Topology,
    config: BeaconConfig,
    params: BeaconParams,
    n_rounds: int,
    n_seeds: int,
) -> dict:
    """Runs ``n_seeds`` independent rollouts with one ``vmap`` and reports mean ± CI.

    Returns:
        ``{metric: {"mean", "ci95", "n", "values"}}`` for the headline metrics of
        :func:`summarize_beacons`, plus ``"bin_rel_error"``.
    """
    _check_all(key, config, params)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds must be an int >= 1, got {n_seeds!r}")
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, int) or n_rounds < 1:
        raise ValueError(f"n_rounds must be an int >= 1, got {n_rounds!r}")
    keys = jax.random.split(key, n_seeds)
    states, _ = _seeds_jit(keys, _mesh(topology), config, params, n_rounds)
    per_seed = [
        summarize_beacons(jax.tree.map(lambda x, i=i: x[i], states), config, params)
        for i in range(n_seeds)
    ]
    out = {m: mean_ci([s[m] for s in per_seed]) for m in _SEED_METRICS}
    out["bin_rel_error"] = config.bin_rel_error
    return out
