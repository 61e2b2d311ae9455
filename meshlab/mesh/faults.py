# ruff: noqa: F722  (jaxtyping shape strings)
"""Faults as parameters: a fixed-capacity fault schedule the beacon step evaluates per round.

A :class:`FaultParams` holds ``F`` fault slots. Slot ``f`` acts in the rounds
``start_round[f] <= r < end_round[f]`` when ``active[f]``; its ``kind`` says what it does
and ``targets[f]`` (a node mask) or ``groups[f]`` (a group id per node, partitions) says
to whom. Memory is ``O(F * N)``, independent of the number of rounds, and the schedule is
a pytree of arrays: it lives in ``BeaconParams.faults``, so a batch of schedules of one
shape (same ``F`` and ``N``) ``vmap``\\ s without recompiling::

    from meshlab.mesh import beacons, faults
    f = faults.combine([
        faults.crash([3, 17], start_round=5, n_nodes=100),                 # never restarts
        faults.partition(groups, start_round=10, end_round=20),            # heals at 20
        faults.loss(range(10), 0.3, start_round=0, n_nodes=100, direction="to"),
    ])
    params = beacons.params(faults=f)

Kinds (:data:`KINDS`; the code is the index):

* ``CRASH``: the target nodes are stopped (``node_up = False``): they neither send nor
  process, and their backlog is dropped.
* ``SLOWDOWN``: the targets' service times are multiplied by ``magnitude`` (gray failure).
* ``INVALID``: the targets' beacons fail verification (``beacon_valid = False``).
* ``PARTITION``: links whose sender and receiver are in different ``groups`` carry
  nothing. ``direction`` ``"both"`` cuts every crossing link, ``"to"`` only messages from
  a lower to a higher group id, ``"from"`` only messages from a higher to a lower id (two
  groups 0/1: "to" blocks traffic into group 1, "from" traffic out of it).
* ``LATENCY``: ``magnitude`` seconds added to the selected links' latency.
* ``LOSS``: extra loss probability ``magnitude`` on the selected links (independent of
  the channel's loss and of other loss slots: ``1 - prod(1 - p)``).
* ``LINK_DOWN``: the selected links carry nothing.

Link kinds select the link ``i <- j`` (receiver ``i``, sender ``j = neighbors[i, k]``) by
``direction``: ``"both"``: ``i`` or ``j`` is a target; ``"to"``: the receiver ``i`` is a
target (traffic to the targets); ``"from"``: the sender ``j`` is (traffic from them).

Several active slots combine: crash / invalid / link-down as "any", slowdowns multiply,
latencies add, losses combine as independent causes. :func:`evaluate` turns a schedule
into the round's :class:`ChaosInput` (the per-round form the step consumes), applied on
top of any per-round ``inputs`` the caller passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.core.validation import check_choice, check_int, check_prob, check_real

__all__ = [
    "BOTH",
    "CRASH",
    "DIRECTIONS",
    "FROM",
    "INVALID",
    "KINDS",
    "LATENCY",
    "LINK_DOWN",
    "LOSS",
    "NEVER",
    "PARTITION",
    "SLOWDOWN",
    "TO",
    "ChaosInput",
    "FaultParams",
    "check",
    "combine",
    "crash",
    "evaluate",
    "invalid",
    "latency",
    "link_down",
    "loss",
    "neutral_chaos",
    "none",
    "partition",
    "slowdown",
    "stack",
]

KINDS = ("crash", "slowdown", "invalid", "partition", "latency", "loss", "link_down")
CRASH, SLOWDOWN, INVALID, PARTITION, LATENCY, LOSS, LINK_DOWN = range(len(KINDS))
DIRECTIONS = ("both", "to", "from")
BOTH, TO, FROM = range(len(DIRECTIONS))
NEVER = 2**31 - 1
"""``end_round`` of a fault that never ends."""


class ChaosInput(NamedTuple):
    """One round's fault inputs, the form the beacon step consumes.

    Attributes:
        link_up: ``bool[N, K]``; False: the link carries nothing this round.
        extra_latency_s: ``f32[N, K]`` seconds added to the link latency.
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
        magnitude: ``f32[F]`` slowdown factor, extra latency (s) or extra loss probability.
        active: ``bool[F]`` slot in use (inactive slots pad a batch to one shape).
    """

    kind: Int[Array, " slots"]
    start_round: Int[Array, " slots"]
    end_round: Int[Array, " slots"]
    targets: Bool[Array, "slots nodes"]
    groups: Int[Array, "slots nodes"]
    direction: Int[Array, " slots"]
    magnitude: Float[Array, " slots"]
    active: Bool[Array, " slots"]

    @property
    def n_slots(self) -> int:
        """Number of slots ``F``."""
        return int(np.shape(self.kind)[-1])

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``N``."""
        return int(np.shape(self.targets)[-1])


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
    )


