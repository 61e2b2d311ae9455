"""Update-space attacks against their published definitions (written out here in numpy)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from meshlab.fl import ATTACKS, alie_z, apply_attack
from meshlab.fl.attacks import line_search, min_max_gamma

N, D = 20, 50


def _setup(seed=0, n_byz=4):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((N, D)) + 1.0).astype(np.float32)
    byz = np.zeros(N, bool)
    byz[rng.choice(N, n_byz, replace=False)] = True
    return x, byz


def _attack(name, x, byz, key=0, **opts):
    out = apply_attack(jax.random.key(key), name, jnp.asarray(x), jnp.asarray(byz), **opts)
    return np.asarray(out)


@pytest.mark.parametrize("name", ATTACKS)
def test_honest_rows_untouched(name):
    x, byz = _setup()
    out = _attack(name, x, byz)
    np.testing.assert_array_equal(out[~byz], x[~byz])
    assert out.shape == x.shape and out.dtype == np.float32


def test_simple_definitions():
    x, byz = _setup()
    np.testing.assert_array_equal(_attack("none", x, byz), x)
    np.testing.assert_array_equal(_attack("sign_flip", x, byz)[byz], -x[byz])
    np.testing.assert_allclose(_attack("sign_flip", x, byz, scale=3.0)[byz], -3.0 * x[byz])
    np.testing.assert_allclose(_attack("scaling", x, byz)[byz], N * x[byz], rtol=1e-6)
    np.testing.assert_allclose(_attack("scaling", x, byz, factor=7.0)[byz], 7 * x[byz], rtol=1e-6)
    np.testing.assert_array_equal(_attack("free_rider", x, byz)[byz], 0.0)
    honest_mean = x[~byz].astype(np.float64).mean(axis=0)
    ipm = _attack("ipm", x, byz, eps=0.5)[byz]
    np.testing.assert_allclose(ipm, np.broadcast_to(-0.5 * honest_mean, ipm.shape), atol=1e-5)
    first_honest = int(np.flatnonzero(~byz)[0])
    np.testing.assert_array_equal(
        _attack("mimic", x, byz)[byz], np.broadcast_to(x[first_honest], (4, D))
    )
    t = int(np.flatnonzero(~byz)[3])
    np.testing.assert_array_equal(_attack("mimic", x, byz, target=t)[byz][0], x[t])


def test_alie_formula():
    # Baruch et al. 2019: s = floor(n/2 + 1) - f, z = Phi^-1((n - s)/n); row = mu - z sigma
    for n, f in [(50, 12), (50, 24), (20, 4), (100, 20)]:
        s = math.floor(n / 2 + 1) - f
        assert float(alie_z(n, f)) == pytest.approx(norm.ppf((n - s) / n), abs=1e-5)
    x, byz = _setup()
    h = x[~byz].astype(np.float64)
    z = norm.ppf((N - (math.floor(N / 2 + 1) - 4)) / N)
    want = h.mean(axis=0) - z * h.std(axis=0)
    out = _attack("alie", x, byz)[byz]
    np.testing.assert_allclose(out, np.broadcast_to(want, out.shape), atol=1e-5)
    out = _attack("alie", x, byz, z=1.5)[byz]
    np.testing.assert_allclose(out[0], h.mean(axis=0) - 1.5 * h.std(axis=0), atol=1e-5)


def test_gaussian_statistics():
    x, byz = _setup(n_byz=10)
    out = _attack("gaussian", x, byz, sigma=2.0)[byz].astype(np.float64)
    k = out.size  # 500 draws of N(0, 4): mean has sd 2/sqrt(500) ~ 0.09 -> 5 sd = 0.45
    assert abs(out.mean()) < 5 * 2.0 / math.sqrt(k)
    # sample variance has sd ~ sigma^2 sqrt(2/k) = 0.25 -> 5 sd = 1.3
    assert abs(out.var() - 4.0) < 5 * 4.0 * math.sqrt(2 / k)
    other = _attack("gaussian", x, byz, key=1, sigma=2.0)[byz]
    assert not np.array_equal(out, other)  # a different key gives different noise


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "mixed"])
def test_nonfinite(value):
    x, byz = _setup()
    out = _attack("nonfinite", x, byz, value=value)[byz]
    if value == "nan":
        assert np.all(np.isnan(out))
    elif value == "mixed":
        assert not np.any(np.isfinite(out))
        # 200 entries drawn from 3 kinds: P(one kind missing) <= 3 (2/3)^200 ~ 1e-35
        assert np.isnan(out).any() and np.isposinf(out).any() and np.isneginf(out).any()
    else:
        assert np.all(out == np.float32(value))


def test_attack_under_jit_with_traced_mask():
    x, byz = _setup()
    f = jax.jit(lambda k, u, b: apply_attack(k, "alie", u, b))
    out = np.asarray(f(jax.random.key(0), jnp.asarray(x), jnp.asarray(byz)))
    np.testing.assert_allclose(out, _attack("alie", x, byz), atol=1e-6)


@pytest.mark.parametrize(
    ("name", "opts", "match"),
    [
        ("flip", {}, "flip"),
        ("ipm", {"epsilon": 1.0}, "epsilon"),
        ("nonfinite", {"value": "zero"}, "value='zero'"),
        ("mimic", {"target": 99}, "target=99"),
        ("scaling", {"factor": float("inf")}, "factor"),
        ("gaussian", {"sigma": -1.0}, "sigma"),
    ],
)
def test_bad_input(name, opts, match):
    x, byz = _setup()
    with pytest.raises(ValueError, match=match):
        _attack(name, x, byz, **opts)


def test_bad_shapes_and_all_byzantine():
    x, byz = _setup()
    with pytest.raises(ValueError, match="byzantine must have shape"):
        _attack("sign_flip", x, byz[:-1])
    with pytest.raises(TypeError, match="byzantine must be boolean"):
        _attack("sign_flip", x, byz.astype(np.int32))
    with pytest.raises(ValueError, match="needs at least one honest row"):
        _attack("alie", x, np.ones(N, bool))
    with pytest.raises(ValueError, match="Byzantine row"):
        _attack("mimic", x, byz, target=int(np.flatnonzero(byz)[0]))


def test_alie_z_max_closed_form_statistics_normaldist():
    # z_max from the standard library's NormalDist (independent of scipy and of jax.scipy)
    from statistics import NormalDist

    for n, f in [(30, 6), (30, 9), (10, 1), (11, 4), (200, 60)]:
        s = math.floor(n / 2 + 1) - f
        want = NormalDist().inv_cdf((n - s) / n)
        assert float(alie_z(n, f)) == pytest.approx(want, abs=2e-5)
    assert float(alie_z(30, 6)) == pytest.approx(0.43, abs=0.005)  # the values quoted in
    assert float(alie_z(30, 9)) == pytest.approx(0.73, abs=0.005)  # the attacks' docs


def _median_rule(key, u):
    return jnp.median(u, axis=0)


@pytest.mark.parametrize("kind", ["alie", "ipm"])
def test_line_search_mean_optimum_at_grid_edge(kind):
    # On the mean the displacement is (f/n) c ||sigma|| (ALIE) or (f/n)(1 + c)||mu|| (IPM):
    # increasing in c, so the maximizer is the last grid point.
    x, byz = _setup()
    grid = (0.1, 0.5, 1.0, 3.0, 7.0)
    best, vals = line_search(jax.random.key(0), kind, jnp.asarray(x), jnp.asarray(byz), None, grid)
    assert float(best) == 7.0
    h = x[~byz].astype(np.float64)
    mu, sd = h.mean(0), h.std(0)
    f = byz.sum()
    for c, v in zip(grid, np.asarray(vals), strict=True):
        shift = c * np.linalg.norm(sd) if kind == "alie" else (1 + c) * np.linalg.norm(mu)
        assert v == pytest.approx(f / N * shift, rel=1e-4)
    # the attack uses that factor
    out = _attack(f"opt_{kind}", x, byz, factors=grid)[byz][0]
    want = mu - 7.0 * sd if kind == "alie" else -7.0 * mu
    np.testing.assert_allclose(out, want, atol=1e-4)


def test_line_search_interior_optimum_on_median():
    # Against the median, ALIE at a huge z is ignored (Byzantine rows become one extreme
    # tail) while a small z moves it: the optimum is interior and the objective is the
    # median's displacement, computed here independently.
    x, byz = _setup(n_byz=8)
    grid = (0.05, 0.2, 0.5, 1.0, 2.0, 50.0)
    best, vals = line_search(
        jax.random.key(0), "alie", jnp.asarray(x), jnp.asarray(byz), _median_rule, grid
    )
    h = x[~byz].astype(np.float64)
    mu, sd = h.mean(0), h.std(0)
    want = []
    for c in grid:
        att = np.where(byz[:, None], mu - c * sd, x)
        want.append(np.linalg.norm(np.median(att, axis=0) - mu))
    np.testing.assert_allclose(np.asarray(vals), want, rtol=1e-4)
    assert float(best) == grid[int(np.argmax(want))]


@pytest.mark.parametrize("objective", ["min_max", "min_sum"])
@pytest.mark.parametrize("direction", ["std", "sign", "unit"])
def test_min_max_min_sum_constraint_is_tight(objective, direction):
    x, byz = _setup(seed=3, n_byz=6)
    out = _attack(objective, x, byz, direction=direction)
    m = out[byz][0].astype(np.float64)
    h = x[~byz].astype(np.float64)
    pair = ((h[:, None, :] - h[None, :, :]) ** 2).sum(-1)
    d2 = ((h - m) ** 2).sum(-1)
    if objective == "min_max":
        load, bound = d2.max(), pair.max()
    else:
        load, bound = d2.sum(), pair.sum(1).max()
    assert load <= bound * (1 + 1e-5)  # the constraint holds (float32 evaluation)
    assert load >= bound * (1 - 1e-3)  # and gamma is the largest feasible one
    # the malicious update is mu + gamma p along the named direction
    mu, sd = h.mean(0), h.std(0)
    p = {"std": -sd, "sign": -np.sign(mu), "unit": -mu / np.linalg.norm(mu)}[direction]
    gamma = float(min_max_gamma(jnp.asarray(x), jnp.asarray(byz), direction, objective))
    assert gamma > 0
    np.testing.assert_allclose(m, mu + gamma * p, atol=1e-4 * (1 + gamma))


@pytest.mark.parametrize("name", ["alie", "ipm", "ipm_large", "opt_alie", "opt_ipm", "min_max"])
def test_permutation_equivariant_over_honest_clients(name):
    x, byz = _setup(seed=5)
    rng = np.random.default_rng(1)
    perm = np.arange(N)
    hon = np.flatnonzero(~byz)
    perm[hon] = rng.permutation(hon)  # shuffle the honest rows among themselves
    opts = {"aggregate": _median_rule} if name.startswith("opt_") else {}
    a = _attack(name, x, byz, **opts)
    b = _attack(name, x[perm], byz, **opts)
    np.testing.assert_allclose(b, a[perm], rtol=1e-5, atol=1e-5)


def test_optimized_attacks_vmap_over_factor_grid_and_jit():
    x, byz = _setup()
    grids = jnp.asarray([[0.1, 1.0, 5.0], [0.2, 0.3, 0.4]], jnp.float32)

    def best(g):
        return line_search(jax.random.key(0), "alie", jnp.asarray(x), jnp.asarray(byz), None, g)[0]

    out = np.asarray(jax.jit(jax.vmap(best))(grids))
    np.testing.assert_allclose(out, [5.0, 0.4])


@pytest.mark.parametrize(
    ("name", "opts", "match"),
    [
        ("min_max", {"direction": "up"}, "direction='up'"),
        ("opt_alie", {"factors": ()}, "factors"),
        ("opt_ipm", {"factors": (1.0, float("nan"))}, "factors"),
        ("opt_ipm", {"aggregate": 3}, "aggregate=3"),
        ("ipm_large", {"eps": float("inf")}, "eps"),
    ],
)
def test_bad_input_new_attacks(name, opts, match):
    x, byz = _setup()
    with pytest.raises(ValueError, match=match):
        _attack(name, x, byz, **opts)
