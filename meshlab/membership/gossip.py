# ruff: noqa: F722  (jaxtyping shape strings)
"""Gossip dissemination of one state update: push, pull and push-pull, with fanout and loss.

Synchronous rounds (``lax.scan``): in every round each node picks ``fanout`` distinct
peers uniformly at random and

* ``"push"``: an informed node sends the update to each of its peers;
* ``"pull"``: an uninformed node asks each of its peers and learns the update from any
  informed one;
* ``"pushpull"``: every contact is an exchange, so both ends end up informed if either was.

Each contact (message or request/reply exchange) fails independently with probability
``loss`` — the same ``(1 − loss)`` factor as the Serf/memberlist convergence model.
Peers come either from the beacon graph (row ``i`` of a ``Topology``'s ``neighbors``
masked by ``mask`` is node i's peer list; for the symmetric topologies this is the set
of radio neighbours) or, with ``topology=None``, from all other ``n_nodes − 1`` nodes
(the complete-graph mode that the mean-field models describe). A node with fewer valid
neighbours than ``fanout`` contacts all of them.

The Serf convergence simulator (``website/source/assets/javascripts/_simulator.js``,
``convergenceAtRound``) predicts the informed fraction after ``x`` rounds as
``1 / (1 + (N + 1) exp(−0.5 · fanout · (1 − loss) · (1 − failed) · x))``:
:func:`serf_convergence`. See :func:`rounds_to_coverage` for the 50/99/99.9/100 %
crossing rounds and the README for how simulated curves compare with it.
"""

import functools
import math
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

__all__ = [
    "COVERAGE_LEVELS",
    "GOSSIP_MODES",
    "GossipConfig",
    "GossipParams",
    "GossipResult",
    "gossip_rollout",
    "gossip_seeds",
    "rounds_to_coverage",
    "serf_convergence",
]

GOSSIP_MODES = ("push", "pull", "pushpull")
COVERAGE_LEVELS = (0.5, 0.99, 0.999, 1.0)


class GossipConfig(NamedTuple):
    """Static (hashable) gossip configuration.

    Attributes:
        n_nodes: number of nodes (must equal the topology's N when one is given).
        mode: ``"push"``, ``"pull"`` or ``"pushpull"``.
        fanout: peers contacted per node per round (>= 1).
        n_rounds: rounds simulated (the curve has ``n_rounds + 1`` points, round 0 first).
        round_interval_s: seconds per gossip round (converts rounds to seconds).
    """

    n_nodes: int
    mode: str = "push"
    fanout: int = 3
    n_rounds: int = 40
    round_interval_s: float = 0.2


class GossipParams(NamedTuple):
    """Array parameters (vmap-able without recompiling).

    Attributes:
        loss: probability that one contact fails, in [0, 1].
    """

    loss: Float[Array, ""] | float = 0.0


class GossipResult(NamedTuple):
    """Outcome of one gossip rollout.

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


def serf_convergence(
    rounds: Any, n_nodes: int, fanout: float, loss: float = 0.0, failed: float = 0.0
) -> np.ndarray:
    """Serf/memberlist convergence model: informed fraction after ``rounds`` rounds.

    ``fraction(x) = 1 / (1 + (N + 1) · exp(−0.5 · fanout · (1 − loss) · (1 − failed) · x))``
    (the logistic solution of ``di/dx = 0.5 · fanout · (1 − loss)(1 − failed) · i (1 − i)``
    started from ``1 / (N + 2)``).

    Args:
        rounds: round numbers (array-like, may be fractional).
        n_nodes: cluster size N (>= 1).
        fanout: gossip fanout (> 0).
        loss: packet loss probability in [0, 1).
        failed: fraction of failed nodes in [0, 1).

    Returns:
        float64 array of fractions, the shape of ``rounds``.
    """
    _check_int("n_nodes", n_nodes, 1)
    if isinstance(fanout, bool) or not isinstance(fanout, numbers.Real) or not fanout > 0:
        raise ValueError(f"fanout must be > 0, got {fanout!r}")
    for name, value in (("loss", loss), ("failed", failed)):
        if not 0.0 <= float(value) < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    x = np.asarray(rounds, dtype=np.float64)
    rate = 0.5 * float(fanout) * (1.0 - float(loss)) * (1.0 - float(failed))
    return 1.0 / (1.0 + (n_nodes + 1.0) * np.exp(-rate * x))


def rounds_to_coverage(
    coverage: Float[Array, "... rounds"], levels: tuple[float, ...] = COVERAGE_LEVELS
) -> Int[Array, "... levels"]:
    """First round at which the coverage reaches each level (``-1`` if never).

    Full coverage (level 1.0) means every node: compared as ``coverage >= 1`` exactly
    (coverage is an exact count ratio). Other levels are reached at ``coverage >= level``.

    Args:
        coverage: f32[..., n_rounds + 1] curves from :func:`gossip_rollout`.
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


