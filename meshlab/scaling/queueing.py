"""Closed forms for a single-server FIFO queue (the per-node verify queue).

Each function takes the arrival rate ``lam`` (1/s) and the service description and
returns seconds; they are plain numpy functions (broadcasting over arrays) so tests,
reports and predictions share one implementation.

Sources: Kleinrock, *Queueing Systems* vol. 1 (1975): M/M/1 sojourn time is exponential
with rate ``mu - lam``; the Pollaczek–Khinchine mean waiting time of M/G/1
``Wq = lam E[S^2] / (2 (1 - rho))``; Kingman (1961) for the G/G/1 heavy-traffic
approximation ``Wq ≈ rho / (1 - rho) · (c_a² + c_s²) / 2 · E[S]``; the G/M/1 results
(Kleinrock §6.4): with exponential service and iid interarrival times of transform
``A*(s)``, the FIFO sojourn time is exponential with rate ``mu (1 - sigma)``, ``sigma`` the
root in (0, 1) of ``sigma = A*(mu (1 - sigma))`` — exact for D/M/1 (periodic arrivals, the
beacon model's verify queue with one neighbour and no send jitter); the M/G/1 waiting-time
tail ``P(W > t) ≈ rho exp(-rho t / Wq)`` (exact for M/M/1, the usual exponential
approximation otherwise; Tijms, *A First Course in Stochastic Models*, 2003, §2.5).
"""

from __future__ import annotations

import math

import numpy as np

from meshlab.core.validation import check_real

__all__ = [
    "dm1_sigma",
    "dm1_sojourn_quantile",
    "kingman_wait",
    "md1_wait",
    "mg1_wait",
    "mg1_sojourn_quantile",
    "mg1_wait_quantile",
    "mm1_sojourn_quantile",
    "mm1_wait",
    "utilization",
    "utilization_for_sojourn_quantile",
]


def _rates(lam, mean_service_s):
    lam = np.asarray(lam, np.float64)
    es = np.asarray(mean_service_s, np.float64)
    if np.any(lam < 0) or np.any(~np.isfinite(lam)):
        raise ValueError(f"lam (arrivals per second) must be finite and >= 0, got {lam}")
    if np.any(es <= 0) or np.any(~np.isfinite(es)):
        raise ValueError(f"mean_service_s must be finite and > 0, got {es}")
    rho = lam * es
    if np.any(rho >= 1):
        raise ValueError(f"the queue is unstable: rho = lam * mean_service_s = {rho} must be < 1")
    return lam, es, rho


def utilization(lam, mean_service_s):
    """Server utilization ``rho = lam E[S]`` (must be < 1 for a stable queue)."""
    return _rates(lam, mean_service_s)[2]


def mm1_wait(lam, mean_service_s):
    """M/M/1 mean waiting time in queue ``Wq = rho E[S] / (1 - rho)`` (seconds)."""
    _, es, rho = _rates(lam, mean_service_s)
    return rho * es / (1.0 - rho)


def md1_wait(lam, mean_service_s):
    """M/D/1 mean waiting time ``Wq = rho E[S] / (2 (1 - rho))`` (Pollaczek–Khinchine)."""
    _, es, rho = _rates(lam, mean_service_s)
    return rho * es / (2.0 * (1.0 - rho))


def mg1_wait(lam, mean_service_s, service_cv):
    """M/G/1 mean waiting time (Pollaczek–Khinchine) for service with coefficient of
    variation ``service_cv`` (sd / mean): ``Wq = rho E[S] (1 + cv²) / (2 (1 - rho))``.

    ``service_cv = 1`` gives M/M/1, ``0`` gives M/D/1; a lognormal service of log-sd
    ``sigma`` has ``cv = sqrt(exp(sigma²) - 1)``.
    """
    _, es, rho = _rates(lam, mean_service_s)
    cv = np.asarray(service_cv, np.float64)
    if np.any(cv < 0) or np.any(~np.isfinite(cv)):
        raise ValueError(f"service_cv must be finite and >= 0, got {cv}")
    return rho * es * (1.0 + cv**2) / (2.0 * (1.0 - rho))


def kingman_wait(lam, mean_service_s, arrival_cv, service_cv):
    """Kingman's G/G/1 approximation ``Wq ≈ rho/(1-rho) · (c_a² + c_s²)/2 · E[S]``.

    Exact for M/M/1 (``c_a = c_s = 1``) and M/G/1; an approximation, accurate as
    ``rho → 1``, otherwise.
    """
    _, es, rho = _rates(lam, mean_service_s)
    ca, cs = np.asarray(arrival_cv, np.float64), np.asarray(service_cv, np.float64)
    if np.any(ca < 0) or np.any(cs < 0):
        raise ValueError(f"coefficients of variation must be >= 0, got {ca}, {cs}")
    return rho / (1.0 - rho) * (ca**2 + cs**2) / 2.0 * es


def mm1_sojourn_quantile(lam, mean_service_s, q):
    """``q``-quantile of the M/M/1 sojourn time (wait + service): ``-ln(1-q) / (mu - lam)``.

    The sojourn time of M/M/1 FIFO is exponential with rate ``mu - lam``; at ``rho = 0.9``
    the p99 is ``ln(100) / (0.1 mu) = 46.05 / mu``.
    """
    lam, es, _ = _rates(lam, mean_service_s)
    q = check_real("q", float(q), 0.0, 1.0, low_open=True, high_open=True)
    return -np.log1p(-q) / (1.0 / es - lam)


