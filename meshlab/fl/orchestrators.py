"""Federated-learning orchestrators as kernels: synchronous, batch-async, streaming, hierarchical.

Every scheme follows the kernel convention of :mod:`meshlab.core.kernel`::

    config = FLConfig(model=ModelSpec("logistic_regression", 64, 10), n_clients=20,
                      aggregator=aggregator_for("median", n=20, f_max=6),
                      attacks=("none", "alie"))
    kernel = build(config, data)                       # validated once
    params = make_params(config, byzantine, attack="alie", attack_strength={"alie": 10.0})
    state, infos = rollout(kernel, key, params)        # config.n_rounds rounds, jitted
    summary = summarize((state, infos), config, params)

:class:`FLConfig` is hashable static data (model and aggregator by spec, the attack table,
the orchestrator kind); :class:`FLParams` holds what varies between runs (Byzantine mask,
attack choice and strengths, client and server learning rates), so :func:`rollout_batch`
sweeps attacks x fractions x strengths x seeds in one compilation per config.

One round of the synchronous orchestrator: sample participants; all clients train
locally in one ``vmap`` (:func:`meshlab.fl.models.local_updates`); the Byzantine
participants' updates are replaced by the attack (``lax.switch`` over
``config.attacks``; ``"label_flip"`` poisons the attackers' labels instead, ``"none"``
does nothing); the Byzantine detector scores the updates; the aggregator combines the
participants' updates; the server applies ``params += server_lr * aggregate``; the
test set is evaluated and the convergence detector updated.

* **batch_async**: clients that are idle start on the current model; the server
  aggregates the first ``k`` arrivals of the round (the round ends at the ``k``-th
  arrival); the others stay in flight and arrive later, stale by ``s`` model versions;
  each aggregated update is scaled by :func:`staleness_weight` (``(1 + s)^-a``).
* **streaming**: no rounds at the server. Arrivals are processed one by one in time
  order (``lax.scan`` over events, each picking the earliest pending arrival): the
  server applies ``params += mixing * w(s) * update`` (FedAsync, delta form; the mixing
  weight is ``server_lr``) and the client immediately restarts from the new model.
  Metrics are reported every ``events_per_round`` events (a "pseudo-round").
* **hierarchical**: clients are split into ``n_zones`` contiguous zones; each zone
  leader aggregates its clients with ``zone_aggregator`` and the server aggregates the
  zone results with ``config.aggregator``. Bytes are counted per tier: the server tier
  carries ``2 * active_zones * d * bytes_per_param`` per round instead of ``2 * m * d *
  bytes_per_param`` for a flat round with ``m`` participants (saving ``m / zones``).

Time model (:class:`DelayConfig`): a message between a client and the server (or its
zone leader) takes ``latency_c + jitter + 8 * bytes / bandwidth`` seconds, where the
per-client base latency ``latency_c`` is lognormal (drawn once) and the jitter uses
:func:`meshlab.mesh.links.jitter` (the mesh link model); local training takes
``steps * compute_s_per_step * speed_c`` with a lognormal per-client slowness
``speed_c`` (drawn once). A synchronous round lasts until its slowest participant's
update arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.core import kernel as core_kernel
from meshlab.core.kernel import Kernel
from meshlab.core.validation import check_choice, check_int, check_key, check_real
from meshlab.fl.aggregators import Aggregator, AggregatorSpec
from meshlab.fl.attacks import _OPTIONS as _ATTACK_OPTIONS
from meshlab.fl.attacks import ATTACK_STRENGTHS, ATTACKS, OPTIMIZED, attack_rows
from meshlab.fl.convergence import (
    ConvergenceConfig,
    ConvergenceState,
    convergence_init,
    convergence_update,
)
from meshlab.fl.data import FederatedData
from meshlab.fl.detector import (
    ByzantineDetectorConfig,
    ByzantineDetectorState,
    detection_metrics,
    detector_init,
    detector_update,
)
from meshlab.fl.models import Model, ModelSpec, accuracy, cross_entropy, local_update, local_updates
from meshlab.fl.schedules import (
    STALENESS_KINDS,
    LRSchedule,
    PlateauState,
    ReduceOnPlateau,
    staleness_weight,
)
from meshlab.mesh import links

__all__ = [
    "DATA_ATTACKS",
    "ORCHESTRATORS",
    "AsyncBuffer",
    "ClientProfile",
    "DelayConfig",
    "FLConfig",
    "FLParams",
    "FLState",
    "RoundInfo",
    "build",
    "make_params",
    "rollout",
    "rollout_batch",
    "summarize",
    "time_to_accuracy",
]

DATA_ATTACKS = ("none", "label_flip")  # handled here; every other name goes to the attack table
ORCHESTRATORS = ("sync", "batch_async", "streaming", "hierarchical")


@dataclass(frozen=True)
class DelayConfig:
    """Network-delay and compute-time model of the clients (seconds, bits/s).

    Attributes:
        base_latency_s: median one-way base latency client <-> server / leader.
        base_latency_sigma: log-sd of the per-client base latency (lognormal, drawn once).
        jitter_dist: per-message jitter, one of :data:`meshlab.mesh.links.JITTER_DISTS`.
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
        check_choice("jitter_dist", self.jitter_dist, links.JITTER_DISTS)
        for name in ("base_latency_s", "base_latency_sigma", "jitter_scale_s", "jitter_shape",
                     "slow_prob", "slow_s", "compute_s_per_step", "compute_sigma",
                     "leader_latency_s"):  # fmt: skip
            check_real(name, getattr(self, name), 0.0)
        check_real("bandwidth_bps", self.bandwidth_bps, 0.0, low_open=True, allow_inf=True)


