# ruff: noqa: F722  (jaxtyping shape strings)
"""Gossip dissemination of one state update: push, pull and push-pull, with fanout and loss.

Kernel convention (synchronous rounds under ``lax.scan``)::

    config = gossip.GossipConfig(n_nodes=256, mode="pushpull", fanout=3)
    kernel = gossip.build(config, topology)              # topology=None: complete graph
    prm = gossip.params(loss=0.1)                        # source drawn from the key
    result = gossip.summarize(gossip.rollout(kernel, key, prm, 25), config, prm)
    result.coverage, result.rounds_to                    # GossipResult
    many = gossip.summarize(gossip.rollout_seeds(kernel, key, prm, 25, 8), config, prm)

In every round each node picks ``fanout`` distinct peers uniformly at random and

* ``"push"``: an informed node sends the update to each of its peers;
* ``"pull"``: an uninformed node asks each of its peers and learns the update from any
  informed one;
* ``"pushpull"``: every contact is an exchange, so both ends end up informed if either was.

Each contact (message or request/reply exchange) fails independently with probability
``loss`` — the same ``(1 − loss)`` factor as the Serf/memberlist convergence model
(:mod:`meshlab.membership.serf`). Peers come either from the beacon graph (row ``i`` of a
``Topology``'s ``neighbors`` masked by ``mask`` is node i's peer list; for the symmetric
topologies this is the set of radio neighbours) or, with ``topology=None``, from all other
``n_nodes − 1`` nodes (the complete-graph mode that the mean-field models describe). A
node with fewer valid neighbours than ``fanout`` contacts all of them.

Random numbers: the init key draws the source (unless ``params.source`` fixes it); each
round's key supplies every uniform of the round with one ``jax.random.bits`` call.

Faults (``params.faults``, a :class:`meshlab.mesh.faults.FaultParams` of the kinds in
:data:`meshlab.mesh.faults.GOSSIP_KINDS`, evaluated inside the step): a crashed node
neither sends nor receives (with state ``"lost"`` it forgets what it knew); partition,
link-down and flapping slots make contacts across the closed links fail (a push needs the
sender -> receiver direction open, a pull both); loss slots add independent loss per
contact (a pull: both directions); a paused node does not act, and pushes reaching it are
held and delivered when it resumes. Without faults the numbers are those of the model
without them (the fault draws come from their own stream).

Update ledger (Jepsen's set-full check): ``params.updates`` (:func:`updates`) lists
updates originated by given nodes at given rounds (an update whose origin is down or
paused then is never acknowledged). They spread over the same contacts as the main
update; the state keeps, per update and node, whether the node holds it and its first and
last delivery rounds (memory ``O(U * N)``, independent of the rounds). :func:`ledger`
then counts, for the nodes alive at the end, lost / stale / late pairs and the
stable-latency quantiles, and :func:`check_ledger` raises on any lost or stale pair::

    prm = gossip.params(faults=faults.partition(groups, 0, 20),
                        updates=gossip.updates([0, 7], [2, 5]))
    state, infos = gossip.rollout(kernel, key, prm, 60)
    book = gossip.ledger(state, config, prm, deadline_rounds=10)
    gossip.check_ledger(book)              # raises if an acknowledged update was lost
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.core import kernel as _kernel
from meshlab.core.kernel import Kernel
from meshlab.core.validation import check_choice, check_int, check_prob, check_real
from meshlab.mesh import faults as _faults
from meshlab.mesh.topology import check as check_topology

__all__ = [
    "COVERAGE_LEVELS",
    "MODES",
    "GossipConfig",
    "GossipData",
    "GossipInfo",
    "GossipParams",
    "GossipResult",
    "GossipState",
    "LedgerState",
    "Updates",
    "build",
    "check_ledger",
    "ledger",
    "params",
    "rollout",
    "rollout_seeds",
    "rounds_to_coverage",
    "summarize",
    "updates",
]

MODES = ("push", "pull", "pushpull")
COVERAGE_LEVELS = (0.5, 0.99, 0.999, 1.0)
_NEVER = np.iinfo(np.int32).max  # informed_round of a node not yet informed
_FAULT_STREAM = 0x0FA17  # fold_in tag of the fault draws (keeps the model's own draws)


@dataclasses.dataclass(frozen=True)
class GossipConfig:
    """Static (hashable) gossip configuration.

    Attributes:
        n_nodes: number of nodes (>= 2; must equal the topology's N when one is given).
        mode: ``"push"``, ``"pull"`` or ``"pushpull"``.
        fanout: peers contacted per node per round (>= 1).
        round_interval_s: seconds per gossip round (converts rounds to seconds).
    """

    n_nodes: int
    mode: str = "push"
    fanout: int = 3
    round_interval_s: float = 0.2


class GossipParams(NamedTuple):
    """Array parameters (vmap-able without recompiling; build with :func:`params`).

    Attributes:
        loss: probability that one contact fails, f32 in [0, 1].
        source: the node holding the update at round 0, int32; ``-1``: drawn uniformly
            from the init key.
        faults: a :class:`meshlab.mesh.faults.FaultParams` schedule or ``None``.
        updates: the ledger's :class:`Updates` or ``None``.
    """

    loss: Float[Array, ""]
    source: Int[Array, ""]
    faults: Any = None
    updates: Any = None


class Updates(NamedTuple):
    """Updates to account for: ``origin_node`` int32[U] originates update ``u`` at the start
    of round ``origin_round[u]`` (int32[U]); build with :func:`updates`."""

    origin_node: Int[Array, " updates"]
    origin_round: Int[Array, " updates"]


class LedgerState(NamedTuple):
    """Per update and node (memory ``O(U * N)``).

    Attributes:
        acked: bool[U] the origin was up when the update originated.
        held: bool[U, N] the node holds the update now.
        pending: bool[U, N] pushed to the node while it was paused (delivered on resume).
        first: int32[U, N] round of the first delivery (origin: its origin round;
            a delivery in round ``r`` counts as ``r + 1``, as ``GossipState.when``).
        last: int32[U, N] round of the latest delivery (a node that lost its state can
            get the update again).
    """

    acked: Bool[Array, " updates"]
    held: Bool[Array, "updates nodes"]
    pending: Bool[Array, "updates nodes"]
    first: Int[Array, "updates nodes"]
    last: Int[Array, "updates nodes"]


class GossipData(NamedTuple):
    """Fixed data: peer table int32[N, K] and mask bool[N, K] (both ``None``: complete graph)."""

    neighbors: Int[Array, "nodes degree"] | None
    mask: Bool[Array, "nodes degree"] | None


class GossipState(NamedTuple):
    """Carried state.

    Attributes:
        round: rounds done, int32.
        informed: bool[N].
        when: round at which each node got the update (0 for the source), int32[N]
            (a sentinel for nodes not informed yet; :func:`summarize` maps it).
        source: the source node, int32.
        pending: bool[N] pushes held for paused nodes (``()`` without faults).
        ledger: the :class:`LedgerState` (``()`` without ``params.updates``).
    """

    round: Int[Array, ""]
    informed: Bool[Array, " nodes"]
    when: Int[Array, " nodes"]
    source: Int[Array, ""]
    pending: Any = ()
    ledger: Any = ()


class GossipInfo(NamedTuple):
    """Per-round diagnostics: informed fraction after the round, f32."""

    coverage: Float[Array, ""]


class GossipResult(NamedTuple):
    """Outcome of a rollout (every field may carry a leading seed axis).

    Attributes:
        coverage: informed fraction after each round, f32[n_rounds + 1] (index 0 = start).
        informed_round: round at which each node got the update (0 for the source,
            ``n_rounds + 1`` if never), int32[N].
        source: the node that held the update at round 0, int32 scalar.
        rounds_to: first round with coverage >= 50 / 99 / 99.9 / 100 %
            (:data:`COVERAGE_LEVELS`), ``-1`` if not reached, int32[4].
        seconds_to: the same times ``round_interval_s`` (``nan`` if not reached), f32[4].
    """

    coverage: Float[Array, " rounds"]
    informed_round: Int[Array, " nodes"]
    source: Int[Array, ""]
    rounds_to: Int[Array, " levels"]
    seconds_to: Float[Array, " levels"]


def rounds_to_coverage(
    coverage: Float[Array, "... rounds"], levels: tuple[float, ...] = COVERAGE_LEVELS
) -> Int[Array, "... levels"]:
    """First round at which the coverage reaches each level (``-1`` if never).

    Full coverage (level 1.0) means every node: compared as ``coverage >= 1`` exactly
    (coverage is an exact count ratio). Other levels are reached at ``coverage >= level``.

    Args:
        coverage: f32[..., n_rounds + 1] curves from :func:`summarize`.
        levels: fractions in (0, 1].

    Returns:
        int32[..., len(levels)]; multiply by ``round_interval_s`` for seconds.
    """
    for q in levels:
        if not 0.0 < float(q) <= 1.0:
            raise ValueError(f"levels must lie in (0, 1], got {q!r}")
    cov = jnp.asarray(coverage)
    # A small slack keeps 0.999 * N/N comparisons exact under float32 rounding.
    lv = jnp.asarray(levels, jnp.float32) - jnp.float32(1e-6)
    hit = cov[..., None, :] >= lv[:, None]  # [..., L, R]
    first = jnp.argmax(hit, axis=-1).astype(jnp.int32)
    return jnp.where(jnp.any(hit, axis=-1), first, -1)


# ------------------------------------------------------------------------ peer choice


def _uniform(bits: Array) -> Float[Array, "..."]:
    """uint32 bits -> float32 uniforms in the open interval (0, 1) (24-bit grid)."""
    return ((bits >> 8).astype(jnp.float32) + 0.5) * jnp.float32(2.0**-24)


def _distinct_uniform(u: Float[Array, "count rows"], n_range: int) -> Int[Array, "rows count"]:
    """``count`` distinct integers in ``[0, n_range)`` per row (Floyd's algorithm).

    Step m draws ``t`` uniform in ``[0, j]`` with ``j = n_range − count + m`` and keeps
    ``j`` instead when ``t`` was already picked: every ``count``-subset is equally likely.
    """
    count = u.shape[0]
    picked = []
    for m in range(count):  # static, small
        j = n_range - count + m
        t = jnp.minimum((u[m] * (j + 1)).astype(jnp.int32), j)
        if picked:
            seen = jnp.any(jnp.stack(picked, axis=1) == t[:, None], axis=1)
            t = jnp.where(seen, j, t)
        picked.append(t)
    return jnp.stack(picked, axis=1)


def _round_draws(key, config: GossipConfig, neighbors, mask):
    """Peers int32[N, f], valid bool[N, f] and contact-success uniforms f32[N, f].

    One ``jax.random.bits`` call per round supplies every uniform of the round.
    """
    n, f = config.n_nodes, config.fanout
    if neighbors is None:
        u = _uniform(jax.random.bits(key, (2 * f, n), jnp.uint32))
        offset = _distinct_uniform(u[:f], n - 1)
        peers = (jnp.arange(n, dtype=jnp.int32)[:, None] + 1 + offset) % n  # never self
        return peers, jnp.ones((n, f), bool), u[f:].T
    k = neighbors.shape[1]
    take = min(f, k)
    u = _uniform(jax.random.bits(key, (n, k + take), jnp.uint32))
    # f distinct valid neighbours: the f smallest of iid uniforms, invalid slots at +inf.
    score = jnp.where(mask, u[:, :k], jnp.inf)
    neg, idx = jax.lax.top_k(-score, take)
    peers = jnp.take_along_axis(neighbors, idx, axis=1)
    return peers, jnp.isfinite(neg), u[:, k:]


# ----------------------------------------------------------------------------- build


def params(
    loss: Any = 0.0, source: int | None = None, faults: Any = None, updates: Any = None
) -> GossipParams:
    """Validated :class:`GossipParams`.

    Args:
        loss: contact failure probability in [0, 1] (scalar or array, for a sweep).
        source: the node holding the update at round 0 (int >= 0; checked against N at
            rollout); ``None``: drawn from the key (per seed).
        faults: a :class:`meshlab.mesh.faults.FaultParams` (kinds in
            :data:`meshlab.mesh.faults.GOSSIP_KINDS`; checked against N at rollout) or None.
        updates: :class:`Updates` for the ledger (:func:`updates`) or None.
    """
    check_prob("params.loss", loss)
    src = -1 if source is None else check_int("params.source", source, low=0)
    if faults is not None and not isinstance(faults, _faults.FaultParams):
        raise TypeError(f"params.faults must be a FaultParams or None, got {faults!r}")
    if updates is not None and not isinstance(updates, Updates):
        raise TypeError(f"params.updates must come from gossip.updates, got {updates!r}")
    return GossipParams(
        jnp.asarray(loss, jnp.float32), jnp.asarray(src, jnp.int32), faults, updates
    )


def updates(origin_nodes: Any, origin_rounds: Any) -> Updates:
    """The ledger's updates: update ``u`` originates at ``origin_nodes[u]`` (node id >= 0,
    checked against N at rollout) at the start of round ``origin_rounds[u]`` (>= 0)."""
    nodes = np.asarray(origin_nodes)
    rounds = np.asarray(origin_rounds)
    if nodes.ndim != 1 or nodes.size < 1 or not np.issubdtype(nodes.dtype, np.integer):
        raise ValueError(f"origin_nodes must be a non-empty list of node ids, got {origin_nodes!r}")
    if rounds.shape != nodes.shape or not np.issubdtype(rounds.dtype, np.integer):
        raise ValueError(
            f"origin_rounds must be {nodes.size} round numbers (one per update), "
            f"got {origin_rounds!r}"
        )
    if nodes.min() < 0:
        raise ValueError(f"origin_nodes must be node ids >= 0, got {origin_nodes!r}")
    if rounds.min() < 0:
        raise ValueError(f"origin_rounds must be >= 0, got {origin_rounds!r}")
    return Updates(jnp.asarray(nodes, jnp.int32), jnp.asarray(rounds, jnp.int32))


def build(config: GossipConfig, topology: Any = None) -> Kernel:
    """Validates ``config`` and ``topology`` once and returns the gossip :class:`Kernel`.

    Args:
        config: :class:`GossipConfig`.
        topology: a ``meshlab.mesh.topology.Topology`` (anything with ``neighbors``
            int32[N, K] and ``mask`` bool[N, K]) or ``None`` for the complete graph.
    """
    if not isinstance(config, GossipConfig):
        raise TypeError(f"config must be a GossipConfig, got {type(config).__name__}")
    n = check_int("config.n_nodes", config.n_nodes, low=2)
    check_choice("config.mode", config.mode, MODES)
    check_int("config.fanout", config.fanout, low=1)
    check_real("config.round_interval_s", config.round_interval_s, 0.0, low_open=True)
    if topology is None:
        if config.fanout > n - 1:
            raise ValueError(
                f"config.fanout must be <= n_nodes - 1 = {n - 1} in complete-graph mode, "
                f"got {config.fanout}"
            )
        return Kernel(config, GossipData(None, None), _init_fn, _step_fn)
    check_topology(topology, n_nodes=n)  # shape, dtype, ids in range where masked
    data = GossipData(jnp.asarray(topology.neighbors, jnp.int32), jnp.asarray(topology.mask, bool))
    return Kernel(config, data, _init_fn, _step_fn)


# --------------------------------------------------------------------------- kernel


def _init_fn(key, data: GossipData, config: GossipConfig, params: GossipParams) -> GossipState:
    del data
    n = config.n_nodes
    u0 = _uniform(jax.random.bits(key, (), jnp.uint32))
    drawn = jnp.minimum((u0 * n).astype(jnp.int32), n - 1)
    source = jnp.where(params.source >= 0, params.source, drawn).astype(jnp.int32)
    informed = jnp.zeros((n,), bool).at[source].set(True)
    when = jnp.where(informed, 0, jnp.int32(_NEVER))
    pending = () if params.faults is None else jnp.zeros((n,), bool)
    book = ()
    if params.updates is not None:
        u = params.updates.origin_node.shape[0]
        never = jnp.full((u, n), _NEVER, jnp.int32)
        zeros = jnp.zeros((u, n), bool)
        book = LedgerState(jnp.zeros((u,), bool), zeros, zeros, never, never)
    return GossipState(jnp.int32(0), informed, when, source, pending, book)


def _spread(held, ok_push, ok_pull, peers, n: int):
    """Nodes reached by push / pull contacts from the holders ``held`` [..., N]."""
    lead = held.shape[:-1]
    got = jnp.zeros((*lead, n), bool)
    if ok_push is not None:  # i -> peer (scatter)
        sent = (ok_push & held[..., :, None]).reshape(*lead, -1).astype(jnp.int8)
        got = got | jnp.zeros((*lead, n), jnp.int8).at[..., peers.ravel()].max(sent).astype(bool)
    if ok_pull is not None:  # peer -> i (gather)
        got = got | jnp.any(ok_pull & held[..., peers], axis=-1)
    return got


def _step_fn(key, state: GossipState, data: GossipData, config: GossipConfig, params, inputs):
    del inputs
    n = config.n_nodes
    r = state.round + 1
    informed = state.informed
    peers, valid, u_loss = _round_draws(key, config, data.neighbors, data.mask)
    ok = valid & (u_loss >= params.loss)  # the contact succeeds
    push = config.mode in ("push", "pushpull")
    pull = config.mode in ("pull", "pushpull")
    pending = state.pending
    if params.faults is None:
        ok_push = ok if push else None
        ok_pull = ok if pull else None
        hold_push = None
        new = informed | _spread(informed, ok_push, ok_pull, peers, n)
    else:
        f = params.faults
        up, paused, forget = _faults.node_status(f, state.round)
        acts = up & ~paused
        me = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[:, None], peers.shape)
        open_out, loss_out = _faults.pair_status(f, state.round, me, peers)
        u_x = _uniform(jax.random.bits(jax.random.fold_in(key, _FAULT_STREAM), peers.shape))
        base_ok = ok & acts[:, None] & up[peers]
        ok_push = ok_pull = hold_push = None
        if push:
            reach = base_ok & open_out & (u_x >= loss_out)
            ok_push = reach & ~paused[peers]
            hold_push = reach & paused[peers]
        if pull:
            open_in, loss_in = _faults.pair_status(f, state.round, peers, me)
            both = 1.0 - (1.0 - loss_out) * (1.0 - loss_in)
            ok_pull = base_ok & ~paused[peers] & open_out & open_in & (u_x >= both)
        informed = informed & ~forget
        got = _spread(informed, ok_push, ok_pull, peers, n)
        if hold_push is not None:
            pending = pending | _spread(informed, hold_push, None, peers, n)
        release = pending & acts
        new = informed | got | release
        pending = pending & paused & up
    when = jnp.where(new & ~state.informed & (state.when == _NEVER), r, state.when)
    book = state.ledger
    if params.updates is not None:
        book = _ledger_step(book, params, state.round, r, ok_push, ok_pull, hold_push, peers, n)
    info = GossipInfo(jnp.mean(new.astype(jnp.float32)))
    return GossipState(r, new, when, state.source, pending, book), info


def _ledger_step(book: LedgerState, params, r0, r, ok_push, ok_pull, hold_push, peers, n: int):
    """Originates this round's updates, spreads every update over the round's contacts and
    queues / releases the pushes held for paused nodes."""
    upd = params.updates
    origin = upd.origin_node
    start = upd.origin_round == r0
    held, pending = book.held, book.pending
    if params.faults is not None:
        up, paused, forget = _faults.node_status(params.faults, r0)
        start = start & up[origin] & ~paused[origin]
        held = held & ~forget[None, :]
        pending = pending & up[None, :]
    born = jnp.zeros_like(held).at[jnp.arange(origin.shape[0]), origin].max(start)
    held = held | born
    first = jnp.where(born & (book.first == _NEVER), r0, book.first)
    last = jnp.where(born, r0, book.last)
    got = _spread(held, ok_push, ok_pull, peers, n)
    if params.faults is not None:
        if hold_push is not None:
            pending = pending | _spread(held, hold_push, None, peers, n)
        got = got | (pending & (up & ~paused)[None, :])
        pending = pending & (paused & up)[None, :]
    got = got & ~held
    first = jnp.where(got & (first == _NEVER), r, first)
    last = jnp.where(got, r, last)
    return LedgerState(book.acked | start, held | got, pending, first, last)


def ledger(
    state: GossipState, config: GossipConfig, params: GossipParams, deadline_rounds: int
) -> dict:
    """The update ledger of one run (Jepsen set-full): what every live node ended with.

    For every acknowledged update ``u`` (its origin was up when it originated) and every
    node alive at the end (not crashed in the last round): *delivered* if the node holds
    ``u`` at the end, *lost* if it never got it, *stale* if it got it and lost it again
    (a crash with state lost) without a new delivery; delivered pairs are *late* when
    their stable latency (last delivery round − origin round) exceeds ``deadline_rounds``.

    Args:
        state: the final :class:`GossipState` of :func:`rollout` (unbatched).
        config, params: as for the run (``params.updates`` required).
        deadline_rounds: rounds after the origin by which a delivery is on time (>= 0).

    Returns:
        dict with ``expected``, ``delivered``, ``lost``, ``stale``, ``late``,
        ``unacknowledged`` (ints), ``stable_latency_rounds`` / ``stable_latency_s``
        (``{"p50", "p95", "p99", "max"}``; nan when nothing was delivered), and per pair
        ``first_round`` / ``last_round`` int32[U, N] (-1: never), ``alive_at_end`` bool[N],
        ``lost_pairs`` / ``stale_pairs`` (lists of ``(update, node)``).
    """
    if params.updates is None or not isinstance(state.ledger, LedgerState):
        raise ValueError("ledger needs params.updates (gossip.updates) and the run's state")
    deadline = check_int("deadline_rounds", deadline_rounds, low=0)
    book = jax.tree.map(np.asarray, state.ledger)
    if book.held.ndim != 2:
        raise ValueError("ledger takes one run's state (index a batch of seeds first)")
    n_rounds = int(state.round)
    if params.faults is None:
        alive = np.ones(config.n_nodes, bool)
    else:
        up, _, _ = _faults.node_status(params.faults, jnp.int32(max(n_rounds - 1, 0)))
        alive = np.asarray(up)
    origin_round = np.asarray(params.updates.origin_round)[:, None]
    expected = book.acked[:, None] & alive[None, :]
    ever = book.first != _NEVER
    delivered = expected & book.held
    lost = expected & ~ever
    stale = expected & ever & ~book.held
    lat = (book.last - origin_round).astype(np.float64)
    late = delivered & (lat > deadline)
    if (delivered.sum() + lost.sum() + stale.sum()) != expected.sum():
        raise AssertionError("ledger does not balance: delivered + lost + stale != expected")
    q = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "max": 1.0}
    vals = lat[delivered]
    rounds = {k: float(np.quantile(vals, v)) if vals.size else float("nan") for k, v in q.items()}
    return {
        "expected": int(expected.sum()),
        "delivered": int(delivered.sum()),
        "lost": int(lost.sum()),
        "stale": int(stale.sum()),
        "late": int(late.sum()),
        "unacknowledged": int((~book.acked).sum()),
        "stable_latency_rounds": rounds,
        "stable_latency_s": {k: v * config.round_interval_s for k, v in rounds.items()},
        "first_round": np.where(ever, book.first, -1).astype(np.int32),
        "last_round": np.where(ever, book.last, -1).astype(np.int32),
        "alive_at_end": alive,
        "lost_pairs": [tuple(int(i) for i in x) for x in np.argwhere(lost)],
        "stale_pairs": [tuple(int(i) for i in x) for x in np.argwhere(stale)],
    }


def check_ledger(book: dict) -> None:
    """Raises ``AssertionError`` if the :func:`ledger` shows a lost or stale update.

    The message lists the first offending ``(update, node)`` pairs.
    """
    if book["lost"] or book["stale"]:
        raise AssertionError(
            f"update ledger: {book['lost']} lost and {book['stale']} stale of "
            f"{book['expected']} expected deliveries; lost (update, node): "
            f"{book['lost_pairs'][:5]}, stale: {book['stale_pairs'][:5]}"
        )


def _check_params(kernel: Kernel, params: Any, n_rounds: int | None = None) -> None:
    if not isinstance(kernel, Kernel) or not isinstance(kernel.config, GossipConfig):
        raise TypeError(f"kernel must come from gossip.build, got {type(kernel).__name__}")
    if not isinstance(params, GossipParams):
        raise TypeError(f"params must be GossipParams (see params), got {type(params).__name__}")
    n = kernel.config.n_nodes
    if params.faults is not None:
        _faults.check(params.faults, n, n_rounds, kinds=_faults.GOSSIP_KINDS)
    if params.updates is not None and not isinstance(params.updates.origin_node, jax.core.Tracer):
        nodes = np.asarray(params.updates.origin_node)
        if nodes.max() >= n:
            raise ValueError(f"params.updates.origin_node must be < n_nodes={n}, got {nodes}")
        rounds = np.asarray(params.updates.origin_round)
        if n_rounds is not None and rounds.max() >= n_rounds:
            raise ValueError(
                f"params.updates.origin_round must be < the run's {n_rounds} rounds, got {rounds}"
            )
    if not isinstance(params.source, jax.core.Tracer):
        src = np.asarray(params.source)
        if np.any(src >= kernel.config.n_nodes):
            raise ValueError(
                f"params.source must be < n_nodes={kernel.config.n_nodes}, got {params.source}"
            )


def rollout(
    kernel: Kernel, key: jax.Array, params: GossipParams, n_steps: int, *, state=None
) -> tuple[GossipState, GossipInfo]:
    """Spreads the update for ``n_steps`` rounds (:func:`meshlab.core.rollout`, jitted).

    The key is split into an init key (draws the source unless ``params.source`` fixes
    it) and one key per round. Pass the result to :func:`summarize`.
    """
    _check_params(kernel, params, n_steps if state is None else None)
    return _kernel.rollout(kernel, key, params, n_steps, state=state)


def rollout_seeds(
    kernel: Kernel, key: jax.Array, params: GossipParams, n_steps: int, n_seeds: int
) -> tuple[GossipState, GossipInfo]:
    """:func:`rollout` for ``n_seeds`` keys ``jax.random.split(key, n_seeds)`` in one ``vmap``
    (the source is drawn per seed); every leaf gets a leading ``[n_seeds]`` axis."""
    _check_params(kernel, params, n_steps)
    return _kernel.rollout_seeds(kernel, key, params, n_steps, n_seeds)


def summarize(result: tuple, config: GossipConfig, params: GossipParams) -> GossipResult:
    """The :class:`GossipResult` of ``(state, infos)`` from :func:`rollout` / :func:`rollout_seeds`.

    Coverage curves get their round-0 point (``1 / N``) prepended; nodes never informed
    get ``informed_round = rounds + 1``.
    """
    del params
    state, infos = result
    cov = jnp.asarray(infos.coverage)
    first = jnp.full((*cov.shape[:-1], 1), 1.0 / config.n_nodes, jnp.float32)
    coverage = jnp.concatenate([first, cov], axis=-1)
    never = jnp.asarray(state.round)[..., None] + 1
    when = jnp.where(state.when == _NEVER, never, state.when)
    rounds = rounds_to_coverage(coverage)
    seconds = jnp.where(rounds >= 0, rounds.astype(jnp.float32) * config.round_interval_s, jnp.nan)
    return GossipResult(coverage, when, state.source, rounds, seconds)