def crash(nodes, start_round: int, end_round: int | None = None, *, n_nodes=None) -> FaultParams:
    """The ``nodes`` are stopped in ``[start_round, end_round)`` (``None``: never restart).

    Args:
        nodes: node ids (distinct ints; then ``n_nodes`` is required) or a ``bool[N]`` mask.
        start_round: first round down (>= 0).
        end_round: first round up again (exclusive; ``None``: never).
        n_nodes: ``N`` (with an id list).
    """
    return _one(CRASH, start_round, end_round, _node_mask(nodes, n_nodes))


def slowdown(
    nodes, factor: float, start_round: int, end_round: int | None = None, *, n_nodes=None
) -> FaultParams:
    """The ``nodes``' service times are multiplied by ``factor`` (> 0) in the window."""
    f = check_real("factor", factor, 0.0, low_open=True)
    return _one(SLOWDOWN, start_round, end_round, _node_mask(nodes, n_nodes), magnitude=f)


def invalid(nodes, start_round: int, end_round: int | None = None, *, n_nodes=None) -> FaultParams:
    """The ``nodes``' beacons fail verification in the window (e.g. an expired identity)."""
    return _one(INVALID, start_round, end_round, _node_mask(nodes, n_nodes))


def partition(
    groups, start_round: int, end_round: int | None = None, direction: str = "both"
) -> FaultParams:
    """Cuts the links between groups in the window.

    Args:
        groups: ``int[N]`` group id (>= 0) per node; links whose ends differ are cut.
        start_round, end_round: the window (``end_round`` exclusive; ``None``: never heals).
        direction: ``"both"`` (every crossing link), ``"to"`` (only messages from a lower
            to a higher group id), ``"from"`` (only from a higher to a lower id).
    """
    g = np.asarray(groups)
    if g.ndim != 1 or g.size < 1 or (g.size and not np.issubdtype(g.dtype, np.integer)):
        raise ValueError(f"groups must be int[N] (a group id per node), got {groups!r}")
    if g.min() < 0:
        raise ValueError(f"groups must be ids >= 0, got min {g.min()}")
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
) -> FaultParams:
    """``extra_s`` seconds (>= 0) added to the links selected by ``nodes`` and ``direction``."""
    x = check_real("extra_s", extra_s, 0.0)
    mask = _node_mask(nodes, n_nodes)
    return _one(LATENCY, start_round, end_round, mask, direction=direction, magnitude=x)


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


