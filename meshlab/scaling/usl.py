"""Gunther's Universal Scalability Law: fit, confidence intervals and derived limits.

``X(N) = gamma N / (1 + alpha (N - 1) + beta N (N - 1))``: ``gamma`` is the throughput of
one unit of load, ``alpha`` the contention (serial) fraction, ``beta`` the coherency
(crosstalk) cost. Derived: the peak ``N* = sqrt((1 - alpha) / beta)``, Amdahl's
saturation point ``N_opt = 1 / alpha`` and the ceiling ``gamma / alpha``.

The fit is bounded non-linear least squares (projected Levenberg–Marquardt, numpy only;
``alpha`` in [0, 1], ``beta`` >= 0, ``gamma`` > 0) started, as the R ``usl`` package does,
from ``gamma0`` = the largest ``X / N`` and small ``alpha``, ``beta``. Standard errors come
from the Gauss–Newton covariance ``s² (JᵀJ)⁻¹`` at the optimum; confidence intervals of the
derived quantities use the delta method. Fewer than 6 load levels give a warning (the R
package's rule), fewer than 3 an error.

Reference fixture (Gunther, *Guerrilla Capacity Planning*; R ``usl`` data ``specsdm91``):
load 1…216 → ``N* ≈ 97``, ``N_opt ≈ 36``, ``gamma / alpha ≈ 3245``.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

from meshlab.core.stats import t_quantile_975

__all__ = ["UslFit", "fit_usl", "usl_throughput"]


class UslFit(NamedTuple):
    """A fitted USL model.

    Attributes:
        alpha, beta, gamma: the estimates.
        se: standard errors ``(alpha, beta, gamma)``.
        ci95: ``{"alpha"|"beta"|"gamma"|"peak_n"|"n_opt"|"ceiling": (lo, hi)}`` 95 %
            t-intervals (``df = n_points - 3``; delta method for derived values).
        peak_n: ``N* = sqrt((1 - alpha) / beta)`` (``inf`` when ``beta = 0``).
        n_opt: ``1 / alpha`` (``inf`` when ``alpha = 0``).
        ceiling: ``gamma / alpha`` (``inf`` when ``alpha = 0``).
        residual_sd: residual standard deviation ``s``.
        n_points: number of load levels used.
    """

    alpha: float
    beta: float
    gamma: float
    se: tuple[float, float, float]
    ci95: dict
    peak_n: float
    n_opt: float
    ceiling: float
    residual_sd: float
    n_points: int

    def predict(self, n) -> np.ndarray:
        """Predicted throughput at load(s) ``n``."""
        return usl_throughput(n, self.alpha, self.beta, self.gamma)


def usl_throughput(n, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """``X(N)`` of the Universal Scalability Law (float64, broadcasting over ``n``)."""
    n = np.asarray(n, np.float64)
    return gamma * n / (1.0 + alpha * (n - 1.0) + beta * n * (n - 1.0))


def _jacobian(n, a, b, g):
    d = 1.0 + a * (n - 1.0) + b * n * (n - 1.0)
    x = g * n / d
    return np.stack([-x * (n - 1.0) / d, -x * n * (n - 1.0) / d, n / d], axis=1)


_LO = np.array([0.0, 0.0, 1e-300])
_HI = np.array([1.0, np.inf, np.inf])


def _lm(n, x, p, iters=500):
    """Projected Levenberg–Marquardt on the scaled parameters (bounds by clipping)."""
    scale = np.maximum(np.abs(p), [1e-3, 1e-6, 1e-9])
    lam = 1e-3
    r = x - usl_throughput(n, *p)
    cost = r @ r
    for _ in range(iters):
        j = _jacobian(n, *p) * scale
        jtj, jtr = j.T @ j, j.T @ r
        step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-12), jtr)
        cand = np.clip(p + step * scale, _LO, _HI)
        rc = x - usl_throughput(n, *cand)
        cc = rc @ rc
        if cc < cost:
            done = abs(cost - cc) <= 1e-15 * max(cost, 1e-300)
            p, r, cost, lam = cand, rc, cc, max(lam / 10.0, 1e-12)
            if done:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break
    return p, cost


def fit_usl(load, throughput) -> UslFit:
    """Fits the USL to measured ``throughput`` at each ``load`` level.

    Args:
        load: load levels ``N`` (> 0; e.g. nodes, clients, processes).
        throughput: measured throughput at each level (> 0, finite).

    Returns:
        :class:`UslFit` with estimates, standard errors, 95 % intervals and limits.

    Raises:
        ValueError: fewer than 3 points, lengths differ, non-positive or non-finite values.
    """
    n = np.asarray(load, np.float64).ravel()
    x = np.asarray(throughput, np.float64).ravel()
    if n.shape != x.shape:
        raise ValueError(f"load and throughput must have equal lengths, got {n.size}, {x.size}")
    if n.size < 3:
        raise ValueError(f"a USL fit needs at least 3 load levels (3 parameters), got {n.size}")
    if not (np.all(np.isfinite(n)) and np.all(n > 0)):
        raise ValueError(f"load must be finite and > 0, got {n.tolist()}")
    if not (np.all(np.isfinite(x)) and np.all(x > 0)):
        raise ValueError(f"throughput must be finite and > 0, got {x.tolist()}")
    if n.size < 6:
        warnings.warn(
            f"USL fit on {n.size} load levels: fewer than 6 gives unreliable estimates",
            UserWarning,
            stacklevel=2,
        )
    g0 = float(np.max(x / n))
    best = None
    for a0, b0 in ((0.01, 1e-4), (0.1, 1e-3), (1e-3, 1e-6), (0.5, 1e-2)):
        p, cost = _lm(n, x, np.array([a0, b0, g0]))
        if best is None or cost < best[1]:
            best = (p, cost)
    (a, b, g), cost = best
    dof = n.size - 3
    s2 = cost / dof if dof > 0 else float("nan")
    j = _jacobian(n, a, b, g)
    cov = s2 * np.linalg.pinv(j.T @ j)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    t = t_quantile_975(dof) if dof > 0 else float("nan")

    def interval(value, grad):
        sd = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        return (float(value - t * sd), float(value + t * sd))

    peak = math.sqrt((1.0 - a) / b) if b > 0 else math.inf
    n_opt = 1.0 / a if a > 0 else math.inf
    ceiling = g / a if a > 0 else math.inf
    ci = {
        "alpha": interval(a, np.array([1.0, 0, 0])),
        "beta": interval(b, np.array([0, 1.0, 0])),
        "gamma": interval(g, np.array([0, 0, 1.0])),
    }
    if math.isfinite(peak):
        ci["peak_n"] = interval(peak, np.array([-0.5 / (b * peak), -0.5 * peak / b, 0.0]))
    else:
        ci["peak_n"] = (math.nan, math.nan)
    if a > 0:
        ci["n_opt"] = interval(n_opt, np.array([-1.0 / a**2, 0.0, 0.0]))
        ci["ceiling"] = interval(ceiling, np.array([-g / a**2, 0.0, 1.0 / a]))
    else:
        ci["n_opt"] = ci["ceiling"] = (math.nan, math.nan)
    return UslFit(
        alpha=float(a),
        beta=float(b),
        gamma=float(g),
        se=(float(se[0]), float(se[1]), float(se[2])),
        ci95=ci,
        peak_n=peak,
        n_opt=n_opt,
        ceiling=ceiling,
        residual_sd=math.sqrt(s2) if dof > 0 else math.nan,
        n_points=int(n.size),
    )
