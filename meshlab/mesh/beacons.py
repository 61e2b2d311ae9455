# ruff: noqa: F722  (jaxtyping shape strings)
"""The beacon model: every node beacons every interval; receivers verify through a FIFO.

Kernel convention (:mod:`meshlab.core.kernel`; static config + fixed data + params pytree,
key first)::

    import jax
    from meshlab.mesh import beacons, faults, topology

    topo = topology.random_regular(jax.random.key(1), n_nodes=1000, degree=8)
    config = beacons.BeaconConfig(service_dist="lognormal", loss_model="gilbert_elliott")
    kernel = beacons.build(config, topo)               # validated once, topology on device
    params = beacons.params(loss_p=0.01, verify_mean_s=2e-4)
    state, infos = beacons.rollout(kernel, jax.random.key(0), params, 200)
    summary = beacons.summarize(state, config, params)  # dict of floats
    summary["p99_s"], summary["delivery_ratio"], summary["cpu_util_max"]

    # mean ± CI over seeds (one vmap over keys):
    states, _ = beacons.rollout_seeds(kernel, jax.random.key(0), params, 200, n_seeds=8)
    stats = beacons.summarize_seeds(states, config, params)
    stats["p99_s"]  # {"mean": ..., "ci95": ..., "n": 8, "values": [...]}

    # faults as parameters (a batch of schedules of one shape vmaps without recompiling):
    params = beacons.params(faults=faults.crash([3, 17], start_round=50, n_nodes=1000))

    # one round at a time (state carried by you):
    state = kernel.init(key, params)
    state, info = kernel.step(key, state, params, inputs=None)

* :class:`BeaconConfig` (frozen dataclass of hashable primitives, static under ``jit``):
  model choices (``latency_model``, ``jitter_dist``, ``loss_model``, ``service_dist``,
  ``load_pattern``, ``rng``), histogram bins, ``initial_handshake`` and an optional
  ``detector`` spec. It does not depend on N: one config serves every topology.
* :class:`BeaconParams` (NamedTuple of float32 arrays; build with :func:`params`, which
  validates): every number of the model, plus ``faults`` (a
  :class:`meshlab.mesh.faults.FaultParams` schedule or ``None``) and ``detector`` (the
  detector's params or ``None``). Sweeps ``vmap`` over it without recompiling. PQC fields:
  ``beacon_bytes`` (default :data:`BEACON_BYTES`, from the wire format),
  ``verify_mean_s``, ``verify_sigma`` (log-sd when ``service_dist == "lognormal"``),
  ``handshake_s``.
* Faults: ``params.faults`` is evaluated every round (:func:`meshlab.mesh.faults.step`,
  from the round key folded with a fault tag, so the model's own draws are unchanged)
  into a :class:`ChaosInput` (link_up, extra_latency_s, extra_loss, node_up, slowdown,
  beacon_valid, and hold_s / keep_state / clock_offset_s / replay / verify_fail /
  kem_fail for the newer kinds); the fault state (burst-loss chains, uplink backlogs,
  churn and cascade processes) is ``state.faults``. Per-round inputs can also be given
  directly: a :class:`ChaosInput` stacked along a leading round axis as ``inputs=`` of
  :func:`rollout` (scan xs; optional fields may be ``None``); the faults then apply on
  top of them. :func:`neutral_chaos` is the default. Paused receivers start serving at
  ``hold_s``; replays and verification failures are rejected after verification
  (``replayed`` / ``verify_failed`` counters); a failed handshake drops the beacon
  (``handshake_failed``); a skewed clock shifts the detector's timestamps.

Model of one round ``r`` (length ``T = interval_s``; times relative to the round start):

1. The load multiplier ``m = load(t)`` (:func:`load_multiplier`). Each up node ``j``
   beacons with probability ``min(m, 1)`` at offset ``o_j ~ U(0, send_jitter_s)``.
2. On link ``(i, k)`` (``i`` receives from ``j = neighbors[i, k]``) the beacon arrives at
   ``a = o_j + max(0, base + 8 * beacon_bytes / bandwidth + jitter + extra_latency)``
   unless it is lost (iid or Gilbert–Elliott, combined with the fault ``extra_loss``), the
   link is down, or the receiver is down.
3. Receiver ``i`` serves its arrivals in arrival order with one FIFO server whose free
   time (backlog) is carried across rounds (:func:`meshlab.mesh.queue.fifo_departures`).
   Service = verify time (``service_dist``, mean ``verify_mean_s``) x ``slowdown_i`` +
   ``(m - 1)^+ x verify_mean_s x slowdown_i`` (extra load messages riding ahead of the
   beacon) + ``handshake_s`` on the first beacon of a link whose session is (re)starting.
4. A beacon whose sender is marked invalid consumes its verify time and is rejected;
   otherwise it is accepted at ``d`` with end-to-end latency
   ``d - o_j`` = propagation + serialization + jitter + queueing + verification.

Synchronous-round approximation: a round's arrivals queue behind all earlier rounds'
arrivals, so when latencies exceed ``T`` the FIFO order across rounds can differ from a
true event-driven simulation (:mod:`meshlab.reference.beacons` measures the error;
:data:`ROUND_MODEL_TOLERANCE` and :data:`ROUND_MODEL_SPILLOVER_TOLERANCE` are the
documented bounds).

Streaming metrics (memory independent of the number of rounds): a latency histogram
(:mod:`meshlab.mesh.histogram`; exact uint64 counts as two uint32 words, quantiles within
``bin_rel_error``); per node: sent/accepted/lost/rejected counts, busy (CPU) seconds,
latency and waiting sums, max backlog, last-heard times per link.

Detector hook: with ``config.detector`` set (a hashable spec with ``init(n_nodes,
max_degree)``, ``update(det_params, det_state, arrived, t_arrival, t_now)`` and
``suspect(det_params, det_state, t_now)``), ``update`` runs every round on the accepted
beacons (absolute acceptance times, after queueing and verification; ``t_now`` = round
end) with ``det_params = params.detector``, and ``suspect`` at the round end feeds
``info.suspected`` / ``info.false_suspected``; the detector state is ``state.detector``.

Random numbers: per round 2 uniforms per node and 1-4 per link, from the round's key by
``config.rng`` (:func:`meshlab.core.rng.uniforms`). Long runs can be chunked:
``rollout(kernel, key_i, params, n, state=previous_state)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, UInt32

from meshlab.core import rng
from meshlab.core.kernel import Kernel
from meshlab.core.kernel import rollout as _core_rollout
from meshlab.core.kernel import rollout_seeds as _core_rollout_seeds
from meshlab.core.numerics import round_product, sum_last
from meshlab.core.stats import mean_ci
from meshlab.core.validation import check_choice, check_int, check_real
from meshlab.crypto.wire import BEACON_PAYLOAD_BYTES
from meshlab.mesh import faults as _faults
from meshlab.mesh import histogram, links, queue
from meshlab.mesh.faults import ChaosInput, neutral_chaos
from meshlab.mesh.topology import Topology

__all__ = [
    "BEACON_BYTES",
    "LOAD_PATTERNS",
    "ML_DSA_44_PUBLIC_KEY_BYTES",
    "ML_DSA_44_SIGNATURE_BYTES",
    "ROUND_MODEL_SPILLOVER_TOLERANCE",
    "ROUND_MODEL_TOLERANCE",
    "BeaconConfig",
    "BeaconInfo",
    "BeaconParams",
    "BeaconState",
    "ChaosInput",
    "MeshData",
    "build",
    "check_params",
    "init_fn",
    "load_multiplier",
    "neutral_chaos",
    "params",
    "rollout",
    "rollout_seeds",
    "step_fn",
    "summarize",
    "summarize_seeds",
]

LOAD_PATTERNS = ("steady", "burst", "ramp", "diurnal")
ML_DSA_44_SIGNATURE_BYTES = 2420
"""FIPS 204 ML-DSA-44 signature size (bytes)."""
ML_DSA_44_PUBLIC_KEY_BYTES = 1312
"""FIPS 204 ML-DSA-44 public key size (bytes)."""
BEACON_BYTES = BEACON_PAYLOAD_BYTES + ML_DSA_44_SIGNATURE_BYTES + ML_DSA_44_PUBLIC_KEY_BYTES
"""Default bytes on the wire per beacon: the wire format's signed payload
(:data:`meshlab.crypto.wire.BEACON_PAYLOAD_BYTES`) + an ML-DSA-44 signature + the
signer's public key (58 + 2420 + 1312 = 3790)."""
ROUND_MODEL_TOLERANCE = 0.05
"""Bound on the relative p50/p95/p99 error of the synchronous-round model against the
event-driven reference (:mod:`meshlab.reference.beacons`) when queues drain within the
round (utilization <= 0.5, 1 s rounds; measured < 1.2 %). Tests and the beacons report
assert ``|error| <= ROUND_MODEL_TOLERANCE + statistical allowance + bin error``."""
ROUND_MODEL_SPILLOVER_TOLERANCE = 0.25
"""Bound on the same error when queueing spills over the round boundary (100 ms rounds at
utilization 0.8): the round model is pessimistic there (measured +7 % p50 to +11 % p99)."""
_IDLE = 1e30  # gathered sender code: up but not beaconing this round
_PAUSED = 2e30  # gathered sender code: up but frozen (paused) this round
_FAULT_STREAM = 0x0FA17  # fold_in tag of the fault draws (keeps the model's own draws)