def utilization_for_sojourn_quantile(mean_service_s, q, threshold_s):
    """Utilization at which the M/M/1 sojourn ``q``-quantile reaches ``threshold_s``.

    Solves ``-ln(1-q) / (mu (1 - rho)) = threshold`` for ``rho``; returns ``0`` when even
    an idle server misses the threshold (``-ln(1-q) E[S] >= threshold``).
    """
    es = check_real("mean_service_s", float(mean_service_s), 0.0, low_open=True)
    q = check_real("q", float(q), 0.0, 1.0, low_open=True, high_open=True)
    t = check_real("threshold_s", float(threshold_s), 0.0, low_open=True)
    return max(0.0, 1.0 - (-np.log1p(-q)) * es / t)


def mg1_wait_quantile(lam, mean_service_s, service_cv, q):
    """``q``-quantile of the M/G/1 waiting time by the exponential tail approximation.

    ``P(W > t) ≈ rho exp(-rho t / Wq)`` with ``Wq`` of :func:`mg1_wait`, so
    ``w_q = Wq / rho · ln(rho / (1 - q))`` when ``rho > 1 - q`` and ``0`` otherwise (the
    server is idle on arrival with probability ``1 - rho``). Exact for M/M/1.
    """
    _, es, rho = _rates(lam, mean_service_s)
    q = check_real("q", float(q), 0.0, 1.0, low_open=True, high_open=True)
    wq = mg1_wait(lam, mean_service_s, service_cv)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(rho > 1.0 - q, wq / np.maximum(rho, 1e-300) * np.log(rho / (1.0 - q)), 0.0)
    return w


def dm1_sigma(rho, tol: float = 1e-14, max_iter: int = 100_000) -> np.ndarray:
    """Root ``sigma`` in (0, 1) of ``sigma = exp(-(1 - sigma) / rho)`` (D/M/1 queue).

    The G/M/1 equation ``sigma = A*(mu (1 - sigma))`` for periodic arrivals
    (``A*(s) = exp(-s T)``, ``rho = E[S] / T``); found by the monotone fixed-point
    iteration from 0, which converges to the smallest root.

    Args:
        rho: utilization(s) in (0, 1).
    """
    r = np.asarray(rho, np.float64)
    if np.any(~np.isfinite(r)) or np.any(r <= 0) or np.any(r >= 1):
        raise ValueError(f"rho must lie in (0, 1) for a stable D/M/1 queue, got {rho}")
    s = np.zeros_like(r)
    for _ in range(max_iter):
        nxt = np.exp(-(1.0 - s) / r)
        if np.all(np.abs(nxt - s) <= tol):
            return nxt
        s = nxt
    return s


def dm1_sojourn_quantile(interval_s, mean_service_s, q):
    """``q``-quantile of the D/M/1 sojourn time (wait + service), seconds.

    One arrival every ``interval_s`` seconds, exponential service of mean
    ``mean_service_s``: the sojourn time is exponential with rate ``(1 - sigma) / E[S]``
    (:func:`dm1_sigma`), so ``t_q = -ln(1 - q) E[S] / (1 - sigma)``.
    """
    _, es, rho = _rates(1.0 / np.asarray(interval_s, np.float64), mean_service_s)
    q = check_real("q", float(q), 0.0, 1.0, low_open=True, high_open=True)
    return -np.log1p(-q) * es / (1.0 - dm1_sigma(rho))


def mg1_sojourn_quantile(lam, mean_service_s, service_cv, q) -> float:
    """``q``-quantile of the M/G/1 sojourn time (wait + own service), seconds.

    The wait takes the exponential tail approximation of :func:`mg1_wait_quantile`
    (atom ``1 − rho`` at 0, else exponential of rate ``theta = rho / Wq``); the service is
    a gamma variable of the given mean and coefficient of variation (deterministic for
    ``cv = 0``), independent of the wait. Then
    ``P(T > t) = P(S > t) + rho e^{-theta t} E[e^{theta S}; S <= t]``, solved for ``t`` by
    bisection. Exact for M/M/1 (``cv = 1``: ``-ln(1-q) / (mu - lam)``).

    Args:
        lam, mean_service_s: scalars (arrivals per second, mean service seconds).
        service_cv: coefficient of variation of the service (>= 0).
        q: quantile in (0, 1).
    """
    from scipy import special

    lam_a, es_a, rho_a = _rates(float(lam), float(mean_service_s))
    es, rho = float(es_a), float(rho_a)
    q = check_real("q", float(q), 0.0, 1.0, low_open=True, high_open=True)
    cv = check_real("service_cv", float(service_cv), 0.0)
    if rho == 0.0:
        theta = math.inf
    else:
        theta = rho / float(mg1_wait(lam_a, es_a, cv))
    if cv == 0.0:
        if rho <= 1.0 - q:
            return es
        return es + math.log(rho / (1.0 - q)) / theta
    k, scale = 1.0 / cv**2, es * cv**2

    def tail(t: float) -> float:
        p_s = float(special.gammaincc(k, t / scale))
        if not math.isfinite(theta) or rho == 0.0:
            return p_s
        b = 1.0 - theta * scale
        if b > 1e-9:
            part = b**-k * float(special.gammainc(k, t * b / scale))
            return p_s + rho * math.exp(-theta * t) * part
        # theta * scale >= 1: integrate E[e^{theta S}; S <= t] numerically
        x = np.linspace(0.0, t, 4001)[1:]
        logf = (k - 1) * np.log(x) - x / scale - special.gammaln(k) - k * math.log(scale)
        dens = np.exp(logf + theta * (x - t))
        return p_s + rho * float(np.trapezoid(dens, x))

    lo, hi = 0.0, es
    while tail(hi) > 1.0 - q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if tail(mid) > 1.0 - q else (lo, mid)
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)
