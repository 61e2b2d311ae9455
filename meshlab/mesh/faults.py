# ruff: noqa: F722  (jaxtyping shape strings)
"""Faults as parameters: a fixed-capacity fault schedule the kernels evaluate per round.

A :class:`FaultParams` holds ``F`` fault slots. Slot ``f`` acts in the rounds
``start_round[f] <= r < end_round[f]`` when ``active[f]``; its ``kind`` says what it does
and ``targets[f]`` (a node mask) or ``groups[f]`` (a group id per node, partitions) says
to whom; ``magnitude[f]``, ``aux[f]`` (three numbers) and ``mode[f]`` (a code) carry the
kind's numbers. Memory is ``O(F * N)`` for the schedule plus ``O(N * K)`` for the fault
state (:class:`FaultState`: burst-loss chains, uplink backlogs, churn and cascade
processes), independent of the number of rounds. The schedule is a pytree of arrays: it
lives in ``BeaconParams.faults`` (or ``GossipParams.faults``), so a batch of schedules of
one shape (same ``F`` and ``N``) ``vmap``\\ s without recompiling::

    from meshlab.mesh import beacons, faults
    f = faults.combine([
        faults.crash([3, 17], start_round=5, end_round=40, n_nodes=100),   # restarts at 40
        faults.partition(groups, start_round=10, end_round=20),            # heals at 20
        faults.loss(range(10), 0.3, start_round=0, n_nodes=100, direction="to"),
        faults.burst_loss(range(10), 0.05, 0.25, 0, n_nodes=100),          # netem gemodel
        faults.pause([5], start_round=30, end_round=35, n_nodes=100),      # SIGSTOP / SIGCONT
    ])
    params = beacons.params(faults=f)

Kinds (:data:`KINDS`; the code is the index), with the tool each mirrors:

* ``CRASH`` (Jepsen kill, Chaos Mesh PodKill): the targets are stopped (``node_up =
  False``): they neither send nor process, and their backlog is dropped; they restart at
  ``end_round``. ``mode`` :data:`STATE_LOST` (default): their link sessions are dropped (a
  KEM handshake on the first beacon after the restart; gossip: the node forgets what it
  knew); :data:`STATE_KEPT`: sessions (gossip: known updates) survive the crash.
* ``SLOWDOWN`` (gray failure, Chaos Mesh StressChaos): service times x ``magnitude``.
* ``INVALID``: the targets' beacons fail verification (``beacon_valid = False``).
* ``PARTITION`` (Jepsen partitioner, Chaos Mesh NetworkChaos partition): links whose
  sender and receiver are in different ``groups`` carry nothing. ``direction`` ``"both"``
  cuts every crossing link, ``"to"`` only messages from a lower to a higher group id,
  ``"from"`` only from a higher to a lower id.
* ``LATENCY`` (netem ``delay MEAN JITTER distribution``, toxiproxy latency): the selected
  links' latency grows by ``max(0, magnitude + X)`` seconds with ``X`` by
  ``mode`` (:data:`LATENCY_DISTS`): ``"normal"`` ``aux[0] * Z``, ``"uniform"``
  ``aux[0] * (2U - 1)``, ``"lognormal"`` ``aux[0] * exp(aux[1] * Z)``, ``"pareto"``
  (Lomax, the link module's) ``aux[0] * (U^(-1/aux[1]) - 1)``; ``aux[2] = 1`` draws ``X``
  once per link for the whole run (static), ``0`` per message. All latency slots on one
  link share its draw of a round.
* ``LOSS`` (netem loss, toxiproxy): extra iid loss probability ``magnitude`` on the
  selected links (independent of the channel's loss and of other loss slots).
* ``LINK_DOWN``: the selected links carry nothing.
* ``BURST_LOSS`` (netem ``loss gemodel p r 1-h 1-k``): a Gilbert–Elliott chain per
  selected link (good -> bad w.p. ``aux[0]`` = p, bad -> good w.p. ``aux[1]`` = r per
  round), extra loss ``magnitude`` in the bad and ``aux[2]`` in the good state; the chain
  starts good when the slot starts and moves before each round's message (stationary bad
  share ``p / (p + r)``, bursts of mean ``1 / r`` rounds). One chain per link: where slots
  overlap on a link the lowest slot's numbers drive it.
* ``BANDWIDTH`` (netem rate, toxiproxy bandwidth): the targets' uplink carries
  ``magnitude`` bytes/s. A node's beacon goes out as one copy per outgoing link, copy ``c``
  (links in receiver order) leaving ``backlog + (c + 1) * beacon_bytes / magnitude`` after
  the send; the uplink backlog carries over rounds as ``max(0, backlog + out_degree *
  beacon_bytes / magnitude - interval_s)`` (the node is assumed to beacon every round).
* ``FLAP`` (flaky links, Chaos Mesh NetworkChaos with a schedule): the selected links are
  up for the first ``round(aux[0] * magnitude)`` rounds of every period of ``magnitude``
  rounds counted from ``start_round`` (``aux[0]`` = duty cycle) and down for the rest.
* ``PAUSE`` (Jepsen pause, SIGSTOP/SIGCONT): a frozen node neither beacons nor serves;
  beacons reaching it queue and are served from ``end_round`` on (it comes back with a
  backlog). ``end_round`` is required.
* ``CLOCK`` (Jepsen clock bump / strobe, Chaos Mesh TimeChaos): the target's failure
  detector reads its clock as ``t + magnitude + aux[0] * 1e-6 * (t - t_start)`` (offset in
  s, drift in ppm; piecewise constant per round).
* ``CHURN`` (peer-to-peer churn, Weibull sessions): each target alternates between up
  sessions of ``ceil(W)`` rounds, ``W ~ Weibull(shape=aux[1], scale=magnitude)``, and down
  periods of ``ceil(W')`` rounds, ``W' ~ Weibull(aux[1], scale=aux[0])``, drawn from the
  run's key; every target starts up with a fresh session when the slot starts; down is a
  crash (``mode`` as for ``CRASH``).
* ``CASCADE`` (cascading failure): the targets crash at ``start_round``; every round each
  up node's load grows by ``magnitude`` per crashed neighbour (the nodes it hears from);
  its service times are slowed by the load (starting at 1), and a node whose load reaches
  ``aux[0]`` crashes too, until ``end_round``. With :func:`step`'s ``load_cap`` (load
  shedding) a node refuses the growth past the cap.
* ``REPLAY`` (Byzantine replayed / equivocating beacons): each target's beacon is a
  replay with probability ``magnitude``: verified, then rejected (counted in ``rejected``
  and separately in ``replayed``).
* ``VERIFY_FAIL``: a beacon on a selected link fails verification with probability
  ``magnitude`` (rejected; counted in ``verify_failed`` too).
* ``KEM_FAIL``: on a selected link whose session is (re)starting, the handshake fails
  with probability ``magnitude`` per attempt: the beacon is dropped after the handshake
  time (``handshake_failed``), the session stays down and the next beacon retries.

Link kinds select the link ``i <- j`` (receiver ``i``, sender ``j = neighbors[i, k]``) by
``direction``: ``"both"``: ``i`` or ``j`` is a target; ``"to"``: the receiver ``i`` is a
target (traffic to the targets); ``"from"``: the sender ``j`` is (traffic from them).

Several active slots combine: crash / invalid / link-down as "any", slowdowns multiply,
latencies add, losses combine as independent causes, pauses hold until the latest end.
:func:`evaluate` turns the deterministic kinds of a schedule into the round's
:class:`ChaosInput` (the per-round form the step consumes); :func:`step` does the whole
round (random and stateful kinds too) from a key and a :class:`FaultState`
(:func:`init`). Both apply on top of any per-round ``inputs`` the caller passes. Fields
untouched by any active slot are bit-identical to the caller's, so a run whose slots are
all of the first seven kinds gives exactly the numbers it gave before the other kinds
existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.core import rng as _rng
from meshlab.core.validation import check_choice, check_int, check_prob, check_real

__all__ = [
    "BANDWIDTH",
    "BOTH",
    "BURST_LOSS",
    "CASCADE",
    "CHURN",
    "CLOCK",
    "CRASH",
    "DIRECTIONS",
    "FLAP",
    "FROM",
    "GOSSIP_KINDS",
    "INVALID",
    "KEM_FAIL",
    "KINDS",
    "LATENCY",
    "LATENCY_DISTS",
    "LINK_DOWN",
    "LOSS",
    "NEVER",
    "PARTITION",
    "PAUSE",
    "REPLAY",
    "SLOWDOWN",
    "STATES",
    "STATE_KEPT",
    "STATE_LOST",
    "TO",
    "VERIFY_FAIL",
    "ChaosInput",
    "FaultParams",
    "FaultState",
    "bandwidth",
    "burst_loss",
    "cascade",
    "check",
    "churn",
    "clock",
    "combine",
    "crash",
    "evaluate",
    "flapping",
    "init",
    "invalid",
    "kem_fail",
    "latency",
    "link_down",
    "loss",
    "neutral_chaos",
    "node_status",
    "none",
    "pair_status",
    "partition",
    "pause",
    "replay",
    "slowdown",
    "stack",
    "step",
    "verify_fail",
]

KINDS = (
    "crash",
    "slowdown",
    "invalid",
    "partition",
    "latency",
    "loss",
    "link_down",
    "burst_loss",
    "bandwidth",
    "flap",
    "pause",
    "clock",
    "churn",
    "cascade",
    "replay",
    "verify_fail",
    "kem_fail",
)
(
    CRASH,
    SLOWDOWN,
    INVALID,
    PARTITION,
    LATENCY,
    LOSS,
    LINK_DOWN,
    BURST_LOSS,
    BANDWIDTH,
    FLAP,
    PAUSE,
    CLOCK,
    CHURN,
    CASCADE,
    REPLAY,
    VERIFY_FAIL,
    KEM_FAIL,
) = range(len(KINDS))
GOSSIP_KINDS = ("crash", "partition", "loss", "link_down", "flap", "pause")
"""Kinds the gossip model (:mod:`meshlab.membership.gossip`) understands."""
DIRECTIONS = ("both", "to", "from")
BOTH, TO, FROM = range(len(DIRECTIONS))
LATENCY_DISTS = ("normal", "uniform", "lognormal", "pareto")
STATES = ("lost", "kept")
STATE_LOST, STATE_KEPT = range(len(STATES))
NEVER = 2**31 - 1
"""``end_round`` of a fault that never ends."""
_SQRT2 = 1.4142135623730951


class ChaosInput(NamedTuple):
    """One round's fault inputs, the form the beacon step consumes.

    The first six fields are always set; the others are ``None`` when no schedule is
    evaluated (no cost) and set by :func:`step`.

    Attributes:
        link_up: ``bool[N, K]``; False: the link carries nothing this round.
        extra_latency_s: ``f32[N, K]`` seconds added to the link latency.
        extra_loss: ``f32[N, K]`` extra loss probability (independent of the channel's).
        node_up: ``bool[N]``; a stopped node neither sends nor processes (backlog dropped).
        slowdown: ``f32[N]`` multiplier on the node's service times.
        beacon_valid: ``bool[N]``; False: this sender's beacons fail verification (rejected
            after consuming verify time).
        hold_s: ``f32[N]`` seconds from the round start during which the node is frozen
            (paused: it does not beacon and its server does not start before then).
        keep_state: ``bool[N]`` a down node keeps its link sessions.
        clock_offset_s: ``f32[N]`` offset of the node's clock (its detector's timestamps).
        replay: ``bool[N]`` this round's beacon of the sender is a replay (rejected).
        verify_fail: ``bool[N, K]`` the link's beacon fails verification this round.
        kem_fail: ``bool[N, K]`` a handshake on the link fails this round.
    """

    link_up: Bool[Array, "nodes degree"]
    extra_latency_s: Float[Array, "nodes degree"]
    extra_loss: Float[Array, "nodes degree"]
    node_up: Bool[Array, " nodes"]
    slowdown: Float[Array, " nodes"]
    beacon_valid: Bool[Array, " nodes"]
    hold_s: Any = None
    keep_state: Any = None
    clock_offset_s: Any = None
    replay: Any = None
    verify_fail: Any = None
    kem_fail: Any = None


def neutral_chaos(n_nodes: int, max_degree: int) -> ChaosInput:
    """The no-fault :class:`ChaosInput` for an ``N x K`` mesh (optional fields ``None``)."""
    return ChaosInput(
        jnp.ones((n_nodes, max_degree), bool),
        jnp.zeros((n_nodes, max_degree), jnp.float32),
        jnp.zeros((n_nodes, max_degree), jnp.float32),
        jnp.ones((n_nodes,), bool),
        jnp.ones((n_nodes,), jnp.float32),
        jnp.ones((n_nodes,), bool),
    )


class FaultParams(NamedTuple):
    """A fault schedule with ``F`` slots over ``N`` nodes (a params pytree).

    Attributes:
        kind: ``int32[F]`` code, an index into :data:`KINDS`.
        start_round: ``int32[F]`` first round the slot acts in (>= 0).
        end_round: ``int32[F]`` first round it no longer acts in (exclusive;
            :data:`NEVER`: never ends).
        targets: ``bool[F, N]`` target nodes (all kinds but ``PARTITION``).
        groups: ``int32[F, N]`` group id per node (``PARTITION``; zeros otherwise).
        direction: ``int32[F]`` index into :data:`DIRECTIONS` (link kinds and partitions).
        magnitude: ``f32[F]`` the kind's main number (factor, seconds, probability,
            bytes/s, rounds; see the module docstring).
        active: ``bool[F]`` slot in use (inactive slots pad a batch to one shape).
        aux: ``f32[F, 3]`` the kind's further numbers (module docstring; zeros if unused).
        mode: ``int32[F]`` the kind's code (latency distribution, crash state kept/lost).
    """

    kind: Int[Array, " slots"]
    start_round: Int[Array, " slots"]
    end_round: Int[Array, " slots"]
    targets: Bool[Array, "slots nodes"]
    groups: Int[Array, "slots nodes"]
    direction: Int[Array, " slots"]
    magnitude: Float[Array, " slots"]
    active: Bool[Array, " slots"]
    aux: Float[Array, "slots 3"]
    mode: Int[Array, " slots"]

    @property
    def n_slots(self) -> int:
        """Number of slots ``F``."""
        return int(np.shape(self.kind)[-1])

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``N``."""
        return int(np.shape(self.targets)[-1])


