"""Update-space Byzantine attacks: rewrite the Byzantine rows of ``updates f32[n, d]``.

``apply_attack(key, name, updates, byzantine, **options)`` returns a new ``f32[n, d]`` in
which the rows with ``byzantine[i]`` True are replaced and the others are untouched. All
attacks are pure, jit-compatible (``byzantine`` may be traced) and omniscient where the
paper's attacker is: statistics are taken over the honest rows (``~byzantine``).

=============  =========================================================================
name           Byzantine row
=============  =========================================================================
``none``       unchanged (the clean baseline)
``sign_flip``  ``-scale * x_i`` (``scale`` = 1)
``gaussian``   ``N(0, sigma^2 I)`` (``sigma`` = 1), fresh noise per row
``scaling``    ``factor * x_i``: model replacement (Bagdasaryan et al. 2020); ``factor``
               defaults to ``n``
``alie``       ``mu - z sigma`` coordinate-wise over the honest rows, with
               ``s = floor(n/2 + 1) - f`` and ``z = Phi^-1((n - s) / n)`` (Baruch et al. 2019)
               unless ``z`` is given
``ipm``        ``-eps * mean(honest)`` (Xie et al. 2020), ``eps`` = 0.1 (small)
``ipm_large``  the same with a large ``eps`` (default 100; it reverses and amplifies the
               honest mean and defeats the plain mean)
``opt_alie``   ALIE with the factor ``z`` found by ByzFL's line search (:func:`line_search`)
               maximizing ``||aggregate(attacked) - mean(honest)||`` (ByzFL's Opt-ALIE;
               omniscient: it queries the aggregation rule, option ``aggregate``)
``opt_ipm``    IPM with ``eps`` found the same way (ByzFL's Opt-IPM)
``min_max``    ``mean(honest) + gamma p`` with the largest ``gamma`` (Shejwalkar &
               Houmansadr's halving search, :func:`min_max_gamma`) such that the maximum
               distance to an honest update stays <= the largest distance between two
               honest updates (Shejwalkar & Houmansadr, NDSS 2021, AGR-agnostic Min-Max);
               ``direction`` p = ``"std"`` (``-std``), ``"sign"`` (``-sign(mean)``),
               ``"unit"`` (``-mean / ||mean||``) or ``"worst"`` (default: the three are
               evaluated and the one moving ``aggregate`` furthest from the honest mean kept)
``min_sum``    the same, constraint on the sum of squared distances to the honest updates
               <= the largest such sum of an honest update (Min-Sum)
``mimic``      a copy of honest row ``target`` (default: the first honest row)
               (Karimireddy et al. 2022)
``nonfinite``  ``value`` = ``"nan"`` | ``"inf"`` | ``"-inf"`` | ``"mixed"`` (each entry drawn
               from {NaN, +Inf, -Inf})
``free_rider`` the zero update
=============  =========================================================================

Label flipping acts on the data, not on updates: see ``meshlab.fl.data.flip_labels``.

The numeric option named in :data:`ATTACK_STRENGTHS` is the attack's strength; the
orchestrators take it from their traced params (``FLParams.attack_strength``), so a sweep
over strengths compiles once (:func:`attack_rows` accepts it as an array).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float

__all__ = [
    "ATTACKS",
    "ATTACK_STRENGTHS",
    "DIRECTIONS",
    "LINE_SEARCH",
    "OPTIMIZED",
    "alie_z",
    "apply_attack",
    "attack_rows",
    "line_search",
    "min_max_gamma",
]

ATTACKS: tuple[str, ...] = (
    "none",
    "sign_flip",
    "gaussian",
    "scaling",
    "alie",
    "ipm",
    "ipm_large",
    "opt_alie",
    "opt_ipm",
    "min_max",
    "min_sum",
    "mimic",
    "nonfinite",
    "free_rider",
)

_OPTIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "sign_flip": {"scale": 1.0},
    "gaussian": {"sigma": 1.0},
    "scaling": {"factor": None},
    "alie": {"z": None},
    "ipm": {"eps": 0.1},
    "ipm_large": {"eps": 100.0},
    "opt_alie": {"aggregate": None, "evals": 20, "start": 0.0, "delta": 10.0, "ratio": 0.8},
    "opt_ipm": {"aggregate": None, "evals": 20, "start": 0.0, "delta": 10.0, "ratio": 0.8},
    "min_max": {"direction": "worst", "aggregate": None},
    "min_sum": {"direction": "worst", "aggregate": None},
    "mimic": {"target": None},
    "nonfinite": {"value": "nan"},
    "free_rider": {},
}
_NONFINITE = ("nan", "inf", "-inf", "mixed")
# Shejwalkar & Houmansadr's perturbation directions (``"worst"``: the worst of the three)
DIRECTIONS: tuple[str, ...] = ("std", "sign", "unit")
_MINMAX_DIRECTIONS = (*DIRECTIONS, "worst")
# attacks that query the aggregation rule (the orchestrators pass ``aggregate``)
OPTIMIZED: tuple[str, ...] = ("opt_alie", "opt_ipm", "min_max", "min_sum")
# ByzFL's line-search defaults (``Optimal_ALittleIsEnough`` / ``Optimal_InnerProductManipulation``)
LINE_SEARCH: dict[str, Any] = {"evals": 20, "start": 0.0, "delta": 10.0, "ratio": 0.8}
_GAMMA_INIT = 10.0  # Shejwalkar & Houmansadr's initial gamma (and first step)
_GAMMA_HALVINGS = 30  # the paper stops when the step is < 1e-5 (~20 halvings from 10)

# the option that sets each attack's strength (a traced params entry in the orchestrators)
ATTACK_STRENGTHS: dict[str, str] = {
    "sign_flip": "scale",
    "gaussian": "sigma",
    "scaling": "factor",
    "alie": "z",
    "ipm": "eps",
}


def alie_z(n: Any, f: Any) -> Array:
    """ALIE's ``z_max``: ``s = floor(n/2 + 1) - f``, ``z = Phi^-1((n - s) / n)``.

    Baruch, Baruch & Goldberg, "A Little Is Enough: Circumventing Defenses For Distributed
    Learning", NeurIPS 2019, Algorithm 1: the largest shift (in honest standard deviations)
    that keeps the Byzantine value inside the spread that ``s`` honest clients "support".
    E.g. ``alie_z(30, 6) = 0.43``, ``alie_z(30, 9) = 0.73``.

    Args:
        n: total number of clients; f: number of attackers (ints or traced ints).

    Returns:
        ``f32[]`` (NaN when ``(n - s) / n`` is outside (0, 1)).
    """
    n = jnp.asarray(n, jnp.float32)
    f = jnp.asarray(f, jnp.float32)
    s = jnp.floor(n / 2.0 + 1.0) - f
    return jax.scipy.special.ndtri((n - s) / n)


def _honest_mean_std(x: Array, honest: Array) -> tuple[Array, Array]:
    w = honest.astype(x.dtype)
    nh = jnp.maximum(jnp.sum(w), 1.0)
    mu = jnp.matmul(w / nh, x, precision=lax.Precision.HIGHEST)
    var = jnp.matmul(w / nh, jnp.square(x - mu[None, :]), precision=lax.Precision.HIGHEST)
    return mu, jnp.sqrt(var)


def _direction(name: str, mu: Array, sd: Array) -> Array:
    """Shejwalkar & Houmansadr's perturbation ``p`` (the malicious update is ``mu + gamma p``)."""
    if name == "std":
        return -sd
    if name == "sign":
        return -jnp.sign(mu)
    return -mu / jnp.maximum(jnp.linalg.norm(mu), jnp.finfo(mu.dtype).tiny)  # unit