# ------------------------------------------------------------------------------ config


@dataclasses.dataclass(frozen=True)
class BeaconConfig:
    """Static (hashable) choices of the beacon model; independent of N.

    Attributes:
        latency_model: per-link base latency, one of ``links.LATENCY_MODELS``.
        jitter_dist: per-message jitter, one of ``links.JITTER_DISTS``.
        loss_model: ``"iid"`` or ``"gilbert_elliott"``.
        service_dist: verification time, one of ``links.SERVICE_DISTS``.
        load_pattern: one of :data:`LOAD_PATTERNS` (see :func:`load_multiplier`).
        hist_bins: number of log-spaced latency bins.
        hist_min_s: lower edge of the first bin (seconds, > 0).
        hist_max_s: upper edge of the last bin.
        initial_handshake: if True every link starts without a session and pays
            ``handshake_s`` on its first beacon (cold start); default warm.
        detector: ``None`` or a hashable failure-detector spec with ``init``, ``update``
            and ``suspect`` (see the module docstring); its thresholds live in
            ``BeaconParams.detector``.
        rng: per-round random bits, one of :data:`meshlab.core.rng.METHODS`:
            ``"counter_hash"`` (default; ~8x cheaper at large N) or ``"threefry"``.
        sli_thresholds_s: latency thresholds (seconds, ascending); each round counts the
            accepted beacons at or under each one (``BeaconInfo.fast``), the windowed
            latency SLIs of :mod:`meshlab.slo`. Empty by default (no cost).
        allow_degenerate_ge: accept degenerate Gilbert–Elliott chains (``ge_p = 0``,
            ``ge_r = 0`` or ``ge_loss_bad <= ge_loss_good``; refused by default, see
            :func:`meshlab.mesh.links.check_gilbert_elliott`).
        headroom_thresholds: utilisation levels in (0, 1]; each round counts the up nodes
            whose verify CPU (``BeaconInfo.cpu_ok``) and verify-queue memory
            (``BeaconInfo.memory_ok``) stay under each level, the system-headroom SLIs of
            :mod:`meshlab.slo`. Empty by default (no cost).
        queue_capacity_beacons: the verify queue's memory budget in beacons (>= 1): a
            node's queue memory use is its backlog in beacons at the mean verify time,
            ``backlog_s / verify_mean_s``, over this capacity.
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
    detector: Any = None
    rng: str = "counter_hash"
    sli_thresholds_s: tuple[float, ...] = ()
    allow_degenerate_ge: bool = False
    headroom_thresholds: tuple[float, ...] = ()
    queue_capacity_beacons: int = 256

    def __post_init__(self):
        for name, allowed in [
            ("latency_model", links.LATENCY_MODELS),
            ("jitter_dist", links.JITTER_DISTS),
            ("loss_model", links.LOSS_MODELS),
            ("service_dist", links.SERVICE_DISTS),
            ("load_pattern", LOAD_PATTERNS),
            ("rng", rng.METHODS),
        ]:
            check_choice(name, getattr(self, name), allowed)
        check_int("hist_bins", self.hist_bins, low=1)
        check_real("hist_min_s", self.hist_min_s, 0.0, low_open=True)
        check_real("hist_max_s", self.hist_max_s)
        if not self.hist_min_s < self.hist_max_s:
            raise ValueError(
                "need 0 < hist_min_s < hist_max_s, got "
                f"hist_min_s={self.hist_min_s}, hist_max_s={self.hist_max_s}"
            )
        if not isinstance(self.sli_thresholds_s, tuple):
            raise TypeError(
                f"sli_thresholds_s must be a tuple of seconds, got {self.sli_thresholds_s!r}"
            )
        for i, t in enumerate(self.sli_thresholds_s):
            check_real(f"sli_thresholds_s[{i}]", t, 0.0, low_open=True)
        if not isinstance(self.headroom_thresholds, tuple):
            raise TypeError(
                f"headroom_thresholds must be a tuple of levels, got {self.headroom_thresholds!r}"
            )
        for i, t in enumerate(self.headroom_thresholds):
            check_real(f"headroom_thresholds[{i}]", t, 0.0, 1.0, low_open=True)
        check_int("queue_capacity_beacons", self.queue_capacity_beacons, low=1)
        if not isinstance(self.allow_degenerate_ge, bool):
            raise TypeError(f"allow_degenerate_ge must be a bool, got {self.allow_degenerate_ge!r}")
        if not isinstance(self.initial_handshake, bool):
            raise TypeError(f"initial_handshake must be a bool, got {self.initial_handshake!r}")
        if self.detector is not None:
            if not all(
                callable(getattr(self.detector, f, None)) for f in ("init", "update", "suspect")
            ):
                raise TypeError(
                    "detector must be None or a spec with init, update and suspect methods, "
                    f"got {self.detector!r}"
                )
            try:
                hash(self.detector)
            except TypeError as err:
                raise TypeError(
                    f"detector must be hashable (a static spec; thresholds go in "
                    f"BeaconParams.detector), got {type(self.detector).__name__}"
                ) from err

    @property
    def bin_ratio(self) -> float:
        """Ratio between consecutive histogram edges."""
        return histogram.bin_ratio(self)

    @property
    def bin_rel_error(self) -> float:
        """Max relative error of a histogram quantile (one bin: ``bin_ratio - 1``)."""
        return histogram.rel_error(self)


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
        faults: a :class:`meshlab.mesh.faults.FaultParams` schedule evaluated every round,
            or ``None`` (no faults, no cost).
        detector: the failure detector's params pytree (``config.detector``'s thresholds),
            passed to the detector as ``det_params``; ``None`` without a detector.
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
    faults: Any = None
    detector: Any = None


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
    beacon_bytes=float(BEACON_BYTES),
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


_FLOAT_FIELDS = tuple(f for f in BeaconParams._fields if f not in ("faults", "detector"))


def check_params(
    params: BeaconParams, n_nodes: int | None = None, n_rounds: int | None = None
) -> None:
    """Raises if any (concrete) value of ``params`` is out of range (named, with the range).

    Args:
        params: the params to check (traced values are skipped).
        n_nodes: also check ``params.faults`` against an ``n_nodes`` mesh.
        n_rounds: also refuse fault slots that start at or after a run of this length.

    Raises:
        TypeError: not :class:`BeaconParams`.
        ValueError: a value out of range.
    """
    if not isinstance(params, BeaconParams):
        raise TypeError(f"params must be BeaconParams (see beacons.params), got {type(params)}")
    for name in _FLOAT_FIELDS:
        value = getattr(params, name)
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
    if params.faults is not None:
        if n_nodes is None:
            if not isinstance(params.faults, _faults.FaultParams):
                raise TypeError(f"faults must be FaultParams or None, got {params.faults!r}")
            _faults.check(params.faults, params.faults.n_nodes)
        else:
            _faults.check(params.faults, n_nodes, n_rounds)


def params(**overrides) -> BeaconParams:
    """Builds validated :class:`BeaconParams` from defaults plus ``overrides``.

    Defaults: 1 s interval, 0.1 s send jitter, lognormal base latency median 2 ms
    (log-sd 0.5), lognormal jitter 0.5 ms, 1 % loss, GE p=0.01 r=0.25, 10 Mbit/s,
    :data:`BEACON_BYTES` = 3790-byte beacons (the wire format's 58 B payload + ML-DSA-44
    signature + public key), verify 19 µs (ML-DSA-44, liboqs reference), handshake 20 µs,
    steady load, no faults, no detector params.

    Raises:
        TypeError: unknown field names.
        ValueError: a value out of range (named, with the allowed range).
    """
    unknown = set(overrides) - set(BeaconParams._fields)
    if unknown:
        raise TypeError(f"unknown beacon params {sorted(unknown)}; allowed {BeaconParams._fields}")
    values = {**_PARAM_DEFAULTS, **overrides}
    out = BeaconParams(
        **{k: jnp.asarray(values[k], jnp.float32) for k in _FLOAT_FIELDS},
        faults=overrides.get("faults"),
        detector=overrides.get("detector"),
    )
    check_params(out)
    return out


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
        replayed, verify_failed, handshake_failed: ``int32[N]`` beacons each receiver
            rejected as replays / rejected by a verification-failure fault (both also in
            ``rejected``) / dropped by a failed KEM handshake (not in ``rejected``).
        faults: the :class:`meshlab.mesh.faults.FaultState` (``()`` without a schedule).
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
    replayed: Int[Array, " nodes"]
    verify_failed: Int[Array, " nodes"]
    handshake_failed: Int[Array, " nodes"]
    faults: Any


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
        fast: ``int32[M]`` accepted beacons with latency at or under each of
            ``config.sli_thresholds_s`` (``M = 0`` by default).
        sli_accepted: accepted beacons counted in the same reduction as ``fast`` (the
            latency SLIs' denominator).
        nodes_up: nodes up this round (not crashed or stopped by a fault).
        nodes_backlogged: up nodes whose verify backlog at the round end exceeds one
            interval (they cannot drain before the next round's beacons).
        replayed, verify_failed, handshake_failed: this round's totals of the
            :class:`BeaconState` counters of the same names (0 without those faults).
        cpu_ok: ``int32[H]`` up nodes whose verify CPU this round (service seconds of the
            beacons that reached them, over the interval) is under each of
            ``config.headroom_thresholds`` (``H = 0`` by default).
        memory_ok: ``int32[H]`` up nodes whose verify-queue memory at the round end
            (backlog in beacons at the mean verify time over
            ``config.queue_capacity_beacons``) is under each level.
        link_util: the share of a link's capacity one beacon copy takes this round,
            ``8 * beacon_bytes / (bandwidth_bps * interval_s)`` (a link carries one copy
            per round; bandwidth caps of :mod:`meshlab.mesh.faults` act on uplinks, not
            here).
        links: real links (the network-headroom SLI's denominator).
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
    fast: Int[Array, " thresholds"]
    sli_accepted: Int[Array, ""]
    nodes_up: Int[Array, ""]
    nodes_backlogged: Int[Array, ""]
    replayed: Int[Array, ""]
    verify_failed: Int[Array, ""]
    handshake_failed: Int[Array, ""]
    cpu_ok: Int[Array, " headroom"]
    memory_ok: Int[Array, " headroom"]
    link_util: Float[Array, ""]
    links: Int[Array, ""]


class MeshData(NamedTuple):
    """The kernel's fixed data (device arrays, converted once by :func:`build`).

    Attributes:
        neighbors: ``int32[N, K]`` sender of link ``(i, k)``.
        mask: ``bool[N, K]`` real links.
        positions: ``f32[N, 2]`` node coordinates (distance latency model).
    """

    neighbors: Int[Array, "nodes degree"]
    mask: Bool[Array, "nodes degree"]
    positions: Float[Array, "nodes 2"]


def build(config: BeaconConfig, topology: Topology) -> Kernel:
    """Validates ``config`` and ``topology`` once and returns the beacon :class:`Kernel`.

    Args:
        config: static model choices.
        topology: a :class:`meshlab.mesh.topology.Topology` (``neighbors int[N, K]``, ids in
            ``[0, N)``; ``mask bool[N, K]``; ``positions float[N, 2]``, finite).

    Returns:
        ``Kernel(config, MeshData, init_fn, step_fn)``: ``kernel.init(key, params)``,
        ``kernel.step(key, state, params, inputs=None)``, :func:`rollout`.

    Raises:
        TypeError / ValueError: bad config or topology (named, with what is allowed).
    """
    if not isinstance(config, BeaconConfig):
        raise TypeError(f"config must be a BeaconConfig, got {type(config).__name__}")
    if not isinstance(topology, Topology):
        raise TypeError(f"topology must be a meshlab Topology, got {type(topology).__name__}")
    nb = np.asarray(topology.neighbors)
    if nb.ndim != 2 or nb.shape[0] < 1 or nb.shape[1] < 1:
        raise ValueError(f"topology.neighbors must be int[N>=1, K>=1], got shape {nb.shape}")
    if not np.issubdtype(nb.dtype, np.integer):
        raise TypeError(f"topology.neighbors must be integers, got dtype {nb.dtype}")
    n = nb.shape[0]
    if nb.min() < 0 or nb.max() >= n:
        raise ValueError(
            f"topology.neighbors must be node ids in [0, {n}), got min {nb.min()}, max {nb.max()}"
        )
    mask = np.asarray(topology.mask)
    if mask.shape != nb.shape or mask.dtype != bool:
        raise ValueError(
            f"topology.mask must be bool{list(nb.shape)}, got {mask.dtype}{list(mask.shape)}"
        )
    pos = np.asarray(topology.positions)
    if pos.shape != (n, 2) or not np.isfinite(pos).all():
        raise ValueError(f"topology.positions must be finite float[{n}, 2], got shape {pos.shape}")
    data = MeshData(
        jnp.asarray(nb, jnp.int32), jnp.asarray(mask, bool), jnp.asarray(pos, jnp.float32)
    )
    return Kernel(config, data, _init_fn, _step_fn)


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


# ------------------------------------------------------------------------------ kernel


def _init_fn(key, data: MeshData, config: BeaconConfig, params: BeaconParams) -> BeaconState:
    """Initial state: static per-link latencies and stationary Gilbert–Elliott states."""
    n, k = data.neighbors.shape
    k_lat, k_ge = jax.random.split(key)
    base = links.base_latency(
        k_lat,
        config.latency_model,
        data.neighbors,
        data.mask,
        data.positions,
        params.base_latency_s,
        params.base_latency_sigma,
        params.propagation_s_per_unit,
    )
    if config.loss_model == "gilbert_elliott":
        bad = links.ge_stationary_bad(k_ge, (n, k), params.ge_p, params.ge_r) & data.mask
    else:
        bad = jnp.zeros((n, k), bool)
    zeros_n = jnp.zeros((n,), jnp.float32)
    zeros_i = jnp.zeros((n,), jnp.int32)
    det = () if config.detector is None else config.detector.init(n, k)
    fstate = ()
    if params.faults is not None:  # own key: the draws above stay what they were
        k_f = jax.random.fold_in(key, _FAULT_STREAM)
        fstate = _faults.init(k_f, data.neighbors, data.mask, config.rng)
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
        replayed=zeros_i,
        verify_failed=zeros_i,
        handshake_failed=zeros_i,
        faults=fstate,
    )


def _step_fn(key, state: BeaconState, data: MeshData, config: BeaconConfig, params, inputs):
    """One round (see the module docstring); ``inputs`` is ``None`` or one round's ChaosInput."""
    n, k = data.neighbors.shape
    nb, mask = data.neighbors, data.mask
    chaos = neutral_chaos(n, k) if inputs is None else inputs
    fstate = state.faults
    if params.faults is not None:
        chaos, fstate = _faults.step(
            jax.random.fold_in(key, _FAULT_STREAM),
            params.faults,
            state.faults,
            state.round,
            nb,
            mask,
            chaos,
            interval_s=params.interval_s,
            beacon_bytes=params.beacon_bytes,
            rng_method=config.rng,
        )
    hold = chaos.hold_s
    period = params.interval_s
    t0 = round_product(state.round.astype(jnp.float32) * period)
    m = load_multiplier(config.load_pattern, t0 + 0.5 * period, params)

    n_ge = 1 if config.loss_model == "gilbert_elliott" else 0
    n_jit = links.jitter_uniforms(config.jitter_dist)
    n_svc = links.service_uniforms(config.service_dist)
    n_link = 1 + n_ge + n_jit + n_svc
    # per round: 2 uniforms per node, n_link per link (counter hash: fused into consumers)
    k_node, k_link = jax.random.split(key)
    u_node = rng.uniforms(k_node, 2, (n,), config.rng)
    u = rng.uniforms(k_link, n_link, (n, k), config.rng)
    u_loss, u_ge = u[0], (u[1] if n_ge else None)
    u_jit = u[1 + n_ge : 1 + n_ge + n_jit]
    u_svc = u[1 + n_ge + n_jit :]

    # senders
    offset = u_node[0] * params.send_jitter_s
    sends = chaos.node_up & (u_node[1] < m)
    idle = ~sends
    if hold is not None:  # a paused node does not beacon
        sends = sends & (hold <= 0)
        idle = jnp.where(hold > 0, _PAUSED, jnp.where(idle, _IDLE, 0.0))
    else:
        idle = jnp.where(idle, _IDLE, 0.0)
    # one gather carries the sender's offset and flags: +inf down, _PAUSED frozen, _IDLE up
    # but silent, offset >= 0 valid beacon, -1 - offset invalid beacon
    code = jnp.where(
        ~chaos.node_up,
        jnp.inf,
        jnp.where(idle > 0, idle, jnp.where(chaos.beacon_valid, offset, -1.0 - offset)),
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
    service = round_product((svc + extra) * slow) + jnp.where(session_ok, 0.0, params.handshake_s)
    free_in = state.free_s if hold is None else jnp.maximum(state.free_s, hold)
    depart, free_end = queue.fifo_departures(free_in, arrival, service, arrive)
    if chaos.replay is not None:
        kem_drop = arrive & ~session_ok & chaos.kem_fail
        verified = arrive & ~kem_drop
        replayed = verified & valid_l & chaos.replay[nb]
        vfail = verified & valid_l & ~replayed & chaos.verify_fail
        accepted = verified & valid_l & ~replayed & ~vfail
        rejected = verified & ~accepted
        session = jnp.where(verified, True, session_ok)
    else:
        kem_drop = replayed = vfail = None
        accepted = arrive & valid_l
        rejected = arrive & ~valid_l
        session = jnp.where(arrive, True, session_ok)
    if chaos.keep_state is not None:  # a node down with its state kept keeps its sessions
        keep = chaos.keep_state
        session = session | (
            state.session & chaos.link_up & (recv_up | keep[:, None]) & (up_l | keep[nb])
        )
    latency = depart - o_l
    wait = depart - service - arrival

    free_next = jnp.where(chaos.node_up, jnp.maximum(free_end - period, 0.0), 0.0)
    backlog = free_next

    # metrics
    acc_i = accepted.astype(jnp.int32)
    idx = histogram.bin_index(latency, config)
    h_round = jnp.zeros((config.hist_bins + 2,), jnp.int32).at[idx.ravel()].add(acc_i.ravel())
    lo_new = state.hist_lo + h_round.astype(jnp.uint32)
    hi_new = state.hist_hi + (lo_new < state.hist_lo).astype(jnp.uint32)
    t_accept = t0 + depart
    last_heard = jnp.where(accepted, t_accept, state.last_heard_s)
    n_acc = acc_i.sum()
    lat_sum_i = sum_last(jnp.where(accepted, latency, 0.0))

    # detector
    t_now = t0 + period
    live = mask & up_l & chaos.link_up & recv_up
    if hold is not None:  # a frozen sender is not live: suspecting it is a true detection
        live = live & (code != _PAUSED)
    if config.detector is not None:
        t_acc_local, t_now_local = t_accept, t_now
        if chaos.clock_offset_s is not None:  # the receiver's clock, skewed
            skew = chaos.clock_offset_s[:, None]
            t_acc_local, t_now_local = t_accept + skew, t_now + skew
        det = config.detector.update(
            params.detector, state.detector, accepted, t_acc_local, t_now_local
        )
        suspect = config.detector.suspect(params.detector, det, t_now_local) & mask & recv_up
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
        busy_s=state.busy_s + sum_last(jnp.where(arrive, service, 0.0)),
        latency_sum_s=state.latency_sum_s + lat_sum_i,
        wait_sum_s=state.wait_sum_s + sum_last(jnp.where(arrive, wait, 0.0)),
        max_backlog_s=jnp.maximum(state.max_backlog_s, backlog),
        detector=det,
        replayed=state.replayed + _row_count(replayed, n),
        verify_failed=state.verify_failed + _row_count(vfail, n),
        handshake_failed=state.handshake_failed + _row_count(kem_drop, n),
        faults=fstate,
    )
    # accepted beacons and those at or under each SLI threshold, in one reduction so the
    # ratio's numerator and denominator can never disagree (seen under vmap: XLA recomputed
    # the mask in two fusions and one round counted one more fast beacon than accepted ones)
    sli_counts = jnp.stack(
        [accepted, *(accepted & (latency <= t) for t in config.sli_thresholds_s)]
    ).sum(axis=(1, 2), dtype=jnp.int32)
    n_h = len(config.headroom_thresholds)
    if n_h:
        levels = jnp.asarray(config.headroom_thresholds, jnp.float32)
        cpu = sum_last(jnp.where(arrive, service, 0.0)) / period
        fill = backlog / (params.verify_mean_s * config.queue_capacity_beacons)
        up_n = chaos.node_up[:, None]
        cpu_ok = (up_n & (cpu[:, None] < levels)).sum(axis=0, dtype=jnp.int32)
        memory_ok = (up_n & (fill[:, None] < levels)).sum(axis=0, dtype=jnp.int32)
    else:
        cpu_ok = memory_ok = jnp.zeros((0,), jnp.int32)
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
        fast=sli_counts[1:],
        sli_accepted=sli_counts[0],
        nodes_up=chaos.node_up.sum(dtype=jnp.int32),
        nodes_backlogged=(chaos.node_up & (backlog > period)).sum(dtype=jnp.int32),
        replayed=_row_count(replayed, n).sum(),
        verify_failed=_row_count(vfail, n).sum(),
        handshake_failed=_row_count(kem_drop, n).sum(),
        cpu_ok=cpu_ok,
        memory_ok=memory_ok,
        link_util=(8.0 * params.beacon_bytes / (params.bandwidth_bps * period)).astype(jnp.float32),
        links=mask.sum(dtype=jnp.int32),
    )
    return new_state, info