class FaultState(NamedTuple):
    """Carried state of the random and stateful kinds (memory ``O(N * K)``).

    Attributes:
        static_u: ``f32[N, K]`` per-link uniforms drawn once (static latency draws).
        ge_bad: ``bool[N, K]`` burst-loss chain state (True = bad).
        tx_backlog_s: ``f32[N]`` uplink backlog of bandwidth-capped senders (s).
        tx_pos: ``int32[N, K]`` position of the link's copy among its sender's copies.
        out_degree: ``int32[N]`` copies each node sends per beacon.
        churn_up: ``bool[N]`` churn process state (True = in an up session).
        churn_left: ``int32[N]`` rounds left in the current churn phase (0: draw anew).
        cascade_load: ``f32[N]`` cascade load (1 = normal).
        cascade_down: ``bool[N]`` nodes the cascade has crashed.
        cascade_refused: ``f32[N]`` cascade load each node refused in the round just
            stepped (``load_cap`` of :func:`step`: load shedding; 0 without a cap).
    """

    static_u: Float[Array, "nodes degree"]
    ge_bad: Bool[Array, "nodes degree"]
    tx_backlog_s: Float[Array, " nodes"]
    tx_pos: Int[Array, "nodes degree"]
    out_degree: Int[Array, " nodes"]
    churn_up: Bool[Array, " nodes"]
    churn_left: Int[Array, " nodes"]
    cascade_load: Float[Array, " nodes"]
    cascade_down: Bool[Array, " nodes"]
    cascade_refused: Float[Array, " nodes"]


