"""Running one model over many seeds or parameter points in one compiled call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from meshlab.core.validation import check_int, check_key

__all__ = ["over_seeds", "seed_keys", "stack_params"]


def seed_keys(key: jax.Array, n_seeds: int) -> jax.Array:
    """``n_seeds`` independent keys split from ``key`` (the same split every domain uses)."""
    check_key(key)
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    return jax.random.split(key, n_seeds)


def over_seeds(fn: Callable[[jax.Array], Any], key: jax.Array, n_seeds: int) -> Any:
    """Runs ``fn(key_i)`` for ``n_seeds`` keys split from ``key`` with one ``vmap``.

    Args:
        fn: a traceable function of one key (e.g. a rollout with everything else bound).
        key: typed key.
        n_seeds: number of independent runs (>= 1).

    Returns:
        ``fn``'s output with a leading ``n_seeds`` axis on every leaf.
    """
    return jax.vmap(fn)(seed_keys(key, n_seeds))


def stack_params(points: list[Any]) -> Any:
    """Stacks a list of params pytrees of one structure along a new leading axis.

    The result can be passed to ``jax.vmap`` (``in_axes=0``) to sweep all points in one
    compiled call.

    Raises:
        ValueError: an empty list or pytrees of different structure.
    """
    if not points:
        raise ValueError("stack_params needs at least one params point, got none")
    structs = {jax.tree.structure(p) for p in points}
    if len(structs) != 1:
        raise ValueError(f"params points must share one pytree structure, got {len(structs)}")
    return jax.tree.map(lambda *xs: jax.numpy.stack(xs), *points)
