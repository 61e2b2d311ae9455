"""One predictor for the mesh at scale: closed forms joined with laws fitted on small runs.

What each quantity of a node or of the mesh is predicted from (sizes in nodes N, rates in
1/s, times in seconds, bandwidth in bit/s):

* **verify queue** (:func:`verify_queue`): arrivals ``lam = degree × beacon_rate``, service
  = the scheme's verify time (:mod:`meshlab.crypto.profiles` via
  :func:`meshlab.crypto.mesh.beacon_crypto_params`), utilization ``rho = lam E[S]``; mean
  wait by Pollaczek–Khinchine and the p99 sojourn (wait + verify) from the exponential
  wait-tail approximation convolved with a gamma service
  (:func:`meshlab.scaling.queueing.mg1_sojourn_quantile`; exact for M/M/1).
* **per-node bandwidth and CPU** (:func:`node_load`): each link carries one beacon of
  ``beacon_bytes`` per interval each way; verify CPU = ``rho``, sign CPU = ``rate × sign``.
* **laws fitted on small runs** (:func:`fit_log`): ``y = a + b ln N`` by ordinary least
  squares with the 95 % band of the fitted mean — for the p99 latency, delivery and
  detection time of a fixed-degree mesh (local quantities: ``b`` should be ~0) and for the
  gossip rounds to 99.9 % coverage (the Serf envelope's ``ln N`` law,
  :func:`meshlab.membership.serf.rounds_to`).
* **FL aggregation time per rule** (:func:`fit_power`): ``t = c n^k`` in log-log space
  (``k ≈ 1`` for the O(n d) rules, ``≈ 2`` for the distance-based O(n² d) ones).
* **SLA crossings** (:func:`sla_degree`): the largest degree whose predicted p99 stays under
  a threshold, and the degree at which ``rho`` passes a utilization bound.

Example::

    from meshlab.scaling import predict
    fit = predict.fit_log([100, 200, 500, 1000, 2000], [9.1, 9.0, 9.2, 9.1, 9.1])
    mean, half = predict.predict_log(fit, [1e4, 1e6])
    vq = predict.verify_queue(degree=8, beacon_rate_hz=1.0, verify_mean_s=5e-5)
    vq["rho"], vq["p99_s"]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from meshlab.core.stats import t_quantile_975
from meshlab.core.validation import check_int, check_real
from meshlab.scaling.queueing import mg1_sojourn_quantile, mg1_wait, mg1_wait_quantile

__all__ = [
    "LogFit",
    "fit_log",
    "fit_power",
    "naive_extrapolation",
    "node_load",
    "predict_log",
    "predict_power",
    "scheme_costs",
    "sla_degree",
    "verify_queue",
]


class LogFit(NamedTuple):
    """Least-squares fit of ``y = intercept + slope · x`` (``x = ln N`` or ``ln n``).

    Attributes:
        intercept, slope: the estimates.
        cov: ``2 × 2`` covariance of ``(intercept, slope)``, ``s² (XᵀX)⁻¹``.
        residual_sd: ``s`` (0 for an exact fit).
        dof: degrees of freedom ``n_points − 2``.
        n_points: points used.
        log_y: True when the fit is of ``ln y`` (a power law, :func:`fit_power`).
    """

    intercept: float
    slope: float
    cov: tuple[tuple[float, float], tuple[float, float]]
    residual_sd: float
    dof: int
    n_points: int
    log_y: bool = False


def _check_xy(x, y, name_x: str, name_y: str, positive_y: bool) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{name_x} and {name_y} must have equal lengths, got {x.size}, {y.size}")
    if x.size < 3:
        raise ValueError(f"a fit needs at least 3 points in {name_x}, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(x > 0)):
        raise ValueError(f"{name_x} must be finite and > 0, got {x.tolist()}")
    if not np.all(np.isfinite(y)) or (positive_y and not np.all(y > 0)):
        allowed = "finite and > 0" if positive_y else "finite"
        raise ValueError(f"{name_y} must be {allowed}, got {y.tolist()}")
    if np.unique(x).size < 2:
        raise ValueError(f"{name_x} needs at least 2 distinct values, got {x.tolist()}")
    return x, y


def _ols(lx: np.ndarray, y: np.ndarray, log_y: bool) -> LogFit:
    a = np.stack([np.ones_like(lx), lx], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    r = y - a @ coef
    dof = lx.size - 2
    s2 = float(r @ r) / dof if dof > 0 else 0.0
    cov = s2 * np.linalg.inv(a.T @ a)
    return LogFit(
        intercept=float(coef[0]),
        slope=float(coef[1]),
        cov=((float(cov[0, 0]), float(cov[0, 1])), (float(cov[1, 0]), float(cov[1, 1]))),
        residual_sd=math.sqrt(s2),
        dof=dof,
        n_points=int(lx.size),
        log_y=log_y,
    )


def fit_log(n_nodes, values) -> LogFit:
    """Fits ``values = a + b ln N`` (ordinary least squares).

    Args:
        n_nodes: sizes ``N`` (> 0), e.g. the seed's range 100 … 2,000; repeats (one per
            seed) are allowed and give the residual spread.
        values: the measured quantity at each size (finite).

    Returns:
        A :class:`LogFit`.

    Raises:
        ValueError: fewer than 3 points, lengths differ, non-positive sizes, non-finite
            values, a single distinct size.
    """
    x, y = _check_xy(n_nodes, values, "n_nodes", "values", positive_y=False)
    return _ols(np.log(x), y, log_y=False)


def fit_power(n, times) -> LogFit:
    """Fits the power law ``times = c · n^k`` as ``ln t = ln c + k ln n`` (least squares).

    Args:
        n: problem sizes (> 0), e.g. clients of an FL round.
        times: measured times (> 0).

    Returns:
        A :class:`LogFit` with ``log_y=True`` (``slope`` is the exponent ``k``).
    """
    x, y = _check_xy(n, times, "n", "times", positive_y=True)
    return _ols(np.log(x), np.log(y), log_y=True)


def predict_log(fit: LogFit, n_nodes) -> tuple[np.ndarray, np.ndarray]:
    """Prediction of a :class:`LogFit` at ``n_nodes``, with the 95 % band of the mean.

    Returns:
        ``(mean, half_width)`` float64 arrays the shape of ``n_nodes``: the fitted mean and
        the Student-t half-width of its confidence band (``t_{0.975, dof} · se``; 0 for an
        exact fit). For a power law (``fit.log_y``) use :func:`predict_power`.
    """
    if fit.log_y:
        raise ValueError("this fit is a power law (fit_power): use predict_power")
    lx = np.log(np.asarray(n_nodes, np.float64))
    mean, se = _band(fit, lx)
    t = t_quantile_975(fit.dof) if fit.dof > 0 else 0.0
    return mean, t * se


def predict_power(fit: LogFit, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prediction of a power-law fit at ``n``: ``(median, lo, hi)`` (95 % band, back-
    transformed from log space)."""
    if not fit.log_y:
        raise ValueError("this fit is not a power law (fit_log): use predict_log")
    lx = np.log(np.asarray(n, np.float64))
    mean, se = _band(fit, lx)
    t = t_quantile_975(fit.dof) if fit.dof > 0 else 0.0
    return np.exp(mean), np.exp(mean - t * se), np.exp(mean + t * se)