# ------------------------------------------------------------------------------ constructors


def _window(start_round: Any, end_round: Any) -> tuple[int, int]:
    start = check_int("start_round", start_round, low=0, high=NEVER - 1)
    if end_round is None:
        return start, NEVER
    end = check_int("end_round", end_round, low=0, high=NEVER)
    if end <= start:
        raise ValueError(
            f"end_round must be > start_round={start} (exclusive end; None: never), got {end}"
        )
    return start, end


def _node_mask(nodes: Any, n_nodes: Any) -> np.ndarray:
    """A ``bool[N]`` mask from a bool mask or a list of distinct node ids."""
    arr = np.asarray(list(nodes) if isinstance(nodes, range) else nodes)
    if arr.dtype == bool:
        if arr.ndim != 1 or arr.size < 1:
            raise ValueError(f"nodes as a mask must be bool[N] with N >= 1, got shape {arr.shape}")
        if n_nodes is not None and check_int("n_nodes", n_nodes, low=1) != arr.size:
            raise ValueError(f"nodes mask has length {arr.size}, but n_nodes={n_nodes}")
        return arr.copy()
    if n_nodes is None:
        raise TypeError("n_nodes is required when nodes is a list of node ids")
    n = check_int("n_nodes", n_nodes, low=1)
    arr = arr.reshape(-1)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"nodes must be node ids (ints) or a bool[N] mask, got {nodes!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"nodes must be node ids in [0, {n}), got {nodes!r}")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"nodes must be distinct, got {nodes!r}")
    mask = np.zeros(n, bool)
    mask[arr.astype(np.int64)] = True
    return mask


def _one(
    kind: int,
    start_round: Any,
    end_round: Any,
    targets: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    direction: str = "both",
    magnitude: float = 0.0,
    aux: Sequence[float] = (0.0, 0.0, 0.0),
    mode: int = 0,
) -> FaultParams:
    start, end = _window(start_round, end_round)
    d = DIRECTIONS.index(check_choice("direction", direction, DIRECTIONS))
    n = targets.size
    g = np.zeros(n, np.int32) if groups is None else groups.astype(np.int32)
    return FaultParams(
        kind=jnp.asarray([kind], jnp.int32),
        start_round=jnp.asarray([start], jnp.int32),
        end_round=jnp.asarray([end], jnp.int32),
        targets=jnp.asarray(targets[None, :], bool),
        groups=jnp.asarray(g[None, :], jnp.int32),
        direction=jnp.asarray([d], jnp.int32),
        magnitude=jnp.asarray([magnitude], jnp.float32),
        active=jnp.ones((1,), bool),
        aux=jnp.asarray([list(aux)], jnp.float32),
        mode=jnp.asarray([mode], jnp.int32),
    )


def none(n_nodes: int, n_slots: int = 0) -> FaultParams:
    """A schedule with ``n_slots`` inactive slots (no fault; pads a batch to one shape)."""
    n = check_int("n_nodes", n_nodes, low=1)
    f = check_int("n_slots", n_slots, low=0)
    return FaultParams(
        kind=jnp.zeros((f,), jnp.int32),
        start_round=jnp.zeros((f,), jnp.int32),
        end_round=jnp.zeros((f,), jnp.int32),
        targets=jnp.zeros((f, n), bool),
        groups=jnp.zeros((f, n), jnp.int32),
        direction=jnp.zeros((f,), jnp.int32),
        magnitude=jnp.zeros((f,), jnp.float32),
        active=jnp.zeros((f,), bool),
        aux=jnp.zeros((f, 3), jnp.float32),
        mode=jnp.zeros((f,), jnp.int32),
    )


def _state_code(state: str) -> int:
    return STATES.index(check_choice("state", state, STATES))


def crash(
    nodes, start_round: int, end_round: int | None = None, *, n_nodes=None, state: str = "lost"
) -> FaultParams:
    """The ``nodes`` are stopped in ``[start_round, end_round)`` and restart at ``end_round``.

    Args:
        nodes: node ids (distinct ints; then ``n_nodes`` is required) or a ``bool[N]`` mask.
        start_round: first round down (>= 0).
        end_round: the restart round (exclusive end; ``None``: never restarts).
        n_nodes: ``N`` (with an id list).
        state: ``"lost"`` (sessions / gossip state dropped) or ``"kept"`` (they survive).
    """
    mode = _state_code(state)
    return _one(CRASH, start_round, end_round, _node_mask(nodes, n_nodes), mode=mode)


def slowdown(
    nodes, factor: float, start_round: int, end_round: int | None = None, *, n_nodes=None
) -> FaultParams:
    """The ``nodes``' service times are multiplied by ``factor`` (> 0) in the window."""
    f = check_real("factor", factor, 0.0, low_open=True)
    return _one(SLOWDOWN, start_round, end_round, _node_mask(nodes, n_nodes), magnitude=f)


def invalid(nodes, start_round: int, end_round: int | None = None, *, n_nodes=None) -> FaultParams:
    """The ``nodes``' beacons fail verification in the window (e.g. an expired identity)."""
    return _one(INVALID, start_round, end_round, _node_mask(nodes, n_nodes))


def _groups(groups: Any, name: str = "groups") -> np.ndarray:
    g = np.asarray(groups)
    if g.ndim != 1 or g.size < 1 or not np.issubdtype(g.dtype, np.integer):
        raise ValueError(f"{name} must be int[N] (a group id per node), got {groups!r}")
    if g.min() < 0:
        raise ValueError(f"{name} must be ids >= 0, got min {g.min()}")
    if np.unique(g).size < 2:
        raise ValueError(
            f"{name} must split the nodes into at least two groups (a partition), "
            f"got the single group {int(g[0])}"
        )
    return g


def partition(
    groups, start_round: int, end_round: int | None = None, direction: str = "both"
) -> FaultParams:
    """Cuts the links between groups in the window.

    Args:
        groups: ``int[N]`` group id (>= 0) per node, at least two distinct ids; links
            whose ends differ are cut.
        start_round, end_round: the window (``end_round`` exclusive; ``None``: never heals).
        direction: ``"both"`` (every crossing link), ``"to"`` (only messages from a lower
            to a higher group id), ``"from"`` (only from a higher to a lower id).
    """
    g = _groups(groups)
    return _one(
        PARTITION, start_round, end_round, np.ones(g.size, bool), groups=g, direction=direction
    )


def latency(
    nodes,
    extra_s: float,
    start_round: int,
    end_round: int | None = None,
    *,
    n_nodes=None,
    direction: str = "both",
    jitter_s: float = 0.0,
    dist: str = "normal",
    shape: float = 1.0,
    per_message: bool = True,
) -> FaultParams:
    """Extra latency on the links selected by ``nodes`` and ``direction`` (netem delay).

    Args:
        nodes, start_round, end_round, n_nodes, direction: as for :func:`loss`.
        extra_s: mean extra seconds (>= 0); the link gets ``max(0, extra_s + X)``.
        jitter_s: scale of ``X`` (>= 0; 0: a constant shift).
        dist: ``X``'s law, one of :data:`LATENCY_DISTS` (module docstring).
        shape: lognormal log-sd / Pareto alpha (> 0).
        per_message: True: a fresh ``X`` per message; False: one ``X`` per link (static).
    """
    x = check_real("extra_s", extra_s, 0.0)
    j = check_real("jitter_s", jitter_s, 0.0)
    s = check_real("shape", shape, 0.0, low_open=True)
    code = LATENCY_DISTS.index(check_choice("dist", dist, LATENCY_DISTS))
    if not isinstance(per_message, bool):
        raise TypeError(f"per_message must be a bool, got {per_message!r}")
    mask = _node_mask(nodes, n_nodes)
    aux = (j, s, 0.0 if per_message else 1.0)
    return _one(
        LATENCY, start_round, end_round, mask, direction=direction, magnitude=x, aux=aux, mode=code
    )


