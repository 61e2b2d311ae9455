"""Learning-rate schedules for federated rounds (pure functions of the round index).

* :func:`constant`, :func:`step_decay`, :func:`exponential_decay`: ``schedule(round) ->
  lr`` (optax-style callables, jit- and scan-friendly).
* :func:`reduce_on_plateau`: an adaptive, stateful schedule as a pair of pure
  ``init`` / ``update`` functions (:class:`PlateauState` carries the scale).
* :func:`staleness_weight`: the weight of an update computed on a model ``s`` versions
  old, for asynchronous orchestrators (FedAsync, Xie et al. 2019: polynomial
  ``(1 + s)^-a``, hinge, or constant).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

__all__ = [
    "PlateauState",
    "ReduceOnPlateau",
    "STALENESS_KINDS",
    "Schedule",
    "constant",
    "exponential_decay",
    "reduce_on_plateau",
    "staleness_weight",
    "step_decay",
]

Schedule = Callable[[Int[Array, ""] | int], Float[Array, ""]]
STALENESS_KINDS = ("constant", "polynomial", "hinge")


def _positive(name: str, v, *, strict: bool = True, upper: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.number) or not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if (strict and v <= 0) or (not strict and v < 0):
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {v}")
    if upper is not None and v > upper:
        raise ValueError(f"{name} must be <= {upper}, got {v}")
    return float(v)


def constant(lr: float) -> Schedule:
    """``lr(t) = lr``."""
    lr = _positive("lr", lr)
    return lambda t: jnp.full((), lr, jnp.float32)


def step_decay(lr: float, factor: float, every: int) -> Schedule:
    """``lr(t) = lr * factor ** floor(t / every)`` (decay every ``every`` rounds).

    Args:
        lr: initial learning rate (> 0).
        factor: multiplier in (0, 1].
        every: rounds between decays (>= 1).
    """
    lr = _positive("lr", lr)
    factor = _positive("factor", factor, upper=1.0)
    if isinstance(every, bool) or not isinstance(every, int | np.integer) or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    return lambda t: (
        jnp.float32(lr) * jnp.float32(factor) ** (jnp.asarray(t) // every).astype(jnp.float32)
    )


def exponential_decay(lr: float, rate: float) -> Schedule:
    """``lr(t) = lr * rate ** t`` (smooth decay by ``rate`` per round, ``rate`` in (0, 1])."""
    lr = _positive("lr", lr)
    rate = _positive("rate", rate, upper=1.0)
    return lambda t: jnp.float32(lr) * jnp.float32(rate) ** jnp.asarray(t, jnp.float32)


class PlateauState(NamedTuple):
    """State of :func:`reduce_on_plateau`.

    Attributes:
        scale: current multiplier on the base learning rate.
        best: best (lowest) loss seen.
        bad_rounds: rounds since the last improvement of ``best`` by ``min_delta``.
        cooldown: rounds left before plateaus are counted again.
    """

    scale: Float[Array, ""]
    best: Float[Array, ""]
    bad_rounds: Int[Array, ""]
    cooldown: Int[Array, ""]


class ReduceOnPlateau(NamedTuple):
    """Pure ``init() -> PlateauState`` and ``update(state, loss) -> PlateauState``."""

    init: Callable[[], PlateauState]
    update: Callable[[PlateauState, Float[Array, ""]], PlateauState]


def reduce_on_plateau(
    factor: float = 0.5,
    patience: int = 5,
    min_delta: float = 1e-4,
    cooldown: int = 0,
    min_scale: float = 1e-3,
) -> ReduceOnPlateau:
    """Adaptive schedule: multiply the learning rate by ``factor`` after a plateau.

    A round improves when ``loss < best - min_delta``. After ``patience`` consecutive
    rounds without improvement the scale becomes ``max(scale * factor, min_scale)``, the
    counter resets and ``cooldown`` rounds pass before counting again (as Keras /
    optax ``ReduceLROnPlateau``). Non-finite losses count as no improvement.

    Args:
        factor: multiplier in (0, 1).
        patience: rounds without improvement before a reduction (>= 1).
        min_delta: improvement threshold (>= 0).
        cooldown: rounds to wait after a reduction (>= 0).
        min_scale: floor of the scale, in (0, 1].
    """
    factor = _positive("factor", factor, upper=1.0)
    if factor >= 1.0:
        raise ValueError(f"factor must lie in (0, 1), got {factor}")
    min_delta = _positive("min_delta", min_delta, strict=False)
    min_scale = _positive("min_scale", min_scale, upper=1.0)
    for name, v, lo in (("patience", patience, 1), ("cooldown", cooldown, 0)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")

    def init() -> PlateauState:
        return PlateauState(jnp.float32(1.0), jnp.float32(jnp.inf), jnp.int32(0), jnp.int32(0))

    def update(state: PlateauState, loss) -> PlateauState:
        loss = jnp.asarray(loss, jnp.float32)
        improved = jnp.isfinite(loss) & (loss < state.best - min_delta)
        best = jnp.where(improved, loss, state.best)
        in_cooldown = state.cooldown > 0
        bad = jnp.where(improved | in_cooldown, 0, state.bad_rounds + 1)
        reduce = bad >= patience
        scale = jnp.where(reduce, jnp.maximum(state.scale * factor, min_scale), state.scale)
        cool = jnp.where(reduce, cooldown, jnp.maximum(state.cooldown - 1, 0))
        return PlateauState(
            scale, best, jnp.where(reduce, 0, bad).astype(jnp.int32), cool.astype(jnp.int32)
        )

    return ReduceOnPlateau(init, update)


def staleness_weight(
    staleness: Int[Array, "..."] | Float[Array, "..."],
    kind: str = "polynomial",
    a: float = 0.5,
    b: float = 4.0,
) -> Float[Array, "..."]:
    """Weight of an update that is ``staleness`` model versions old (FedAsync).

    * ``"constant"``: 1.
    * ``"polynomial"``: ``(1 + s) ** -a``.
    * ``"hinge"``: 1 if ``s <= b`` else ``1 / (a (s - b) + 1)``.

    Args:
        staleness: ``s >= 0`` (array).
        kind: one of :data:`STALENESS_KINDS`.
        a: decay exponent / slope (>= 0).
        b: hinge knee (>= 0).

    Returns:
        Weights in (0, 1] with the shape of ``staleness``.
    """
    if kind not in STALENESS_KINDS:
        raise ValueError(f"kind must be one of {STALENESS_KINDS}, got {kind!r}")
    a = _positive("a", a, strict=False)
    b = _positive("b", b, strict=False)
    s = jnp.maximum(jnp.asarray(staleness, jnp.float32), 0.0)
    if kind == "constant":
        return jnp.ones_like(s)
    if kind == "polynomial":
        return (1.0 + s) ** -a
    return jnp.where(s <= b, 1.0, 1.0 / (a * (s - b) + 1.0))