def _gamma(y: Array, honest: Array, p: Array, objective: str) -> Array:
    """The halving search on centred honest rows ``y`` (zero where not honest)."""
    sq = jnp.sum(y * y, axis=1)
    g = jnp.matmul(y, y.T, precision=lax.Precision.HIGHEST)
    pair = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * g, 0.0)
    pair = jnp.where(honest[:, None] & honest[None, :], pair, 0.0)
    bound = jnp.max(pair) if objective == "min_max" else jnp.max(jnp.sum(pair, axis=1))

    def ok(gamma):
        d2 = jnp.sum(jnp.square(y - gamma * p[None, :]), axis=1)  # ||m - x_i||^2, honest i
        d2 = jnp.where(honest, d2, 0.0)
        return (jnp.max(d2) if objective == "min_max" else jnp.sum(d2)) <= bound

    def halve(_, s):
        gamma, step, good = s
        feasible = ok(gamma)
        good = jnp.where(feasible, gamma, good)
        gamma = jnp.where(feasible, gamma + 0.5 * step, gamma - 0.5 * step)
        return gamma, 0.5 * step, good

    init = jnp.asarray(_GAMMA_INIT, y.dtype)
    _, _, good = lax.fori_loop(0, _GAMMA_HALVINGS, halve, (init, init, jnp.zeros((), y.dtype)))
    return jnp.where(jnp.sum(honest) >= 2, good, 0.0)