def loss(
    nodes,
    extra_loss: float,
    start_round: int,
    end_round: int | None = None,
    *,
    n_nodes=None,
    direction: str = "both",
) -> FaultParams:
    """Extra loss probability ``extra_loss`` in [0, 1] on the selected links."""
    p = float(check_prob("extra_loss", extra_loss))
    mask = _node_mask(nodes, n_nodes)
    return _one(LOSS, start_round, end_round, mask, direction=direction, magnitude=p)


def link_down(
    nodes, start_round: int, end_round: int | None = None, *, n_nodes=None, direction="both"
) -> FaultParams:
    """The links selected by ``nodes`` and ``direction`` carry nothing in the window."""
    mask = _node_mask(nodes, n_nodes)
    return _one(LINK_DOWN, start_round, end_round, mask, direction=direction)


def _ge_probs(p: Any, r: Any) -> tuple[float, float]:
    p = float(check_prob("p", p))
    r = float(check_prob("r", r))
    if p == 0.0:
        raise ValueError("p (good -> bad) must be > 0: with p = 0 no burst ever starts")
    if r == 0.0:
        raise ValueError("r (bad -> good) must be > 0: with r = 0 the first burst never ends")
    return p, r


def burst_loss(
    nodes,
    p: float,
    r: float,
    start_round: int,
    end_round: int | None = None,
    *,
    n_nodes=None,
    direction: str = "both",
    loss_bad: float = 1.0,
    loss_good: float = 0.0,
) -> FaultParams:
    """Gilbert–Elliott burst loss on the selected links (netem ``loss gemodel p r 1-h 1-k``).

    Args:
        p: good -> bad transition probability per round, in (0, 1].
        r: bad -> good transition probability per round, in (0, 1].
        loss_bad, loss_good: loss probability in each state (netem ``1 - h`` / ``1 - k``),
            with ``loss_bad > loss_good`` (otherwise there are no bursts).
    """
    p, r = _ge_probs(p, r)
    lb = float(check_prob("loss_bad", loss_bad))
    lg = float(check_prob("loss_good", loss_good))
    if not lb > lg:
        raise ValueError(f"loss_bad must be > loss_good={lg} (else no bursts), got {lb}")
    mask = _node_mask(nodes, n_nodes)
    return _one(
        BURST_LOSS,
        start_round,
        end_round,
        mask,
        direction=direction,
        magnitude=lb,
        aux=(p, r, lg),
    )


def bandwidth(
    nodes, bytes_per_s: float, start_round: int, end_round: int | None = None, *, n_nodes=None
) -> FaultParams:
    """Caps the ``nodes``' uplink at ``bytes_per_s`` (> 0, finite): serialization + queueing."""
    b = check_real("bytes_per_s", bytes_per_s, 0.0, low_open=True)
    if not np.isfinite(b):
        raise ValueError(f"bytes_per_s must be finite, got {bytes_per_s}")
    return _one(BANDWIDTH, start_round, end_round, _node_mask(nodes, n_nodes), magnitude=b)


def flapping(
    nodes,
    period_rounds: int,
    duty: float,
    start_round: int,
    end_round: int | None = None,
    *,
    n_nodes=None,
    direction: str = "both",
) -> FaultParams:
    """The selected links flap: up ``round(duty * period_rounds)`` rounds of every period.

    Args:
        period_rounds: period in rounds (>= 2).
        duty: share of each period the links are up, in [0, 1).
    """
    per = check_int("period_rounds", period_rounds, low=2)
    d = check_real("duty", duty, 0.0, 1.0)
    if d >= 1.0:
        raise ValueError(f"duty must be in [0, 1) (1 never flaps), got {duty}")
    mask = _node_mask(nodes, n_nodes)
    return _one(
        FLAP, start_round, end_round, mask, direction=direction, magnitude=per, aux=(d, 0, 0)
    )


def pause(nodes, start_round: int, end_round: int, *, n_nodes=None) -> FaultParams:
    """The ``nodes`` are frozen in ``[start_round, end_round)`` and resume with a backlog."""
    if end_round is None:
        raise ValueError("end_round is required for a pause (the resume round)")
    return _one(PAUSE, start_round, end_round, _node_mask(nodes, n_nodes))


def clock(
    nodes,
    offset_s: float,
    start_round: int,
    end_round: int | None = None,
    *,
    n_nodes=None,
    drift_ppm: float = 0.0,
) -> FaultParams:
    """Skews the ``nodes``' clocks by ``offset_s`` plus ``drift_ppm`` (finite) from the start."""
    off = check_real("offset_s", offset_s)
    drift = check_real("drift_ppm", drift_ppm)
    if not (np.isfinite(off) and np.isfinite(drift)):
        raise ValueError(f"offset_s and drift_ppm must be finite, got {offset_s}, {drift_ppm}")
    mask = _node_mask(nodes, n_nodes)
    return _one(CLOCK, start_round, end_round, mask, magnitude=off, aux=(drift, 0, 0))


def churn(
    nodes,
    session_rounds: float,
    down_rounds: float,
    start_round: int,
    end_round: int | None = None,
    *,
    n_nodes=None,
    shape: float = 1.0,
    state: str = "lost",
) -> FaultParams:
    """The ``nodes`` join and leave: Weibull up sessions and down periods (scales in rounds).

    Args:
        session_rounds: Weibull scale of the up sessions (> 0 rounds).
        down_rounds: Weibull scale of the down periods (> 0 rounds).
        shape: Weibull shape of both (> 0; 1 = exponential).
        state: what a leaving node keeps, as for :func:`crash`.
    """
    s = check_real("session_rounds", session_rounds, 0.0, low_open=True)
    d = check_real("down_rounds", down_rounds, 0.0, low_open=True)
    k = check_real("shape", shape, 0.0, low_open=True)
    mask = _node_mask(nodes, n_nodes)
    mode = _state_code(state)
    return _one(CHURN, start_round, end_round, mask, magnitude=s, aux=(d, k, 0), mode=mode)


def cascade(
    nodes,
    growth: float,
    threshold: float,
    start_round: int,
    end_round: int | None = None,
    *,
    n_nodes=None,
) -> FaultParams:
    """The ``nodes`` crash; their neighbours' load grows by ``growth`` per crashed neighbour
    and round, and a node whose load reaches ``threshold`` (> 1) crashes too."""
    g = check_real("growth", growth, 0.0, low_open=True)
    t = check_real("threshold", threshold, 1.0, low_open=True)
    mask = _node_mask(nodes, n_nodes)
    return _one(CASCADE, start_round, end_round, mask, magnitude=g, aux=(t, 0, 0))


def replay(
    nodes, prob: float, start_round: int, end_round: int | None = None, *, n_nodes=None
) -> FaultParams:
    """Each of the ``nodes``' beacons is a replay / equivocation with probability ``prob``."""
    p = float(check_prob("prob", prob))
    return _one(REPLAY, start_round, end_round, _node_mask(nodes, n_nodes), magnitude=p)


