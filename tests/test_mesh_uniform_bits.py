"""Regression: extreme random bits must map to finite normals and lognormals."""

import jax.numpy as jnp
import numpy as np

from meshlab.core import rng
from meshlab.mesh import links


def test_extreme_bits_stay_inside_the_open_unit_interval():
    bits = jnp.array([0, 1, 0xFFFFFFFE, 0xFFFFFFFF], jnp.uint32)
    u = np.asarray(rng.uniform_from_bits(bits))
    assert np.all(u > 0.0) and np.all(u < 1.0), u
    z = np.asarray(links._normal(rng.uniform_from_bits(bits)))
    assert np.all(np.isfinite(z)), z
    # inverse CDF of the extreme grid points: |z| = Phi^-1(1 - 2**-24) ~= 5.29
    assert abs(z[-1] - 5.2947) < 1e-3 and abs(z[0] + 5.2947) < 1e-3