def min_max_gamma(
    x: Float[Array, "n d"],
    byzantine: Bool[Array, " n"],
    direction: str = "std",
    objective: str = "min_max",
) -> Float[Array, ""]:
    """Shejwalkar & Houmansadr's ``gamma`` for ``m = mean(honest) + gamma p`` (NDSS 2021).

    "Manipulating the Byzantine: Optimizing Model Poisoning Attacks and Defenses for
    Federated Learning", NDSS 2021, AGR-agnostic attacks: the largest ``gamma >= 0`` with

    * ``min_max``: ``max_i ||m - x_i|| <= max_{i,j} ||x_i - x_j||``;
    * ``min_sum``: ``sum_i ||m - x_i||^2 <= max_i sum_j ||x_i - x_j||^2``,

    ``i, j`` over the honest rows, found by the paper's halving search: ``gamma = 10``,
    ``step = 10``; each iteration ``gamma += step / 2`` if feasible (remembering the last
    feasible ``gamma``), else ``gamma -= step / 2``; ``step /= 2``. The paper stops when the
    step drops below 1e-5; here a fixed 30 halvings (jit-compatible). The result is the last
    *feasible* ``gamma`` (the constraint holds as evaluated in float32); as in the paper the
    search cannot go beyond ``2 * 10``.

    Args:
        x: ``f32[n, d]`` updates (rows with ``byzantine`` True are ignored).
        byzantine: ``bool[n]``.
        direction: one of :data:`DIRECTIONS`.
        objective: ``"min_max"`` or ``"min_sum"``.

    Returns:
        ``f32[]`` gamma (0 with fewer than 2 honest rows).
    """
    honest = ~byzantine
    mu, sd = _honest_mean_std(x, honest)
    y = jnp.where(honest[:, None], x - mu[None, :], 0.0)
    return _gamma(y, honest, _direction(direction, mu, sd), objective)


def _min_max_rows(key, objective, x, byzantine, direction, aggregate) -> Array:
    """Min-Max / Min-Sum rows; ``"worst"``: the direction moving the rule furthest."""
    honest = ~byzantine
    mu, sd = _honest_mean_std(x, honest)
    y = jnp.where(honest[:, None], x - mu[None, :], 0.0)
    names = DIRECTIONS if direction == "worst" else (direction,)
    ps = jnp.stack([_direction(d, mu, sd) for d in names])  # [k, d]
    gammas = jax.vmap(lambda p: _gamma(y, honest, p, objective))(ps)
    bads = mu[None, :] + gammas[:, None] * ps  # [k, d]
    if len(names) > 1:
        rule = _mean_rule if aggregate is None else aggregate

        def value(bad):
            out = rule(key, jnp.where(honest[:, None], x, bad[None, :]))
            v = jnp.sqrt(jnp.sum(jnp.square(out - mu)))
            return jnp.where(jnp.isnan(v), jnp.inf, v)

        bads = bads[jnp.argmax(jax.vmap(value)(bads))][None, :]
    return jnp.broadcast_to(bads[0], x.shape)


