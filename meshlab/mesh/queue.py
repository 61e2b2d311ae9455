# ruff: noqa: F722  (jaxtyping shape strings)
"""The verify queue: one FIFO server per node, departures of a round's arrivals in one shot.

:func:`fifo_departures` evaluates Lindley's recursion in max-plus form over the arrivals
of every row (node) at once, ``d_k = C_k + max(free, max_{j<=k} a_j - C_{j-1})`` with
``C`` the cumulative service in arrival order. Three equivalent paths, chosen by the
static slot count K (the results agree to float rounding; ties go to the lower slot):

* K <= :data:`COLUMN_FIFO_MAX`: K column vectors of length N, no sorting at all;
* K <= :data:`RANK_SORT_MAX`: a rank sort (K^2 comparisons per row in one fused reduce);
* larger K: ``lax.sort`` of (arrival, service, slot) per row.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

__all__ = ["COLUMN_FIFO_MAX", "RANK_SORT_MAX", "fifo_departures"]

COLUMN_FIFO_MAX = 8
"""Up to this K the FIFO works on K column vectors (no sort at all)."""
RANK_SORT_MAX = 32
"""Up to this K the FIFO sorts by ranking (K^2 work, fused)."""


def fifo_departures(
    free_s: Float[Array, " nodes"],
    arrival_s: Float[Array, "nodes slots"],
    service_s: Float[Array, "nodes slots"],
    valid: Bool[Array, "nodes slots"],
) -> tuple[Float[Array, "nodes slots"], Float[Array, " nodes"]]:
    """Single FIFO server per row: departure times of the valid arrivals, any slot order.

    Lindley's recursion in max-plus form over the arrivals sorted by time:
    ``d_k = C_k + max(free, max_{j<=k} (a_j - C_{j-1}))`` with ``C`` the cumulative service.

    Args:
        free_s: time each server becomes free (backlog from earlier arrivals).
        arrival_s: arrival times; invalid slots are ignored.
        service_s: service times.
        valid: which slots hold an arrival.

    Returns:
        ``(departure_s, new_free_s)``: departures in the input slot order (garbage on
        invalid slots) and the time each server becomes free after serving them.
    """
    n, k = arrival_s.shape
    key = jnp.where(valid, arrival_s, jnp.inf)
    svc = jnp.where(valid, service_s, 0.0)
    if k <= COLUMN_FIFO_MAX:
        return _fifo_columns(free_s, key, svc, valid)
    if k <= RANK_SORT_MAX:
        # rank sort: K^2 comparisons per row in one fused reduce (much faster than a
        # comparator sort for small K); ties broken by slot, as a stable sort would.
        j = jnp.arange(k, dtype=jnp.int32)
        earlier = (key[:, None, :] < key[:, :, None]) | (
            (key[:, None, :] == key[:, :, None]) & (j[None, :] < j[:, None])[None]
        )
        rank = earlier.sum(axis=-1, dtype=jnp.int32)  # position of slot k in sorted order
        order = jnp.sum(
            jnp.where(rank[:, :, None] == j[None, None, :], j[None, :, None], 0),
            axis=1,
            dtype=jnp.int32,
        )  # slot at sorted position r
        a_sorted = jnp.take_along_axis(key, order, axis=1)
        s_sorted = jnp.take_along_axis(svc, order, axis=1)
    else:
        slot = jnp.broadcast_to(jnp.arange(k, dtype=jnp.int32), (n, k))
        a_sorted, s_sorted, order = jax.lax.sort((key, svc, slot), dimension=1, num_keys=1)
        rank = None
    c = jnp.cumsum(s_sorted, axis=1)
    term = jnp.where(jnp.isfinite(a_sorted), a_sorted - (c - s_sorted), -jnp.inf)
    d_sorted = c + jax.lax.cummax(jnp.maximum(term, free_s[:, None]), axis=1)
    if rank is not None:
        d = jnp.take_along_axis(d_sorted, rank, axis=1)
    else:
        _, d = jax.lax.sort((order, d_sorted), dimension=1, num_keys=1)
    return d, d_sorted[:, -1]


def _fifo_columns(free_s, key, svc, valid):
    """:func:`fifo_departures` for small K without sorting, on K vectors of length N.

    With ``e[k, j]`` = "slot j is served no later than slot k" (arrival before, or equal
    arrival and ``j <= k``), the cumulative service up to k is ``C_k = sum_j e[k, j] s_j``
    and ``d_k = C_k + max(free, max_{j: e[k, j]} (a_j - C_j + s_j))``: Lindley's max-plus
    form in slot order. ``K^2`` elementwise operations on columns vectorise over N.
    """
    k = key.shape[1]
    a, s, v = list(key.T), list(svc.T), list(valid.T)
    before = [
        [j == i or (a[j] <= a[i] if j < i else a[j] < a[i]) for j in range(k)] for i in range(k)
    ]
    c = []
    for i in range(k):
        ci = s[i]
        for j in range(k):
            if j != i:
                ci = ci + jnp.where(before[i][j], s[j], 0.0)
        c.append(ci)
    term = [jnp.where(v[i], a[i] - (c[i] - s[i]), -jnp.inf) for i in range(k)]
    d = []
    for i in range(k):
        m = jnp.maximum(term[i], free_s)
        for j in range(k):
            if j != i:
                m = jnp.maximum(m, jnp.where(before[i][j], term[j], -jnp.inf))
        d.append(c[i] + m)
    # the new free time comes from the departures themselves (not from a second max-plus
    # chain), so XLA emits the K^2 network once, in one fusion, and every consumer reads it
    depart = jnp.stack(d, axis=1)
    free_end = jnp.maximum(free_s, jnp.where(valid, depart, -jnp.inf).max(axis=1))
    return depart, free_end
