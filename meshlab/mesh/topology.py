"""Mesh topologies as fixed-capacity neighbour tables (jax-md style: table + mask + overflow).

Every constructor returns a :class:`Topology`:

* ``neighbors: int32[N, K]`` -- directed link ``(i, k)`` means node ``i`` RECEIVES from node
  ``neighbors[i, k]``. Padding entries point at the node itself; never read them without
  the mask.
* ``mask: bool[N, K]`` -- which entries are real links.
* ``overflow: bool`` -- True when some node had more neighbours than the capacity ``K``
  (the extra links were dropped: for geometric graphs the farthest ones, otherwise the
  ones listed last).
* ``positions: float32[N, 2]`` -- node coordinates in the unit square (used by the
  distance latency model); grid coordinates scaled to the unit square for ``grid_2d``;
  uniform random points for the graph families that have no geometry.

Generators are plain numpy, seeded from a ``jax.random`` key, vectorised (no Python loop
over nodes) and O(E log E): ``random_regular`` and ``random_geometric`` (cell grid) build
N = 1,000,000, degree 8 in seconds. Undirected graphs produce both directions.

Example:
    >>> import jax
    >>> from meshlab.mesh import topology
    >>> topo = topology.random_regular(jax.random.key(0), n_nodes=1000, degree=8)
    >>> topology.degree_stats(topo)["mean"], topology.is_connected(topo)
    (8.0, True)
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import jax
import numpy as np

from meshlab.core.validation import check_bool, check_int, check_key, check_prob

__all__ = [
    "TOPOLOGIES",
    "Topology",
    "barabasi_albert",
    "build_topology",
    "check",
    "components",
    "degree_distribution",
    "degree_stats",
    "erdos_renyi",
    "from_edges",
    "grid_2d",
    "is_connected",
    "radius_for_degree",
    "random_geometric",
    "random_regular",
    "watts_strogatz",
]


class Topology(NamedTuple):
    """A directed neighbour table with fixed capacity.

    Attributes:
        neighbors: ``int32[N, K]``; node ``i`` receives from ``neighbors[i, k]``.
        mask: ``bool[N, K]``; real links.
        overflow: True when some node had more than ``K`` neighbours (extra links dropped).
        positions: ``float32[N, 2]`` node coordinates in the unit square.
    """

    neighbors: np.ndarray
    mask: np.ndarray
    overflow: bool
    positions: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.neighbors.shape[0])

    @property
    def max_degree(self) -> int:
        return int(self.neighbors.shape[1])


# ----------------------------------------------------------------------------- validation


def check(topology: Any, name: str = "topology", *, n_nodes: int | None = None) -> None:
    """Checks a neighbour table before a kernel is built from it (host-side, no compile).

    A hand-built table with an id out of range would otherwise run silently (JAX clamps
    out-of-range gathers). Kernels call this in their ``build``.

    Args:
        topology: a :class:`Topology`, or anything with ``neighbors`` and ``mask``
            (``positions`` is checked when present).
        name: how the caller calls it (named in errors).
        n_nodes: the node count the kernel expects (``None``: taken from the table).

    Raises:
        TypeError: missing fields, non-integer ids, a non-bool mask.
        ValueError: wrong shapes, ids outside ``[0, N)`` where the mask is set, or
            non-finite positions.
    """
    if not (hasattr(topology, "neighbors") and hasattr(topology, "mask")):
        raise TypeError(
            f"{name} must be a meshlab Topology (neighbors, mask), got {type(topology).__name__}"
        )
    nb, mask = np.asarray(topology.neighbors), np.asarray(topology.mask)
    if nb.ndim != 2 or nb.shape[0] < 1 or nb.shape[1] < 1:
        raise ValueError(f"{name}.neighbors must be int[N>=1, K>=1], got shape {nb.shape}")
    if nb.dtype.kind not in "iu":
        raise TypeError(f"{name}.neighbors must be integers, got dtype {nb.dtype}")
    if mask.dtype != bool or mask.shape != nb.shape:
        raise TypeError(
            f"{name}.mask must be bool{list(nb.shape)} like {name}.neighbors, "
            f"got {mask.dtype}{list(mask.shape)}"
        )
    n = nb.shape[0]
    if n_nodes is not None and n != n_nodes:
        raise ValueError(f"{name} has {n} nodes, expected n_nodes={n_nodes}")
    real = nb[mask]
    if real.size and (real.min() < 0 or real.max() >= n):
        bad = int(((real < 0) | (real >= n)).sum())
        raise ValueError(
            f"{name}.neighbors must be node ids in [0, {n}) where {name}.mask is set; "
            f"{bad} are not (min {real.min()}, max {real.max()})"
        )
    if nb.dtype.kind == "i" and np.iinfo(nb.dtype).max < n - 1:
        raise TypeError(f"{name}.neighbors dtype {nb.dtype} cannot hold ids up to {n - 1}")
    pos = getattr(topology, "positions", None)
    if pos is not None:
        pos = np.asarray(pos)
        if pos.shape != (n, 2) or not np.all(np.isfinite(pos)):
            raise ValueError(
                f"{name}.positions must be finite float[{n}, 2], got shape {pos.shape}"
            )


def _check_capacity(max_degree, degree: int, n_nodes: int) -> int:
    if max_degree is None:
        return degree
    max_degree = check_int("max_degree", max_degree, low=1)
    if max_degree < degree:
        raise ValueError(
            f"max_degree={max_degree} cannot hold the requested degree {degree}: "
            f"max_degree must be >= {degree}"
        )
    return max_degree


def _rng(key) -> np.random.Generator:
    """A numpy generator seeded from a jax key (the key is consumed; never reuse it)."""
    check_key(key)
    words = np.asarray(jax.random.bits(key, (4,), dtype=np.uint32))
    return np.random.default_rng(words.astype(np.uint64))


# ----------------------------------------------------------------------------- tables


def _table(
    recv: np.ndarray,
    send: np.ndarray,
    n_nodes: int,
    max_degree: int,
    positions: np.ndarray,
    priority: np.ndarray | None = None,
) -> Topology:
    """Packs directed links ``send -> recv`` into a ``[N, K]`` table (lowest priority first)."""
    recv = np.asarray(recv, dtype=np.int64)
    send = np.asarray(send, dtype=np.int64)
    if priority is None:
        order = np.argsort(recv, kind="stable")
    else:
        order = np.lexsort((priority, recv))
    recv, send = recv[order], send[order]
    counts = np.bincount(recv, minlength=n_nodes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(recv.size, dtype=np.int64) - starts[recv]
    keep = rank < max_degree
    neighbors = np.repeat(np.arange(n_nodes, dtype=np.int32)[:, None], max_degree, axis=1)
    mask = np.zeros((n_nodes, max_degree), dtype=bool)
    neighbors[recv[keep], rank[keep]] = send[keep]
    mask[recv[keep], rank[keep]] = True
    overflow = bool(counts.max(initial=0) > max_degree)
    return Topology(neighbors, mask, overflow, np.asarray(positions, dtype=np.float32))


def _undirected(u: np.ndarray, v: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Removes self-loops and duplicate undirected edges; returns (u, v) with u < v."""
    u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    ok = lo != hi
    code = np.unique(lo[ok] * n_nodes + hi[ok])
    return code // n_nodes, code % n_nodes


