"""Convergence detection over fixed-size histories (usable inside ``lax.scan``).

Three criteria, each over a window of ``W`` rounds, checked after every round ``t``:

* ``"loss"`` (loss-improvement window): ``L[t-W] - L[t] < loss_tol * |L[t-W]|``.
* ``"accuracy"`` (plateau): ``max(A[t-W+1..t]) - max(A[0..t-W]) < accuracy_tol``, i.e.
  the last ``W`` rounds did not beat the best accuracy seen before them by
  ``accuracy_tol``.
* ``"grad_norm"`` (threshold): ``max(G[t-W+1..t]) < grad_norm_tol``.

A criterion needs ``W + 1`` observations (``W`` for the gradient norm) before it can
hold; non-finite values never satisfy it. ``require="any"`` declares convergence when
one enabled criterion holds, ``"all"`` when all do. The first such round ``t >=
min_rounds`` is recorded (0-based) and kept: the state holds ``O(W)`` floats whatever
the run length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from meshlab.core.validation import check_choice, check_int, check_real

__all__ = [
    "CONVERGENCE_CRITERIA",
    "ConvergenceConfig",
    "ConvergenceState",
    "convergence_init",
    "convergence_update",
    "detect_convergence",
]

CONVERGENCE_CRITERIA = ("loss", "accuracy", "grad_norm")


@dataclass(frozen=True)
class ConvergenceConfig:
    """Static configuration of the convergence detector.

    Attributes:
        window: ``W`` rounds (>= 1).
        loss_tol: relative loss improvement below which the loss has converged (>= 0).
        accuracy_tol: absolute accuracy gain below which accuracy has plateaued (>= 0).
        grad_norm_tol: gradient-norm threshold (>= 0).
        criteria: enabled criteria, a non-empty subset of :data:`CONVERGENCE_CRITERIA`.
        require: ``"any"`` or ``"all"`` of the enabled criteria.
        min_rounds: earliest round (0-based) at which convergence may be declared.
    """

    window: int = 5
    loss_tol: float = 0.01
    accuracy_tol: float = 0.005
    grad_norm_tol: float = 0.01
    criteria: tuple[str, ...] = ("loss", "accuracy")
    require: str = "any"
    min_rounds: int = 0

    def __post_init__(self):
        check_int("window", self.window, low=1)
        check_int("min_rounds", self.min_rounds, low=0)
        for name in ("loss_tol", "accuracy_tol", "grad_norm_tol"):
            check_real(name, getattr(self, name), 0.0)
        crit = tuple(self.criteria) if not isinstance(self.criteria, str) else (self.criteria,)
        object.__setattr__(self, "criteria", crit)
        if not crit or any(c not in CONVERGENCE_CRITERIA for c in crit):
            raise ValueError(
                f"criteria must be a non-empty subset of {CONVERGENCE_CRITERIA}, got {self.criteria!r}"
            )
        check_choice("require", self.require, ("any", "all"))


class ConvergenceState(NamedTuple):
    """Carried state: the last ``W + 1`` values of each series plus the verdict.

    Attributes:
        loss: ``f32[W+1]`` last losses (NaN before filled), oldest first.
        acc: ``f32[W+1]`` last accuracies.
        grad: ``f32[W+1]`` last gradient norms.
        best_acc_before: max accuracy among rounds older than the window.
        count: rounds observed.
        converged: True once convergence was declared.
        round: 0-based round of the declaration, -1 before.
    """

    loss: Float[Array, " w1"]
    acc: Float[Array, " w1"]
    grad: Float[Array, " w1"]
    best_acc_before: Float[Array, ""]
    count: Int[Array, ""]
    converged: Bool[Array, ""]
    round: Int[Array, ""]


def convergence_init(config: ConvergenceConfig) -> ConvergenceState:
    """Empty history."""
    nan = jnp.full((config.window + 1,), jnp.nan, jnp.float32)
    return ConvergenceState(
        nan, nan, nan, jnp.float32(-jnp.inf), jnp.int32(0), jnp.bool_(False), jnp.int32(-1)
    )


def _push(hist, x):
    return jnp.concatenate([hist[1:], jnp.asarray(x, jnp.float32)[None]])


def convergence_update(
    config: ConvergenceConfig,
    state: ConvergenceState,
    loss: Float[Array, ""],
    accuracy: Float[Array, ""],
    grad_norm: Float[Array, ""],
) -> tuple[ConvergenceState, Bool[Array, ""]]:
    """Adds one round's observations and checks the criteria.

    Args:
        config: static detector configuration.
        state: carried state.
        loss: this round's loss.
        accuracy: this round's accuracy.
        grad_norm: this round's gradient norm.

    Returns:
        ``(new_state, holds)``: ``holds`` is whether the criteria hold this round
        (``new_state.converged`` is the sticky verdict).
    """
    w = config.window
    popped = state.acc[0]
    best_before = jnp.fmax(state.best_acc_before, popped)  # fmax ignores the NaN fill
    loss_h, acc_h, grad_h = (
        _push(state.loss, loss),
        _push(state.acc, accuracy),
        _push(state.grad, grad_norm),
    )
    count = state.count + 1
    full = count >= w + 1
    checks = {
        "loss": full & (loss_h[0] - loss_h[-1] < config.loss_tol * jnp.abs(loss_h[0])),
        "accuracy": full
        & (jnp.max(acc_h[1:]) - jnp.fmax(best_before, acc_h[0]) < config.accuracy_tol),
        "grad_norm": (count >= w) & (jnp.max(grad_h[1:]) < config.grad_norm_tol),
    }
    enabled = jnp.stack([checks[c] for c in config.criteria])
    holds = jnp.any(enabled) if config.require == "any" else jnp.all(enabled)
    t = count - 1
    holds = holds & (t >= config.min_rounds)
    declare = holds & ~state.converged
    new = ConvergenceState(
        loss_h,
        acc_h,
        grad_h,
        best_before,
        count,
        state.converged | holds,
        jnp.where(declare, t, state.round),
    )
    return new, holds


def detect_convergence(
    config: ConvergenceConfig,
    loss: Sequence[float] | Float[Array, " T"],
    accuracy: Sequence[float] | Float[Array, " T"] | None = None,
    grad_norm: Sequence[float] | Float[Array, " T"] | None = None,
) -> Int[Array, ""]:
    """Runs the detector over whole curves with ``lax.scan``.

    Args:
        config: detector configuration.
        loss: ``f32[T]`` loss per round.
        accuracy: ``f32[T]`` accuracy per round (``None``: NaN, never plateaus).
        grad_norm: ``f32[T]`` gradient norm per round (``None``: NaN).

    Returns:
        The 0-based round at which convergence was declared, or -1.
    """
    loss = jnp.asarray(loss, jnp.float32)
    if loss.ndim != 1:
        raise ValueError(f"loss must be a 1-D curve, got shape {loss.shape}")
    series = []
    for name, s in (("accuracy", accuracy), ("grad_norm", grad_norm)):
        s = jnp.full_like(loss, jnp.nan) if s is None else jnp.asarray(s, jnp.float32)
        if s.shape != loss.shape:
            raise ValueError(f"{name} must have the shape of loss {loss.shape}, got {s.shape}")
        series.append(s)

    def body(state, xs):
        state, _ = convergence_update(config, state, *xs)
        return state, None

    final, _ = jax.lax.scan(body, convergence_init(config), (loss, *series))
    return final.round
