"""Node orderings and shard partitions for running one simulation across devices.

A sharded run splits the node axis into ``n_shards`` equal, contiguous blocks. Which links
cross blocks depends only on the node numbering: ordering the nodes of a geometric or grid
graph along a space-filling curve keeps neighbours in the same block, so few links cross::

    from meshlab.mesh import topology
    from meshlab.scaling import partition

    topo = topology.random_geometric(key, 100_000, radius, max_degree=16)
    ordered = partition.reorder(topo, "hilbert")        # relabelled copy + the permutation
    padded = partition.pad(ordered.topology, n_shards=4)  # N -> multiple of 4, masked rows
    partition.cut_fraction(padded, 4)                    # share of links crossing shards

* :func:`order` - a permutation of the nodes along a curve (:data:`ORDERINGS`): ``"hilbert"``
  and ``"morton"`` (Z-order) on the nodes' ``positions`` quantised to a ``2**16`` grid;
  ``"identity"`` keeps the numbering.
* :func:`relabel` / :func:`reorder` - the topology with node ``order[i]`` renamed ``i``.
* :func:`pad` - appends masked nodes (no links, at the centre of the square) until ``N`` is
  a multiple of the shard count; padded nodes receive and send nothing in the beacon model.
* :func:`cut_fraction` - the fraction of real links whose two ends sit in different
  shards (the data an automatic partitioner or a halo exchange must move).

Everything here is host-side numpy, run once before a simulation is built.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from meshlab.core.validation import check_choice, check_int
from meshlab.mesh.topology import Topology

__all__ = [
    "CURVE_BITS",
    "ORDERINGS",
    "Reordered",
    "cut_fraction",
    "hilbert_index",
    "morton_index",
    "order",
    "pad",
    "padded_size",
    "relabel",
    "reorder",
    "shard_of",
]

ORDERINGS = ("hilbert", "morton", "identity")
CURVE_BITS = 16
"""Bits per coordinate of the curve grid (positions quantised to ``2**16`` cells a side)."""


class Reordered(NamedTuple):
    """A relabelled topology and its permutation.

    Attributes:
        topology: the relabelled :class:`~meshlab.mesh.topology.Topology`.
        order: ``int64[N]``; new node ``i`` is old node ``order[i]``.
        rank: ``int64[N]``; old node ``j`` is new node ``rank[j]`` (the inverse).
    """

    topology: Topology
    order: np.ndarray
    rank: np.ndarray


def _check_topology(topology) -> Topology:
    if not isinstance(topology, Topology):
        raise TypeError(f"topology must be a meshlab Topology, got {type(topology).__name__}")
    return topology


def _grid(positions: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``f[N, 2]`` -> integer cells ``(x, y)`` in ``[0, 2**bits)`` (bounding box)."""
    pos = np.asarray(positions, np.float64)
    if pos.ndim != 2 or pos.shape[1] != 2 or not np.isfinite(pos).all():
        raise ValueError(f"positions must be finite float[N, 2], got shape {pos.shape}")
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    side = 2**bits
    cells = np.clip(((pos - lo) / span * side).astype(np.int64), 0, side - 1)
    return cells[:, 0], cells[:, 1]


def morton_index(positions: np.ndarray, bits: int = CURVE_BITS) -> np.ndarray:
    """Z-order (Morton) index ``int64[N]``: the bits of x and y interleaved (x in even bits)."""
    x, y = _grid(positions, bits)
    out = np.zeros_like(x)
    for b in range(bits):
        out |= ((x >> b) & 1) << (2 * b)
        out |= ((y >> b) & 1) << (2 * b + 1)
    return out


