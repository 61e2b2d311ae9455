"""Target selectors and partition layouts, resolved against a topology (host-side numpy).

Selectors follow Jepsen's node specs and Chaos Mesh's ``mode``: ``one``, ``count``,
``percent`` (``round(fraction * N)``, at least 1 when ``fraction > 0``),
``random_max_percent`` (uniform in ``1 .. floor(fraction * N)``), ``ids``, ``minority``
(``floor((N - 1) / 2)`` nodes), ``majority`` (``floor(N / 2) + 1``), ``minority_third``
(``floor((N - 1) / 3)``), ``region`` (nodes whose position lies in a disc),
``highest_degree`` (the ``count`` nodes with most in-links; ties to the lower id), ``all``.
Random choices come from a ``numpy.random.Generator`` the caller seeds, so a scenario
resolves to the same nodes every time.
"""

from __future__ import annotations

import numpy as np

from meshlab.chaos.scenario import Fault, Target
from meshlab.mesh.topology import Topology

__all__ = ["groups", "link_cuts", "select"]


def _size(target: Target, n: int, rng: np.random.Generator) -> int:
    sel = target.select
    if sel == "one":
        return 1
    if sel in ("count", "highest_degree"):
        return min(target.count, n)
    if sel == "percent":
        k = int(round(target.fraction * n))
        return max(k, 1) if target.fraction > 0 else 0
    if sel == "random_max_percent":
        hi = max(int(np.floor(target.fraction * n)), 1)
        return int(rng.integers(1, hi + 1))
    if sel == "minority":
        return (n - 1) // 2
    if sel == "majority":
        return n // 2 + 1
    if sel == "minority_third":
        return (n - 1) // 3
    return n


def select(target: Target, topology: Topology, rng: np.random.Generator) -> np.ndarray:
    """The ``bool[N]`` mask of the nodes ``target`` selects.

    Args:
        target: the selector.
        topology: the mesh (positions for ``region``, in-degrees for ``highest_degree``).
        rng: seeded generator for the random selectors.
    """
    n = topology.n_nodes
    mask = np.zeros(n, bool)
    if target.select == "ids":
        mask[list(target.ids)] = True
        return mask
    if target.select == "all":
        mask[:] = True
        return mask
    if target.select == "region":
        pos = np.asarray(topology.positions, np.float64)
        d = np.hypot(pos[:, 0] - target.center[0], pos[:, 1] - target.center[1])
        return d <= target.radius
    k = _size(target, n, rng)
    if target.select == "highest_degree":
        deg = np.asarray(topology.mask).sum(axis=1)
        mask[np.argsort(-deg, kind="stable")[:k]] = True
        return mask
    mask[rng.choice(n, size=k, replace=False)] = True
    return mask


def groups(fault: Fault, topology: Topology, rng: np.random.Generator) -> np.ndarray:
    """``int32[N]`` group ids of a group partition layout.

    ``isolate_one``: one random node in group 1; ``bisect``: a random half (``floor(N /
    2)`` nodes) in group 1; ``minority_third``: ``floor((N - 1) / 3)`` random nodes in
    group 1; ``groups``: the explicit ids.
    """
    n = topology.n_nodes
    if fault.layout == "groups":
        return np.asarray(fault.groups, np.int32)
    k = {"isolate_one": 1, "bisect": n // 2, "minority_third": (n - 1) // 3}[fault.layout]
    g = np.zeros(n, np.int32)
    g[rng.choice(n, size=k, replace=False)] = 1
    return g


def link_cuts(fault: Fault, topology: Topology, rng: np.random.Generator) -> np.ndarray:
    """``bool[N, K]`` links a link-level layout cuts (``majorities_ring``, ``bridge``).

    ``majorities_ring`` (Jepsen): nodes are placed on a random ring; node ``i`` keeps the
    links to the ``floor(N / 2)`` nodes nearest on the ring (itself included: a majority),
    so every node sees a majority and no two see the same one. ``bridge``: a random half
    and the rest, joined by one bridge node that keeps all its links; every other
    crossing link is cut.
    """
    n = topology.n_nodes
    nb = np.asarray(topology.neighbors)
    real = np.asarray(topology.mask)
    order = rng.permutation(n)
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)
    if fault.layout == "majorities_ring":
        d = np.abs(pos[:, None] - pos[nb])
        d = np.minimum(d, n - d)
        return real & (d > n // 4)
    half = np.zeros(n, bool)
    half[order[: n // 2]] = True
    bridge = order[-1]
    cross = half[:, None] != half[nb]
    return real & cross & (np.arange(n)[:, None] != bridge) & (nb != bridge)