def check(faults: FaultParams, n_nodes: int) -> None:
    """Validates a (concrete, unbatched or batched) schedule for an ``N``-node mesh.

    Raises:
        TypeError: not a :class:`FaultParams`.
        ValueError: inconsistent shapes, a node count other than ``n_nodes``, unknown kind
            or direction codes, unordered windows or out-of-range magnitudes.
    """
    if not isinstance(faults, FaultParams):
        raise TypeError(f"faults must be FaultParams (see meshlab.mesh.faults), got {faults!r}")
    if any(isinstance(x, jax.core.Tracer) for x in faults):
        return
    f = np.shape(faults.kind)
    for name in ("start_round", "end_round", "direction", "magnitude", "active"):
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
    act = np.asarray(faults.active, bool)
    kind = np.asarray(faults.kind)[act]
    if kind.size and (kind.min() < 0 or kind.max() >= len(KINDS)):
        raise ValueError(f"faults.kind must be codes in [0, {len(KINDS)}) {KINDS}, got {kind}")
    d = np.asarray(faults.direction)[act]
    if d.size and (d.min() < 0 or d.max() >= len(DIRECTIONS)):
        raise ValueError(f"faults.direction must be codes in [0, 3) {DIRECTIONS}, got {d}")
    s, e = np.asarray(faults.start_round)[act], np.asarray(faults.end_round)[act]
    if (s < 0).any() or (e <= s).any():
        raise ValueError(f"fault windows need 0 <= start_round < end_round, got {s} .. {e}")
    m = np.asarray(faults.magnitude, np.float64)[act]
    if not np.isfinite(m).all():
        raise ValueError(f"faults.magnitude must be finite, got {m}")
    if ((kind == LOSS) & ((m < 0) | (m > 1))).any():
        raise ValueError(f"loss faults need magnitude (extra loss) in [0, 1], got {m}")
    if ((kind == SLOWDOWN) & (m <= 0)).any():
        raise ValueError(f"slowdown faults need magnitude (factor) > 0, got {m}")
    if ((kind == LATENCY) & (m < 0)).any():
        raise ValueError(f"latency faults need magnitude (extra seconds) >= 0, got {m}")


# ------------------------------------------------------------------------------ evaluation


def evaluate(
    faults: FaultParams,
    round_index: Int[Array, ""],
    neighbors: Int[Array, "nodes degree"],
    base: ChaosInput,
) -> ChaosInput:
    """The round's :class:`ChaosInput`: ``base`` with the slots active in ``round_index``.

    Pure and traceable (``O(F * N * K)`` work per round, no per-round memory). Fields
    untouched by any active slot are returned bit-identical to ``base``.

    Args:
        faults: the schedule (``F`` slots over ``N`` nodes).
        round_index: int32 round number ``r``.
        neighbors: ``int32[N, K]`` neighbour table (sender of link ``(i, k)``).
        base: the round's inputs before faults (``neutral_chaos`` by default).
    """
    r = jnp.asarray(round_index, jnp.int32)
    on = faults.active & (faults.start_round <= r) & (r < faults.end_round)

    def is_(kind):
        return on & (faults.kind == kind)

    tg = faults.targets
    # counts (int32), not bool reductions: XLA:CPU 0.10 miscompiles (LLVM "Cannot select")
    # a vmapped bool[B, N] broadcast to [B, N, K] fused with logical ops
    crashed = jnp.sum(is_(CRASH)[:, None] & tg, axis=0, dtype=jnp.int32)
    bad = jnp.sum(is_(INVALID)[:, None] & tg, axis=0, dtype=jnp.int32)
    slow = jnp.prod(jnp.where(is_(SLOWDOWN)[:, None] & tg, faults.magnitude[:, None], 1.0), axis=0)

    d = faults.direction[:, None, None]
    recv, send = tg[:, :, None], tg[:, neighbors]
    sel = jnp.where(d == TO, recv, jnp.where(d == FROM, send, recv | send))
    g_recv, g_send = faults.groups[:, :, None], faults.groups[:, neighbors]
    cut = jnp.where(
        d == TO, g_send < g_recv, jnp.where(d == FROM, g_send > g_recv, g_send != g_recv)
    )
    down = jnp.sum(
        (is_(LINK_DOWN)[:, None, None] & sel) | (is_(PARTITION)[:, None, None] & cut),
        axis=0,
        dtype=jnp.int32,
    )
    mag = faults.magnitude[:, None, None]
    extra_lat = jnp.sum(jnp.where(is_(LATENCY)[:, None, None] & sel, mag, 0.0), axis=0)
    keep = jnp.prod(jnp.where(is_(LOSS)[:, None, None] & sel, 1.0 - mag, 1.0), axis=0)
    extra_loss = 1.0 - keep
    return ChaosInput(
        link_up=base.link_up & (down == 0),
        extra_latency_s=base.extra_latency_s + extra_lat,
        extra_loss=jnp.where(extra_loss > 0, 1.0 - (1.0 - base.extra_loss) * keep, base.extra_loss),
        node_up=base.node_up & (crashed == 0),
        slowdown=base.slowdown * slow,
        beacon_valid=base.beacon_valid & (bad == 0),
    )
