"""Floating-point care that keeps a sharded program equal to the unsharded one, bit for bit.

XLA:CPU lets LLVM contract ``a * b + c`` into one fused multiply-add whenever the multiply
and the add land in the same fusion. Which ops share a fusion depends on the whole program:
partitioning the node axis over devices moves fusion boundaries, so the same expression
is rounded once in one compilation and twice in the other (1 ulp apart, and more after
cancellation). Reductions move the same way: a row sum may be split or vectorised in
another order. :func:`round_product` pins a product's rounding and :func:`sum_last` a
short sum's order where the result feeds state that must not depend on how the program
was partitioned.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array

__all__ = ["round_product", "sum_last"]


def round_product(x: Array) -> Array:
    """Returns ``x`` unchanged, rounded to its dtype before any later add may use it.

    ``where(x == x, x, nan)`` is the identity (a NaN stays NaN), but the select sits between
    the multiply that made ``x`` and the add that consumes it, so no fused multiply-add can
    form across it in any compilation. It costs one select per element, fused with its
    neighbours; no extra pass over memory.

    Args:
        x: a float array, usually a product.

    Returns:
        ``x``, same shape and dtype.
    """
    return jnp.where(x == x, x, jnp.nan)


def sum_last(x: Array) -> Array:
    """Sums the last axis left to right, ``((x[..., 0] + x[..., 1]) + x[..., 2]) + ...``.

    Meant for short axes (a node's K links): XLA never reassociates explicit adds, so the
    result is the same in every compilation, unlike ``x.sum(-1)``, whose order XLA picks.

    Args:
        x: ``f32[..., K]``, ``K >= 1``.

    Returns:
        ``f32[...]``.
    """
    total = x[..., 0]
    for j in range(1, x.shape[-1]):
        total = total + x[..., j]
    return total
