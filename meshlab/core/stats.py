"""Small statistics shared by the reports: Student-t quantiles and mean ± 95 % CI.

* :func:`t_quantile_975`: ``t_{0.975, df}``: the standard table for ``df <= 30``, the
  Cornish–Fisher expansion of the t quantile around the normal one beyond (error < 1e-4).
* :func:`mean_ci`: mean and 95 % t half-width of a 1-D sample (non-finite values dropped).
  ``meshlab.fl.group_mean_ci`` is the grouped (polars) form used by the FL report.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["mean_ci", "t_quantile_975"]

# two-sided 95 % Student-t quantiles t_{0.975, df}, df = 1..30 (standard table)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def t_quantile_975(df: int) -> float:
    """``t_{0.975, df}`` for ``df >= 1`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_ci(values) -> dict:
    """Mean and 95 % Student-t confidence half-width (``ci95``) of a 1-D sample.

    Non-finite values are dropped; ``ci95`` is nan for fewer than 2 values.

    Returns:
        ``{"mean", "ci95", "n", "values"}`` (Python floats / list).
    """
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return {"mean": float("nan"), "ci95": float("nan"), "n": 0, "values": []}
    half = t_quantile_975(n - 1) * float(v.std(ddof=1)) / math.sqrt(n) if n >= 2 else float("nan")
    return {"mean": float(v.mean()), "ci95": half, "n": n, "values": v.tolist()}
