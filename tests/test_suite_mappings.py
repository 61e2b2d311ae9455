"""The suite's guard against ``vm.max_map_count``: dropping compiled programs unmaps them.

``tests/conftest.py`` calls ``jax.clear_caches`` after each test file (and whenever a worker
exceeds ``MAX_MAPPINGS``), relying on XLA:CPU releasing an executable's memory mappings once
no cache holds it. Were that to change, a worker would again accumulate mappings until the
JIT's mmap fails (a segmentation fault inside XLA), so the assumption is checked here.
"""

import sys

import jax
import jax.numpy as jnp
import pytest
from conftest import MAX_MAPPINGS, _n_mappings

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="counts /proc/self/maps")


def _program(i: int):
    @jax.jit
    def f(x):
        for j in range(8):
            x = jnp.sin(x * (i + j)) + jnp.cumsum(x)
        return x.sum()

    return f


def test_clear_caches_unmaps_compiled_programs():
    jax.clear_caches()
    before = _n_mappings()
    programs = [_program(i) for i in range(20)]
    for p in programs:
        p(jnp.ones(64, jnp.float32)).block_until_ready()
    grown = _n_mappings() - before
    assert grown > 20 * len(programs)  # each executable maps its own code (~60 here)
    jax.clear_caches()  # the functions stay alive; their executables must go
    assert _n_mappings() - before < 0.1 * grown
    assert 0 < MAX_MAPPINGS < 65_530 // 2
