"""Space-filling-curve orderings, relabelling, padding and cut-link fractions, against
independent counts (numpy over the edge list) and the curves' defining properties."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from meshlab.mesh import topology
from meshlab.scaling import partition


def _full_grid(bits: int) -> np.ndarray:
    side = 2**bits
    x, y = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    return (np.stack([x.ravel(), y.ravel()], axis=1) + 0.5) / side


def test_hilbert_visits_every_cell_once_through_adjacent_cells():
    pos = _full_grid(5)
    d = partition.hilbert_index(pos, bits=5)
    assert np.array_equal(np.sort(d), np.arange(4**5))  # a bijection onto 0 .. 4^b - 1
    walk = np.rint(pos[np.argsort(d)] * 32 - 0.5)
    steps = np.abs(np.diff(walk, axis=0)).sum(axis=1)
    assert np.all(steps == 1)  # the defining property: consecutive cells share an edge
    assert tuple(walk[0]) == (0, 0) and tuple(walk[-1]) == (31, 0)  # corner to corner


def test_morton_is_bit_interleaving():
    pos = _full_grid(4)
    d = partition.morton_index(pos, bits=4)
    cells = np.rint(pos * 16 - 0.5).astype(int)
    want = [
        int("".join(f"{y:04b}"[i] + f"{x:04b}"[i] for i in range(4)), 2) for x, y in cells
    ]  # independent: interleave the binary strings, y bit above x bit
    assert np.array_equal(d, want)


@pytest.mark.parametrize("ordering", partition.ORDERINGS)
def test_reorder_is_a_relabelling(ordering):
    topo = topology.random_geometric(jax.random.key(0), 500, 0.09, max_degree=16)
    r = partition.reorder(topo, ordering)
    assert np.array_equal(np.sort(r.order), np.arange(500))  # a permutation
    assert np.array_equal(r.rank[r.order], np.arange(500))

    # the same undirected edge set under the renaming (independent: edge lists as sets)
    def edges(t, rename):
        nb, m = np.asarray(t.neighbors), np.asarray(t.mask)
        i = np.repeat(np.arange(t.n_nodes), nb.shape[1])[m.ravel()]
        return {
            (int(rename[a]), int(rename[b])) for a, b in zip(i, nb.ravel()[m.ravel()], strict=True)
        }

    assert edges(r.topology, np.arange(500)) == edges(topo, r.rank)
    np.testing.assert_array_equal(r.topology.positions[r.rank], topo.positions)


def _cut_by_edge_list(t, n_shards):
    nb, m = np.asarray(t.neighbors), np.asarray(t.mask)
    block = t.n_nodes // n_shards
    cut = total = 0
    for i in range(t.n_nodes):
        for k in range(nb.shape[1]):
            if m[i, k]:
                total += 1
                cut += (i // block) != (int(nb[i, k]) // block)
    return cut / total


def test_cut_fraction_matches_an_edge_list_count_and_drops_with_a_curve():
    geo = topology.random_geometric(jax.random.key(1), 2001, 0.045, max_degree=16)
    grid = topology.grid_2d(40, 50, periodic=False)
    rows = []
    for name, topo in (("geometric", geo), ("grid", grid)):
        for s in (2, 4, 8):
            for ordering in ("identity", "hilbert", "morton"):
                t = partition.pad(partition.reorder(topo, ordering).topology, s)
                got = partition.cut_fraction(t, s)
                assert got == pytest.approx(_cut_by_edge_list(t, s), abs=1e-12)
                rows.append((name, s, ordering, got))
    by = {(n, s, o): f for n, s, o, f in rows}
    for s in (2, 4, 8):
        # random numbering of a geometric graph: ~(1 - 1/S) of links cross; a curve: few
        assert by[("geometric", s, "identity")] > 0.9 * (1 - 1 / s)
        assert by[("geometric", s, "hilbert")] < 0.15 * by[("geometric", s, "identity")]
        assert by[("geometric", s, "morton")] < 0.25 * by[("geometric", s, "identity")]
    # row-major grid: only the rows at block edges cross (independent closed form)
    assert by[("grid", 4, "identity")] == pytest.approx(
        3 * 50 / (40 * 49 + 39 * 50)
    )  # directed / directed


def test_pad_appends_isolated_nodes_and_keeps_real_ids():
    topo = topology.random_regular(jax.random.key(2), 1001, 6)
    p = partition.pad(topo, 4)
    assert p.n_nodes == 1004 == partition.padded_size(1001, 4)
    np.testing.assert_array_equal(p.neighbors[:1001], topo.neighbors)
    assert not p.mask[1001:].any() and np.array_equal(p.mask[:1001], topo.mask)
    assert np.all(p.neighbors[1001:] == np.arange(1001, 1004)[:, None])
    assert partition.pad(topo, 7) is topo  # 1001 = 7 * 143: nothing to pad


def test_bad_input_is_named():
    topo = topology.grid_2d(5, 5)
    with pytest.raises(ValueError, match="ordering must be one of"):
        partition.order(topo, "peano")
    with pytest.raises(ValueError, match="n_shards=4 does not divide n_nodes=25.*pad"):
        partition.cut_fraction(topo, 4)
    with pytest.raises(ValueError, match="n_shards must be"):
        partition.pad(topo, 0)
    with pytest.raises(ValueError, match="perm must be a permutation"):
        partition.relabel(topo, np.zeros(25, int))
    with pytest.raises(TypeError, match="topology must be a meshlab Topology"):
        partition.order("grid", "hilbert")


def test_the_cut_table_reports_each_graphs_components():
    """A geometric graph at small N and mean degree 3 is disconnected; the report's cut
    table says so (its component count equals an independent union-find over the links)."""
    from meshlab.scaling import experiments

    key = jax.random.key(4)
    cuts = experiments.cut_fractions(key, [200], [2], 3, kinds=("random_geometric", "grid_2d"))
    geo = topology.build_topology(
        "random_geometric", jax.random.fold_in(key, 0), 200, 3, 6, allow_disconnected=True
    )
    parent = list(range(200))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    nbr, mask = np.asarray(geo.neighbors), np.asarray(geo.mask)
    for u, v in zip(*np.nonzero(mask), strict=True):
        parent[find(u)] = find(int(nbr[u, v]))
    want = len({find(i) for i in range(200)})
    got = cuts.filter(cuts["topology"] == "random_geometric")["components"].unique().to_list()
    assert want > 1 and got == [want]
    assert cuts.filter(cuts["topology"] == "grid_2d")["components"].unique().to_list() == [1]
    assert cuts["cut_fraction"].is_between(0, 1).all()
