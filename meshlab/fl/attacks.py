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
``opt_alie``   ALIE with the factor ``z`` chosen on a grid to maximize
               ``||aggregate(attacked) - mean(honest)||`` (ByzFL's Opt-ALIE; omniscient:
               it queries the aggregation rule, option ``aggregate``)
``opt_ipm``    IPM with ``eps`` chosen the same way (ByzFL's Opt-IPM)
``min_max``    ``mean(honest) + gamma p`` with the largest ``gamma`` such that the
               maximum distance to an honest update stays <= the largest distance
               between two honest updates (Shejwalkar & Houmansadr, NDSS 2021, AGR-agnostic
               Min-Max); ``direction`` p = ``"std"`` (``-std``), ``"sign"``
               (``-sign(mean)``) or ``"unit"`` (``-mean / ||mean||``)
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
    "OPTIMIZED",
    "OPT_FACTORS",
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
    "opt_alie": {"factors": None, "aggregate": None},
    "opt_ipm": {"factors": None, "aggregate": None},
    "min_max": {"direction": "std"},
    "min_sum": {"direction": "std"},
    "mimic": {"target": None},
    "nonfinite": {"value": "nan"},
    "free_rider": {},
}
_NONFINITE = ("nan", "inf", "-inf", "mixed")
DIRECTIONS: tuple[str, ...] = ("std", "sign", "unit")
# attacks that query the aggregation rule (the orchestrators pass ``aggregate``)
OPTIMIZED: tuple[str, ...] = ("opt_alie", "opt_ipm")
# default factor grid of the optimized attacks: 2^-3 ... 2^4 (z for ALIE, eps for IPM)
OPT_FACTORS: tuple[float, ...] = tuple(float(2.0**k) for k in range(-3, 5))
_GAMMA_INIT = 10.0  # Shejwalkar & Houmansadr's initial gamma; the search doubles it if feasible
_GAMMA_STEPS = 40

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

    ``i, j`` over the honest rows. Both left sides are convex in ``gamma`` and hold at 0,
    so the feasible set is an interval ``[0, gamma*]``: the paper's search (start at
    ``gamma = 10``, halve the step) is run here as doubling from 10 until infeasible and then
    a fixed number of bisection steps, returning the last *feasible* ``gamma`` (so the
    constraint holds as evaluated in float32). Pure and jit-compatible.

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
    p = _direction(direction, mu, sd)
    y = jnp.where(honest[:, None], x - mu[None, :], 0.0)  # centred honest rows
    sq = jnp.sum(y * y, axis=1)
    g = jnp.matmul(y, y.T, precision=lax.Precision.HIGHEST)
    pair = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * g, 0.0)
    pair = jnp.where(honest[:, None] & honest[None, :], pair, 0.0)
    if objective == "min_max":
        bound = jnp.max(pair)
    else:
        bound = jnp.max(jnp.sum(pair, axis=1))

    def load(gamma):
        d2 = jnp.sum(jnp.square(y - gamma * p[None, :]), axis=1)  # ||m - x_i||^2, honest i
        d2 = jnp.where(honest, d2, 0.0)
        return jnp.max(d2) if objective == "min_max" else jnp.sum(d2)

    ok = lambda gamma: load(gamma) <= bound

    def grow(_, hi):
        return jnp.where(ok(hi), 2.0 * hi, hi)

    hi = lax.fori_loop(0, 30, grow, jnp.asarray(_GAMMA_INIT, x.dtype))

    def bisect(_, lo_hi):
        lo, hi = lo_hi
        mid = 0.5 * (lo + hi)
        good = ok(mid)
        return jnp.where(good, mid, lo), jnp.where(good, hi, mid)

    lo, _ = lax.fori_loop(0, _GAMMA_STEPS, bisect, (jnp.zeros((), x.dtype), hi))
    lo = jnp.where(ok(hi), hi, lo)  # still feasible at the cap (p = 0): take the cap
    return jnp.where(jnp.sum(honest) >= 2, lo, 0.0)


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
    factors: Any = None,
) -> tuple[Float[Array, ""], Float[Array, " G"]]:
    """ByzFL's optimized attacks: the factor maximizing the aggregate's displacement.

    Opt-ALIE / Opt-IPM (ByzFL, González et al. 2025, ``Optimal_ALittleIsEnough`` /
    ``Optimal_InnerProductManipulation``): every factor ``c`` of the grid is tried, the Byzantine rows set to
    ALIE's ``mu - c sigma`` or IPM's ``-c mu`` (honest statistics), the rule applied, and the
    factor with the largest ``||aggregate(attacked) - mean(honest)||`` kept (ties: the
    first). ByzFL runs a sequential line maximization; here the grid is evaluated in one
    ``vmap`` so the search is jit-compatible and costs one batched aggregation.

    Args:
        key: typed PRNG key handed to ``aggregate`` (the same for every factor).
        kind: ``"alie"`` or ``"ipm"``.
        x: ``f32[n, d]`` honest updates.
        byzantine: ``bool[n]``.
        aggregate: ``(key, f32[n, d]) -> f32[d]`` the rule under attack (omniscient
            attacker); default the plain mean.
        factors: the grid (default :data:`OPT_FACTORS`).

    Returns:
        ``(best factor f32[], objective f32[G])``; NaN objectives count as +inf.
    """
    grid = jnp.asarray(OPT_FACTORS if factors is None else factors, x.dtype)
    rule = _mean_rule if aggregate is None else aggregate
    honest = ~byzantine
    mu, _ = _honest_mean_std(x, honest)

    def value(c):
        out = rule(key, _factor_rows(kind, x, honest, c))
        return jnp.sqrt(jnp.sum(jnp.square(out - mu)))

    vals = jax.vmap(value)(grid)
    vals = jnp.where(jnp.isnan(vals), jnp.inf, vals)
    return grid[jnp.argmax(vals)], vals


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
            ``target``, ``value``; ``opt_*``: ``factors`` (grid, default
            :data:`OPT_FACTORS`) and ``aggregate`` (``(key, f32[n, d]) -> f32[d]``, default
            the plain mean); ``min_max`` / ``min_sum``: ``direction``).

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
    needs_honest = ("alie", "ipm", "ipm_large", "mimic", *OPTIMIZED, "min_max", "min_sum")
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
        if opts["factors"] is not None:
            grid = opts["factors"]
            if np.ndim(grid) != 1 or len(grid) == 0:
                raise ValueError(f"factors={grid!r} must be a non-empty 1-D sequence")
            opts["factors"] = tuple(_finite_number("factors[i]", float(v)) for v in grid)
        if opts["aggregate"] is not None and not callable(opts["aggregate"]):
            raise ValueError(
                f"aggregate={opts['aggregate']!r} must be a callable (key, updates) -> f32[d]"
            )
    elif name in ("min_max", "min_sum") and opts["direction"] not in DIRECTIONS:
        raise ValueError(f"direction={opts['direction']!r} must be one of {DIRECTIONS}")
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
    elif name in OPTIMIZED:
        kind = name.removeprefix("opt_")
        best, _ = line_search(key, kind, x, byzantine, opts["aggregate"], opts["factors"])
        bad = _factor_rows(kind, x, honest, best)
    elif name in ("min_max", "min_sum"):
        mu, sd = _honest_mean_std(x, honest)
        gamma = min_max_gamma(x, byzantine, opts["direction"], name)
        bad = jnp.broadcast_to(mu + gamma * _direction(opts["direction"], mu, sd), x.shape)
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
