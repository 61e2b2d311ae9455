"""Update-space attacks against their published definitions (written out here in numpy)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from meshlab.fl import ATTACKS, alie_z, apply_attack

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
