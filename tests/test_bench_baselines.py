"""The benchmark's float32 numpy baselines compute the rules they are compared as.

A baseline that computed a cheaper, different rule would make every ratio of the aggregator
benchmark meaningless: each one is checked against the float64 reference of the published
definition, with the options the benchmark passes to meshlab for it.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import meshlab.reference.aggregators as ref

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, _BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


baselines = _load("baselines_numpy")
MATCHED = _load("bench_aggregators").MATCHED  # the options the benchmark passes to meshlab


@pytest.mark.parametrize("rule", sorted(baselines.RULES))
@pytest.mark.parametrize(("n", "f", "seed"), [(19, 4, 0), (40, 9, 1)])
def test_baseline_matches_the_reference(rule, n, f, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 64)).astype(np.float32)
    x[:f] += np.float32(3.0)  # an attack the robust rules must resist
    want = ref.aggregate(rule, x.astype(np.float64), np.ones(n, bool), f, **MATCHED.get(rule, {}))
    got = baselines.RULES[rule](x, f)
    assert got.dtype == np.float32 and got.shape == (64,)
    # float32 summation bound of a mean of n rows of magnitude <= ~8, with margin
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)