def verify_fail(
    nodes,
    prob: float,
    start_round: int,
    end_round: int | None = None,
    *,
    n_nodes=None,
    direction: str = "to",
) -> FaultParams:
    """Beacons on the selected links fail verification with probability ``prob``."""
    p = float(check_prob("prob", prob))
    mask = _node_mask(nodes, n_nodes)
    return _one(VERIFY_FAIL, start_round, end_round, mask, direction=direction, magnitude=p)


def kem_fail(
    nodes,
    prob: float,
    start_round: int,
    end_round: int | None = None,
    *,
    n_nodes=None,
    direction: str = "both",
) -> FaultParams:
    """Handshakes of (re)starting sessions on the selected links fail with probability ``prob``."""
    p = float(check_prob("prob", prob))
    mask = _node_mask(nodes, n_nodes)
    return _one(KEM_FAIL, start_round, end_round, mask, direction=direction, magnitude=p)


def combine(schedules: Sequence[FaultParams], n_slots: int | None = None) -> FaultParams:
    """Concatenates schedules over one node set into one (slots in order).

    Args:
        schedules: non-empty sequence of :class:`FaultParams` with the same ``N``.
        n_slots: pad with inactive slots to this capacity (default: the total).

    Raises:
        ValueError: empty, different ``N``, or more slots than ``n_slots``.
    """
    schedules = list(schedules)
    if not schedules or not all(isinstance(s, FaultParams) for s in schedules):
        raise ValueError("combine needs a non-empty sequence of FaultParams")
    ns = {s.n_nodes for s in schedules}
    if len(ns) != 1:
        raise ValueError(f"schedules must share one node count, got {sorted(ns)}")
    total = sum(s.n_slots for s in schedules)
    cap = total if n_slots is None else check_int("n_slots", n_slots, low=0)
    if cap < total:
        raise ValueError(f"n_slots must be >= the {total} slots given, got {n_slots}")
    parts = [*schedules, none(ns.pop(), cap - total)]
    return FaultParams(*(jnp.concatenate(xs, axis=0) for xs in zip(*parts, strict=True)))


def stack(schedules: Sequence[FaultParams]) -> FaultParams:
    """Stacks schedules of one shape along a new leading axis (a batch to ``vmap`` over).

    Raises:
        ValueError: empty, or schedules of different ``F`` / ``N`` (pad with
            ``combine(..., n_slots=F)``).
    """
    schedules = list(schedules)
    if not schedules:
        raise ValueError("stack needs at least one FaultParams")
    shapes = {(s.n_slots, s.n_nodes) for s in schedules}
    if len(shapes) != 1:
        raise ValueError(
            f"schedules must share (n_slots, n_nodes), got {sorted(shapes)}; "
            "pad with combine([...], n_slots=F)"
        )
    return FaultParams(*(jnp.stack(xs) for xs in zip(*schedules, strict=True)))


# ------------------------------------------------------------------------------ validation

_CONFLICTS = {
    frozenset((CRASH, PAUSE)): "a node cannot be crashed and paused at once",
    frozenset((CHURN, PAUSE)): "a churning node cannot also be paused",
    frozenset((CHURN,)): "two churn processes on one node",
    frozenset((BURST_LOSS,)): "two burst-loss chains on one node's links",
}


def _where(index: tuple) -> str:
    return "faults[" + ", ".join(str(int(i)) for i in index) + "]"


def _first_bad(name: str, bad: np.ndarray, values: np.ndarray, allowed: str) -> None:
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        raise ValueError(f"{_where(idx)}.{name} must be {allowed}, got {values[idx]!r}")


def check(
    faults: FaultParams,
    n_nodes: int,
    n_rounds: int | None = None,
    kinds: Sequence[str] | None = None,
) -> None:
    """Validates a (concrete, unbatched or batched) schedule for an ``N``-node run.

    Errors name the slot as ``faults[f].field`` (``faults[b, f]`` in a batch), its value
    and what is allowed.

    Args:
        faults: the schedule.
        n_nodes: ``N`` of the mesh.
        n_rounds: the run's length, if known: a slot starting at or after it never acts.
        kinds: kinds the model understands (default: all of :data:`KINDS`).

    Raises:
        TypeError: not a :class:`FaultParams`.
        ValueError: inconsistent shapes, a node count other than ``n_nodes``, unknown kind,
            direction or mode codes, windows not ``0 <= start < end`` or outside the run,
            out-of-range numbers, partitions with fewer than two groups, a pause that never
            resumes, or contradictory overlaps (crash + pause, churn + pause, two churn or
            two burst-loss slots on one node in overlapping windows, two overlapping
            cascades).
    """
    if not isinstance(faults, FaultParams):
        raise TypeError(f"faults must be FaultParams (see meshlab.mesh.faults), got {faults!r}")
    if any(isinstance(x, jax.core.Tracer) for x in faults):
        return
    f = np.shape(faults.kind)
    for name in ("start_round", "end_round", "direction", "magnitude", "active", "mode"):
        if np.shape(getattr(faults, name)) != f:
            raise ValueError(
                f"faults.{name} must have shape {f}, got {np.shape(getattr(faults, name))}"
            )
    for name in ("targets", "groups"):
        if np.shape(getattr(faults, name)) != (*f, n_nodes):
            raise ValueError(
                f"faults.{name} must have shape {(*f, n_nodes)} for this {n_nodes}-node mesh, "
                f"got {np.shape(getattr(faults, name))}"
            )
    if np.shape(faults.aux) != (*f, 3):
        raise ValueError(f"faults.aux must have shape {(*f, 3)}, got {np.shape(faults.aux)}")
    act = np.asarray(faults.active, bool)
    kind = np.where(act, np.asarray(faults.kind), -1)
    allowed = KINDS if kinds is None else tuple(kinds)
    codes = [KINDS.index(k) for k in allowed]
    _first_bad("kind", act & ~np.isin(kind, codes), np.asarray(faults.kind), f"codes of {allowed}")
    d = np.asarray(faults.direction)
    _first_bad("direction", act & ((d < 0) | (d >= 3)), d, f"codes in [0, 3) {DIRECTIONS}")
    s, e = np.asarray(faults.start_round), np.asarray(faults.end_round)
    if (act & ((s < 0) | (e <= s))).any():
        idx = tuple(np.argwhere(act & ((s < 0) | (e <= s)))[0])
        raise ValueError(
            f"{_where(idx)}: fault windows need 0 <= start_round < end_round, "
            f"got {s[idx]} .. {e[idx]}"
        )
    if n_rounds is not None:
        _first_bad(
            "start_round",
            act & (s >= n_rounds),
            s,
            f"< the run's {n_rounds} rounds (it never acts)",
        )
    m = np.asarray(faults.magnitude, np.float64)
    aux = np.asarray(faults.aux, np.float64)
    mode = np.asarray(faults.mode)
    _first_bad("magnitude", act & ~np.isfinite(m), m, "finite")
    _first_bad("aux", act & ~np.isfinite(aux).all(axis=-1), aux, "finite")

    def is_(k):
        return act & (kind == k)

    prob = is_(LOSS) | is_(REPLAY) | is_(VERIFY_FAIL) | is_(KEM_FAIL) | is_(BURST_LOSS)
    _first_bad("magnitude", prob & ((m < 0) | (m > 1)), m, "a probability in [0, 1]")
    _first_bad("magnitude", is_(SLOWDOWN) & (m <= 0), m, "> 0 (a slowdown factor)")
    _first_bad("magnitude", is_(LATENCY) & (m < 0), m, ">= 0 (extra seconds)")
    _first_bad(
        "aux",
        is_(LATENCY) & ((aux[..., 0] < 0) | (aux[..., 1] <= 0)),
        aux,
        "(jitter_s >= 0, shape > 0, per-link flag)",
    )
    _first_bad(
        "mode",
        is_(LATENCY) & ((mode < 0) | (mode >= len(LATENCY_DISTS))),
        mode,
        f"codes of {LATENCY_DISTS}",
    )
    ge_bad = (aux[..., 0] <= 0) | (aux[..., 0] > 1) | (aux[..., 1] <= 0) | (aux[..., 1] > 1)
    ge_bad |= (aux[..., 2] < 0) | (aux[..., 2] >= m)
    _first_bad(
        "aux",
        is_(BURST_LOSS) & ge_bad,
        aux,
        "(p in (0, 1], r in (0, 1], 0 <= loss_good < loss_bad): a chain with bursts",
    )
    _first_bad("magnitude", is_(BANDWIDTH) & (m <= 0), m, "> 0 (bytes/s)")
    _first_bad(
        "magnitude", is_(FLAP) & ((m < 2) | (m != np.round(m))), m, "an integer period >= 2 rounds"
    )
    _first_bad(
        "aux", is_(FLAP) & ((aux[..., 0] < 0) | (aux[..., 0] >= 1)), aux, "(duty in [0, 1), 0, 0)"
    )
    _first_bad("end_round", is_(PAUSE) & (e == NEVER), e, "a finite resume round for a pause")
    _first_bad("magnitude", is_(CHURN) & (m <= 0), m, "> 0 (session scale, rounds)")
    _first_bad(
        "aux",
        is_(CHURN) & ((aux[..., 0] <= 0) | (aux[..., 1] <= 0)),
        aux,
        "(down scale > 0, shape > 0, 0)",
    )
    _first_bad("magnitude", is_(CASCADE) & (m <= 0), m, "> 0 (load growth per neighbour)")
    _first_bad("aux", is_(CASCADE) & (aux[..., 0] <= 1), aux, "(threshold > 1, 0, 0)")
    state_kind = is_(CRASH) | is_(CHURN)
    _first_bad(
        "mode", state_kind & ((mode < 0) | (mode >= len(STATES))), mode, f"codes of {STATES}"
    )
    g = np.asarray(faults.groups)
    part = is_(PARTITION)
    if (part & (g.min(axis=-1, initial=0) < 0)).any():
        _first_bad("groups", part & (g.min(axis=-1) < 0), g, "ids >= 0")
    split = g.max(axis=-1, initial=0) > g.min(axis=-1, initial=0)
    _first_bad("groups", part & ~split, g, "at least two distinct group ids (a partition)")
    _check_overlaps(np.asarray(faults.targets, bool), kind, s, e)


