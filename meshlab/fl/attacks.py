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
``ipm``        ``-eps * mean(honest)`` (Xie et al. 2020), ``eps`` = 0.1
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

__all__ = ["ATTACKS", "ATTACK_STRENGTHS", "alie_z", "apply_attack", "attack_rows"]

ATTACKS: tuple[str, ...] = (
    "none",
    "sign_flip",
    "gaussian",
    "scaling",
    "alie",
    "ipm",
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
    "mimic": {"target": None},
    "nonfinite": {"value": "nan"},
    "free_rider": {},
}
_NONFINITE = ("nan", "inf", "-inf", "mixed")

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

    Args:
        n: total number of clients; f: number of attackers (ints or traced ints).
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
            ``target``, ``value``).

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
    if name in ("alie", "ipm", "mimic") and concrete and np.all(np.asarray(byzantine)):
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
    elif name == "ipm":
        opts["eps"] = _finite_number("eps", opts["eps"])
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
    elif name == "ipm":
        mu, _ = _honest_mean_std(x, honest)
        bad = jnp.broadcast_to(-opts["eps"] * mu, x.shape)
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