def _model_spec(model: Any) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, Model) and model.spec is not None:
        return model.spec
    raise TypeError(
        f"model must be a ModelSpec (or a Model built by logistic_regression / mlp), got {model!r}"
    )


def _aggregator_spec(name: str, agg: Any) -> AggregatorSpec:
    if isinstance(agg, AggregatorSpec):
        return agg
    if isinstance(agg, str):
        return AggregatorSpec(agg)
    if isinstance(agg, Aggregator) and agg.spec is not None:
        return agg.spec
    raise TypeError(
        f"{name} must be an AggregatorSpec, a rule name or an Aggregator from make_aggregator,"
        f" got {agg!r}"
    )


def _freeze_attack_options(options: Any) -> tuple:
    items = options.items() if isinstance(options, Mapping) else options
    out = []
    for attack, opts in items:
        opts = opts.items() if isinstance(opts, Mapping) else opts
        out.append((attack, tuple(sorted(opts))))
    return tuple(sorted(out))


@dataclass(frozen=True)
class FLConfig:
    """Static configuration of an orchestrator (hashable: a ``jit`` static argument).

    Attributes:
        model: the model as a :class:`~meshlab.fl.models.ModelSpec` (a ``Model`` from
            ``logistic_regression`` / ``mlp`` is accepted and replaced by its spec).
        n_clients: number of clients (must match the data).
        aggregator: the server's rule as an :class:`~meshlab.fl.aggregators.AggregatorSpec`
            (or a rule name, ``f = 0``), built for ``n = n_clients`` (hierarchical: for
            ``n = n_zones``).
        orchestrator: one of :data:`ORCHESTRATORS`.
        n_rounds: rounds per :func:`rollout` (streaming: pseudo-rounds).
        local_steps: local SGD steps per update ``E``.
        batch_size: local minibatch size.
        lr_schedule: shape of the client learning-rate schedule (the base rate is
            :attr:`FLParams.client_lr`).
        plateau: optional :func:`~meshlab.fl.schedules.reduce_on_plateau` on the test
            loss, multiplying the client learning rate.
        attacks: the attack table; :attr:`FLParams.attack` indexes it. Names from
            :data:`DATA_ATTACKS` or :data:`meshlab.fl.attacks.ATTACKS`.
        attack_options: structural per-attack options (``mimic``'s ``target``,
            ``nonfinite``'s ``value``) as a mapping or ``(attack, ((name, value), ...))``
            pairs; strengths (:data:`~meshlab.fl.attacks.ATTACK_STRENGTHS`) are params.
        clients_per_round: participants per synchronous / hierarchical round (``None``:
            every client with data); for batch-async the ``k`` of "first k arrivals".
        detector: Byzantine detector configuration (``None``: off).
        exclude_flagged: drop flagged clients from later rounds.
        convergence: convergence detector configuration.
        delay: network-delay and compute-time model.
        staleness: staleness weighting kind (:data:`STALENESS_KINDS`), async only.
        staleness_a: staleness exponent ``a`` of ``(1 + s)^-a``.
        bytes_per_param: bytes per parameter on the wire (4 for float32).
        n_zones: hierarchical only: number of zones ``Z`` (divides ``n_clients``).
        zone_aggregator: hierarchical only: the zone leaders' rule, built for
            ``n_clients / n_zones`` rows.
        events_per_round: streaming only: events per pseudo-round (default
            ``clients_per_round`` or ``n_clients``).
    """

    model: ModelSpec
    n_clients: int
    aggregator: AggregatorSpec = AggregatorSpec()
    orchestrator: str = "sync"
    n_rounds: int = 30
    local_steps: int = 5
    batch_size: int = 16
    lr_schedule: LRSchedule = LRSchedule()
    plateau: ReduceOnPlateau | None = None
    attacks: tuple[str, ...] = ("none",)
    attack_options: tuple = ()
    clients_per_round: int | None = None
    detector: ByzantineDetectorConfig | None = field(default_factory=ByzantineDetectorConfig)
    exclude_flagged: bool = False
    convergence: ConvergenceConfig = field(default_factory=ConvergenceConfig)
    delay: DelayConfig = field(default_factory=DelayConfig)
    staleness: str = "polynomial"
    staleness_a: float = 0.5
    bytes_per_param: int = 4
    n_zones: int = 1
    zone_aggregator: AggregatorSpec | None = None
    events_per_round: int | None = None

    def __post_init__(self):
        set_ = partial(object.__setattr__, self)
        set_("model", _model_spec(self.model))
        set_("aggregator", _aggregator_spec("aggregator", self.aggregator))
        check_choice("orchestrator", self.orchestrator, ORCHESTRATORS)
        for name in ("n_clients", "n_rounds", "local_steps", "batch_size", "bytes_per_param",
                     "n_zones"):  # fmt: skip
            set_(name, check_int(name, getattr(self, name), low=1))
        if self.clients_per_round is not None:
            check_int("clients_per_round", self.clients_per_round, 1, self.n_clients)
        if not isinstance(self.lr_schedule, LRSchedule):
            raise TypeError(f"lr_schedule must be an LRSchedule, got {self.lr_schedule!r}")
        if self.plateau is not None and not isinstance(self.plateau, ReduceOnPlateau):
            raise TypeError(f"plateau must be None or reduce_on_plateau(...), got {self.plateau!r}")
        attacks = (self.attacks,) if isinstance(self.attacks, str) else tuple(self.attacks)
        set_("attacks", attacks)
        valid = DATA_ATTACKS + tuple(a for a in ATTACKS if a not in DATA_ATTACKS)
        if not attacks or any(a not in valid for a in attacks):
            raise ValueError(
                f"attacks must be a non-empty tuple of names from {valid}, got {self.attacks!r}"
            )
        set_("attack_options", _freeze_attack_options(self.attack_options))
        for attack, opts in self.attack_options:
            if attack not in attacks:
                raise ValueError(
                    f"attack_options has options for {attack!r}, not in attacks={attacks}"
                )
            for name, _ in opts:
                if name == ATTACK_STRENGTHS.get(attack):
                    raise ValueError(
                        f"attack_options: {name!r} is the strength of {attack!r}; set it in the"
                        f" params: make_params(..., attack_strength={{{attack!r}: value}})"
                    )
                if name not in _ATTACK_OPTIONS[attack]:
                    raise ValueError(
                        f"attack_options: unknown option {name!r} for {attack!r}; allowed:"
                        f" {sorted(_ATTACK_OPTIONS[attack])}"
                    )
        check_choice("staleness", self.staleness, STALENESS_KINDS)
        check_real("staleness_a", self.staleness_a, 0.0)
        if self.zone_aggregator is not None:
            set_("zone_aggregator", _aggregator_spec("zone_aggregator", self.zone_aggregator))
        n_server = self.n_clients
        if self.orchestrator == "hierarchical":
            if self.n_clients % self.n_zones:
                raise ValueError(f"n_zones={self.n_zones} must divide n_clients={self.n_clients}")
            if self.zone_aggregator is None:
                raise ValueError("the hierarchical orchestrator needs zone_aggregator")
            self.zone_aggregator.build(self.n_clients // self.n_zones)
            n_server = self.n_zones
        if self.orchestrator == "batch_async" and self.clients_per_round is None:
            raise ValueError(
                "the batch_async orchestrator needs clients_per_round = k (aggregate the first"
                " k arrivals), got None"
            )
        if self.events_per_round is not None:
            check_int("events_per_round", self.events_per_round, low=1)
        if self.orchestrator != "streaming":
            self.aggregator.build(n_server)  # checks the breakdown condition now

    @property
    def update_bytes(self) -> int:
        """Bytes of one model (or update) on the wire."""
        return self.model.build().n_params * self.bytes_per_param


class FLParams(NamedTuple):
    """What varies between runs (traced; vmap over it to sweep without recompiling).

    Attributes:
        byzantine: ``bool[n]`` ground-truth attackers.
        attack: ``i32[]`` index into ``FLConfig.attacks``.
        attack_strength: ``f32[A]`` strength of each attack of ``FLConfig.attacks`` (its
            :data:`~meshlab.fl.attacks.ATTACK_STRENGTHS` option; NaN for ALIE: Baruch et
            al.'s ``z``; unused for attacks without a strength).
        client_lr: ``f32[]`` base client learning rate (shaped by ``config.lr_schedule``).
        server_lr: ``f32[]`` server step on the aggregate (streaming: FedAsync mixing).
        f: ``i32[]`` Byzantine clients the aggregation rule is told to tolerate: ``-1``
            (the default) for the ``f`` its spec was built for, else at most that (one
            compiled rule serves every smaller ``f``; see ``Aggregator.aggregate``). The
            default follows the config the params run with, so one params pytree serves
            rules built for different ``f``.
    """

    byzantine: Bool[Array, " n"]
    attack: Int[Array, ""]
    attack_strength: Float[Array, " A"]
    client_lr: Float[Array, ""]
    server_lr: Float[Array, ""]
    f: Int[Array, ""]


_DEFAULT_STRENGTH = {"sign_flip": 1.0, "gaussian": 1.0, "alie": float("nan"), "ipm": 0.1}


def make_params(
    config: FLConfig,
    byzantine: Any = None,
    *,
    attack: int | str = 0,
    attack_strength: Mapping[str, float] | None = None,
    client_lr: float = 0.1,
    server_lr: float = 1.0,
    f: int | None = None,
) -> FLParams:
    """Validated :class:`FLParams` for ``config`` (concrete values, checked once).

    Args:
        config: the static configuration.
        byzantine: ``bool[n_clients]`` attackers (default: none).
        attack: index or name in ``config.attacks``.
        attack_strength: ``{attack: strength}`` overrides; defaults: ``sign_flip`` 1,
            ``gaussian`` 1, ``scaling`` ``n_clients``, ``alie`` Baruch et al.'s ``z``,
            ``ipm`` 0.1.
        client_lr: base client learning rate (> 0).
        server_lr: server step / streaming mixing weight (> 0).
        f: Byzantine clients the rule tolerates in these runs, in ``[0,
            config.aggregator.f]`` (default: the ``f`` of whichever rule the runs use).

    Raises:
        ValueError: wrong shapes, unknown attack, bad strengths or rates, ``f`` out of range.
    """
    n = config.n_clients
    byz = np.zeros(n, bool) if byzantine is None else np.asarray(byzantine)
    if byz.shape != (n,) or byz.dtype != np.bool_:
        raise ValueError(f"byzantine must be bool[{n}], got {byz.dtype}{list(byz.shape)}")
    if isinstance(attack, str):
        attack = config.attacks.index(check_choice("attack", attack, config.attacks))
    attack = check_int("attack", attack, 0, len(config.attacks) - 1)
    given = dict(attack_strength or {})
    for name, v in given.items():
        if name not in config.attacks or name not in ATTACK_STRENGTHS:
            allowed = [a for a in config.attacks if a in ATTACK_STRENGTHS]
            raise ValueError(f"attack_strength: {name!r} is not an attack with a strength in"
                             f" config.attacks; allowed: {allowed}")  # fmt: skip
        lo = 0.0 if name in ("gaussian",) else None
        check_real(f"attack_strength[{name!r}]", v, lo)
    strengths = [
        given.get(a, float(n) if a == "scaling" else _DEFAULT_STRENGTH.get(a, float("nan")))
        for a in config.attacks
    ]
    return FLParams(
        jnp.asarray(byz),
        jnp.int32(attack),
        jnp.asarray(strengths, jnp.float32),
        jnp.float32(check_real("client_lr", client_lr, 0.0, low_open=True)),
        jnp.float32(check_real("server_lr", server_lr, 0.0, low_open=True)),
        jnp.int32(-1 if f is None else check_int("f", f, 0, config.aggregator.f)),
    )


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
    detector: ByzantineDetectorState
    convergence: ConvergenceState
    plateau: PlateauState
    buffer: AsyncBuffer | None


class RoundInfo(NamedTuple):
    """Per-round metrics (the ``Info`` of a step; stacked to ``[T]`` by :func:`rollout`).

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


# ----------------------------------------------------------------------------- kernel


def build(config: FLConfig, data: FederatedData) -> Kernel:
    """Validates ``config`` against ``data`` once and returns the orchestrator's kernel.

    Args:
        config: static configuration (``config.orchestrator`` picks the scheme).
        data: federated data with ``config.n_clients`` clients and the model's features.

    Returns:
        :class:`meshlab.core.Kernel` with ``init(key, params) -> FLState`` and
        ``step(key, state, params) -> (FLState, RoundInfo)``.

    Raises:
        TypeError: ``config`` or ``data`` of the wrong type.
        ValueError: ``data`` does not match ``config``.
    """
    if not isinstance(config, FLConfig):
        raise TypeError(f"config must be an FLConfig, got {type(config).__name__}")
    if not isinstance(data, FederatedData):
        raise TypeError(f"data must be a FederatedData, got {type(data).__name__}")
    if data.n_clients != config.n_clients:
        raise ValueError(
            f"data has {data.n_clients} clients but config.n_clients={config.n_clients}"
        )
    if data.n_features != config.model.n_features:
        raise ValueError(
            f"data has {data.n_features} features but the model expects {config.model.n_features}"
        )
    return Kernel(config, data, _init, _step)


def rollout(
    kernel: Kernel,
    key: jax.Array,
    params: FLParams,
    n_steps: int | None = None,
    *,
    state: FLState | None = None,
    inputs: Any = None,
) -> tuple[FLState, RoundInfo]:
    """:func:`meshlab.core.rollout` with ``n_steps`` defaulting to ``config.n_rounds``.

    Returns:
        ``(final FLState, RoundInfo[T])``.
    """
    _check_params(kernel.config, params)
    n_steps = kernel.config.n_rounds if n_steps is None else n_steps
    return core_kernel.rollout(kernel, key, params, n_steps, state=state, inputs=inputs)


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _batch_jit(init_fn, step_fn, config, n_steps, data, keys, params):
    k = Kernel(config, data, init_fn, step_fn)
    run = lambda key, p: core_kernel.scan_steps(k, key, p, n_steps)
    return jax.vmap(run)(keys, params)


def rollout_batch(
    kernel: Kernel, keys: jax.Array, params: FLParams, n_steps: int | None = None
) -> tuple[FLState, RoundInfo]:
    """Many runs at once: ``vmap`` over the leading axes of ``keys`` and ``params``.

    Run ``i`` equals ``rollout(kernel, keys[i], params[i])``. One compilation per config,
    data shapes and batch shape, whatever the values in ``params`` (see
    :func:`meshlab.core.batching.stack_params` to build a batch of params points).

    Args:
        kernel: from :func:`build`.
        keys: typed keys of shape ``[*batch]`` (one per scenario and seed).
        params: :class:`FLParams` with leading axes ``[*batch]`` on every leaf.
        n_steps: rounds (default ``config.n_rounds``).

    Returns:
        ``(final states, RoundInfo)`` with leading axes ``[*batch]`` (+ ``[T]`` for info).
    """
    check_key(keys)
    batch = keys.shape
    for leaf in jax.tree.leaves(params):
        if leaf.shape[: len(batch)] != batch:
            raise ValueError(
                f"every params leaf must have leading axes {batch} like keys; got "
                f"{jax.tree.map(jnp.shape, params)}"
            )
    flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[len(batch) :]), params)
    _check_params(kernel.config, jax.tree.map(lambda x: x[0], flat))
    n_steps = check_int("n_steps", kernel.config.n_rounds if n_steps is None else n_steps, low=1)
    states, info = _batch_jit(
        kernel.init_fn, kernel.step_fn, kernel.config, n_steps, kernel.data, keys.reshape(-1), flat
    )
    unflat = lambda x: x.reshape(*batch, *x.shape[1:])
    return jax.tree.map(unflat, states), jax.tree.map(unflat, info)


def summarize(result: tuple[FLState, RoundInfo], config: FLConfig, params: FLParams) -> dict:
    """Per-run summary of a rollout (any leading batch axes are kept).

    Args:
        result: ``(final state, RoundInfo[..., T])`` from :func:`rollout` / :func:`rollout_batch`.
        config: the configuration it ran with.
        params: the params it ran with.

    Returns:
        numpy arrays of shape ``[...]``: ``final_accuracy``, ``final_loss``,
        ``final_precision``, ``final_recall``, ``final_f1`` (detector after the last round),
        ``converged_round`` (-1: never), ``rounds_to_isolate`` (first round after which the
        detector's F1 is 1, -1: never), ``time_s`` (simulated clock) and ``bytes_server``
        (cumulative server-tier bytes).
    """
    state, info = result
    f1 = np.asarray(info.f1)
    exact = f1 >= 1.0
    return {
        "final_accuracy": np.asarray(info.accuracy)[..., -1],
        "final_loss": np.asarray(info.loss)[..., -1],
        "final_precision": np.asarray(info.precision)[..., -1],
        "final_recall": np.asarray(info.recall)[..., -1],
        "final_f1": f1[..., -1],
        "converged_round": np.asarray(state.convergence.round),
        "rounds_to_isolate": np.where(exact.any(-1), exact.argmax(-1) + 1, -1),
        "time_s": np.asarray(state.time_s),
        "bytes_server": np.asarray(state.bytes_server),
    }


def time_to_accuracy(info: RoundInfo, target: float) -> Float[Array, "..."]:
    """Simulated time (s) at which test accuracy first reaches ``target`` (inf: never).

    Args:
        info: per-round metrics with the round axis last (``[..., T]``).
        target: accuracy threshold in [0, 1].
    """
    check_real("target", target, 0.0, 1.0)
    hit = info.accuracy >= target
    first = jnp.argmax(hit, axis=-1)
    t = jnp.take_along_axis(info.time_s, first[..., None], axis=-1)[..., 0]
    return jnp.where(hit.any(axis=-1), t, jnp.inf)


def _check_params(cfg: FLConfig, params: FLParams) -> None:
    if not isinstance(params, FLParams):
        raise TypeError(f"params must be FLParams (see make_params), got {type(params).__name__}")
    if jnp.shape(params.byzantine) != (cfg.n_clients,):
        raise ValueError(
            f"params.byzantine must have shape ({cfg.n_clients},), got {jnp.shape(params.byzantine)}"
        )
    if jnp.shape(params.attack_strength) != (len(cfg.attacks),):
        raise ValueError(
            f"params.attack_strength must have shape ({len(cfg.attacks)},) (one per attack),"
            f" got {jnp.shape(params.attack_strength)}"
        )


def _init(key, data: FederatedData, cfg: FLConfig, params: FLParams) -> FLState:
    if cfg.orchestrator == "streaming":
        return _streaming_init(key, data, cfg, params)
    buf = None
    if cfg.orchestrator == "batch_async":
        n, d = cfg.n_clients, cfg.model.build().n_params
        buf = AsyncBuffer(
            jnp.zeros((n, d), jnp.float32), jnp.full((n,), jnp.inf, jnp.float32),
            jnp.zeros(n, jnp.int32), jnp.zeros(n, bool),
        )  # fmt: skip
    return _init_state(key, cfg, data, buf)


def _step(key, state: FLState, data: FederatedData, cfg: FLConfig, params: FLParams, inputs=None):
    if cfg.orchestrator == "batch_async":
        return _batch_async_step(key, state, data, cfg, params)
    if cfg.orchestrator == "streaming":
        return _streaming_step(key, state, data, cfg, params)
    return _sync_step(key, state, data, cfg, params)


# ----------------------------------------------------------------------------- helpers


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


def _client_lr(cfg: FLConfig, state: FLState, params: FLParams):
    base = cfg.lr_schedule(params.client_lr, state.round)
    return jnp.asarray(base, jnp.float32) * state.plateau.scale


def _labels(cfg: FLConfig, data: FederatedData, params: FLParams):
    if "label_flip" not in cfg.attacks:
        return data.y
    on = params.attack == cfg.attacks.index("label_flip")
    flip = on & params.byzantine
    return jnp.where(flip[:, None], cfg.model.n_classes - 1 - data.y, data.y)


def _attack(key, cfg: FLConfig, params: FLParams, updates, byzantine, aggregate=None):
    """``aggregate``: ``(key, f32[n, d]) -> f32[d]``, the server's real aggregation of these
    rows (flat, hierarchical and batch-async rounds pass it); the optimized attacks
    (``attacks.OPTIMIZED``) maximize its displacement. Streaming has no aggregation rule
    (each update is applied as it arrives): there they query the plain mean of the table."""
    options = dict(cfg.attack_options)

    def branch(i, name):
        if name in DATA_ATTACKS:
            return lambda k, u, b: u
        opts = dict(options.get(name, ()))
        if name in OPTIMIZED and aggregate is not None:
            opts["aggregate"] = aggregate
        if name in ATTACK_STRENGTHS:
            opts[ATTACK_STRENGTHS[name]] = params.attack_strength[i]
        return lambda k, u, b: attack_rows(k, name, u, b, **opts).astype(u.dtype)

    branches = [branch(i, a) for i, a in enumerate(cfg.attacks)]
    if len(branches) == 1:
        return branches[0](key, updates, byzantine)
    return jax.lax.switch(params.attack, branches, key, updates, byzantine)


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
    k_model, k_prof = jax.random.split(key)
    plateau = (
        cfg.plateau.init()
        if cfg.plateau is not None
        else PlateauState(jnp.float32(1.0), jnp.float32(jnp.inf), jnp.int32(0), jnp.int32(0))
    )
    return FLState(
        params=cfg.model.build().init(k_model),
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


def _detect(cfg: FLConfig, det: ByzantineDetectorState, updates, mask):
    if cfg.detector is None:
        return det
    return detector_update(cfg.detector, det, updates, mask)[0]


def _finish(cfg, state, data, params, *, new_params, agg, det, lr, part, honest_loss, b_server, b_total,
            time_s, staleness, version, buffer):  # fmt: skip
    """Evaluates the new model, updates the detectors and packs the RoundInfo."""
    model = cfg.model.build()
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


def _local_updates(key, cfg: FLConfig, state: FLState, data, y, lr):
    return local_updates(
        key, cfg.model.build(), state.params, data.x, y, data.mask,
        steps=cfg.local_steps, batch_size=cfg.batch_size, lr=lr,
    )  # fmt: skip


# ----------------------------------------------------------------- synchronous / hierarchical


def _sync_step(key, state, data, cfg: FLConfig, params: FLParams):
    """One synchronous (or hierarchical) round.

    Flat bytes per round (server tier = total): ``2 * m * d * bytes_per_param`` for ``m``
    participants. Hierarchical: clients ``[z * n / Z, (z + 1) * n / Z)`` form zone ``z``;
    client tier ``2 * m * d * B``, server tier ``2 * Z_act * d * B`` (``Z_act`` zones with a
    participant); a round lasts the slowest zone's slowest client plus the leader's round
    trip to the server.
    """
    k_sel, k_train, k_att, k_agg, k_delay, k_extra = jax.random.split(key, 6)
    part = _sample(k_sel, _eligible(cfg, state, data), cfg.clients_per_round)
    lr = _client_lr(cfg, state, params)
    y = _labels(cfg, data, params)
    deltas, linfo = _local_updates(k_train, cfg, state, data, y, lr)
    byz = params.byzantine & part
    flat = cfg.orchestrator != "hierarchical"
    if flat:
        rule = cfg.aggregator.build(cfg.n_clients)
        real = lambda k, u: rule.aggregate(k, u, part, f=_told_f(rule.f, params))[0]
    else:
        real = lambda k, u: _hier_aggregate(k, cfg, u, part, params.f)
    sent = _attack(k_att, cfg, params, deltas, byz, real)
    det = _detect(cfg, state.detector, sent, part)
    ub = cfg.update_bytes
    if cfg.orchestrator == "hierarchical":
        agg = _hier_aggregate(k_agg, cfg, sent, part, params.f)
        duration = _hier_time(k_extra, cfg, _round_trip_s(k_delay, cfg, state.profile), part)
        active = part.reshape(cfg.n_zones, -1).any(axis=1).sum().astype(jnp.float32)
        b_server = 2.0 * active * ub
        b_total = b_server + 2.0 * part.sum().astype(jnp.float32) * ub
    else:
        rule = cfg.aggregator.build(cfg.n_clients)
        agg = rule.aggregate(k_agg, sent, part, f=_told_f(rule.f, params))[0]
        duration = jnp.max(jnp.where(part, _round_trip_s(k_delay, cfg, state.profile), 0.0))
        b_server = b_total = 2.0 * part.sum().astype(jnp.float32) * ub
    new_params = state.params + params.server_lr * agg
    return _finish(
        cfg, state, data, params, new_params=new_params, agg=agg, det=det, lr=lr, part=part,
        honest_loss=_honest_loss(linfo.loss, part, params.byzantine), b_server=b_server,
        b_total=b_total, time_s=state.time_s + duration, staleness=0.0,
        version=state.version + 1, buffer=None,
    )  # fmt: skip


def _told_f(rule_f: int, params: FLParams | Array) -> Array:
    """The ``f`` a rule built for ``rule_f`` is told: ``params.f``, or ``rule_f`` if -1."""
    f = params.f if isinstance(params, FLParams) else params
    return jnp.where(f < 0, rule_f, f).astype(jnp.int32)


def _hier_aggregate(key, cfg: FLConfig, sent, part, f):
    n_zones, zs = cfg.n_zones, cfg.n_clients // cfg.n_zones
    zone_rule = cfg.zone_aggregator.build(zs)
    k_zone, k_glob = jax.random.split(key)
    d = sent.shape[1]
    part_z = part.reshape(n_zones, zs)
    zone_out, _ = jax.vmap(zone_rule.aggregate)(
        jax.random.split(k_zone, n_zones), sent.reshape(n_zones, zs, d), part_z
    )
    active = part_z.any(axis=1)
    zone_out = jnp.where(active[:, None], zone_out, 0.0)
    rule = cfg.aggregator.build(n_zones)
    return rule.aggregate(k_glob, zone_out, active, f=_told_f(rule.f, f))[0]


def _hier_time(key, cfg: FLConfig, rtt, part):
    n_zones, ub = cfg.n_zones, cfg.update_bytes
    zone_t = jnp.max(jnp.where(part, rtt, 0.0).reshape(n_zones, -1), axis=1)
    lat = jnp.full((n_zones,), cfg.delay.leader_latency_s, jnp.float32)
    k1, k2 = jax.random.split(key)
    leader = _message_s(k1, cfg.delay, lat, ub) + _message_s(k2, cfg.delay, lat, ub)
    active = part.reshape(n_zones, -1).any(axis=1)
    return jnp.max(jnp.where(active, zone_t + leader, 0.0))


# ------------------------------------------------------------------------ batch-async


def _batch_async_step(key, state, data, cfg: FLConfig, params: FLParams):
    """Aggregates the first ``k = config.clients_per_round`` arrivals of the round.

    Idle clients start on the current model at the round's start; the round ends at the
    ``k``-th earliest pending arrival; the ``k`` arrived updates, scaled by their
    staleness weight ``w(s)`` (``s`` = versions since the client's model), are
    aggregated; later arrivals stay in flight and count as stale next round.
    Server bytes per round: one download per starting client plus ``k`` uploads.
    """
    k_train, k_att, k_agg, k_delay = jax.random.split(key, 4)
    buf = state.buffer
    eligible = _eligible(cfg, state, data)
    starters = eligible & ~buf.pending
    lr = _client_lr(cfg, state, params)
    y = _labels(cfg, data, params)
    fresh, linfo = _local_updates(k_train, cfg, state, data, y, lr)
    rtt = _round_trip_s(k_delay, cfg, state.profile)
    update = jnp.where(starters[:, None], fresh, buf.update)
    arrival = jnp.where(starters, state.time_s + rtt, buf.arrival)
    base = jnp.where(starters, state.version, buf.base_version)
    pending = (buf.pending | starters) & eligible
    rank = jnp.argsort(jnp.argsort(jnp.where(pending, arrival, jnp.inf)))
    sel = pending & (rank < cfg.clients_per_round)
    t_end = jnp.maximum(state.time_s, jnp.max(jnp.where(sel, arrival, -jnp.inf)))
    stale = (state.version - base).astype(jnp.float32)
    w = staleness_weight(stale, cfg.staleness, cfg.staleness_a)
    rule = cfg.aggregator.build(cfg.n_clients)
    real = lambda k, u: rule.aggregate(k, u * w[:, None], sel, f=_told_f(rule.f, params))[0]
    sent = _attack(k_att, cfg, params, update, params.byzantine & sel, real)
    det = _detect(cfg, state.detector, sent, sel)
    agg = real(k_agg, sent)
    new_params = state.params + params.server_lr * agg
    b = (starters.sum() + sel.sum()).astype(jnp.float32) * float(cfg.update_bytes)
    new_buf = AsyncBuffer(update, arrival, base.astype(jnp.int32), pending & ~sel)
    mean_stale = jnp.where(sel, stale, 0.0).sum() / jnp.maximum(sel.sum(), 1).astype(jnp.float32)
    return _finish(
        cfg, state, data, params, new_params=new_params, agg=agg, det=det, lr=lr, part=sel,
        honest_loss=_honest_loss(linfo.loss, starters, params.byzantine), b_server=b, b_total=b,
        time_s=t_end, staleness=mean_stale, version=state.version + 1, buffer=new_buf,
    )  # fmt: skip


# -------------------------------------------------------------------------- streaming


def _events_per_round(cfg: FLConfig) -> int:
    return cfg.events_per_round or cfg.clients_per_round or cfg.n_clients


def _streaming_init(key, data, cfg: FLConfig, params: FLParams) -> FLState:
    k_state, k_train, k_delay = jax.random.split(key, 3)
    state = _init_state(k_state, cfg, data)
    y = _labels(cfg, data, params)
    lr = _client_lr(cfg, state, params)
    upd, _ = _local_updates(k_train, cfg, state, data, y, lr)
    eligible = data.mask.any(axis=1)
    arrival = jnp.where(eligible, _round_trip_s(k_delay, cfg, state.profile), jnp.inf)
    n = cfg.n_clients
    return state._replace(buffer=AsyncBuffer(upd, arrival, jnp.zeros(n, jnp.int32), eligible))


def _streaming_step(key, state, data, cfg: FLConfig, params: FLParams):
    """Applies every update as it arrives (no server rounds), FedAsync-style.

    Each event takes the earliest pending arrival ``i`` (``argmin`` over the in-flight
    table), applies ``params += server_lr * w(s) * update_i`` (``server_lr`` is the
    FedAsync mixing weight, ``w`` the staleness weight, ``s`` the versions applied since
    ``i`` fetched its model), and restarts client ``i`` on the new model. Attackers
    replace their in-flight update using the whole table (omniscient attacker);
    ``config.aggregator`` is not used. The detector and the metrics run once per
    ``events_per_round`` events. Server bytes: ``2 * d * B`` per event.
    """
    model = cfg.model.build()
    n, d = cfg.n_clients, model.n_params
    epr = _events_per_round(cfg)
    has_attack = any(a not in DATA_ATTACKS for a in cfg.attacks)
    y = _labels(cfg, data, params)
    lr = _client_lr(cfg, state, params)
    eligible = _eligible(cfg, state, data)

    def event(carry, k):
        p, buf, version, now, table, delivered, loss_sum = carry
        k_att, k_train, k_delay = jax.random.split(k, 3)
        i = jnp.argmin(jnp.where(eligible & buf.pending, buf.arrival, jnp.inf))
        t = jnp.maximum(now, buf.arrival[i])
        if has_attack:
            u = _attack(k_att, cfg, params, buf.update, params.byzantine & eligible)[i]
        else:
            u = buf.update[i]
        stale = (version - buf.base_version[i]).astype(jnp.float32)
        p = p + params.server_lr * staleness_weight(stale, cfg.staleness, cfg.staleness_a) * u
        new_u, linfo = local_update(
            k_train, model, p, data.x[i], y[i], data.mask[i],
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

    k_events, _ = jax.random.split(key)
    carry0 = (state.params, state.buffer, state.version, state.time_s, jnp.zeros((n, d), jnp.float32),
              jnp.zeros(n, bool), jnp.zeros(2, jnp.float32))  # fmt: skip
    (p, buf, version, now, table, delivered, loss_sum), stale = jax.lax.scan(
        event, carry0, jax.random.split(k_events, epr)
    )
    det = _detect(cfg, state.detector, table, delivered)
    agg = p - state.params
    b = 2.0 * epr * cfg.update_bytes
    return _finish(
        cfg, state, data, params, new_params=p, agg=agg, det=det, lr=lr, part=delivered,
        honest_loss=loss_sum[0] / jnp.maximum(loss_sum[1], 1.0), b_server=b, b_total=b,
        time_s=now, staleness=stale.mean(), version=version, buffer=buf,
    )  # fmt: skip