def _from_undirected(u, v, n_nodes, max_degree, positions, length=None) -> Topology:
    recv = np.concatenate([u, v])
    send = np.concatenate([v, u])
    prio = None if length is None else np.concatenate([length, length])
    return _table(recv, send, n_nodes, max_degree, positions, prio)


def _random_positions(rng: np.random.Generator, n_nodes: int) -> np.ndarray:
    return rng.random((n_nodes, 2), dtype=np.float32)


# ----------------------------------------------------------------------------- generators


def from_edges(
    edges, n_nodes: int, max_degree: int, *, directed: bool = False, positions=None
) -> Topology:
    """A topology from an explicit edge list.

    Args:
        edges: ``int[E, 2]`` array of ``(u, v)`` pairs, or a polars DataFrame with columns
            ``src`` and ``dst``. Directed edge ``(u, v)``: ``v`` receives from ``u``.
        n_nodes: number of nodes N (ids must lie in ``[0, N)``).
        max_degree: table capacity K; nodes with more in-neighbours set ``overflow``.
        directed: if False each edge is used in both directions (duplicates and self-loops
            are dropped either way).
        positions: optional ``float[N, 2]`` coordinates (default: zeros).

    Returns:
        The :class:`Topology`.
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    max_degree = check_int("max_degree", max_degree, low=1)
    if hasattr(edges, "select") and hasattr(edges, "columns"):  # polars DataFrame
        missing = {"src", "dst"} - set(edges.columns)
        if missing:
            raise ValueError(f"edges DataFrame needs columns 'src' and 'dst', missing {missing}")
        edges = np.stack([edges["src"].to_numpy(), edges["dst"].to_numpy()], axis=1)
    edges = np.asarray(edges)
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"edges must have shape [E, 2], got {edges.shape}")
    if edges.size and not np.issubdtype(edges.dtype, np.integer):
        raise TypeError(f"edges must be integers, got dtype {edges.dtype}")
    if edges.size and (edges.min() < 0 or edges.max() >= n_nodes):
        raise ValueError(
            f"edge endpoints must be in [0, {n_nodes}), got range [{edges.min()}, {edges.max()}]"
        )
    if positions is None:
        positions = np.zeros((n_nodes, 2), np.float32)
    positions = np.asarray(positions, np.float32)
    if positions.shape != (n_nodes, 2):
        raise ValueError(f"positions must have shape ({n_nodes}, 2), got {positions.shape}")
    u, v = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    if directed:
        ok = u != v
        code = np.unique(v[ok] * n_nodes + u[ok])
        return _table(code // n_nodes, code % n_nodes, n_nodes, max_degree, positions)
    u, v = _undirected(u, v, n_nodes)
    return _from_undirected(u, v, n_nodes, max_degree, positions)


def random_regular(key, n_nodes: int, degree: int, *, max_degree: int | None = None) -> Topology:
    """A uniform-ish random ``degree``-regular simple graph (pairing model with repairs).

    Stubs are shuffled and paired; pairs that form self-loops or duplicate edges are
    re-shuffled together with as many random good pairs until none is left (the
    Steger--Wormald repair, O(N d log(N d)) in practice).

    Args:
        key: a typed ``jax.random.key``.
        n_nodes: N >= 2.
        degree: d in [1, N - 1]; ``N * d`` must be even.
        max_degree: table capacity K >= d (default d).
    """
    n_nodes = check_int("n_nodes", n_nodes, low=2)
    degree = check_int("degree", degree, low=1, high=n_nodes - 1)
    if (n_nodes * degree) % 2:
        raise ValueError(
            f"n_nodes * degree must be even for a regular graph, got {n_nodes} * {degree}"
        )
    max_degree = _check_capacity(max_degree, degree, n_nodes)
    rng = _rng(key)
    stubs = np.repeat(np.arange(n_nodes, dtype=np.int64), degree)
    rng.shuffle(stubs)
    pairs = stubs.reshape(-1, 2)
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)
    code = lo * n_nodes + hi
    order = np.argsort(code, kind="stable")
    dup = np.zeros(code.size, bool)
    dup[order[1:]] = code[order[1:]] == code[order[:-1]]
    bad = np.flatnonzero(dup | (lo == hi))
    for _ in range(10_000):
        if bad.size == 0:
            break
        good = np.ones(len(pairs), bool)
        good[bad] = False
        good_idx = np.flatnonzero(good)
        extra = rng.choice(good_idx, size=min(good_idx.size, max(bad.size, 4)), replace=False)
        redo = np.concatenate([bad, extra])
        good[extra] = False
        kept = np.sort(code[good])
        redo_stubs = pairs[redo].ravel()
        rng.shuffle(redo_stubs)
        pairs[redo] = redo_stubs.reshape(-1, 2)
        lo, hi = pairs[redo].min(axis=1), pairs[redo].max(axis=1)
        code[redo] = lo * n_nodes + hi
        rc = code[redo]
        pos = np.minimum(np.searchsorted(kept, rc), max(kept.size - 1, 0))
        clash = (kept[pos] == rc) if kept.size else np.zeros(rc.size, bool)
        o = np.argsort(rc, kind="stable")
        twin = np.zeros(rc.size, bool)
        twin[o[1:]] = rc[o[1:]] == rc[o[:-1]]
        bad = redo[clash | twin | (lo == hi)]
    else:  # pragma: no cover - only for degree close to N
        raise RuntimeError(f"random_regular: no simple graph found for N={n_nodes}, d={degree}")
    positions = _random_positions(rng, n_nodes)
    return _from_undirected(pairs[:, 0], pairs[:, 1], n_nodes, max_degree, positions)


def radius_for_degree(n_nodes: int, mean_degree: float) -> float:
    """Radio range r giving mean degree ``mean_degree`` in the unit square (bulk, pi r^2 N)."""
    n_nodes = check_int("n_nodes", n_nodes, low=2)
    if not 0 < mean_degree < n_nodes:
        raise ValueError(f"mean_degree must be in (0, {n_nodes}), got {mean_degree}")
    return math.sqrt(mean_degree / (math.pi * (n_nodes - 1)))


def random_geometric(
    key, n_nodes: int, radius: float, max_degree: int, *, allow_disconnected: bool = False
) -> Topology:
    """Random geometric graph: N uniform points in the unit square, links within ``radius``.

    Built with a cell grid of side ``radius`` (each node only compares with the 9 cells
    around it), so the cost is O(N * mean degree), not O(N^2). Nodes with more than
    ``max_degree`` neighbours keep the nearest ones and set ``overflow``.

    Args:
        key: a typed ``jax.random.key``.
        n_nodes: N >= 1.
        radius: radio range in (0, sqrt(2)]; see :func:`radius_for_degree`.
        max_degree: table capacity K in [1, N - 1].
        allow_disconnected: a disconnected graph (isolated nodes are common below the
            connectivity radius ``sqrt(log N / (pi N))``) is returned with a loud
            ``UserWarning`` naming its components and isolated nodes; ``True`` accepts it
            silently (an explicit opt-in).
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    check_bool("allow_disconnected", allow_disconnected)
    radius = float(radius)
    if not 0.0 < radius <= math.sqrt(2.0):
        raise ValueError(f"radius must be in (0, sqrt(2)], got {radius}")
    max_degree = check_int("max_degree", max_degree, low=1, high=max(n_nodes - 1, 1))
    rng = _rng(key)
    pos = _random_positions(rng, n_nodes)
    n_cells = max(1, int(1.0 / radius))
    cell_xy = np.minimum((pos * n_cells).astype(np.int64), n_cells - 1)
    cell = cell_xy[:, 0] * n_cells + cell_xy[:, 1]
    order = np.argsort(cell, kind="stable")
    counts = np.bincount(cell, minlength=n_cells * n_cells)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    us, vs = [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            cx, cy = cell_xy[:, 0] + dx, cell_xy[:, 1] + dy
            inside = (cx >= 0) & (cx < n_cells) & (cy >= 0) & (cy < n_cells)
            src = np.flatnonzero(inside)
            other = cx[src] * n_cells + cy[src]
            cnt = counts[other]
            node = np.repeat(src, cnt)
            offs = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            cand = order[np.repeat(starts[other], cnt) + offs]
            keep = node < cand
            node, cand = node[keep], cand[keep]
            d2 = ((pos[node] - pos[cand]) ** 2).sum(axis=1)
            close = d2 <= radius * radius
            us.append(node[close])
            vs.append(cand[close])
    u, v = np.concatenate(us), np.concatenate(vs)
    length = np.sqrt(((pos[u] - pos[v]) ** 2).sum(axis=1))
    topo = _from_undirected(u, v, n_nodes, max_degree, pos, length)
    if not allow_disconnected:
        _warn_disconnected(topo, f"random_geometric(n_nodes={n_nodes}, radius={radius:.4g})")
    return topo


def _warn_disconnected(topo: Topology, what: str) -> None:
    labels = components(topo)
    n_comp = int(np.unique(labels).size)
    if n_comp == 1:
        return
    isolated = int((~np.asarray(topo.mask).any(axis=1)).sum())
    n = topo.n_nodes
    need = math.sqrt(math.log(max(n, 2)) / (math.pi * n))
    warnings.warn(
        f"{what} is DISCONNECTED: {n_comp} components, {isolated} of {n} nodes isolated; "
        "beacons and gossip cannot reach across components. The connectivity threshold is "
        f"r ~ sqrt(ln N / (pi N)) = {need:.3g}; use a radius well above it, or pass "
        "allow_disconnected=True to accept the graph.",
        UserWarning,
        stacklevel=3,
    )


def erdos_renyi(key, n_nodes: int, p: float, max_degree: int) -> Topology:
    """Erdős–Rényi G(N, p), degree-capped at ``max_degree`` (overflow flagged).

    The number of edges is drawn Binomial(N(N-1)/2, p) and that many distinct pairs are
    sampled uniformly (O(E), fine for sparse graphs).

    Args:
        key: a typed ``jax.random.key``.
        n_nodes: N >= 2.
        p: edge probability in [0, 1].
        max_degree: table capacity K in [1, N - 1].
    """
    n_nodes = check_int("n_nodes", n_nodes, low=2)
    p = float(check_prob("p", p))
    max_degree = check_int("max_degree", max_degree, low=1, high=n_nodes - 1)
    rng = _rng(key)
    n_pairs = n_nodes * (n_nodes - 1) // 2
    m = int(rng.binomial(n_pairs, p))
    if m > n_pairs // 2:  # dense: enumerate all pairs
        iu = np.triu_indices(n_nodes, 1)
        keep = rng.random(iu[0].size) < p
        u, v = iu[0][keep], iu[1][keep]
    else:
        u = np.empty(0, np.int64)
        v = np.empty(0, np.int64)
        while u.size < m:
            need = int((m - u.size) * 1.1) + 16
            a = rng.integers(0, n_nodes, need)
            b = rng.integers(0, n_nodes, need)
            u, v = _undirected(np.concatenate([u, a]), np.concatenate([v, b]), n_nodes)
        pick = rng.choice(u.size, size=m, replace=False)
        u, v = u[pick], v[pick]
    return _from_undirected(u, v, n_nodes, max_degree, _random_positions(rng, n_nodes))


def watts_strogatz(
    key, n_nodes: int, degree: int, beta: float, *, max_degree: int | None = None
) -> Topology:
    """Watts–Strogatz small world: ring lattice of even ``degree``, each edge rewired w.p. beta.

    A rewired edge keeps its first end and gets a uniform random second end; rewires that
    would create a self-loop or a duplicate edge are dropped (so degrees vary slightly).

    Args:
        key: a typed ``jax.random.key``.
        n_nodes: N >= 3.
        degree: even, in [2, N - 1].
        beta: rewiring probability in [0, 1].
        max_degree: table capacity (default ``2 * degree``); overflow is flagged.
    """
    n_nodes = check_int("n_nodes", n_nodes, low=3)
    degree = check_int("degree", degree, low=2, high=n_nodes - 1)
    if degree % 2:
        raise ValueError(f"degree must be even for watts_strogatz, got {degree}")
    beta = float(check_prob("beta", beta))
    max_degree = _check_capacity(2 * degree if max_degree is None else max_degree, degree, n_nodes)
    rng = _rng(key)
    base = np.arange(n_nodes, dtype=np.int64)
    u = np.repeat(base, degree // 2)
    v = (u + np.tile(np.arange(1, degree // 2 + 1), n_nodes)) % n_nodes
    rewire = rng.random(u.size) < beta
    v = np.where(rewire, rng.integers(0, n_nodes, u.size), v)
    u, v = _undirected(u, v, n_nodes)
    return _from_undirected(u, v, n_nodes, max_degree, _random_positions(rng, n_nodes))


def barabasi_albert(key, n_nodes: int, m: int, max_degree: int) -> Topology:
    """Barabási–Albert scale-free graph (each new node attaches ``m`` edges), degree-capped.

    Uses the Batagelj–Brandes edge-list algorithm; its sequential "copy an earlier
    endpoint" recursion is resolved by pointer jumping, so it is vectorised O(N m log N).
    Self-loops and duplicate edges are dropped. Hubs above ``max_degree`` keep their first
    ``max_degree`` links and set ``overflow`` (a capped scale-free graph).

    Args:
        key: a typed ``jax.random.key``.
        n_nodes: N >= 2.
        m: edges per new node, in [1, N - 1].
        max_degree: table capacity K >= m.
    """
    n_nodes = check_int("n_nodes", n_nodes, low=2)
    m = check_int("m", m, low=1, high=n_nodes - 1)
    max_degree = _check_capacity(max_degree, m, n_nodes)
    rng = _rng(key)
    n_edges = n_nodes * m
    idx = np.arange(2 * n_edges, dtype=np.int64)
    # M[2e] = node of edge e; M[2e+1] = M[r] with r uniform in [0, 2e].
    ptr = idx.copy()
    odd = idx[1::2]
    ptr[1::2] = np.floor(rng.random(n_edges) * (odd)).astype(np.int64)
    while True:
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        ptr = nxt
    value = ptr // (2 * m)  # every chain ends at an even slot 2e, whose node is e // m
    u, v = _undirected(value[0::2], value[1::2], n_nodes)
    return _from_undirected(u, v, n_nodes, max_degree, _random_positions(rng, n_nodes))


def grid_2d(
    n_rows: int,
    n_cols: int,
    *,
    periodic: bool = False,
    diagonal: bool = False,
    max_degree: int | None = None,
) -> Topology:
    """A 2-D grid (4-neighbour, or 8 with ``diagonal``), optionally a torus.

    Node ``r * n_cols + c`` sits at ``((c + 0.5) / n_cols, (r + 0.5) / n_rows)``.
    ``max_degree`` (default 4 or 8) pads the table, e.g. to share shapes with other graphs.
    """
    n_rows = check_int("n_rows", n_rows, low=1)
    n_cols = check_int("n_cols", n_cols, low=1)
    cap = _check_capacity(max_degree, 8 if diagonal else 4, n_rows * n_cols)
    n_nodes = n_rows * n_cols
    r, c = np.divmod(np.arange(n_nodes, dtype=np.int64), n_cols)
    steps = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if diagonal else [])
    us, vs = [], []
    for dr, dc in steps:
        rr, cc = r + dr, c + dc
        if periodic:
            rr, cc = rr % n_rows, cc % n_cols
            ok = np.ones(n_nodes, bool)
        else:
            ok = (rr >= 0) & (rr < n_rows) & (cc >= 0) & (cc < n_cols)
        us.append(np.flatnonzero(ok))
        vs.append(rr[ok] * n_cols + cc[ok])
    u, v = _undirected(np.concatenate(us), np.concatenate(vs), n_nodes)
    pos = np.stack([(c + 0.5) / n_cols, (r + 0.5) / n_rows], axis=1)
    return _from_undirected(u, v, n_nodes, cap, pos)


# ----------------------------------------------------------------------------- analysis


def degree_distribution(topology: Topology) -> np.ndarray:
    """``int64[K + 1]``: number of nodes with in-degree 0, 1, ..., K (after capping)."""
    deg = np.asarray(topology.mask).sum(axis=1)
    return np.bincount(deg, minlength=topology.max_degree + 1)


def degree_stats(topology: Topology) -> dict:
    """Mean, std, min, max in-degree, the histogram, and the overflow flag."""
    deg = np.asarray(topology.mask).sum(axis=1)
    return {
        "mean": float(deg.mean()),
        "std": float(deg.std()),
        "min": int(deg.min()),
        "max": int(deg.max()),
        "histogram": degree_distribution(topology).tolist(),
        "overflow": bool(topology.overflow),
    }


def components(topology: Topology) -> np.ndarray:
    """Weakly connected component of every node, ``int64[N]`` (the smallest node id in it).

    Shiloach–Vishkin style hooking + pointer jumping: O(E log N), vectorised.
    """
    n = topology.n_nodes
    mask = np.asarray(topology.mask)
    u = np.repeat(np.arange(n), topology.max_degree)[mask.ravel()]
    v = np.asarray(topology.neighbors).ravel()[mask.ravel()].astype(np.int64)
    parent = np.arange(n, dtype=np.int64)
    while True:
        lu, lv = parent[u], parent[v]
        diff = lu != lv
        if not diff.any():
            break
        lo, hi = np.minimum(lu[diff], lv[diff]), np.maximum(lu[diff], lv[diff])
        np.minimum.at(parent, hi, lo)
        while True:
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                break
            parent = nxt
    return parent


def is_connected(topology: Topology) -> bool:
    """Whether the graph is (weakly) connected, links taken as undirected."""
    parent = components(topology)
    return bool(np.all(parent == parent[0]))


TOPOLOGIES = (
    "random_regular",
    "random_geometric",
    "erdos_renyi",
    "watts_strogatz",
    "barabasi_albert",
    "grid_2d",
)


def build_topology(
    kind: str,
    key,
    n_nodes: int,
    degree: int,
    max_degree: int,
    *,
    allow_disconnected: bool = False,
) -> Topology:
    """Any topology family by name at a target mean degree, in a table of ``max_degree``.

    ``degree`` is the exact degree (random regular), the mean degree (random geometric:
    radius from :func:`radius_for_degree`; Erdős–Rényi: ``p = degree / (N - 1)``), the
    lattice degree (Watts–Strogatz, beta = 0.1), ``2 m`` (Barabási–Albert, ``m = degree //
    2``); ``grid_2d`` is the 4-neighbour torus on the most square ``rows x cols = N``
    (``degree`` ignored). Sharing ``max_degree`` across families keeps shapes equal, so
    one compiled simulation serves them all. ``allow_disconnected`` is passed to
    :func:`random_geometric` (which otherwise warns when its graph is disconnected).
    """
    if kind not in TOPOLOGIES:
        raise ValueError(f"kind must be one of {TOPOLOGIES}, got {kind!r}")
    n_nodes = check_int("n_nodes", n_nodes, low=2)
    degree = check_int("degree", degree, low=1, high=n_nodes - 1)
    max_degree = check_int("max_degree", max_degree, low=1)
    if kind == "random_regular":
        return random_regular(key, n_nodes, degree, max_degree=max_degree)
    if kind == "random_geometric":
        radius = radius_for_degree(n_nodes, degree)
        return random_geometric(
            key, n_nodes, radius, max_degree, allow_disconnected=allow_disconnected
        )
    if kind == "erdos_renyi":
        return erdos_renyi(key, n_nodes, degree / (n_nodes - 1), max_degree)
    if kind == "watts_strogatz":
        return watts_strogatz(key, n_nodes, degree - degree % 2, 0.1, max_degree=max_degree)
    if kind == "barabasi_albert":
        return barabasi_albert(key, n_nodes, max(degree // 2, 1), max_degree)
    rows = int(math.isqrt(n_nodes))
    while n_nodes % rows:
        rows -= 1
    return grid_2d(rows, n_nodes // rows, periodic=True, max_degree=max_degree)