def _check_overlaps(tg: np.ndarray, kind: np.ndarray, s: np.ndarray, e: np.ndarray) -> None:
    """Contradictory slots: same node(s), overlapping windows, conflicting kinds."""
    for b in np.ndindex(kind.shape[:-1]):
        kb, sb, eb, tb = kind[b], s[b], e[b], tg[b]
        for i in range(kb.size):
            for j in range(i + 1, kb.size):
                pair = frozenset((int(kb[i]), int(kb[j])))
                if kb[i] < 0 or kb[j] < 0 or not (sb[i] < eb[j] and sb[j] < eb[i]):
                    continue
                if pair == frozenset((CASCADE,)):
                    raise ValueError(
                        f"{_where((*b, j))} overlaps {_where((*b, i))}: "
                        "two cascades at once are not supported (one cascade process)"
                    )
                why = _CONFLICTS.get(pair)
                if why is not None and (tb[i] & tb[j]).any():
                    node = int(np.argmax(tb[i] & tb[j]))
                    raise ValueError(
                        f"{_where((*b, j))} contradicts {_where((*b, i))} on node {node} in "
                        f"rounds {max(sb[i], sb[j])}..{min(eb[i], eb[j])}: {why}"
                    )


# ------------------------------------------------------------------------------ evaluation


def _on(faults: FaultParams, r) -> Bool[Array, " slots"]:
    return faults.active & (faults.start_round <= r) & (r < faults.end_round)


def _select(faults: FaultParams, send, recv=None):
    """Link selection ``sel`` and partition cut ``cut``, ``bool[F, *send.shape]``.

    ``send`` holds the sender ids of the links; ``recv`` their receivers (``None``: the row
    index, as in a ``[N, K]`` neighbour table).
    """
    tg = faults.targets
    d = faults.direction.reshape((-1,) + (1,) * send.ndim)
    if recv is None:
        t_recv, g_recv = tg[:, :, None], faults.groups[:, :, None]
    else:
        t_recv, g_recv = tg[:, recv], faults.groups[:, recv]
    t_send, g_send = tg[:, send], faults.groups[:, send]
    sel = jnp.where(d == TO, t_recv, jnp.where(d == FROM, t_send, t_recv | t_send))
    cut = jnp.where(
        d == TO, g_send < g_recv, jnp.where(d == FROM, g_send > g_recv, g_send != g_recv)
    )
    return sel, cut


def _flap_down(faults: FaultParams, r) -> Bool[Array, " slots"]:
    """Slots whose flapping links are down in round ``r`` (any kind: mask with FLAP)."""
    period = jnp.maximum(faults.magnitude, 1.0).astype(jnp.int32)
    up_rounds = jnp.round(faults.aux[:, 0] * faults.magnitude).astype(jnp.int32)
    return jnp.mod(r - faults.start_round, period) >= up_rounds


def _expand(x, ndim):
    return x.reshape((-1,) + (1,) * ndim)


def _normal(u):
    return _SQRT2 * jax.lax.erf_inv(2.0 * u - 1.0)


def _latency_term(faults: FaultParams, u_static, u_msg) -> Float[Array, "slots nodes degree"]:
    """``X`` of every latency slot on every link from the link's uniforms ``[N, K]``.

    The normal deviate and the log of each stream are computed once per link and shared
    by the slots; each slot picks its stream (static or per message) and its law.
    """
    static = _expand(faults.aux[:, 2] > 0, u_msg.ndim)
    z = jnp.where(static, _normal(u_static)[None], _normal(u_msg)[None])
    u = jnp.where(static, u_static[None], u_msg[None])
    log_u = jnp.where(static, jnp.log(u_static)[None], jnp.log(u_msg)[None])
    jit = _expand(faults.aux[:, 0], u_msg.ndim)
    shape = _expand(faults.aux[:, 1], u_msg.ndim)
    mode = _expand(faults.mode, u_msg.ndim)
    x = jnp.where(
        mode == 0,
        z,
        jnp.where(
            mode == 1,
            2.0 * u - 1.0,
            jnp.exp(jnp.where(mode == 2, shape * z, -log_u / shape))
            - jnp.where(mode == 2, 0.0, 1.0),
        ),
    )
    return jnp.where(jit > 0, jit * x, 0.0)


class _Draws(NamedTuple):
    u_lat: Array  # [N, K], per message (or static where the slot asks)
    u_ge: Array
    u_vf: Array
    u_kem: Array
    u_replay: Array  # [N]
    u_churn: Array  # [N]


