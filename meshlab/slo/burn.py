"""Error budgets and multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5).

An SLI is a series of good and total event counts per time bucket (e.g. per 15 s scrape
interval). Over any window the error ratio is ``1 - good/total``; the burn rate is that
ratio divided by the error budget ``1 - target`` (burn rate 1 spends exactly the budget
over the compliance period).

An alert fires when the burn rate exceeds its factor over both a long and a short window.
The SRE workbook's table for a 30-day period (also Sloth's ``google-30d``)::

    severity  long  short  budget spent  factor
    page      1h    5m     2 %           14.4
    page      6h    30m    5 %           6
    ticket    1d    2h     10 %          3
    ticket    3d    6h     10 %          1

with ``factor = budget fraction × period / long window``, so a 28-day period gives
13.44 / 5.6 / 2.8 / 0.933. Windowed sums use cumulative sums over buckets (O(T) for any
window), in JAX so scenario batches ``vmap``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from meshlab.core.validation import check_real

__all__ = [
    "AlertWindow",
    "alert_windows",
    "budget_consumed",
    "burn_rate",
    "firing",
    "threshold_firing",
    "window_error_ratio",
]


class AlertWindow(NamedTuple):
    """One multi-window burn-rate condition.

    Attributes:
        severity: ``"page"`` or ``"ticket"``.
        long_s, short_s: the two windows (seconds).
        budget_fraction: share of the period's error budget spent when the long window
            just reaches the factor.
        factor: burn-rate threshold ``budget_fraction × period / long``.
    """

    severity: str
    long_s: float
    short_s: float
    budget_fraction: float
    factor: float


_TABLE = (  # severity, long, short, budget fraction (SRE workbook / Sloth google-30d)
    ("page", 3600.0, 300.0, 0.02),
    ("page", 6 * 3600.0, 1800.0, 0.05),
    ("ticket", 86400.0, 2 * 3600.0, 0.10),
    ("ticket", 3 * 86400.0, 6 * 3600.0, 0.10),
)


def alert_windows(period_s: float = 30 * 86400.0) -> tuple[AlertWindow, ...]:
    """The four standard alert windows with factors scaled to the compliance period."""
    period_s = check_real("period_s", period_s, 0.0, low_open=True)
    return tuple(AlertWindow(s, lo, sh, b, b * period_s / lo) for s, lo, sh, b in _TABLE)


def burn_rate(error_ratio, target: float):
    """``error_ratio / (1 - target)``; e.g. 2 % errors against 99.9 % burns at 20×."""
    target = check_real("target", target, 0.0, 1.0, low_open=True, high_open=True)
    return error_ratio / (1.0 - target)


def _trailing_sum(x: Float[Array, " t"], n: int) -> Float[Array, " t"]:
    c = jnp.concatenate([jnp.zeros((1,), x.dtype), jnp.cumsum(x)])
    idx = jnp.arange(1, x.shape[0] + 1)
    return c[idx] - c[jnp.maximum(idx - n, 0)]


def window_error_ratio(good, total, bucket_s: float, window_s: float) -> Float[Array, " t"]:
    """Error ratio over the trailing ``window_s`` ending at each bucket's end.

    Args:
        good, total: ``[T]`` event counts per bucket (float or int; ``good <= total``).
        bucket_s: bucket length in seconds (e.g. the 15 s scrape interval).
        window_s: window length in seconds (a whole number of buckets, rounded).

    Returns:
        ``f64/f32[T]``: ``1 - sum(good)/sum(total)`` over the window, ``0`` where the window
        holds no events (no traffic spends no budget). Early buckets use the data so far.
    """
    bucket_s = check_real("bucket_s", bucket_s, 0.0, low_open=True)
    n = max(1, round(window_s / bucket_s))
    g = jnp.asarray(good, jnp.float32)
    t = jnp.asarray(total, jnp.float32)
    sg, st = _trailing_sum(g, n), _trailing_sum(t, n)
    return jnp.where(st > 0, 1.0 - sg / jnp.where(st > 0, st, 1.0), 0.0)


def firing(
    good, total, bucket_s: float, target: float, windows: tuple[AlertWindow, ...]
) -> Bool[Array, "windows t"]:
    """Whether each alert condition holds at each bucket end (both windows over factor)."""
    budget = 1.0 - check_real("target", target, 0.0, 1.0, low_open=True, high_open=True)
    rows = []
    for w in windows:
        long_r = window_error_ratio(good, total, bucket_s, w.long_s)
        short_r = window_error_ratio(good, total, bucket_s, w.short_s)
        thr = w.factor * budget
        rows.append((long_r > thr) & (short_r > thr))
    return jnp.stack(rows)


def budget_consumed(good, total, target: float) -> float:
    """Share of the error budget the whole series spent (1.0 = all of it, may exceed 1)."""
    budget = 1.0 - check_real("target", target, 0.0, 1.0, low_open=True, high_open=True)
    g = float(np.sum(np.asarray(good, np.float64)))
    t = float(np.sum(np.asarray(total, np.float64)))
    return 0.0 if t == 0 else (1.0 - g / t) / budget


def threshold_firing(
    good, total, bucket_s: float, over_s: float, below: float, for_s: float = 0.0
) -> Bool[Array, " t"]:
    """Whether a threshold alert fires at each bucket end.

    The condition is "the good ratio over the trailing ``over_s`` is below ``below``"
    (error ratio above ``1 - below``); like Prometheus' ``for:``, the alert fires once the
    condition has held at every evaluation (one per bucket) for at least ``for_s``.

    Returns:
        ``bool[T]``.
    """
    below = check_real("below", below, 0.0, 1.0, low_open=True)
    for_s = check_real("for_s", for_s, 0.0)
    cond = window_error_ratio(good, total, bucket_s, over_s) > (1.0 - below)
    m = int(np.ceil(for_s / bucket_s - 1e-9))
    if m == 0:
        return cond
    held = _trailing_sum(cond.astype(jnp.float32), m + 1)
    return held >= m + 1