# ----------------------------------------------------------------------------- checks


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if int(value) < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def _validate(config: GossipConfig, params: GossipParams, topology) -> None:
    if not isinstance(config, GossipConfig):
        raise TypeError(f"config must be a GossipConfig, got {type(config).__name__}")
    n = _check_int("config.n_nodes", config.n_nodes, 2)
    if config.mode not in GOSSIP_MODES:
        raise ValueError(f"config.mode must be one of {GOSSIP_MODES}, got {config.mode!r}")
    _check_int("config.fanout", config.fanout, 1)
    _check_int("config.n_rounds", config.n_rounds, 1)
    dt = config.round_interval_s
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not (0 < dt < math.inf):
        raise ValueError(f"config.round_interval_s must be finite and > 0, got {dt!r}")
    if topology is None:
        if config.fanout > n - 1:
            raise ValueError(
                f"config.fanout must be <= n_nodes - 1 = {n - 1} in complete-graph mode, "
                f"got {config.fanout}"
            )
    else:
        shape = tuple(np.shape(topology.neighbors))
        if len(shape) != 2 or shape[0] != n or tuple(np.shape(topology.mask)) != shape:
            raise ValueError(
                f"topology.neighbors and topology.mask must both have shape (n_nodes={n}, K), "
                f"got {shape} and {tuple(np.shape(topology.mask))}"
            )
    try:
        loss = np.asarray(params.loss, np.float64)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return  # traced (e.g. under vmap over losses): checked by the caller's values
    if loss.shape != () or not (0.0 <= float(loss) <= 1.0):
        raise ValueError(f"params.loss must be a scalar in [0, 1], got {params.loss!r}")


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


# --------------------------------------------------------------------------- rollout


def _rollout(key, config: GossipConfig, loss, push, pull, neighbors, mask, source):
    """One rollout. ``push`` / ``pull`` are traced booleans, so the three modes share one
    compilation (callers pass a config normalized by :func:`_compile_key`)."""
    n = config.n_nodes
    k_src, k_run = jax.random.split(key)
    if source is None:
        u0 = _uniform(jax.random.bits(k_src, (), jnp.uint32))
        source = jnp.minimum((u0 * n).astype(jnp.int32), n - 1)
    source = jnp.asarray(source, jnp.int32)
    informed = jnp.zeros((n,), bool).at[source].set(True)
    never = jnp.int32(config.n_rounds + 1)
    when = jnp.where(informed, 0, never)

    def step(carry, xs):
        informed, when = carry
        r, k_r = xs
        peers, valid, u_loss = _round_draws(k_r, config, neighbors, mask)
        ok = valid & (u_loss >= loss)  # the contact succeeds
        # push: i -> peer (scatter); pull: peer -> i (gather)
        sent = (ok & informed[:, None] & push).ravel().astype(jnp.int8)
        got = jnp.zeros((n,), jnp.int8).at[peers.ravel()].max(sent).astype(bool)
        pulled = jnp.any(ok & informed[peers], axis=1) & pull
        new = informed | got | pulled
        when = jnp.where(new & ~informed, r, when)
        return (new, when), jnp.mean(new.astype(jnp.float32))

    rounds = jnp.arange(1, config.n_rounds + 1, dtype=jnp.int32)
    keys = jax.random.split(k_run, config.n_rounds)
    (_, when), cov = jax.lax.scan(step, (informed, when), (rounds, keys))
    coverage = jnp.concatenate([jnp.full((1,), 1.0 / n, jnp.float32), cov])
    return coverage, when, source


