"""Learning-rate schedules for federated rounds, as hashable specs and pure functions.

* :class:`LRSchedule`: the shape of a schedule as static data (``"constant"``, ``"step"``,
  ``"exponential"``); ``schedule(lr, t)`` multiplies a base rate that may be traced (the
  orchestrators take it from their params, so a sweep over learning rates compiles once).
* :func:`constant`, :func:`step_decay`, :func:`exponential_decay`: ``schedule(round) ->
  lr`` (optax-style callables over an :class:`LRSchedule`, jit- and scan-friendly).
* :class:`ReduceOnPlateau` (from :func:`reduce_on_plateau`): an adaptive, stateful
  schedule with pure ``init`` / ``update`` methods (:class:`PlateauState` carries the scale).
* :func:`staleness_weight`: the weight of an update computed on a model ``s`` versions
  old, for asynchronous orchestrators (FedAsync, Xie et al. 2019: polynomial
  ``(1 + s)^-a``, hinge, or constant).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from meshlab.core.validation import check_choice, check_int, check_real

__all__ = [
    "LR_SCHEDULE_KINDS",
    "STALENESS_KINDS",
    "LRSchedule",
    "PlateauState",
    "ReduceOnPlateau",
    "Schedule",
    "constant",
    "exponential_decay",
    "reduce_on_plateau",
    "staleness_weight",
    "step_decay",
]

Schedule = Callable[[Int[Array, ""] | int], Float[Array, ""]]
STALENESS_KINDS = ("constant", "polynomial", "hinge")
LR_SCHEDULE_KINDS = ("constant", "step", "exponential")


@dataclass(frozen=True)
class LRSchedule:
    """The shape of a learning-rate schedule (hashable; the base rate is separate).

    * ``"constant"``: ``lr(t) = lr``.
    * ``"step"``: ``lr(t) = lr * factor ** floor(t / every)``.
    * ``"exponential"``: ``lr(t) = lr * factor ** t``.

    Attributes:
        kind: one of :data:`LR_SCHEDULE_KINDS`.
        factor: decay multiplier in (0, 1] (unused by ``"constant"``).
        every: rounds between decays of ``"step"`` (>= 1).
    """

    kind: str = "constant"
    factor: float = 1.0
    every: int = 1

    def __post_init__(self):
        check_choice("kind", self.kind, LR_SCHEDULE_KINDS)
        object.__setattr__(
            self, "factor", check_real("factor", self.factor, 0.0, 1.0, low_open=True)
        )
        object.__setattr__(self, "every", check_int("every", self.every, low=1))

    def __call__(self, lr: float | Float[Array, ""], t: Int[Array, ""] | int) -> Float[Array, ""]:
        """The learning rate at round ``t`` for base rate ``lr`` (``f32[]``)."""
        lr = jnp.asarray(lr, jnp.float32)
        if self.kind == "constant":
            return lr
        if self.kind == "step":
            return lr * jnp.float32(self.factor) ** (jnp.asarray(t) // self.every).astype(
                jnp.float32
            )
        return lr * jnp.float32(self.factor) ** jnp.asarray(t, jnp.float32)


def _lr(lr) -> float:
    return check_real("lr", lr, 0.0, low_open=True)


def constant(lr: float) -> Schedule:
    """``lr(t) = lr``."""
    lr = _lr(lr)
    return lambda t: jnp.full((), lr, jnp.float32)


def step_decay(lr: float, factor: float, every: int) -> Schedule:
    """``lr(t) = lr * factor ** floor(t / every)`` (decay every ``every`` rounds).

    Args:
        lr: initial learning rate (> 0).
        factor: multiplier in (0, 1].
        every: rounds between decays (>= 1).
    """
    lr, spec = _lr(lr), LRSchedule("step", factor, every)
    return lambda t: spec(lr, t)


def exponential_decay(lr: float, rate: float) -> Schedule:
    """``lr(t) = lr * rate ** t`` (smooth decay by ``rate`` per round, ``rate`` in (0, 1])."""
    lr = _lr(lr)
    spec = LRSchedule("exponential", check_real("rate", rate, 0.0, 1.0, low_open=True))
    return lambda t: spec(lr, t)


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


@dataclass(frozen=True)
class ReduceOnPlateau:
    """Reduce-on-plateau as hashable data with pure ``init()`` / ``update(state, loss)``.

    Build it with :func:`reduce_on_plateau` (which checks the values).
    """

    factor: float = 0.5
    patience: int = 5
    min_delta: float = 1e-4
    cooldown: int = 0
    min_scale: float = 1e-3

    @staticmethod
    def init() -> PlateauState:
        """Scale 1, no best loss yet."""
        return PlateauState(jnp.float32(1.0), jnp.float32(jnp.inf), jnp.int32(0), jnp.int32(0))

    def update(self, state: PlateauState, loss) -> PlateauState:
        """The state after a round with test loss ``loss``."""
        loss = jnp.asarray(loss, jnp.float32)
        improved = jnp.isfinite(loss) & (loss < state.best - self.min_delta)
        best = jnp.where(improved, loss, state.best)
        in_cooldown = state.cooldown > 0
        bad = jnp.where(improved | in_cooldown, 0, state.bad_rounds + 1)
        reduce = bad >= self.patience
        scale = jnp.where(
            reduce, jnp.maximum(state.scale * self.factor, self.min_scale), state.scale
        )
        cool = jnp.where(reduce, self.cooldown, jnp.maximum(state.cooldown - 1, 0))
        return PlateauState(
            scale, best, jnp.where(reduce, 0, bad).astype(jnp.int32), cool.astype(jnp.int32)
        )


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
    return ReduceOnPlateau(
        factor=check_real("factor", factor, 0.0, 1.0, low_open=True, high_open=True),
        patience=check_int("patience", patience, low=1),
        min_delta=check_real("min_delta", min_delta, 0.0),
        cooldown=check_int("cooldown", cooldown, low=0),
        min_scale=check_real("min_scale", min_scale, 0.0, 1.0, low_open=True),
    )


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
    check_choice("kind", kind, STALENESS_KINDS)
    a = check_real("a", a, 0.0)
    b = check_real("b", b, 0.0)
    s = jnp.maximum(jnp.asarray(staleness, jnp.float32), 0.0)
    if kind == "constant":
        return jnp.ones_like(s)
    if kind == "polynomial":
        return (1.0 + s) ** -a
    return jnp.where(s <= b, 1.0, 1.0 / (a * (s - b) + 1.0))