def _row_count(flags, n: int) -> Int[Array, " nodes"]:
    """Per-receiver count of ``flags`` (``None``: zeros)."""
    if flags is None:
        return jnp.zeros((n,), jnp.int32)
    return flags.sum(axis=1, dtype=jnp.int32)


init_fn = _init_fn
"""The kernel's pure ``init_fn(key, data, config, params)`` (for wrapper kernels)."""
step_fn = _step_fn
"""The kernel's pure ``step_fn(key, state, data, config, params, inputs)`` (for wrappers)."""


def _check_kernel(kernel: Kernel, params: Any = None) -> tuple[int, int]:
    if not isinstance(kernel, Kernel) or kernel.step_fn is not _step_fn:
        raise TypeError(f"kernel must come from beacons.build, got {type(kernel).__name__}")
    cfg = kernel.config
    if isinstance(params, BeaconParams) and cfg.loss_model == "gilbert_elliott":
        links.check_gilbert_elliott(
            params.ge_p,
            params.ge_r,
            params.ge_loss_good,
            params.ge_loss_bad,
            allow_degenerate=cfg.allow_degenerate_ge,
        )
    n, k = kernel.data.neighbors.shape
    return int(n), int(k)


def _check_inputs(inputs: Any, n_steps: int, n: int, k: int) -> None:
    if inputs is None:
        return
    if not isinstance(inputs, ChaosInput):
        raise TypeError(f"inputs must be a ChaosInput stacked over rounds, got {type(inputs)}")
    full = {"hold_s": (n,), "keep_state": (n,), "clock_offset_s": (n,), "replay": (n,)}
    for name, arr in zip(ChaosInput._fields, inputs, strict=True):
        if arr is None:
            continue
        ref = getattr(neutral_chaos(n, k), name)
        shape = full.get(name, (n, k)) if ref is None else ref.shape
        if tuple(np.shape(arr)) != (n_steps, *shape):
            raise ValueError(
                f"inputs.{name} must have shape {(n_steps, *shape)}, got {np.shape(arr)}"
            )