def _compute(
    faults: FaultParams,
    r,
    neighbors,
    mask,
    base: ChaosInput,
    interval_s,
    beacon_bytes,
    draws: _Draws | None,
    state: FaultState | None,
    load_cap=None,
):
    r = jnp.asarray(r, jnp.int32)
    on = _on(faults, r)

    def is_(kind):
        return on & (faults.kind == kind)

    tg = faults.targets
    n = tg.shape[-1]
    # counts (int32), not bool reductions: XLA:CPU 0.10 miscompiles (LLVM "Cannot select")
    # a vmapped bool[B, N] broadcast to [B, N, K] fused with logical ops
    crashed = jnp.sum(is_(CRASH)[:, None] & tg, axis=0, dtype=jnp.int32)
    bad = jnp.sum(is_(INVALID)[:, None] & tg, axis=0, dtype=jnp.int32)
    slow = jnp.prod(jnp.where(is_(SLOWDOWN)[:, None] & tg, faults.magnitude[:, None], 1.0), axis=0)

    sel, cut = _select(faults, neighbors)
    flap = is_(FLAP) & _flap_down(faults, r)
    down = jnp.sum(
        (is_(LINK_DOWN)[:, None, None] & sel)
        | (is_(PARTITION)[:, None, None] & cut)
        | (flap[:, None, None] & sel),
        axis=0,
        dtype=jnp.int32,
    )
    mag = faults.magnitude[:, None, None]
    lat_sel = is_(LATENCY)[:, None, None] & sel
    if draws is None:
        extra_lat = jnp.sum(jnp.where(lat_sel, mag, 0.0), axis=0)
    else:
        term = _latency_term(faults, state.static_u, draws.u_lat)
        extra_lat = jnp.sum(jnp.where(lat_sel, jnp.maximum(mag + term, 0.0), 0.0), axis=0)
    keep = jnp.prod(jnp.where(is_(LOSS)[:, None, None] & sel, 1.0 - mag, 1.0), axis=0)

    # pause: frozen until the latest resume among the node's pause slots
    hold = jnp.max(
        jnp.where(
            is_(PAUSE)[:, None] & tg,
            (faults.end_round - r).astype(jnp.float32)[:, None] * interval_s,
            0.0,
        ),
        axis=0,
    )
    since = (r - faults.start_round).astype(jnp.float32) * interval_s
    skew = faults.magnitude + faults.aux[:, 0] * 1e-6 * since
    clock = jnp.sum(jnp.where(is_(CLOCK)[:, None] & tg, skew[:, None], 0.0), axis=0)
    lost_sel = is_(CRASH)[:, None] & tg & (faults.mode == STATE_LOST)[:, None]
    kept_sel = is_(CRASH)[:, None] & tg & (faults.mode == STATE_KEPT)[:, None]
    lost_n = jnp.sum(lost_sel, axis=0, dtype=jnp.int32)
    kept_n = jnp.sum(kept_sel, axis=0, dtype=jnp.int32)

    new_state = state
    extra_bw = None
    replay = verify = kem = None
    if draws is not None:
        # Gilbert–Elliott burst loss: one chain per link, the lowest covering slot's numbers
        ge_sel = is_(BURST_LOSS)[:, None, None] & sel
        covered = jnp.any(ge_sel, axis=0)
        first = jnp.argmax(ge_sel, axis=0)
        p, rr, lg = (faults.aux[:, i][first] for i in range(3))
        lb = faults.magnitude[first]
        ge_bad = jnp.where(
            covered, jnp.where(state.ge_bad, draws.u_ge >= rr, draws.u_ge < p), False
        )
        keep = jnp.where(covered, keep * (1.0 - jnp.where(ge_bad, lb, lg)), keep)

        # churn (Weibull up sessions and down periods, one process per node)
        ch = is_(CHURN)[:, None] & tg
        ch_on = jnp.any(ch, axis=0)

        def per_node(x):
            return jnp.sum(jnp.where(ch, x[:, None], 0.0), axis=0)

        scale = jnp.where(state.churn_up, per_node(faults.magnitude), per_node(faults.aux[:, 0]))
        k_shape = jnp.maximum(per_node(faults.aux[:, 1]), 1e-6)
        w = scale * jnp.exp(jnp.log(-jnp.log(draws.u_churn)) / k_shape)
        draw = jnp.clip(jnp.ceil(w), 1.0, 2.0**30).astype(jnp.int32)
        up_now = jnp.where(ch_on, state.churn_up, True)
        left = jnp.where(state.churn_left == 0, draw, state.churn_left) - 1
        flip = left == 0
        churn_up = jnp.where(ch_on, jnp.where(flip, ~state.churn_up, state.churn_up), True)
        churn_left = jnp.where(ch_on, left, 0)
        ch_kept = jnp.any(ch & (faults.mode == STATE_KEPT)[:, None], axis=0)
        churn_down = ch_on & ~up_now
        lost_n = lost_n + (churn_down & ~ch_kept).astype(jnp.int32)
        kept_n = kept_n + (churn_down & ch_kept).astype(jnp.int32)

        # cascade: crashed nodes load their neighbours; overloaded nodes crash
        cs = is_(CASCADE)
        cs_on = jnp.any(cs)
        growth = jnp.sum(jnp.where(cs, faults.magnitude, 0.0))
        thr = jnp.sum(jnp.where(cs, faults.aux[:, 0], 0.0))
        seeds = jnp.any(cs[:, None] & tg, axis=0)
        cdown = cs_on & (state.cascade_down | seeds)
        nbr_down = jnp.sum(mask & cdown[neighbors], axis=1, dtype=jnp.int32)
        load = state.cascade_load
        grown = load + growth * nbr_down.astype(jnp.float32)
        kept = grown if load_cap is None else jnp.minimum(grown, load_cap)
        load_next = jnp.where(cs_on, jnp.where(cdown, load, kept), 1.0)
        refused = jnp.where(cs_on & ~cdown, grown - kept, 0.0)
        cdown_next = cs_on & (cdown | (load_next >= thr))
        loaded = cs_on & ~cdown & (load > 1.0)
        slow = jnp.where(loaded, slow * load, slow)
        lost_n = lost_n + cdown.astype(jnp.int32)

        # bandwidth cap: the sender's copies queue on its uplink
        cap = jnp.min(
            jnp.where(is_(BANDWIDTH)[:, None] & tg, faults.magnitude[:, None], jnp.inf), 0
        )
        capped = jnp.isfinite(cap)
        t_copy = jnp.where(capped, beacon_bytes / jnp.where(capped, cap, 1.0), 0.0)
        backlog = jnp.where(capped, state.tx_backlog_s, 0.0)
        extra_bw = jnp.where(
            capped[neighbors],
            backlog[neighbors] + (state.tx_pos + 1).astype(jnp.float32) * t_copy[neighbors],
            0.0,
        )
        node_up_now = base.node_up & (crashed == 0) & (lost_n == 0) & (kept_n == 0)
        sending = node_up_now & (hold <= 0)
        tx_next = jnp.where(
            capped,
            jnp.maximum(
                backlog
                + jnp.where(sending, state.out_degree.astype(jnp.float32) * t_copy, 0.0)
                - interval_s,
                0.0,
            ),
            0.0,
        )

        # replays, verification and handshake failures
        p_rep = 1.0 - jnp.prod(
            jnp.where(is_(REPLAY)[:, None] & tg, 1.0 - faults.magnitude[:, None], 1.0), 0
        )
        replay = draws.u_replay < p_rep

        def link_prob(kind):
            return 1.0 - jnp.prod(jnp.where(is_(kind)[:, None, None] & sel, 1.0 - mag, 1.0), 0)

        verify = draws.u_vf < link_prob(VERIFY_FAIL)
        kem = draws.u_kem < link_prob(KEM_FAIL)
        new_state = state._replace(
            ge_bad=ge_bad,
            tx_backlog_s=tx_next,
            churn_up=churn_up,
            churn_left=churn_left,
            cascade_load=load_next,
            cascade_down=cdown_next,
            cascade_refused=refused,
        )

    extra_loss = 1.0 - keep
    extra_latency = base.extra_latency_s + extra_lat
    if extra_bw is not None:
        extra_latency = extra_latency + extra_bw
    stopped = (crashed == 0) & (lost_n == 0) & (kept_n == 0)
    node_up = base.node_up & stopped
    keep_state = (kept_n > 0) & (lost_n == 0)
    if base.keep_state is not None:
        keep_state = keep_state | base.keep_state

    def plus(x, y):
        return x if y is None else x + y

    def orr(x, y):
        return x if y is None else x | y

    out = ChaosInput(
        link_up=base.link_up & (down == 0),
        extra_latency_s=extra_latency,
        extra_loss=jnp.where(extra_loss > 0, 1.0 - (1.0 - base.extra_loss) * keep, base.extra_loss),
        node_up=node_up,
        slowdown=base.slowdown * slow,
        beacon_valid=base.beacon_valid & (bad == 0),
        hold_s=hold if base.hold_s is None else jnp.maximum(hold, base.hold_s),
        keep_state=keep_state,
        clock_offset_s=plus(clock, base.clock_offset_s),
        replay=orr(replay if replay is not None else jnp.zeros((n,), bool), base.replay),
        verify_fail=orr(
            verify if verify is not None else jnp.zeros_like(down, bool), base.verify_fail
        ),
        kem_fail=orr(kem if kem is not None else jnp.zeros_like(down, bool), base.kem_fail),
    )
    return out, new_state


