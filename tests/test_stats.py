"""meshlab.core.stats against scipy's Student-t distribution."""

import numpy as np
import pytest
from scipy import stats

from meshlab.core.stats import mean_ci, t_quantile_975


@pytest.mark.parametrize("df", [1, 2, 5, 10, 29, 30, 31, 40, 60, 120, 1000])
def test_t_quantile_matches_scipy(df):
    # the table has 3 decimals; the expansion beyond df = 30 is accurate to < 1e-4
    assert abs(t_quantile_975(df) - stats.t.ppf(0.975, df)) < 6e-4


def test_t_quantile_rejects_df_below_one():
    with pytest.raises(ValueError, match="df must be >= 1"):
        t_quantile_975(0)


@pytest.mark.parametrize("n", [2, 5, 40])
def test_mean_ci_equals_scipy_interval(n):
    v = np.random.default_rng(n).normal(3.0, 2.0, n)
    got = mean_ci(np.append(v, [np.nan, np.inf]))  # non-finite values dropped
    lo, hi = stats.t.interval(0.95, n - 1, loc=v.mean(), scale=stats.sem(v))
    assert got["n"] == n and got["mean"] == pytest.approx(v.mean(), rel=1e-12)
    assert got["ci95"] == pytest.approx((hi - lo) / 2, rel=1e-3)


def test_mean_ci_small_samples():
    assert np.isnan(mean_ci([])["mean"])
    one = mean_ci([4.0])
    assert one["mean"] == 4.0 and np.isnan(one["ci95"])
