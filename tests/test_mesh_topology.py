"""Topologies: structure, degree laws against closed forms, connectivity, bad input."""

import jax
import numpy as np
import polars as pl
import pytest

from meshlab.mesh import topology


def _edge_set(topo):
    n, k = topo.neighbors.shape
    recv = np.repeat(np.arange(n), k)[topo.mask.ravel()]
    send = topo.neighbors.ravel()[topo.mask.ravel()]
    return set(zip(recv.tolist(), send.tolist(), strict=True))


def _check_table(topo, symmetric=True):
    n, k = topo.neighbors.shape
    assert topo.neighbors.dtype == np.int32 and topo.mask.dtype == bool
    assert topo.positions.shape == (n, 2)
    # padding points at the node itself
    pad = ~topo.mask
    assert (topo.neighbors[pad] == np.broadcast_to(np.arange(n)[:, None], (n, k))[pad]).all()
    edges = _edge_set(topo)
    assert len(edges) == int(topo.mask.sum())  # no duplicate links
    assert all(a != b for a, b in edges)  # no self-loops
    if symmetric:
        assert all((b, a) in edges for a, b in edges)


def test_random_regular_is_simple_and_regular():
    topo = topology.random_regular(jax.random.key(0), 500, 7 + 1)
    _check_table(topo)
    stats = topology.degree_stats(topo)
    assert stats["min"] == stats["max"] == 8 and not stats["overflow"]
    # a random 8-regular graph is connected with probability 1 - o(1) (Wormald 1981)
    assert topology.is_connected(topo)


def test_random_regular_odd_degree_and_capacity():
    topo = topology.random_regular(jax.random.key(1), 100, 3, max_degree=5)
    _check_table(topo)
    assert topo.max_degree == 5 and (topo.mask.sum(1) == 3).all()


def test_random_geometric_links_are_exactly_the_pairs_within_range():
    n, r = 400, 0.1
    topo = topology.random_geometric(jax.random.key(2), n, r, max_degree=n - 1)
    _check_table(topo)
    pos = topo.positions.astype(np.float64)
    d2 = ((pos[:, None] - pos[None]) ** 2).sum(-1)
    want = (d2 <= r * r) & ~np.eye(n, dtype=bool)  # brute-force O(N^2) reference
    got = np.zeros((n, n), bool)
    for a, b in _edge_set(topo):
        got[a, b] = True
    # float32 positions: pairs within 1e-6 of the range may flip; none expected here
    assert (got == want).all()


def test_random_geometric_mean_degree_matches_unit_square_formula():
    # E[deg] = (N-1) * P(|X-Y| <= r) with P = pi r^2 - 8/3 r^3 + r^4/2 in the unit square
    # (boundary-corrected, r <= 1). sd of the mean degree over N nodes <= sqrt(E/N)*~2.
    n, r = 5000, 0.03  # mean degree ~14: a few small components, warned about otherwise
    topo = topology.random_geometric(
        jax.random.key(3), n, r, max_degree=64, allow_disconnected=True
    )
    mean = topology.degree_stats(topo)["mean"]
    expected = (n - 1) * (np.pi * r * r - 8 / 3 * r**3 + r**4 / 2)
    assert abs(mean - expected) < 5 * 2 * np.sqrt(expected / n)


def test_random_geometric_overflow_keeps_nearest():
    topo = topology.random_geometric(jax.random.key(4), 300, 0.3, max_degree=4)
    assert topo.overflow and (topo.mask.sum(1) <= 4).all()
    full = topology.random_geometric(jax.random.key(4), 300, 0.3, max_degree=299)
    pos = full.positions
    for i in range(0, 300, 37):
        d_all = np.sort(np.linalg.norm(pos[full.neighbors[i][full.mask[i]]] - pos[i], axis=1))
        d_kept = np.sort(np.linalg.norm(pos[topo.neighbors[i][topo.mask[i]]] - pos[i], axis=1))
        np.testing.assert_allclose(d_kept, d_all[: len(d_kept)])


def test_erdos_renyi_mean_degree():
    # E[deg] = p (N - 1); sd of the mean degree ~ sqrt(2 p (N-1) / N)
    n, p = 3000, 0.004
    topo = topology.erdos_renyi(jax.random.key(5), n, p, max_degree=40)
    _check_table(topo)
    mean = topology.degree_stats(topo)["mean"]
    assert abs(mean - p * (n - 1)) < 5 * np.sqrt(2 * p * (n - 1) / n)