def evaluate(
    faults: FaultParams,
    round_index: Int[Array, ""],
    neighbors: Int[Array, "nodes degree"],
    base: ChaosInput,
    interval_s: float = 1.0,
) -> ChaosInput:
    """The round's :class:`ChaosInput` from the deterministic kinds active in ``round_index``.

    Pure and traceable (``O(F * N * K)`` work per round, no per-round memory). Random and
    stateful kinds (burst loss, bandwidth, churn, cascade, replay, verify and handshake
    failures, latency jitter) need :func:`step`; here they act as no fault (latency: its
    mean). Fields untouched by any active slot are returned bit-identical to ``base``.

    Args:
        faults: the schedule (``F`` slots over ``N`` nodes).
        round_index: int32 round number ``r``.
        neighbors: ``int32[N, K]`` neighbour table (sender of link ``(i, k)``).
        base: the round's inputs before faults (``neutral_chaos`` by default).
        interval_s: round length (s), for pause holds and clock drift.
    """
    mask = jnp.ones(neighbors.shape, bool)
    out, _ = _compute(faults, round_index, neighbors, mask, base, interval_s, 0.0, None, None)
    return out


def init(
    key: jax.Array,
    neighbors: Int[Array, "nodes degree"],
    mask: Bool[Array, "nodes degree"],
    rng_method: str = "counter_hash",
) -> FaultState:
    """The initial :class:`FaultState` for an ``N x K`` mesh (traceable).

    Args:
        key: typed key (static per-link latency draws).
        neighbors, mask: the neighbour table and its mask (copy order for bandwidth caps).
        rng_method: one of :data:`meshlab.core.rng.METHODS`.
    """
    n, k = neighbors.shape
    flat = jnp.where(mask, neighbors, n).ravel()
    order = jnp.argsort(flat, stable=True)
    srt = flat[order]
    rank = jnp.arange(n * k, dtype=jnp.int32) - jnp.searchsorted(srt, srt, side="left").astype(
        jnp.int32
    )
    pos = jnp.zeros((n * k,), jnp.int32).at[order].set(rank).reshape(n, k)
    deg = jnp.zeros((n,), jnp.int32).at[flat].add(1, mode="drop")
    return FaultState(
        static_u=_rng.uniforms(key, 1, (n, k), rng_method)[0],
        ge_bad=jnp.zeros((n, k), bool),
        tx_backlog_s=jnp.zeros((n,), jnp.float32),
        tx_pos=pos,
        out_degree=deg,
        churn_up=jnp.ones((n,), bool),
        churn_left=jnp.zeros((n,), jnp.int32),
        cascade_load=jnp.ones((n,), jnp.float32),
        cascade_down=jnp.zeros((n,), bool),
        cascade_refused=jnp.zeros((n,), jnp.float32),
    )


def step(
    key: jax.Array,
    faults: FaultParams,
    state: FaultState,
    round_index: Int[Array, ""],
    neighbors: Int[Array, "nodes degree"],
    mask: Bool[Array, "nodes degree"],
    base: ChaosInput,
    *,
    interval_s,
    beacon_bytes,
    rng_method: str = "counter_hash",
    load_cap=None,
) -> tuple[ChaosInput, FaultState]:
    """The round's :class:`ChaosInput` from every kind, and the next :class:`FaultState`.

    Draws 4 uniforms per link and 2 per node from ``key`` (by ``rng_method``). Fields
    untouched by any active slot are bit-identical to ``base``; for schedules of the
    deterministic kinds (and latency without jitter) the result equals :func:`evaluate`'s.

    Args:
        key: this round's fault key (used once).
        faults, state: the schedule and the carried fault state.
        round_index: int32 round number.
        neighbors, mask: ``[N, K]`` neighbour table and mask.
        base: the round's inputs before faults.
        interval_s: round length (s). beacon_bytes: bytes per beacon (bandwidth caps).
        rng_method: one of :data:`meshlab.core.rng.METHODS`.
        load_cap: load shedding (admission control) under a cascade: ``f32`` scalar or
            ``f32[N]``; a node the cascade has not crashed refuses the load growth that
            would take it past the cap, so it never exceeds it (a cap below the cascade's
            threshold keeps it from crashing by overload). The refused load is returned in
            ``cascade_refused``. None: no cap (bit-identical to no argument).
    """
    n, k = neighbors.shape
    k_link, k_node = jax.random.split(key)
    ul = _rng.uniforms(k_link, 4, (n, k), rng_method)
    un = _rng.uniforms(k_node, 2, (n,), rng_method)
    draws = _Draws(ul[0], ul[1], ul[2], ul[3], un[0], un[1])
    return _compute(
        faults, round_index, neighbors, mask, base, interval_s, beacon_bytes, draws, state, load_cap
    )


def node_status(
    faults: FaultParams, round_index: Int[Array, ""]
) -> tuple[Bool[Array, " nodes"], Bool[Array, " nodes"], Bool[Array, " nodes"]]:
    """Node-level crash / pause status in a round (deterministic kinds; traceable).

    Returns:
        ``(up, paused, forget)``: not crashed; frozen by a pause; crashed with state lost.
    """
    r = jnp.asarray(round_index, jnp.int32)
    on = _on(faults, r)
    tg = faults.targets
    crash_on = (on & (faults.kind == CRASH))[:, None] & tg
    up = jnp.sum(crash_on, axis=0, dtype=jnp.int32) == 0
    paused = jnp.sum((on & (faults.kind == PAUSE))[:, None] & tg, axis=0, dtype=jnp.int32) > 0
    lost = crash_on & (faults.mode == STATE_LOST)[:, None]
    forget = jnp.sum(lost, axis=0, dtype=jnp.int32) > 0
    return up, paused, forget


def pair_status(
    faults: FaultParams,
    round_index: Int[Array, ""],
    send: Int[Array, "..."],
    recv: Int[Array, "..."],
) -> tuple[Bool[Array, "..."], Float[Array, "..."]]:
    """Whether messages ``send -> recv`` can pass in a round, and their extra loss.

    Partitions, link-down and flapping slots close the pair; loss slots add independent
    loss. ``send`` and ``recv`` are node-id arrays of one shape (traceable).

    Returns:
        ``(open, extra_loss)`` shaped like ``send``.
    """
    r = jnp.asarray(round_index, jnp.int32)
    on = _on(faults, r)
    sel, cut = _select(faults, send, recv)
    nd = send.ndim
    flap = on & (faults.kind == FLAP) & _flap_down(faults, r)
    closed = (
        (_expand(on & (faults.kind == LINK_DOWN), nd) & sel)
        | (_expand(on & (faults.kind == PARTITION), nd) & cut)
        | (_expand(flap, nd) & sel)
    )
    down = jnp.sum(closed, axis=0, dtype=jnp.int32)
    mag = _expand(faults.magnitude, nd)
    keep = jnp.prod(jnp.where(_expand(on & (faults.kind == LOSS), nd) & sel, 1.0 - mag, 1.0), 0)
    return down == 0, 1.0 - keep