def _factor_rows(kind: str, x: Array, honest: Array, factor: Array) -> Array:
    mu, sd = _honest_mean_std(x, honest)
    bad = mu - factor * sd if kind == "alie" else -factor * mu
    return jnp.where(honest[:, None], x, bad[None, :])


def _mean_rule(key: Array, x: Array) -> Array:
    return jnp.mean(x, axis=0)


def line_search(
    key: Array,
    kind: str,
    x: Float[Array, "n d"],
    byzantine: Bool[Array, " n"],
    aggregate: Any = None,
    *,
    evals: int = 20,
    start: Any = 0.0,
    delta: Any = 10.0,
    ratio: Any = 0.8,
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """ByzFL's optimized attacks: the factor maximizing the aggregate's displacement.

    Opt-ALIE / Opt-IPM (ByzFL, ``Optimal_ALittleIsEnough`` /
    ``Optimal_InnerProductManipulation``; used by Allouah et al. 2023): the objective of a
    factor ``c`` is ``||aggregate(attacked) - mean(honest)||`` with the Byzantine rows set to
    ALIE's ``mu - c sigma`` or IPM's ``-c mu`` (honest statistics). ByzFL's sequential line
    maximization with ``evals`` evaluations: evaluate ``start``; *expansion*: propose
    ``best + delta``, on improvement keep it and double ``delta``, else multiply ``delta`` by
    ``ratio`` and switch to *contraction*: propose ``best + delta``, keep it on improvement,
    multiply ``delta`` by ``ratio``, until the evaluations are spent. Run as one
    ``lax.fori_loop`` of ``evals - 1`` steps (jit-compatible; ``start``, ``delta``, ``ratio``
    may be traced, so a ``vmap`` over them compiles once).

    Args:
        key: typed PRNG key handed to ``aggregate`` (the same for every evaluation).
        kind: ``"alie"`` or ``"ipm"``.
        x: ``f32[n, d]`` honest updates.
        byzantine: ``bool[n]``.
        aggregate: ``(key, f32[n, d]) -> f32[d]`` the rule under attack (omniscient
            attacker); default the plain mean.
        evals: number of objective evaluations (static, >= 1); ByzFL's default 20.
        start, delta, ratio: first factor, first step, contraction ratio (ByzFL: 0, 10, 0.8).

    Returns:
        ``(best factor f32[], its objective f32[])``; a NaN objective counts as +inf.
    """
    rule = _mean_rule if aggregate is None else aggregate
    honest = ~byzantine
    mu, _ = _honest_mean_std(x, honest)

    def value(c):
        out = rule(key, _factor_rows(kind, x, honest, c))
        v = jnp.sqrt(jnp.sum(jnp.square(out - mu)))
        return jnp.where(jnp.isnan(v), jnp.inf, v)

    def step(i, s):
        best, best_v, dl, expanding = s
        first = i == 0  # the first evaluation is the start (one copy of the rule in the loop)
        prop = jnp.where(first, best, best + dl)
        v = value(prop)
        better = (v > best_v) | first
        grow = expanding & better & ~first
        dl = jnp.where(first, dl, jnp.where(grow, 2.0 * dl, ratio * dl))
        expanding = expanding & (better | first)
        return jnp.where(better, prop, best), jnp.where(better, v, best_v), dl, expanding

    c0 = jnp.asarray(start, x.dtype)
    init = (c0, jnp.asarray(-jnp.inf, x.dtype), jnp.asarray(delta, x.dtype), jnp.asarray(True))
    best, best_v, _, _ = lax.fori_loop(0, evals, step, init)
    return best, best_v


def _finite_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number")
    return float(value)


def apply_attack(
    key: Array,
    name: str,
    updates: Float[Array, "n d"],
    byzantine: Bool[Array, " n"],
    **options: Any,
) -> Float[Array, "n d"]:
    """Replaces the Byzantine rows of ``updates`` according to attack ``name``.

    Args:
        key: typed PRNG key (used by ``gaussian`` and ``nonfinite="mixed"``).
        name: one of :data:`ATTACKS`.
        updates: ``f32[n, d]`` honest updates as computed by every client.
        byzantine: ``bool[n]`` attacker mask (may be traced).
        **options: see the module table (``scale``, ``sigma``, ``factor``, ``z``, ``eps``,
            ``target``, ``value``; ``opt_*``: ``aggregate`` (``(key, f32[n, d]) -> f32[d]``,
            default the plain mean) and the line search's ``evals``, ``start``, ``delta``,
            ``ratio`` (:data:`LINE_SEARCH`); ``min_max`` / ``min_sum``: ``direction`` and
            ``aggregate``).

    Returns:
        ``f32[n, d]``: honest rows unchanged, Byzantine rows replaced.

    Raises:
        ValueError: unknown attack or option, bad option value, wrong shapes, or (for a
            concrete mask) no honest row for the attacks that need one.
        TypeError: non-floating ``updates`` or non-boolean ``byzantine``.
    """
    if name not in ATTACKS:
        raise ValueError(f"name={name!r} is not a known attack; allowed: {ATTACKS}")
    allowed = _OPTIONS[name]
    unknown = set(options) - set(allowed)
    if unknown:
        raise ValueError(
            f"unknown option(s) {sorted(unknown)} for attack {name!r}; allowed: {sorted(allowed)}"
        )
    opts = {**allowed, **options}
    shape = jnp.shape(updates)
    if len(shape) != 2:
        raise ValueError(f"updates must have shape (n, d), got {shape}")
    if jnp.shape(byzantine) != (shape[0],):
        raise ValueError(f"byzantine must have shape ({shape[0]},), got {jnp.shape(byzantine)}")
    if not jnp.issubdtype(jnp.result_type(updates), jnp.floating):
        raise TypeError(f"updates must be floating point, got {jnp.result_type(updates)}")
    if jnp.result_type(byzantine) != jnp.bool_:
        raise TypeError(f"byzantine must be boolean, got {jnp.result_type(byzantine)}")
    n = shape[0]
    concrete = not isinstance(byzantine, jax.core.Tracer)
    needs_honest = ("alie", "ipm", "ipm_large", "mimic", *OPTIMIZED)
    if name in needs_honest and concrete and np.all(np.asarray(byzantine)):
        raise ValueError(f"attack {name!r} needs at least one honest row; byzantine is all True")

    if name == "sign_flip":
        opts["scale"] = _finite_number("scale", opts["scale"])
    elif name == "gaussian":
        opts["sigma"] = _finite_number("sigma", opts["sigma"])
        if opts["sigma"] < 0:
            raise ValueError(f"sigma={opts['sigma']} must be >= 0")
    elif name == "scaling" and opts["factor"] is not None:
        opts["factor"] = _finite_number("factor", opts["factor"])
    elif name == "alie" and opts["z"] is not None:
        opts["z"] = _finite_number("z", opts["z"])
    elif name in ("ipm", "ipm_large"):
        opts["eps"] = _finite_number("eps", opts["eps"])
    elif name in OPTIMIZED:
        if opts["aggregate"] is not None and not callable(opts["aggregate"]):
            raise ValueError(
                f"aggregate={opts['aggregate']!r} must be a callable (key, updates) -> f32[d]"
            )
        if name in ("min_max", "min_sum") and opts["direction"] not in _MINMAX_DIRECTIONS:
            raise ValueError(f"direction={opts['direction']!r} must be one of {_MINMAX_DIRECTIONS}")
        if name.startswith("opt_"):
            evals = opts["evals"]
            if isinstance(evals, bool) or not isinstance(evals, int | np.integer) or evals < 1:
                raise ValueError(f"evals={evals!r} must be an int >= 1")
            opts["start"] = _finite_number("start", opts["start"])
            opts["delta"] = _finite_number("delta", opts["delta"])
            if opts["delta"] == 0:
                raise ValueError("delta=0.0 must be a non-zero number")
            opts["ratio"] = _finite_number("ratio", opts["ratio"])
            if not 0.5 < opts["ratio"] < 1.0:
                raise ValueError(f"ratio={opts['ratio']} must be in (0.5, 1)")
    elif name == "mimic" and opts["target"] is not None:
        target = opts["target"]
        if isinstance(target, bool) or not isinstance(target, int | np.integer):
            raise ValueError(f"target={target!r} must be an int row index")
        if not 0 <= target < n:
            raise ValueError(f"target={target} must be in [0, {n - 1}]")
        if concrete and bool(np.asarray(byzantine)[target]):
            raise ValueError(f"target={target} is a Byzantine row; mimic copies an honest one")
    elif name == "nonfinite" and opts["value"] not in _NONFINITE:
        raise ValueError(f"value={opts['value']!r} must be one of {_NONFINITE}")
    return attack_rows(key, name, jnp.asarray(updates), byzantine, **opts)


def attack_rows(
    key: Array,
    name: str,
    x: Float[Array, "n d"],
    byzantine: Bool[Array, " n"],
    **opts: Any,
) -> Float[Array, "n d"]:
    """The unchecked core of :func:`apply_attack` (options already validated).

    The strength option of :data:`ATTACK_STRENGTHS` may be a traced ``f32[]``; for
    ``alie`` a NaN ``z`` (or ``None``) means Baruch et al.'s ``z`` from ``(n, f)``, for
    ``scaling`` ``None`` means ``factor = n``. Other options take their defaults from
    the module table when omitted.
    """
    opts = {**_OPTIONS[name], **opts}
    n = x.shape[0]
    honest = ~byzantine
    if name == "none":
        bad = x
    elif name == "sign_flip":
        bad = -opts["scale"] * x
    elif name == "gaussian":
        bad = opts["sigma"] * jax.random.normal(key, x.shape, x.dtype)
    elif name == "scaling":
        bad = (n if opts["factor"] is None else opts["factor"]) * x
    elif name == "alie":
        mu, sd = _honest_mean_std(x, honest)
        z = opts["z"]
        z_paper = lambda: alie_z(n, jnp.sum(byzantine, dtype=jnp.int32)).astype(x.dtype)
        if z is None:
            z = z_paper()
        elif isinstance(z, jax.Array):
            z = jnp.where(jnp.isnan(z), z_paper(), z.astype(x.dtype))
        else:
            z = jnp.asarray(z, x.dtype)
        bad = jnp.broadcast_to(mu - z * sd, x.shape)
    elif name in ("ipm", "ipm_large"):
        mu, _ = _honest_mean_std(x, honest)
        bad = jnp.broadcast_to(-opts["eps"] * mu, x.shape)
    elif name in ("opt_alie", "opt_ipm"):
        kind = name.removeprefix("opt_")
        search = {k: opts[k] for k in LINE_SEARCH}
        best, _ = line_search(key, kind, x, byzantine, opts["aggregate"], **search)
        bad = _factor_rows(kind, x, honest, best)
    elif name in ("min_max", "min_sum"):
        bad = _min_max_rows(key, name, x, byzantine, opts["direction"], opts["aggregate"])
    elif name == "mimic":
        idx = jnp.argmax(honest) if opts["target"] is None else opts["target"]
        bad = jnp.broadcast_to(x[idx], x.shape)
    elif name == "nonfinite":
        value = opts["value"]
        if value == "mixed":
            pick = jax.random.randint(key, x.shape, 0, 3)
            bad = jnp.array([jnp.nan, jnp.inf, -jnp.inf], x.dtype)[pick]
        else:
            bad = jnp.full(x.shape, float(value), x.dtype)
    else:  # free_rider
        bad = jnp.zeros_like(x)
    return jnp.where(byzantine[:, None], bad, x)