def rollout(
    kernel: Kernel,
    key: jax.Array,
    params: BeaconParams,
    n_steps: int,
    *,
    state: BeaconState | None = None,
    inputs: ChaosInput | None = None,
) -> tuple[BeaconState, BeaconInfo]:
    """Runs ``n_steps`` rounds under ``lax.scan`` (:func:`meshlab.core.rollout` + checks).

    Args:
        kernel: from :func:`build`.
        key: typed key (split into the init key and one key per round).
        params: :class:`BeaconParams` (faults checked against the mesh size).
        n_steps: number of rounds (>= 1).
        state: continue from this state (e.g. chunks of a long run with fresh keys);
            default: a fresh ``kernel.init`` state drawn from the init key.
        inputs: optional :class:`ChaosInput` with a leading ``n_steps`` axis (scan xs).

    Returns:
        ``(final_state, infos)``, ``infos`` fields stacked over rounds.

    Raises:
        ValueError / TypeError: bad inputs, before any compilation.
    """
    n, k = _check_kernel(kernel, params)
    n_steps = check_int("n_steps", n_steps, low=1)
    check_params(params, n, n_steps if state is None else None)
    _check_inputs(inputs, n_steps, n, k)
    return _core_rollout(kernel, key, params, n_steps, state=state, inputs=inputs)


