"""Federated-learning orchestrators: synchronous, batch-async, streaming, hierarchical.

Every orchestrator is an :class:`Orchestrator` of pure functions
``init(key, data, params) -> FLState``, ``step(key, state, data, params) -> (FLState,
RoundInfo)`` and ``run(key, data, params) -> (FLState, RoundInfo[T])`` (a jitted
``lax.scan`` over ``config.n_rounds`` rounds). The static :class:`FLConfig` (model,
aggregator, attack table, local training, detectors, delay model) is closed over; the
traced :class:`FLParams` (Byzantine mask, attack index) can be vmapped, so a sweep over
attacks x Byzantine fractions x seeds compiles once per aggregator (see
:func:`run_batch`).

One round of the synchronous orchestrator: sample participants; all clients train
locally in one ``vmap`` (:func:`meshlab.fl.models.local_updates`); the Byzantine
participants' updates are replaced by the attack (``lax.switch`` over
``config.attacks``; ``"label_flip"`` poisons the attackers' labels instead, ``"none"``
does nothing); the Byzantine detector scores the updates; the aggregator combines the
participants' updates; the server applies ``params += server_lr * aggregate``; the
test set is evaluated and the convergence detector updated.

* **batch-async**: clients that are idle start on the current model; the server
  aggregates the first ``k`` arrivals of the round (the round ends at the ``k``-th
  arrival); the others stay in flight and arrive later, stale by ``s`` model versions;
  each aggregated update is scaled by :func:`staleness_weight` (``(1 + s)^-a``).
* **streaming**: no rounds at the server. Arrivals are processed one by one in time
  order (``lax.scan`` over events, each picking the earliest pending arrival): the
  server applies ``params += mixing * w(s) * update`` (FedAsync, delta form) and the
  client immediately restarts from the new model. Metrics are reported every
  ``events_per_round`` events (a "pseudo-round").
* **hierarchical**: clients are split into ``n_zones`` contiguous zones; each zone
  leader aggregates its clients with ``zone_aggregator`` and the server aggregates the
  zone results with ``config.aggregator``. Bytes are counted per tier: the server tier
  carries ``2 * active_zones * d * bytes_per_param`` per round instead of ``2 * m * d *
  bytes_per_param`` for a flat round with ``m`` participants (saving ``m / zones``).

Time model (:class:`DelayConfig`): a message between a client and the server (or its
zone leader) takes ``latency_c + jitter + 8 * bytes / bandwidth`` seconds, where the
per-client base latency ``latency_c`` is lognormal (drawn once) and the jitter uses
:func:`meshlab.links.jitter` (the mesh core's link model); local training takes
``steps * compute_s_per_step * speed_c`` with a lognormal per-client slowness
``speed_c`` (drawn once). A synchronous round lasts until its slowest participant's
update arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.fl.aggregators import Aggregator, make_aggregator
from meshlab.fl.attacks import ATTACKS, apply_attack
from meshlab.fl.convergence import (
    ConvergenceConfig,
    ConvergenceState,
    convergence_init,
    convergence_update,
)
from meshlab.fl.data import FederatedData
from meshlab.fl.detector import (
    DetectorConfig,
    DetectorState,
    detection_metrics,
    detector_init,
    detector_update,
)
from meshlab.fl.models import Model, accuracy, cross_entropy, local_update, local_updates
from meshlab.fl.schedules import STALENESS_KINDS, PlateauState, ReduceOnPlateau, staleness_weight
from meshlab.mesh import links

__all__ = [
    "DATA_ATTACKS",
    "AsyncBuffer",
    "ClientProfile",
    "DelayConfig",
    "FLConfig",
    "FLParams",
    "FLState",
    "Orchestrator",
    "RoundInfo",
    "aggregator_for",
    "batch_async_orchestrator",
    "hierarchical_orchestrator",
    "run_batch",
    "streaming_orchestrator",
    "sync_orchestrator",
    "time_to_accuracy",
]

DATA_ATTACKS = ("none", "label_flip")  # handled here; every other name goes to apply_attack


@dataclass(frozen=True)
class DelayConfig:
    """Network-delay and compute-time model of the clients (seconds, bits/s).

    Attributes:
        base_latency_s: median one-way base latency client <-> server / leader.
        base_latency_sigma: log-sd of the per-client base latency (lognormal, drawn once).
        jitter_dist: per-message jitter, one of :data:`meshlab.links.JITTER_DISTS`.
        jitter_scale_s: jitter scale.
        jitter_shape: jitter shape (lognormal log-sd / Pareto index).
        slow_prob: "bimodal" jitter: probability of a slow message.
        slow_s: "bimodal" jitter: extra delay of a slow message.
        bandwidth_bps: link bandwidth for the model transfer (``inf``: no serialization).
        compute_s_per_step: median seconds per local SGD step.
        compute_sigma: log-sd of the per-client slowness (lognormal, drawn once).
        leader_latency_s: one-way latency zone leader <-> server (hierarchical only).
    """

    base_latency_s: float = 0.05
    base_latency_sigma: float = 0.5
    jitter_dist: str = "lognormal"
    jitter_scale_s: float = 0.01
    jitter_shape: float = 0.5
    slow_prob: float = 0.0
    slow_s: float = 0.0
    bandwidth_bps: float = 1e7
    compute_s_per_step: float = 0.02
    compute_sigma: float = 0.5
    leader_latency_s: float = 0.05

    def __post_init__(self):
        if self.jitter_dist not in links.JITTER_DISTS:
            raise ValueError(
                f"jitter_dist must be one of {links.JITTER_DISTS}, got {self.jitter_dist!r}"
            )
        for name in ("base_latency_s", "base_latency_sigma", "jitter_scale_s", "jitter_shape", "slow_prob",
                     "slow_s", "compute_s_per_step", "compute_sigma", "leader_latency_s"):  # fmt: skip
            v = getattr(self, name)
            if not isinstance(v, int | float | np.number) or not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if (
            not isinstance(self.bandwidth_bps, int | float | np.number)
            or not self.bandwidth_bps > 0
        ):
            raise ValueError(f"bandwidth_bps must be > 0 (inf allowed), got {self.bandwidth_bps!r}")


@dataclass(frozen=True)
class FLConfig:
    """Static configuration shared by the orchestrators.

    Attributes:
        model: the model (:func:`meshlab.fl.models.logistic_regression` / ``mlp``).
        aggregator: the server's :class:`~meshlab.fl.aggregators.Aggregator`, built
            for ``n = n_clients`` (hierarchical: for ``n = n_zones``).
        n_clients: number of clients (must match the data).
        n_rounds: rounds per run (streaming: pseudo-rounds).
        local_steps: local SGD steps per update ``E``.
        batch_size: local minibatch size.
        client_lr: client learning rate: a number or a schedule ``lr(round)`` from
            :mod:`meshlab.fl.schedules`.
        server_lr: server step on the aggregate (streaming: the FedAsync mixing weight).
        plateau: optional :func:`~meshlab.fl.schedules.reduce_on_plateau` on the test
            loss, multiplying the client learning rate.
        attacks: the attack table; :attr:`FLParams.attack` indexes it. Names from
            :data:`DATA_ATTACKS` or :data:`meshlab.fl.attacks.ATTACKS`.
        attack_options: per-attack keyword options for ``apply_attack``.
        clients_per_round: participants per synchronous / hierarchical round (``None``:
            every client with data); for batch-async the ``k`` of "first k arrivals".
        detector: Byzantine detector configuration (``None``: off).
        exclude_flagged: drop flagged clients from later rounds.
        convergence: convergence detector configuration.
        delay: network-delay and compute-time model.
        staleness: staleness weighting kind (:data:`STALENESS_KINDS`), async only.
        staleness_a: staleness exponent ``a`` of ``(1 + s)^-a``.
        bytes_per_param: bytes per parameter on the wire (4 for float32).
    """

    model: Model
    aggregator: Aggregator
    n_clients: int
    n_rounds: int = 30
    local_steps: int = 5
    batch_size: int = 16
    client_lr: float | Callable = 0.1
    server_lr: float = 1.0
    plateau: ReduceOnPlateau | None = None
    attacks: tuple[str, ...] = ("none",)
    attack_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    clients_per_round: int | None = None
    detector: DetectorConfig | None = field(default_factory=DetectorConfig)
    exclude_flagged: bool = False
    convergence: ConvergenceConfig = field(default_factory=ConvergenceConfig)
    delay: DelayConfig = field(default_factory=DelayConfig)
    staleness: str = "polynomial"
    staleness_a: float = 0.5
    bytes_per_param: int = 4

    def __post_init__(self):
        if not isinstance(self.model, Model):
            raise TypeError(
                f"model must be a meshlab.fl.models.Model, got {type(self.model).__name__}"
            )
        if not hasattr(self.aggregator, "aggregate"):
            raise TypeError(
                f"aggregator must be an Aggregator from make_aggregator, got {self.aggregator!r}"
            )
        for name, lo in (
            ("n_clients", 1),
            ("n_rounds", 1),
            ("local_steps", 1),
            ("batch_size", 1),
            ("bytes_per_param", 1),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if self.clients_per_round is not None and not 1 <= self.clients_per_round <= self.n_clients:
            raise ValueError(
                f"clients_per_round must be None or in [1, n_clients={self.n_clients}], got {self.clients_per_round!r}"
            )
        if not callable(self.client_lr) and not (
            isinstance(self.client_lr, int | float)
            and np.isfinite(self.client_lr)
            and self.client_lr > 0
        ):
            raise ValueError(
                f"client_lr must be a number > 0 or a schedule, got {self.client_lr!r}"
            )
        if not (
            isinstance(self.server_lr, int | float)
            and np.isfinite(self.server_lr)
            and self.server_lr > 0
        ):
            raise ValueError(f"server_lr must be a number > 0, got {self.server_lr!r}")
        attacks = (self.attacks,) if isinstance(self.attacks, str) else tuple(self.attacks)
        object.__setattr__(self, "attacks", attacks)
        valid = DATA_ATTACKS + tuple(a for a in ATTACKS if a not in DATA_ATTACKS)
        if not attacks or any(a not in valid for a in attacks):
            raise ValueError(
                f"attacks must be a non-empty tuple of names from {valid}, got {self.attacks!r}"
            )
        unknown = set(self.attack_options) - set(attacks)
        if unknown:
            raise ValueError(
                f"attack_options has options for attacks not in attacks={attacks}: {sorted(unknown)}"
            )
        if self.staleness not in STALENESS_KINDS:
            raise ValueError(f"staleness must be one of {STALENESS_KINDS}, got {self.staleness!r}")
        if not np.isfinite(self.staleness_a) or self.staleness_a < 0:
            raise ValueError(f"staleness_a must be a finite number >= 0, got {self.staleness_a!r}")

    @property
    def update_bytes(self) -> int:
        """Bytes of one model (or update) on the wire."""
        return self.model.n_params * self.bytes_per_param


class FLParams(NamedTuple):
    """Traced scenario parameters (vmappable).

    Attributes:
        byzantine: ``bool[n]`` ground-truth attackers.
        attack: ``i32[]`` index into ``FLConfig.attacks``.
    """

    byzantine: Bool[Array, " n"]
    attack: Int[Array, ""]


class ClientProfile(NamedTuple):
    """Per-client draws made once: base latency ``f32[n]`` (s), slowness ``f32[n]``."""

    latency_s: Float[Array, " n"]
    slowness: Float[Array, " n"]


class AsyncBuffer(NamedTuple):
    """In-flight updates of the asynchronous orchestrators.

    Attributes:
        update: ``f32[n, d]`` the update each client is sending.
        arrival: ``f32[n]`` its arrival time at the server (s).
        base_version: ``i32[n]`` model version it was computed from.
        pending: ``bool[n]`` True while in flight.
    """

    update: Float[Array, "n d"]
    arrival: Float[Array, " n"]
    base_version: Int[Array, " n"]
    pending: Bool[Array, " n"]


class FLState(NamedTuple):
    """Carried state of an orchestrator.

    Attributes:
        params: ``f32[d]`` global model.
        round: rounds done.
        version: model versions published (streaming: updates applied).
        time_s: simulated clock (s).
        bytes_server: cumulative bytes through the server's links.
        profile: per-client latency / slowness.
        detector: Byzantine detector state.
        convergence: convergence detector state.
        plateau: reduce-on-plateau state (scale 1 when unused).
        buffer: in-flight updates (async orchestrators) or ``None``.
    """

    params: Float[Array, " d"]
    round: Int[Array, ""]
    version: Int[Array, ""]
    time_s: Float[Array, ""]
    bytes_server: Float[Array, ""]
    profile: ClientProfile
    detector: DetectorState
    convergence: ConvergenceState
    plateau: PlateauState
    buffer: AsyncBuffer | None


class RoundInfo(NamedTuple):
    """Per-round metrics (stacked to ``[T]`` by ``run``).

    Attributes:
        accuracy: test accuracy after the round.
        loss: test cross-entropy after the round.
        train_loss: mean local loss of the honest participants at the round's start.
        grad_norm: pseudo-gradient norm ``||aggregate|| / (lr * local_steps)``.
        bytes_server: bytes through the server's links this round (up + down).
        bytes_total: bytes on all tiers this round.
        time_s: simulated clock at the end of the round (s).
        n_aggregated: number of updates aggregated.
        staleness: mean staleness of the aggregated updates (versions).
        precision: detector precision vs the attackers (see ``detection_metrics``).
        recall: detector recall.
        f1: detector F1.
        n_flagged: number of flagged clients.
        converged: the convergence detector's sticky verdict.
        lr: client learning rate used.
    """

    accuracy: Float[Array, ""]
    loss: Float[Array, ""]
    train_loss: Float[Array, ""]
    grad_norm: Float[Array, ""]
    bytes_server: Float[Array, ""]
    bytes_total: Float[Array, ""]
    time_s: Float[Array, ""]
    n_aggregated: Int[Array, ""]
    staleness: Float[Array, ""]
    precision: Float[Array, ""]
    recall: Float[Array, ""]
    f1: Float[Array, ""]
    n_flagged: Int[Array, ""]
    converged: Bool[Array, ""]
    lr: Float[Array, ""]


class Orchestrator(NamedTuple):
    """Pure ``init`` / ``step`` / jitted ``run`` of one orchestration scheme."""

    name: str
    config: FLConfig
    init: Callable[..., FLState]
    step: Callable[..., tuple[FLState, RoundInfo]]
    run: Callable[..., tuple[FLState, RoundInfo]]


# ----------------------------------------------------------------------------- helpers


def aggregator_for(name: str, *, n: int, f_max: int, **options) -> Aggregator:
    """``make_aggregator(name, n=n, f=f)`` with the largest ``f <= f_max`` the rule accepts.

    A defender configures the rules for a worst case (e.g. 30 % of ``n``); rules with a
    lower breakdown point (Bulyan: ``n >= 4f + 3``) get the largest ``f`` they admit.
    """
    if isinstance(f_max, bool) or not isinstance(f_max, int | np.integer) or f_max < 0:
        raise ValueError(f"f_max must be an integer >= 0, got {f_max!r}")
    last = None
    for f in range(int(f_max), -1, -1):
        try:
            return make_aggregator(name, n=n, f=f, **options)
        except ValueError as e:  # breakdown condition violated: try a smaller f
            last = e
    raise ValueError(f"aggregator {name!r} accepts no f in [0, {f_max}] for n={n}: {last}")


def _profile(key, n: int, delay: DelayConfig) -> ClientProfile:
    k1, k2 = jax.random.split(key)
    lat = delay.base_latency_s * jnp.exp(delay.base_latency_sigma * jax.random.normal(k1, (n,)))
    slow = jnp.exp(delay.compute_sigma * jax.random.normal(k2, (n,)))
    return ClientProfile(lat.astype(jnp.float32), slow.astype(jnp.float32))


def _message_s(key, delay: DelayConfig, latency_s, n_bytes: int):
    """One-way message time(s) for base latencies ``latency_s`` (any shape)."""
    shape = jnp.shape(latency_s)
    n_u = links.jitter_uniforms(delay.jitter_dist)
    u = jax.random.uniform(key, (n_u, *shape), minval=1e-7, maxval=1.0 - 1e-7) if n_u else None
    jit = links.jitter(
        delay.jitter_dist,
        u,
        delay.jitter_scale_s,
        delay.jitter_shape,
        delay.slow_prob,
        delay.slow_s,
    )
    ser = links.serialization_delay(n_bytes, delay.bandwidth_bps)
    return jnp.maximum(latency_s + jit, 0.0) + ser


def _round_trip_s(key, cfg: FLConfig, profile: ClientProfile):
    """``f32[n]`` download + local compute + upload time of every client."""
    k_down, k_up = jax.random.split(key)
    compute = cfg.local_steps * cfg.delay.compute_s_per_step * profile.slowness
    down = _message_s(k_down, cfg.delay, profile.latency_s, cfg.update_bytes)
    up = _message_s(k_up, cfg.delay, profile.latency_s, cfg.update_bytes)
    return down + compute + up


def _client_lr(cfg: FLConfig, state: FLState):
    base = cfg.client_lr(state.round) if callable(cfg.client_lr) else jnp.float32(cfg.client_lr)
    return jnp.asarray(base, jnp.float32) * state.plateau.scale


def _labels(cfg: FLConfig, data: FederatedData, params: FLParams):
    if "label_flip" not in cfg.attacks:
        return data.y
    on = params.attack == cfg.attacks.index("label_flip")
    flip = on & params.byzantine
    return jnp.where(flip[:, None], cfg.model.n_classes - 1 - data.y, data.y)


def _attack(key, cfg: FLConfig, attack_id, updates, byzantine):
    def branch(name):
        if name in DATA_ATTACKS:
            return lambda k, u, b: u
        opts = dict(cfg.attack_options.get(name, {}))
        return lambda k, u, b: apply_attack(k, name, u, b, **opts).astype(u.dtype)

    branches = [branch(a) for a in cfg.attacks]
    if len(branches) == 1:
        return branches[0](key, updates, byzantine)
    return jax.lax.switch(attack_id, branches, key, updates, byzantine)


def _eligible(cfg: FLConfig, state: FLState, data: FederatedData):
    has_data = data.mask.any(axis=1)
    if not cfg.exclude_flagged or cfg.detector is None:
        return has_data
    keep = has_data & ~state.detector.flagged
    return jnp.where(keep.any(), keep, has_data)


def _sample(key, eligible, m: int | None):
    n = eligible.shape[0]
    if m is None or m >= n:
        return eligible
    score = jnp.where(eligible, jax.random.uniform(key, (n,)), 2.0)
    rank = jnp.argsort(jnp.argsort(score))
    return eligible & (rank < m)


def _init_state(key, cfg: FLConfig, data: FederatedData, buffer=None) -> FLState:
    if data.n_clients != cfg.n_clients:
        raise ValueError(f"data has {data.n_clients} clients but config.n_clients={cfg.n_clients}")
    if data.n_features != cfg.model.n_features:
        raise ValueError(
            f"data has {data.n_features} features but the model expects {cfg.model.n_features}"
        )
    k_model, k_prof = jax.random.split(key)
    plateau = (
        cfg.plateau.init()
        if cfg.plateau is not None
        else PlateauState(jnp.float32(1.0), jnp.float32(jnp.inf), jnp.int32(0), jnp.int32(0))
    )
    return FLState(
        params=cfg.model.init(k_model),
        round=jnp.int32(0),
        version=jnp.int32(0),
        time_s=jnp.float32(0.0),
        bytes_server=jnp.float32(0.0),
        profile=_profile(k_prof, cfg.n_clients, cfg.delay),
        detector=detector_init(cfg.n_clients),
        convergence=convergence_init(cfg.convergence),
        plateau=plateau,
        buffer=buffer,
    )


def _detect(cfg: FLConfig, det: DetectorState, updates, mask):
    if cfg.detector is None:
        return det
    return detector_update(cfg.detector, det, updates, mask)[0]


def _finish(cfg, state, data, params, *, new_params, agg, det, lr, part, honest_loss, b_server, b_total,
            time_s, staleness, version, buffer):  # fmt: skip
    """Evaluates the new model, updates the detectors and packs the RoundInfo."""
    model = cfg.model
    acc = accuracy(model, new_params, data.x_test, data.y_test)
    loss = cross_entropy(model, new_params, data.x_test, data.y_test)
    gnorm = jnp.linalg.norm(agg) / (lr * cfg.local_steps)
    conv, _ = convergence_update(cfg.convergence, state.convergence, loss, acc, gnorm)
    plateau = cfg.plateau.update(state.plateau, loss) if cfg.plateau is not None else state.plateau
    truth = params.byzantine & data.mask.any(axis=1)  # attackers without data never act
    dm = detection_metrics(det.flagged, truth)
    new_state = FLState(
        new_params, state.round + 1, version, time_s, state.bytes_server + b_server,
        state.profile, det, conv, plateau, buffer,
    )  # fmt: skip
    info = RoundInfo(
        accuracy=acc.astype(jnp.float32),
        loss=loss.astype(jnp.float32),
        train_loss=honest_loss.astype(jnp.float32),
        grad_norm=gnorm.astype(jnp.float32),
        bytes_server=jnp.float32(b_server),
        bytes_total=jnp.float32(b_total),
        time_s=jnp.float32(time_s),
        n_aggregated=part.sum().astype(jnp.int32),
        staleness=jnp.float32(staleness),
        precision=dm.precision,
        recall=dm.recall,
        f1=dm.f1,
        n_flagged=det.flagged.sum().astype(jnp.int32),
        converged=conv.converged,
        lr=lr,
    )
    return new_state, info


def _honest_loss(loss, part, byzantine):
    honest = part & ~byzantine
    return jnp.where(honest, loss, 0.0).sum() / jnp.maximum(honest.sum(), 1).astype(loss.dtype)


def _make_run(cfg: FLConfig, init, step):
    def run(key, data: FederatedData, params: FLParams):
        k_init, k_steps = jax.random.split(key)
        state = init(k_init, data, params)

        def body(s, k):
            return step(k, s, data, params)

        return jax.lax.scan(body, state, jax.random.split(k_steps, cfg.n_rounds))

    return jax.jit(run)


def _check_params(cfg: FLConfig, params: FLParams) -> None:
    if params.byzantine.shape[-1] != cfg.n_clients:
        raise ValueError(
            f"params.byzantine must have {cfg.n_clients} entries, got shape {params.byzantine.shape}"
        )


# ------------------------------------------------------------------------ synchronous


def _sync_like(cfg: FLConfig, aggregate_fn, server_bytes_fn, extra_time_fn):
    """Shared body of the synchronous and hierarchical orchestrators."""

    def init(key, data, params):
        _check_params(cfg, params)
        return _init_state(key, cfg, data)

    def step(key, state, data, params):
        k_sel, k_train, k_att, k_agg, k_delay, k_extra = jax.random.split(key, 6)
        part = _sample(k_sel, _eligible(cfg, state, data), cfg.clients_per_round)
        lr = _client_lr(cfg, state)
        y = _labels(cfg, data, params)
        deltas, linfo = local_updates(
            k_train, cfg.model, state.params, data.x, y, data.mask,
            steps=cfg.local_steps, batch_size=cfg.batch_size, lr=lr,
        )  # fmt: skip
        byz = params.byzantine & part
        sent = _attack(k_att, cfg, params.attack, deltas, byz)
        det = _detect(cfg, state.detector, sent, part)
        agg = aggregate_fn(k_agg, sent, part)
        new_params = state.params + cfg.server_lr * agg
        rtt = _round_trip_s(k_delay, cfg, state.profile)
        duration = extra_time_fn(k_extra, state, rtt, part)
        b_server, b_total = server_bytes_fn(part)
        return _finish(
            cfg, state, data, params, new_params=new_params, agg=agg, det=det, lr=lr, part=part,
            honest_loss=_honest_loss(linfo.loss, part, params.byzantine), b_server=b_server,
            b_total=b_total, time_s=state.time_s + duration, staleness=0.0,
            version=state.version + 1, buffer=None,
        )  # fmt: skip

    return init, step


def sync_orchestrator(config: FLConfig) -> Orchestrator:
    """Synchronous rounds: every participant trains on the current model, the server waits
    for all of them and aggregates.

    Bytes per round (server tier = total): ``2 * m * d * bytes_per_param`` for ``m``
    participants.
    """
    cfg = config
    ub = cfg.update_bytes

    def aggregate_fn(key, sent, part):
        return cfg.aggregator.aggregate(key, sent, part)[0]

    def bytes_fn(part):
        b = 2.0 * part.sum().astype(jnp.float32) * ub
        return b, b

    def time_fn(key, state, rtt, part):
        return jnp.max(jnp.where(part, rtt, 0.0))

    init, step = _sync_like(cfg, aggregate_fn, bytes_fn, time_fn)
    return Orchestrator("sync", cfg, init, step, _make_run(cfg, init, step))


def hierarchical_orchestrator(
    config: FLConfig, *, n_zones: int, zone_aggregator: Aggregator
) -> Orchestrator:
    """Two-tier rounds: zone leaders aggregate their clients, the server aggregates zones.

    Clients ``[z * n / Z, (z + 1) * n / Z)`` form zone ``z``. ``zone_aggregator`` must
    be built for ``n = n_clients / n_zones`` and ``config.aggregator`` for ``n =
    n_zones``. Bytes per round: client tier ``2 * m * d * B``, server tier ``2 * Z_act *
    d * B`` (``Z_act`` zones with a participant, ``B`` bytes per parameter); a round
    lasts the slowest zone's slowest client plus the leader's round trip to the server.

    Args:
        config: shared configuration (``aggregator`` is the global rule).
        n_zones: number of zones ``Z``; must divide ``n_clients``.
        zone_aggregator: the leaders' rule.
    """
    cfg = config
    if isinstance(n_zones, bool) or not isinstance(n_zones, int | np.integer) or n_zones < 1:
        raise ValueError(f"n_zones must be an integer >= 1, got {n_zones!r}")
    if cfg.n_clients % n_zones:
        raise ValueError(f"n_zones={n_zones} must divide n_clients={cfg.n_clients}")
    if not hasattr(zone_aggregator, "aggregate"):
        raise TypeError(f"zone_aggregator must be an Aggregator, got {zone_aggregator!r}")
    zs = cfg.n_clients // n_zones
    ub = cfg.update_bytes

    def aggregate_fn(key, sent, part):
        k_zone, k_glob = jax.random.split(key)
        d = sent.shape[1]
        part_z = part.reshape(n_zones, zs)
        zone_out, _ = jax.vmap(zone_aggregator.aggregate)(
            jax.random.split(k_zone, n_zones), sent.reshape(n_zones, zs, d), part_z
        )
        active = part_z.any(axis=1)
        zone_out = jnp.where(active[:, None], zone_out, 0.0)
        return cfg.aggregator.aggregate(k_glob, zone_out, active)[0]

    def bytes_fn(part):
        active = part.reshape(n_zones, zs).any(axis=1).sum().astype(jnp.float32)
        b_server = 2.0 * active * ub
        return b_server, b_server + 2.0 * part.sum().astype(jnp.float32) * ub

    def time_fn(key, state, rtt, part):
        zone_t = jnp.max(jnp.where(part, rtt, 0.0).reshape(n_zones, zs), axis=1)
        lat = jnp.full((n_zones,), cfg.delay.leader_latency_s, jnp.float32)
        k1, k2 = jax.random.split(key)
        leader = _message_s(k1, cfg.delay, lat, ub) + _message_s(k2, cfg.delay, lat, ub)
        active = part.reshape(n_zones, zs).any(axis=1)
        return jnp.max(jnp.where(active, zone_t + leader, 0.0))

    init, step = _sync_like(cfg, aggregate_fn, bytes_fn, time_fn)
    return Orchestrator("hierarchical", cfg, init, step, _make_run(cfg, init, step))


# ------------------------------------------------------------------------ batch-async


def batch_async_orchestrator(config: FLConfig) -> Orchestrator:
    """Aggregate the first ``k = config.clients_per_round`` arrivals of every round.

    Idle clients start on the current model at the round's start; the round ends at the
    ``k``-th earliest pending arrival; the ``k`` arrived updates, scaled by their
    staleness weight ``w(s)`` (``s`` = versions since the client's model), are
    aggregated; later arrivals stay in flight and count as stale next round.
    Server bytes per round: one download per starting client plus ``k`` uploads.
    """
    cfg = config
    if cfg.clients_per_round is None:
        raise ValueError(
            "batch_async_orchestrator needs config.clients_per_round = k (aggregate the first k arrivals)"
        )
    k_first = cfg.clients_per_round
    ub = cfg.update_bytes
    n, d = cfg.n_clients, cfg.model.n_params

    def init(key, data, params):
        _check_params(cfg, params)
        buf = AsyncBuffer(
            jnp.zeros((n, d), jnp.float32), jnp.full((n,), jnp.inf, jnp.float32),
            jnp.zeros(n, jnp.int32), jnp.zeros(n, bool),
        )  # fmt: skip
        return _init_state(key, cfg, data, buf)

    def step(key, state, data, params):
        k_train, k_att, k_agg, k_delay = jax.random.split(key, 4)
        buf = state.buffer
        eligible = _eligible(cfg, state, data)
        starters = eligible & ~buf.pending
        lr = _client_lr(cfg, state)
        y = _labels(cfg, data, params)
        fresh, linfo = local_updates(
            k_train, cfg.model, state.params, data.x, y, data.mask,
            steps=cfg.local_steps, batch_size=cfg.batch_size, lr=lr,
        )  # fmt: skip
        rtt = _round_trip_s(k_delay, cfg, state.profile)
        update = jnp.where(starters[:, None], fresh, buf.update)
        arrival = jnp.where(starters, state.time_s + rtt, buf.arrival)
        base = jnp.where(starters, state.version, buf.base_version)
        pending = (buf.pending | starters) & eligible
        rank = jnp.argsort(jnp.argsort(jnp.where(pending, arrival, jnp.inf)))
        sel = pending & (rank < k_first)
        t_end = jnp.maximum(state.time_s, jnp.max(jnp.where(sel, arrival, -jnp.inf)))
        stale = (state.version - base).astype(jnp.float32)
        w = staleness_weight(stale, cfg.staleness, cfg.staleness_a)
        sent = _attack(k_att, cfg, params.attack, update, params.byzantine & sel)
        det = _detect(cfg, state.detector, sent, sel)
        agg, _ = cfg.aggregator.aggregate(k_agg, sent * w[:, None], sel)
        new_params = state.params + cfg.server_lr * agg
        b = (starters.sum() + sel.sum()).astype(jnp.float32) * float(ub)
        new_buf = AsyncBuffer(update, arrival, base.astype(jnp.int32), pending & ~sel)
        mean_stale = jnp.where(sel, stale, 0.0).sum() / jnp.maximum(sel.sum(), 1).astype(
            jnp.float32
        )
        return _finish(
            cfg, state, data, params, new_params=new_params, agg=agg, det=det, lr=lr, part=sel,
            honest_loss=_honest_loss(linfo.loss, starters, params.byzantine), b_server=b, b_total=b,
            time_s=t_end, staleness=mean_stale, version=state.version + 1, buffer=new_buf,
        )  # fmt: skip

    return Orchestrator("batch_async", cfg, init, step, _make_run(cfg, init, step))


# -------------------------------------------------------------------------- streaming


def streaming_orchestrator(
    config: FLConfig, *, events_per_round: int | None = None
) -> Orchestrator:
    """Apply every update as it arrives (no server rounds), FedAsync-style.

    Each event takes the earliest pending arrival ``i`` (``argmin`` over the in-flight
    table), applies ``params += server_lr * w(s) * update_i`` (``server_lr`` is the
    FedAsync mixing weight, ``w`` the staleness weight, ``s`` the versions applied since
    ``i`` fetched its model), and restarts client ``i`` on the new model. Attackers
    replace their in-flight update using the whole table (omniscient attacker);
    ``config.aggregator`` is not used. The detector and the metrics run once per
    ``events_per_round`` events (default: ``clients_per_round`` or ``n_clients``).
    Server bytes: ``2 * d * B`` per event.
    """
    cfg = config
    epr = events_per_round or cfg.clients_per_round or cfg.n_clients
    if isinstance(epr, bool) or not isinstance(epr, int | np.integer) or epr < 1:
        raise ValueError(f"events_per_round must be an integer >= 1, got {events_per_round!r}")
    ub = cfg.update_bytes
    n, d = cfg.n_clients, cfg.model.n_params
    has_attack = any(a not in DATA_ATTACKS for a in cfg.attacks)

    def init(key, data, params):
        _check_params(cfg, params)
        k_state, k_train, k_delay = jax.random.split(key, 3)
        state = _init_state(k_state, cfg, data)
        y = _labels(cfg, data, params)
        lr = _client_lr(cfg, state)
        upd, _ = local_updates(
            k_train, cfg.model, state.params, data.x, y, data.mask,
            steps=cfg.local_steps, batch_size=cfg.batch_size, lr=lr,
        )  # fmt: skip
        eligible = data.mask.any(axis=1)
        arrival = jnp.where(eligible, _round_trip_s(k_delay, cfg, state.profile), jnp.inf)
        return state._replace(buffer=AsyncBuffer(upd, arrival, jnp.zeros(n, jnp.int32), eligible))

    def step(key, state, data, params):
        y = _labels(cfg, data, params)
        lr = _client_lr(cfg, state)
        eligible = _eligible(cfg, state, data)

        def event(carry, k):
            p, buf, version, now, table, delivered, loss_sum = carry
            k_att, k_train, k_delay = jax.random.split(k, 3)
            i = jnp.argmin(jnp.where(eligible & buf.pending, buf.arrival, jnp.inf))
            t = jnp.maximum(now, buf.arrival[i])
            if has_attack:
                u = _attack(k_att, cfg, params.attack, buf.update, params.byzantine & eligible)[i]
            else:
                u = buf.update[i]
            stale = (version - buf.base_version[i]).astype(jnp.float32)
            p = p + cfg.server_lr * staleness_weight(stale, cfg.staleness, cfg.staleness_a) * u
            new_u, linfo = local_update(
                k_train, cfg.model, p, data.x[i], y[i], data.mask[i],
                steps=cfg.local_steps, batch_size=cfg.batch_size, lr=lr,
            )  # fmt: skip
            prof = ClientProfile(state.profile.latency_s[i], state.profile.slowness[i])
            rtt = _round_trip_s(k_delay, cfg, prof)
            buf = AsyncBuffer(
                buf.update.at[i].set(new_u), buf.arrival.at[i].set(t + rtt),
                buf.base_version.at[i].set(version + 1), buf.pending,
            )  # fmt: skip
            honest = ~params.byzantine[i]
            carry = (p, buf, version + 1, t, table.at[i].set(u), delivered.at[i].set(True),
                     loss_sum + jnp.where(honest, jnp.stack([linfo.loss, jnp.float32(1.0)]), 0.0))  # fmt: skip
            return carry, stale

        k_events, k_unused = jax.random.split(key)
        carry0 = (state.params, state.buffer, state.version, state.time_s, jnp.zeros((n, d), jnp.float32),
                  jnp.zeros(n, bool), jnp.zeros(2, jnp.float32))  # fmt: skip
        (p, buf, version, now, table, delivered, loss_sum), stale = jax.lax.scan(
            event, carry0, jax.random.split(k_events, epr)
        )
        det = _detect(cfg, state.detector, table, delivered)
        agg = p - state.params
        b = 2.0 * epr * ub
        return _finish(
            cfg, state, data, params, new_params=p, agg=agg, det=det, lr=lr, part=delivered,
            honest_loss=loss_sum[0] / jnp.maximum(loss_sum[1], 1.0), b_server=b, b_total=b,
            time_s=now, staleness=stale.mean(), version=version, buffer=buf,
        )  # fmt: skip

    return Orchestrator("streaming", cfg, init, step, _make_run(cfg, init, step))


# ---------------------------------------------------------------------------- sweeps


def run_batch(
    orchestrator: Orchestrator, keys: jax.Array, data: FederatedData, params: FLParams
) -> tuple[FLState, RoundInfo]:
    """Runs many scenarios at once: ``vmap`` over the leading axes of ``keys`` / ``params``.

    Args:
        orchestrator: the orchestrator.
        keys: typed keys of shape ``[*batch]`` (one per scenario and seed).
        data: shared data (not batched).
        params: :class:`FLParams` with leading axes ``[*batch]``.

    Returns:
        ``(final states, RoundInfo)`` with leading axes ``[*batch]`` (+ ``[T]`` for info).
    """
    batch = keys.shape
    if params.byzantine.shape[: len(batch)] != batch or params.attack.shape != batch:
        raise ValueError(
            f"params must have leading axes {batch} like keys; got byzantine {params.byzantine.shape},"
            f" attack {params.attack.shape}"
        )
    flat_keys = keys.reshape(-1)
    flat = FLParams(
        params.byzantine.reshape(-1, params.byzantine.shape[-1]), params.attack.reshape(-1)
    )
    states, info = jax.jit(jax.vmap(orchestrator.run, in_axes=(0, None, 0)))(flat_keys, data, flat)
    unflat = lambda x: x.reshape(*batch, *x.shape[1:])
    return jax.tree.map(unflat, states), jax.tree.map(unflat, info)


def time_to_accuracy(info: RoundInfo, target: float) -> Float[Array, "..."]:
    """Simulated time (s) at which test accuracy first reaches ``target`` (inf: never).

    Args:
        info: per-round metrics with the round axis last (``[..., T]``).
        target: accuracy threshold in [0, 1].
    """
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target must lie in [0, 1], got {target}")
    hit = info.accuracy >= target
    first = jnp.argmax(hit, axis=-1)
    t = jnp.take_along_axis(info.time_s, first[..., None], axis=-1)[..., 0]
    return jnp.where(hit.any(axis=-1), t, jnp.inf)