def hilbert_index(positions: np.ndarray, bits: int = CURVE_BITS) -> np.ndarray:
    """Hilbert-curve index ``int64[N]`` of the quantised positions.

    The classic ``xy2d`` walk (Hilbert 1891; the iterative form of Warren, *Hacker's
    Delight*, 2nd ed., sec. 16-2), vectorised over nodes: consecutive indices are always
    adjacent grid cells, so contiguous index blocks are compact regions.
    """
    x, y = _grid(positions, bits)
    d = np.zeros_like(x)
    side = 2**bits
    s = side // 2
    while s > 0:
        rx = ((x & s) > 0).astype(np.int64)
        ry = ((y & s) > 0).astype(np.int64)
        d += s * s * ((3 * rx) ^ ry)
        # rotate the quadrant so the sub-curve has the canonical orientation
        flip = ry == 0
        swap_x = np.where(flip & (rx == 1), side - 1 - x, x)
        swap_y = np.where(flip & (rx == 1), side - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s //= 2
    return d


def order(topology: Topology, ordering: str = "hilbert") -> np.ndarray:
    """A permutation ``int64[N]`` of the nodes along ``ordering`` (ties keep old order).

    Args:
        topology: the graph (its ``positions`` place the nodes on the curve).
        ordering: one of :data:`ORDERINGS`.

    Raises:
        ValueError: unknown ordering (named), bad positions.
    """
    topology = _check_topology(topology)
    ordering = check_choice("ordering", ordering, ORDERINGS)
    n = topology.n_nodes
    if ordering == "identity":
        return np.arange(n, dtype=np.int64)
    index = hilbert_index if ordering == "hilbert" else morton_index
    return np.argsort(index(topology.positions), kind="stable").astype(np.int64)


def relabel(topology: Topology, perm) -> Reordered:
    """Renames node ``perm[i]`` to ``i`` (neighbour ids, mask and positions follow).

    Raises:
        ValueError: ``perm`` is not a permutation of ``range(N)``.
    """
    topology = _check_topology(topology)
    n = topology.n_nodes
    perm = np.asarray(perm)
    if perm.shape != (n,) or perm.dtype.kind not in "iu":
        raise ValueError(f"perm must be int[{n}], got {perm.dtype}{list(perm.shape)}")
    rank = np.full(n, -1, np.int64)
    rank[perm] = np.arange(n)
    if (rank < 0).any():
        raise ValueError("perm must be a permutation of range(N): some node ids repeat")
    nb = np.asarray(topology.neighbors)[perm]
    mask = np.asarray(topology.mask)[perm]
    new_nb = rank[nb].astype(np.int32)
    topo = Topology(new_nb, mask.copy(), topology.overflow, np.asarray(topology.positions)[perm])
    return Reordered(topo, perm.astype(np.int64), rank)


def reorder(topology: Topology, ordering: str = "hilbert") -> Reordered:
    """:func:`relabel` along :func:`order` (``ordering`` one of :data:`ORDERINGS`)."""
    return relabel(topology, order(topology, ordering))


def padded_size(n_nodes: int, n_shards: int) -> int:
    """The smallest multiple of ``n_shards`` that is >= ``n_nodes``."""
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    n_shards = check_int("n_shards", n_shards, low=1)
    return -(-n_nodes // n_shards) * n_shards


def pad(topology: Topology, n_shards: int) -> Topology:
    """Appends masked nodes until ``N`` is a multiple of ``n_shards``.

    A padded node has no links (mask all False, its table rows point at itself) and sits
    at ``(0.5, 0.5)``; real nodes keep their ids, so the counter-hash draws of real nodes
    and links are unchanged. A topology already of the right size is returned as is.
    """
    topology = _check_topology(topology)
    n = topology.n_nodes
    n_pad = padded_size(n, n_shards)
    if n_pad == n:
        return topology
    extra = n_pad - n
    k = topology.max_degree
    ids = np.arange(n, n_pad, dtype=np.int32)
    nb = np.concatenate([np.asarray(topology.neighbors, np.int32), np.repeat(ids[:, None], k, 1)])
    mask = np.concatenate([np.asarray(topology.mask, bool), np.zeros((extra, k), bool)])
    pos = np.concatenate(
        [np.asarray(topology.positions, np.float32), np.full((extra, 2), 0.5, np.float32)]
    )
    return Topology(nb, mask, topology.overflow, pos)


def shard_of(n_nodes: int, n_shards: int) -> np.ndarray:
    """``int64[N]``: the shard holding each node (contiguous equal blocks).

    Raises:
        ValueError: ``n_shards`` does not divide ``n_nodes`` (pad with :func:`pad` first).
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    n_shards = check_int("n_shards", n_shards, low=1)
    if n_nodes % n_shards:
        raise ValueError(
            f"n_shards={n_shards} does not divide n_nodes={n_nodes}: pad the topology to "
            f"{padded_size(n_nodes, n_shards)} nodes with meshlab.scaling.partition.pad"
        )
    return np.arange(n_nodes, dtype=np.int64) // (n_nodes // n_shards)


def cut_fraction(topology: Topology, n_shards: int) -> float:
    """Fraction of real links ``(i <- neighbors[i, k])`` whose ends are in different shards.

    Args:
        topology: a topology whose ``N`` is a multiple of ``n_shards`` (see :func:`pad`).
        n_shards: number of equal contiguous node blocks (>= 1).

    Returns:
        cut links / real links (0.0 for a graph without links).
    """
    topology = _check_topology(topology)
    shard = shard_of(topology.n_nodes, n_shards)
    mask = np.asarray(topology.mask, bool)
    nb = np.asarray(topology.neighbors)
    cut = (shard[nb] != shard[:, None]) & mask
    total = int(mask.sum())
    return float(cut.sum() / total) if total else 0.0