def test_watts_strogatz_beta_zero_is_the_ring_lattice():
    topo = topology.watts_strogatz(jax.random.key(6), 50, 4, 0.0)
    _check_table(topo)
    for i in range(50):
        got = set(topo.neighbors[i][topo.mask[i]].tolist())
        assert got == {(i + d) % 50 for d in (-2, -1, 1, 2)}


def test_barabasi_albert_degree_tail_matches_closed_form():
    # BA (Dorogovtsev et al. 2000): P(deg >= k) = m (m + 1) / (k (k + 1)) for large N.
    # Binomial sd of a frequency f over N nodes is sqrt(f / N); allow 5 sd + 5 % model bias
    # (finite N, dropped duplicate edges).
    n, m = 20000, 3
    topo = topology.barabasi_albert(jax.random.key(7), n, m, max_degree=5000)
    assert not topo.overflow
    deg = topo.mask.sum(1)
    for k in (6, 12, 24):
        f = m * (m + 1) / (k * (k + 1))
        assert abs((deg >= k).mean() - f) < 5 * np.sqrt(f / n) + 0.05 * f


def test_barabasi_albert_cap_sets_overflow():
    topo = topology.barabasi_albert(jax.random.key(8), 2000, 2, max_degree=6)
    assert topo.overflow and topo.mask.sum(1).max() == 6


def test_grid_degrees_and_torus():
    g = topology.grid_2d(5, 7)
    _check_table(g)
    hist = topology.degree_distribution(g)
    # corners 4 nodes of degree 2, border 2*(3+5)=16 of degree 3, interior 15 of degree 4
    assert hist.tolist() == [0, 0, 4, 16, 15]
    t = topology.grid_2d(5, 7, periodic=True, diagonal=True)
    assert (t.mask.sum(1) == 8).all() and topology.is_connected(t)


def test_from_edges_numpy_polars_directed_and_overflow():
    edges = np.array([[0, 1], [1, 2], [2, 0], [3, 4], [1, 0]])
    topo = topology.from_edges(edges, 5, 2)
    _check_table(topo)
    assert not topology.is_connected(topo)  # {0,1,2} and {3,4}
    df = pl.DataFrame({"src": [0, 0, 0, 0], "dst": [1, 2, 3, 4]})
    star = topology.from_edges(df, 5, 2)
    assert star.overflow and topology.degree_stats(star)["max"] == 2
    d = topology.from_edges(np.array([[0, 1]]), 2, 1, directed=True)
    assert d.mask.tolist() == [[False], [True]] and d.neighbors[1, 0] == 0


def test_is_connected_path_and_two_paths():
    n = 1000
    path = np.stack([np.arange(n - 1), np.arange(1, n)], 1)
    assert topology.is_connected(topology.from_edges(path, n, 2))
    cut = np.delete(path, 500, axis=0)
    assert not topology.is_connected(topology.from_edges(cut, n, 2))


def test_same_key_same_topology():
    a = topology.random_regular(jax.random.key(9), 200, 6)
    b = topology.random_regular(jax.random.key(9), 200, 6)
    c = topology.random_regular(jax.random.key(10), 200, 6)
    assert (a.neighbors == b.neighbors).all() and not (a.neighbors == c.neighbors).all()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda k: topology.random_regular(k, 0, 2), "n_nodes"),
        (lambda k: topology.random_regular(k, 10, 10), "degree"),
        (lambda k: topology.random_regular(k, 9, 3), "even"),
        (lambda k: topology.random_regular(k, 10, 4, max_degree=3), "max_degree"),
        (lambda k: topology.erdos_renyi(k, 10, 1.5, 4), "p must be a probability"),
        (lambda k: topology.erdos_renyi(k, 10, 0.1, 10), "max_degree"),
        (lambda k: topology.watts_strogatz(k, 10, 4, -0.1), "beta"),
        (lambda k: topology.watts_strogatz(k, 10, 3, 0.1), "even"),
        (lambda k: topology.random_geometric(k, 10, -0.1, 4), "radius"),
        (lambda k: topology.random_geometric(k, -5, 0.1, 4), "n_nodes"),
        (lambda k: topology.barabasi_albert(k, 10, 3, 2), "max_degree"),
        (lambda k: topology.from_edges(np.array([[0, 7]]), 5, 2), "endpoints"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(jax.random.key(0))


def test_untyped_key_is_rejected():
    with pytest.raises(TypeError, match="typed"):
        topology.random_regular(np.uint32([0, 1]), 10, 2)
