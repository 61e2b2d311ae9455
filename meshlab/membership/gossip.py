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

__all__ = [
    "COVERAGE_LEVELS",
    "MODES",
    "GossipConfig",
    "GossipData",
    "GossipInfo",
    "GossipParams",
    "GossipResult",
    "GossipState",
    "build",
    "params",
    "rollout",
    "rollout_seeds",
    "rounds_to_coverage",
    "summarize",
]

MODES = ("push", "pull", "pushpull")
COVERAGE_LEVELS = (0.5, 0.99, 0.999, 1.0)
_NEVER = np.iinfo(np.int32).max  # informed_round of a node not yet informed


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
    """

    loss: Float[Array, ""]
    source: Int[Array, ""]


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
    """

    round: Int[Array, ""]
    informed: Bool[Array, " nodes"]
    when: Int[Array, " nodes"]
    source: Int[Array, ""]


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


def params(loss: Any = 0.0, source: int | None = None) -> GossipParams:
    """Validated :class:`GossipParams`.

    Args:
        loss: contact failure probability in [0, 1] (scalar or array, for a sweep).
        source: the node holding the update at round 0 (int >= 0; checked against N at
            rollout); ``None``: drawn from the key (per seed).
    """
    check_prob("params.loss", loss)
    src = -1 if source is None else check_int("params.source", source, low=0)
    return GossipParams(jnp.asarray(loss, jnp.float32), jnp.asarray(src, jnp.int32))


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
    shape = tuple(np.shape(topology.neighbors))
    if len(shape) != 2 or shape[0] != n or tuple(np.shape(topology.mask)) != shape:
        raise ValueError(
            f"topology.neighbors and topology.mask must both have shape (n_nodes={n}, K), "
            f"got {shape} and {tuple(np.shape(topology.mask))}"
        )
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
    return GossipState(jnp.int32(0), informed, when, source)


def _step_fn(key, state: GossipState, data: GossipData, config: GossipConfig, params, inputs):
    del inputs
    n = config.n_nodes
    r = state.round + 1
    informed = state.informed
    peers, valid, u_loss = _round_draws(key, config, data.neighbors, data.mask)
    ok = valid & (u_loss >= params.loss)  # the contact succeeds
    new = informed
    if config.mode in ("push", "pushpull"):  # i -> peer (scatter)
        sent = (ok & informed[:, None]).ravel().astype(jnp.int8)
        new = new | jnp.zeros((n,), jnp.int8).at[peers.ravel()].max(sent).astype(bool)
    if config.mode in ("pull", "pushpull"):  # peer -> i (gather)
        new = new | jnp.any(ok & informed[peers], axis=1)
    when = jnp.where(new & ~informed, r, state.when)
    info = GossipInfo(jnp.mean(new.astype(jnp.float32)))
    return GossipState(r, new, when, state.source), info


def _check_params(kernel: Kernel, params: Any) -> None:
    if not isinstance(kernel, Kernel) or not isinstance(kernel.config, GossipConfig):
        raise TypeError(f"kernel must come from gossip.build, got {type(kernel).__name__}")
    if not isinstance(params, GossipParams):
        raise TypeError(f"params must be GossipParams (see params), got {type(params).__name__}")
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
    _check_params(kernel, params)
    return _kernel.rollout(kernel, key, params, n_steps, state=state)


def rollout_seeds(
    kernel: Kernel, key: jax.Array, params: GossipParams, n_steps: int, n_seeds: int
) -> tuple[GossipState, GossipInfo]:
    """:func:`rollout` for ``n_seeds`` keys ``jax.random.split(key, n_seeds)`` in one ``vmap``
    (the source is drawn per seed); every leaf gets a leading ``[n_seeds]`` axis."""
    _check_params(kernel, params)
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
