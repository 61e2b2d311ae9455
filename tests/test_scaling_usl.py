"""USL fit against the SPEC SDM91 fixture (R usl package) and synthetic data with known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from meshlab import scaling

SDM91_N = [1, 18, 36, 72, 108, 144, 216]
SDM91_X = [64.9, 995.9, 1652.4, 1853.2, 1828.9, 1775.0, 1702.2]


def test_sdm91_matches_the_published_fit():
    fit = scaling.fit_usl(SDM91_N, SDM91_X)
    # R usl: sigma 0.02773 (se 0.00912), kappa 1.044e-4 (se 1.99e-5), lambda 89.995 (se 14.2)
    assert fit.alpha == pytest.approx(0.02773, rel=2e-3)
    assert fit.beta == pytest.approx(1.044e-4, rel=2e-3)
    assert fit.gamma == pytest.approx(89.995, rel=1e-3)
    assert fit.se[0] == pytest.approx(0.00912, rel=0.02)
    assert fit.se[1] == pytest.approx(1.99e-5, rel=0.02)
    assert fit.se[2] == pytest.approx(14.21, rel=0.02)
    assert fit.peak_n == pytest.approx(96.5, abs=1.0)  # Gunther: N* ≈ 97
    assert fit.n_opt == pytest.approx(36, abs=0.5)
    assert fit.ceiling == pytest.approx(3245, rel=2e-3)
    for name, (lo, hi) in fit.ci95.items():
        value = {"peak_n": fit.peak_n, "n_opt": fit.n_opt, "ceiling": fit.ceiling}.get(
            name, getattr(fit, name, None)
        )
        assert lo < value < hi, name


def test_recovers_known_parameters_within_their_intervals():
    rng = np.random.default_rng(0)
    a, b, g = 0.05, 2e-4, 10.0
    n = np.array([1, 2, 4, 8, 16, 32, 48, 64, 96, 128], float)
    hits = 0
    for _ in range(40):
        x = scaling.usl_throughput(n, a, b, g) * (1 + 0.02 * rng.standard_normal(n.size))
        fit = scaling.fit_usl(n, x)
        hits += fit.ci95["alpha"][0] < a < fit.ci95["alpha"][1]
        assert fit.predict(n) == pytest.approx(x, rel=0.1)
    # nominal 95 % intervals: at least 31 of 40 cover the truth (binomial 1e-3 tail)
    assert hits >= 31


def test_noise_free_data_is_fitted_exactly():
    n = np.array([1, 5, 10, 20, 40, 80])
    x = scaling.usl_throughput(n, 0.1, 1e-3, 3.0)
    fit = scaling.fit_usl(n, x)
    assert (fit.alpha, fit.beta, fit.gamma) == pytest.approx((0.1, 1e-3, 3.0), rel=1e-6)
    assert fit.peak_n == pytest.approx(math.sqrt(0.9 / 1e-3), rel=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        scaling.fit_usl([1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="throughput must be finite and > 0"):
        scaling.fit_usl([1, 2, 3], [1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match="equal lengths"):
        scaling.fit_usl([1, 2, 3], [1.0, 2.0])
    with pytest.warns(UserWarning, match="fewer than 6"):
        scaling.fit_usl([1, 2, 4, 8], [1.0, 1.9, 3.5, 6.0])
