"""Queueing closed forms against textbook values and an independent simulation."""

from __future__ import annotations

import numpy as np
import pytest

from meshlab import scaling


def test_textbook_values():
    # mu = 10/s, lam = 9/s (rho = 0.9): M/M/1 Wq = 0.9 s, M/D/1 Wq = 0.45 s
    assert scaling.mm1_wait(9.0, 0.1) == pytest.approx(0.9)
    assert scaling.md1_wait(9.0, 0.1) == pytest.approx(0.45)
    # p99 sojourn at rho = 0.9 is ln(100) / (0.1 mu) = 46.05 / mu
    assert scaling.mm1_sojourn_quantile(9.0, 0.1, 0.99) == pytest.approx(46.0517 / 10, rel=1e-5)
    # the general forms reduce to the special cases
    assert scaling.mg1_wait(9.0, 0.1, 1.0) == pytest.approx(scaling.mm1_wait(9.0, 0.1))
    assert scaling.mg1_wait(9.0, 0.1, 0.0) == pytest.approx(scaling.md1_wait(9.0, 0.1))
    assert scaling.kingman_wait(9.0, 0.1, 1.0, 1.0) == pytest.approx(scaling.mm1_wait(9.0, 0.1))
    assert scaling.kingman_wait(9.0, 0.1, 1.0, 0.0) == pytest.approx(scaling.md1_wait(9.0, 0.1))


def test_utilization_for_a_tail_threshold_inverts_the_quantile():
    es, q, thr = 0.002, 0.99, 0.05
    rho = scaling.utilization_for_sojourn_quantile(es, q, thr)
    assert 0 < rho < 1
    assert scaling.mm1_sojourn_quantile(rho / es, es, q) == pytest.approx(thr, rel=1e-9)
    assert scaling.utilization_for_sojourn_quantile(1.0, 0.99, 0.5) == 0.0


def _lindley_waits(rng, lam, service, n):
    """Waiting times of a FIFO queue by Lindley's recursion (independent of the formulas)."""
    a = rng.exponential(1.0 / lam, n)
    s = service(rng, n)
    w = np.empty(n)
    w[0] = 0.0
    for i in range(1, n):
        w[i] = max(0.0, w[i - 1] + s[i - 1] - a[i])
    return w[n // 10 :]


@pytest.mark.parametrize("dist", ["exp", "det", "lognormal"])
def test_mg1_matches_a_lindley_simulation(dist):
    rng = np.random.default_rng(5)
    es, lam, sigma = 1.0, 0.6, 0.8
    if dist == "exp":
        service, cv = (lambda r, n: r.exponential(es, n)), 1.0
    elif dist == "det":
        service, cv = (lambda r, n: np.full(n, es)), 0.0
    else:
        mu_log = np.log(es) - sigma**2 / 2
        service, cv = (lambda r, n: r.lognormal(mu_log, sigma, n)), np.sqrt(np.exp(sigma**2) - 1)
    # batch means over 20 independent runs give a standard error for the tolerance
    means = [_lindley_waits(rng, lam, service, 40_000).mean() for _ in range(20)]
    got, se = np.mean(means), np.std(means, ddof=1) / np.sqrt(len(means))
    want = scaling.mg1_wait(lam, es, cv)
    assert abs(got - want) < 4 * se + 0.01 * want, (got, want, se)


def test_bad_input_is_refused_with_the_parameter_named():
    with pytest.raises(ValueError, match="unstable"):
        scaling.mm1_wait(10.0, 0.1)
    with pytest.raises(ValueError, match="mean_service_s"):
        scaling.md1_wait(1.0, 0.0)
    with pytest.raises(ValueError, match="service_cv"):
        scaling.mg1_wait(1.0, 0.1, -1.0)
    with pytest.raises(ValueError, match="q must be in"):
        scaling.mm1_sojourn_quantile(1.0, 0.1, 1.0)
