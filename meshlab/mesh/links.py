# ruff: noqa: F722  (jaxtyping shape strings)
"""Link models: per-link base latency, per-message jitter, iid / Gilbert–Elliott loss, bandwidth.

Pure functions on arrays, used inside the beacon step (:mod:`meshlab.mesh.beacons`) and usable on
their own. Random inputs are uniforms in (0, 1) drawn by the caller from an explicit key
(the beacon step draws all per-link uniforms of a round in one call).

Models (names are the static choices of :class:`meshlab.mesh.beacons.BeaconConfig`):

* base latency (per directed link, drawn once): ``"constant"`` = ``base_latency_s``;
  ``"lognormal"`` = ``base_latency_s * exp(base_latency_sigma * Z)`` (median
  ``base_latency_s``); ``"distance"`` = ``base_latency_s + propagation_s_per_unit * d``
  with ``d`` the Euclidean distance in the unit square.
* jitter (per message, added to the base latency): ``"none"``; ``"lognormal"``
  ``jitter_scale_s * exp(jitter_shape * Z)``; ``"normal"`` ``jitter_scale_s * Z`` (total
  latency clipped at 0); ``"pareto"`` (Lomax, >= 0) ``jitter_scale_s * (U^(-1/jitter_shape) - 1)``;
  ``"bimodal"`` ("mostly fast, rarely slow") ``jitter_scale_s * Exp(1) + slow_s * Bernoulli(slow_prob)``.
* loss: ``"iid"`` Bernoulli(``loss_p``); ``"gilbert_elliott"`` two-state Markov chain per
  link (good -> bad w.p. ``ge_p``, bad -> good w.p. ``ge_r`` per round), loss probability
  ``ge_loss_good`` / ``ge_loss_bad`` in each state. With ``ge_loss_good = 0`` and
  ``ge_loss_bad = 1`` the long-run loss is ``p / (p + r)`` and bursts last ``1 / r`` rounds
  on average.
* bandwidth: serialization delay ``8 * beacon_bytes / bandwidth_bps`` (``inf`` bandwidth: 0).

Random bits for the per-link draws come from :func:`meshlab.core.rng.uniforms`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from meshlab.core.numerics import round_product, sum_last

__all__ = [
    "JITTER_DISTS",
    "LATENCY_MODELS",
    "LOSS_MODELS",
    "SERVICE_DISTS",
    "base_latency",
    "check_gilbert_elliott",
    "ge_stationary_bad",
    "jitter",
    "jitter_uniforms",
    "loss_step",
    "serialization_delay",
    "service_time",
    "service_uniforms",
]

LATENCY_MODELS = ("constant", "lognormal", "distance")
JITTER_DISTS = ("none", "lognormal", "normal", "pareto", "bimodal")
LOSS_MODELS = ("iid", "gilbert_elliott")
SERVICE_DISTS = ("deterministic", "exponential", "lognormal")

_SQRT2 = 1.4142135623730951


def _normal(u: Array) -> Array:
    """Standard normal by inversion of a (0, 1) uniform."""
    return _SQRT2 * jax.lax.erf_inv(2.0 * u - 1.0)


def base_latency(
    key,
    latency_model: str,
    neighbors,
    mask,
    positions,
    base_latency_s,
    base_latency_sigma,
    propagation_s_per_unit,
) -> Float[Array, "nodes degree"]:
    """Static per-link base (propagation) latency in seconds, ``f32[N, K]`` (0 on padding)."""
    neighbors = jnp.asarray(neighbors)
    shape = neighbors.shape
    if latency_model == "constant":
        lat = jnp.broadcast_to(jnp.asarray(base_latency_s, jnp.float32), shape)
    elif latency_model == "lognormal":
        z = jax.random.normal(key, shape, jnp.float32)
        lat = base_latency_s * jnp.exp(base_latency_sigma * z)
    elif latency_model == "distance":
        pos = jnp.asarray(positions, jnp.float32)
        diff = pos[:, None, :] - pos[neighbors]
        d = jnp.sqrt(sum_last(round_product(diff * diff)))
        lat = base_latency_s + round_product(propagation_s_per_unit * d)
    else:
        raise ValueError(f"latency_model must be one of {LATENCY_MODELS}, got {latency_model!r}")
    return jnp.where(mask, lat, 0.0).astype(jnp.float32)


def jitter_uniforms(jitter_dist: str) -> int:
    """How many uniforms per message the jitter model consumes."""
    return {"none": 0, "lognormal": 1, "normal": 1, "pareto": 1, "bimodal": 2}[jitter_dist]


def jitter(jitter_dist: str, u: Array | None, scale_s, shape, slow_prob, slow_s) -> Array:
    """Per-message jitter in seconds.

    Args:
        jitter_dist: one of :data:`JITTER_DISTS`.
        u: uniforms ``f32[jitter_uniforms(dist), ...]`` in (0, 1) (``None`` for "none").
        scale_s, shape, slow_prob, slow_s: the jitter parameters (see module docstring).

    Returns:
        ``f32[...]`` jitter (can be negative only for "normal").
    """
    if jitter_dist == "none":
        return jnp.float32(0.0)
    if jitter_dist == "lognormal":
        return scale_s * jnp.exp(shape * _normal(u[0]))
    if jitter_dist == "normal":
        return scale_s * _normal(u[0])
    if jitter_dist == "pareto":
        return scale_s * (jnp.exp(-jnp.log(u[0]) / shape) - 1.0)
    if jitter_dist == "bimodal":
        return scale_s * -jnp.log(u[0]) + jnp.where(u[1] < slow_prob, slow_s, 0.0)
    raise ValueError(f"jitter_dist must be one of {JITTER_DISTS}, got {jitter_dist!r}")


def service_uniforms(service_dist: str) -> int:
    """How many uniforms per message the service-time model consumes."""
    return 0 if service_dist == "deterministic" else 1


def service_time(service_dist: str, u: Array | None, mean_s, sigma) -> Array:
    """Verification service time with mean ``mean_s`` (lognormal: log-sd ``sigma``)."""
    if service_dist == "deterministic":
        return jnp.asarray(mean_s, jnp.float32)
    if service_dist == "exponential":
        return -mean_s * jnp.log(u[0])
    if service_dist == "lognormal":
        return mean_s * jnp.exp(round_product(sigma * _normal(u[0])) - 0.5 * sigma * sigma)
    raise ValueError(f"service_dist must be one of {SERVICE_DISTS}, got {service_dist!r}")


def check_gilbert_elliott(
    ge_p, ge_r, ge_loss_good, ge_loss_bad, *, prefix: str = "", allow_degenerate: bool = False
) -> None:
    """Refuses degenerate Gilbert–Elliott chains (concrete values; traced ones are skipped).

    A chain needs ``ge_p > 0`` (else no burst ever starts: the loss is silently
    ``ge_loss_good``), ``ge_r > 0`` (else the first burst never ends: from then on every
    message is lost with ``ge_loss_bad``) and ``ge_loss_bad > ge_loss_good`` (else there
    are no bursts). ``allow_degenerate=True`` accepts such chains on purpose.

    Args:
        ge_p, ge_r, ge_loss_good, ge_loss_bad: the chain's numbers (scalars or arrays).
        prefix: prepended to the field names in errors (e.g. ``"beacons."``).
        allow_degenerate: the explicit opt-in.

    Raises:
        ValueError: naming the field, its value and what is allowed.
    """
    if allow_degenerate:
        return
    vals = (ge_p, ge_r, ge_loss_good, ge_loss_bad)
    if any(isinstance(v, jax.core.Tracer) for v in vals):
        return
    p, r, lg, lb = (np.asarray(v, np.float64) for v in vals)
    if (p <= 0).any():
        raise ValueError(
            f"{prefix}ge_p must be > 0 for a Gilbert–Elliott chain (with ge_p = 0 no burst "
            f"ever starts and the loss is silently ge_loss_good), got {ge_p}; "
            "use loss_model='iid' or allow_degenerate_ge=True"
        )
    if (r <= 0).any():
        raise ValueError(
            f"{prefix}ge_r must be > 0 for a Gilbert–Elliott chain (with ge_r = 0 the first "
            f"burst never ends and every later message is lost with ge_loss_bad), got {ge_r}; "
            "use allow_degenerate_ge=True to model a link that dies for good"
        )
    if (lb <= lg).any():
        raise ValueError(
            f"{prefix}ge_loss_bad must be > ge_loss_good={ge_loss_good} (else there are no "
            f"bursts), got {ge_loss_bad}"
        )


def ge_stationary_bad(key, shape, ge_p, ge_r) -> Bool[Array, "..."]:
    """Initial Gilbert–Elliott states drawn from the stationary law (bad w.p. p/(p+r))."""
    total = ge_p + ge_r
    pi_bad = jnp.where(total > 0, ge_p / jnp.where(total > 0, total, 1.0), 0.0)
    return jax.random.uniform(key, shape) < pi_bad


def loss_step(
    loss_model: str,
    u_state: Array | None,
    u_loss: Array,
    bad: Bool[Array, "..."],
    loss_p,
    ge_p,
    ge_r,
    ge_loss_good,
    ge_loss_bad,
    extra_loss=0.0,
) -> tuple[Bool[Array, "..."], Bool[Array, "..."]]:
    """One round of the loss channel for every link.

    The Gilbert–Elliott state moves first (time-driven, whether or not a message is sent),
    then the message is lost with the state's loss probability combined with the chaos
    ``extra_loss`` as independent causes: ``1 - (1 - p)(1 - extra)``.

    Returns:
        ``(lost, new_bad)``, both shaped like ``u_loss``.
    """
    if loss_model == "iid":
        p = loss_p
        new_bad = bad
    elif loss_model == "gilbert_elliott":
        new_bad = jnp.where(bad, u_state >= ge_r, u_state < ge_p)
        p = jnp.where(new_bad, ge_loss_bad, ge_loss_good)
    else:
        raise ValueError(f"loss_model must be one of {LOSS_MODELS}, got {loss_model!r}")
    p_total = 1.0 - (1.0 - p) * (1.0 - extra_loss)
    return u_loss < p_total, new_bad


def serialization_delay(beacon_bytes, bandwidth_bps) -> Array:
    """Seconds to put ``beacon_bytes`` on a link of ``bandwidth_bps`` bits/s (0 if infinite)."""
    bw = jnp.asarray(bandwidth_bps, jnp.float32)
    return jnp.where(jnp.isinf(bw), 0.0, 8.0 * beacon_bytes / jnp.where(jnp.isinf(bw), 1.0, bw))
