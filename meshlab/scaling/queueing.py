"""Closed forms for a single-server FIFO queue (the per-node verify queue).

Each function takes the arrival rate ``lam`` (1/s) and the service description and
returns seconds; they are plain numpy functions (broadcasting over arrays) so tests,
reports and predictions share one implementation.

Sources: Kleinrock, *Queueing Systems* vol. 1 (1975): M/M/1 sojourn time is exponential
with rate ``mu - lam``; the Pollaczek–Khinchine mean waiting time of M/G/1
``Wq = lam E[S^2] / (2 (1 - rho))``; Kingman (1961) for the G/G/1 heavy-traffic
approximation ``Wq ≈ rho / (1 - rho) · (c_a² + c_s²) / 2 · E[S]``.
"""

from __future__ import annotations

import numpy as np

from meshlab.core.validation import check_real

__all__ = [
    "kingman_wait",
    "md1_wait",
    "mg1_wait",
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