def _band(fit: LogFit, lx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(fit.cov)
    mean = fit.intercept + fit.slope * lx
    var = c[0, 0] + 2.0 * c[0, 1] * lx + c[1, 1] * lx**2
    return mean, np.sqrt(np.maximum(var, 0.0))


def verify_queue(
    degree, beacon_rate_hz, verify_mean_s, service_cv: float = 1.0, q: float = 0.99
) -> dict:
    """The per-node verify queue as an M/G/1 queue: utilization, mean and tail.

    Args:
        degree: beacons received per interval (neighbours; array-like).
        beacon_rate_hz: beacons per second per neighbour (``1 / interval_s``).
        verify_mean_s: mean verification time of one beacon (seconds).
        service_cv: coefficient of variation of the verification time (1: exponential,
            0: deterministic, ``sqrt(exp(sigma²) − 1)`` for a lognormal of log-sd sigma).
        q: the tail quantile (default p99).

    Returns:
        ``{"rho", "wait_mean_s", "wait_q_s", "p99_s"}``: utilization, mean wait, the wait's
        and the sojourn's (wait + verify) ``q``-quantiles; ``nan`` where ``rho >= 1`` (the
        queue grows without bound).
    """
    deg = np.asarray(degree, np.float64)
    rate = np.asarray(beacon_rate_hz, np.float64)
    es = np.asarray(verify_mean_s, np.float64)
    if np.any(deg < 0) or np.any(rate <= 0) or np.any(es <= 0):
        raise ValueError(
            f"need degree >= 0, beacon_rate_hz > 0 and verify_mean_s > 0, got degree={degree}, "
            f"beacon_rate_hz={beacon_rate_hz}, verify_mean_s={verify_mean_s}"
        )
    lam, es, cv = np.broadcast_arrays(deg * rate, es, np.asarray(service_cv, np.float64))
    rho = lam * es
    ok = rho < 1.0
    lam_ok = np.where(ok, lam, 0.0)
    wq = np.where(ok, mg1_wait(lam_ok, es, cv), np.nan)
    wqq = np.where(ok, mg1_wait_quantile(lam_ok, es, cv, q), np.nan)
    soj = np.vectorize(
        lambda lm, e, c, good: mg1_sojourn_quantile(lm, e, c, q) if good else np.nan,
        otypes=[np.float64],
    )(lam_ok, es, cv, ok)
    return {"rho": rho, "wait_mean_s": wq, "wait_q_s": wqq, "p99_s": soj}


def node_load(degree, beacon_rate_hz, beacon_bytes, verify_mean_s, sign_mean_s=0.0) -> dict:
    """Per-node bandwidth and CPU of the beacon mesh (closed form).

    Every link carries one beacon per interval in each direction (each node signs once
    and sends a copy to each neighbour; receives one from each).

    Returns:
        ``{"rx_bps", "tx_bps", "verify_cpu", "sign_cpu"}``: bits per second received and
        sent, and the fraction of one core spent verifying / signing.
    """
    deg = np.asarray(degree, np.float64)
    rate = np.asarray(beacon_rate_hz, np.float64)
    bits = 8.0 * np.asarray(beacon_bytes, np.float64)
    return {
        "rx_bps": deg * rate * bits,
        "tx_bps": deg * rate * bits,
        "verify_cpu": deg * rate * np.asarray(verify_mean_s, np.float64),
        "sign_cpu": rate * np.asarray(sign_mean_s, np.float64),
    }


def scheme_costs(
    profile=None, schemes: Sequence[str] = ("Ed25519", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87")
) -> list[dict]:
    """Verify/sign cost and beacon size of each signature scheme from a cost profile.

    Args:
        profile: a :class:`meshlab.crypto.profiles.CostProfile` (default the shipped
            reference profile of the ``pqcrypto`` wheel).
        schemes: signature schemes to list.

    Returns:
        One dict per scheme: ``scheme``, ``profile``, ``beacon_bytes``, ``verify_mean_s``,
        ``verify_cv`` (of the fitted lognormal), ``sign_mean_s``.
    """
    from meshlab.crypto import mesh as crypto_mesh
    from meshlab.crypto import profiles

    profile = profiles.reference_profile() if profile is None else profile
    out = []
    for s in schemes:
        c = crypto_mesh.beacon_crypto_params(profile, s)
        out.append(
            {
                "scheme": s,
                "profile": c.profile,
                "beacon_bytes": c.beacon_bytes,
                "verify_mean_s": c.verify_mean_s,
                "verify_cv": math.sqrt(math.expm1(c.verify_sigma**2)),
                "sign_mean_s": c.sign_mean_s,
            }
        )
    return out


def sla_degree(
    beacon_rate_hz: float,
    verify_mean_s: float,
    threshold_s: float,
    *,
    service_cv: float = 1.0,
    base_p99_s: float = 0.0,
    q: float = 0.99,
    max_degree: int = 10**9,
) -> int:
    """Largest degree whose predicted p99 latency stays at or under ``threshold_s``.

    The predicted p99 is ``base_p99_s`` (the network part, e.g. fitted on small runs) plus
    the verify queue's p99 (:func:`verify_queue`): a conservative sum of quantiles. The p99
    grows with the degree, so a bisection over integers finds the crossing.

    Returns:
        The degree (0 if even one neighbour misses the threshold; ``max_degree`` if it is
        never crossed below it).
    """
    rate = check_real("beacon_rate_hz", beacon_rate_hz, 0.0, low_open=True)
    es = check_real("verify_mean_s", verify_mean_s, 0.0, low_open=True)
    thr = check_real("threshold_s", threshold_s, 0.0, low_open=True)
    base = check_real("base_p99_s", base_p99_s, 0.0)
    max_degree = check_int("max_degree", max_degree, low=1)

    def ok(d: int) -> bool:
        p = verify_queue(d, rate, es, service_cv, q)["p99_s"]
        return bool(np.isfinite(p) and base + float(p) <= thr)

    if not ok(1):
        return 0
    lo, hi = 1, max_degree
    if ok(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def naive_extrapolation(n_nodes, p99_s, at, degree: int = 2) -> np.ndarray:
    """The naive extrapolation of a latency-vs-size table: a polynomial in N through it.

    This is what reading "p99 10 / 50 / 100 ms at 100 / 500 / 1,000 nodes" as a trend
    does (``degree=1``: a straight line; ``degree=2``: a parabola), shown next to the
    model's prediction to say where such an extrapolation goes wrong.

    Returns:
        The polynomial's values at ``at`` (seconds).
    """
    x, y = _check_xy(n_nodes, p99_s, "n_nodes", "p99_s", positive_y=True)
    degree = check_int("degree", degree, low=1, high=x.size - 1)
    coef = np.polyfit(x, y, degree)
    return np.polyval(coef, np.asarray(at, np.float64))