def rollout_seeds(
    kernel: Kernel,
    key: jax.Array,
    params: BeaconParams,
    n_steps: int,
    n_seeds: int,
    *,
    inputs: ChaosInput | None = None,
) -> tuple[BeaconState, BeaconInfo]:
    """:func:`rollout` for ``n_seeds`` keys split from ``key``, in one ``vmap``.

    Returns:
        ``(final_states, infos)`` with a leading ``[n_seeds]`` axis on every leaf.
    """
    n, k = _check_kernel(kernel, params)
    n_steps = check_int("n_steps", n_steps, low=1)
    check_params(params, n, n_steps)
    _check_inputs(inputs, n_steps, n, k)
    return _core_rollout_seeds(kernel, key, params, n_steps, n_seeds, inputs=inputs)


# ------------------------------------------------------------------------------ summaries


def summarize(state: BeaconState, config: BeaconConfig, params: BeaconParams) -> dict:
    """Headline metrics of one run (Python floats; per-node arrays under ``per_node``).

    Keys: ``p50_s``, ``p95_s``, ``p99_s``, ``p999_s`` (histogram quantiles, relative error
    <= ``bin_rel_error``), ``mean_latency_s``, ``mean_wait_s`` (queueing),
    ``delivery_ratio`` (accepted / sent), ``loss_ratio`` (channel), ``rejected``
    (``replayed``, ``verify_failed`` among them), ``handshake_failed``,
    ``delivered_per_s`` (accepted beacons per simulated second, whole mesh),
    ``cpu_util_mean``, ``cpu_util_max`` (busy / simulated time), ``max_backlog_s``,
    ``n_rounds``, ``sim_seconds``, ``bin_rel_error``; ``per_node`` holds ``cpu_util``,
    ``max_backlog_s``, ``accepted``, ``sent``.
    """
    hist = np.asarray(state.hist_lo, np.float64) + np.asarray(state.hist_hi, np.float64) * 2.0**32
    q = histogram.quantiles(hist, [0.5, 0.95, 0.99, 0.999], config)
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
        "replayed": int(np.asarray(state.replayed, np.int64).sum()),
        "verify_failed": int(np.asarray(state.verify_failed, np.int64).sum()),
        "handshake_failed": int(np.asarray(state.handshake_failed, np.int64).sum()),
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


def summarize_seeds(states: BeaconState, config: BeaconConfig, params: BeaconParams) -> dict:
    """Mean ± 95 % CI over seeds of the headline metrics of :func:`summarize`.

    Args:
        states: final states with a leading ``[n_seeds]`` axis (from :func:`rollout_seeds`).
        config, params: as for the run.

    Returns:
        ``{metric: {"mean", "ci95", "n", "values"}}`` for the headline metrics, plus
        ``"bin_rel_error"``.
    """
    n_seeds = int(np.shape(states.round)[0])
    per_seed = [
        summarize(jax.tree.map(lambda x, i=i: x[i], states), config, params) for i in range(n_seeds)
    ]
    out = {m: mean_ci([s[m] for s in per_seed]) for m in _SEED_METRICS}
    out["bin_rel_error"] = config.bin_rel_error
    return out