def _result(config: GossipConfig, coverage, when, source) -> GossipResult:
    rounds = rounds_to_coverage(coverage)
    seconds = jnp.where(rounds >= 0, rounds.astype(jnp.float32) * config.round_interval_s, jnp.nan)
    return GossipResult(coverage, when, source, rounds, seconds)


@functools.partial(jax.jit, static_argnames=("config",))
def _rollout_jit(key, config, loss, push, pull, neighbors, mask, source):
    return _rollout(key, config, loss, push, pull, neighbors, mask, source)


@functools.partial(jax.jit, static_argnames=("config",))
def _seeds_jit(keys, config, loss, push, pull, neighbors, mask):
    one = lambda k: _rollout(k, config, loss, push, pull, neighbors, mask, None)
    return jax.vmap(one)(keys)


def _prepare(config: GossipConfig, params: GossipParams, topology):
    """Validated, device-ready arguments; the mode becomes two traced flags."""
    _validate(config, params, topology)
    neighbors = None if topology is None else jnp.asarray(topology.neighbors, jnp.int32)
    mask = None if topology is None else jnp.asarray(topology.mask, bool)
    push = jnp.asarray(config.mode in ("push", "pushpull"))
    pull = jnp.asarray(config.mode in ("pull", "pushpull"))
    static = config._replace(mode="push", round_interval_s=1.0)  # one compile for all modes
    return static, jnp.asarray(params.loss, jnp.float32), push, pull, neighbors, mask


def gossip_rollout(
    key: jax.Array,
    config: GossipConfig,
    params: GossipParams | None = None,
    topology: Any = None,
    source: int | None = None,
) -> GossipResult:
    """Spreads one update from ``source`` by gossip for ``config.n_rounds`` rounds.

    Args:
        key: typed PRNG key (split per round: peer choice and loss draws).
        config: static :class:`GossipConfig`.
        params: :class:`GossipParams` (default: no loss).
        topology: a ``meshlab.Topology`` (anything with ``neighbors`` int32[N, K] and
            ``mask`` bool[N, K]) or ``None`` for the complete graph.
        source: the node holding the update at round 0; drawn uniformly from ``key`` if
            ``None``.

    Returns:
        A :class:`GossipResult` (``rounds_to`` / ``seconds_to``: the 50/99/99.9/100 %
        crossings; :func:`rounds_to_coverage` for other levels).
    """
    params = GossipParams() if params is None else params
    args = _prepare(config, params, topology)
    if source is not None:
        _check_int("source", source, 0)
        if source >= config.n_nodes:
            raise ValueError(f"source must be < n_nodes={config.n_nodes}, got {source}")
    return _result(config, *_rollout_jit(key, *args, source))


def gossip_seeds(
    key: jax.Array,
    n_seeds: int,
    config: GossipConfig,
    params: GossipParams | None = None,
    topology: Any = None,
) -> GossipResult:
    """``vmap`` of :func:`gossip_rollout` over ``n_seeds`` keys split from ``key``.

    The source is drawn per seed. Returns a :class:`GossipResult` with a leading
    ``[n_seeds]`` axis on every field.
    """
    n_seeds = _check_int("n_seeds", n_seeds, 1)
    params = GossipParams() if params is None else params
    args = _prepare(config, params, topology)
    return _result(config, *_seeds_jit(jax.random.split(key, n_seeds), *args))
