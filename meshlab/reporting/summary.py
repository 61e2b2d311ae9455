"""Deterministic text summaries for notebook cells whose output nbval compares.

A report notebook keeps one or more ``# NBVAL_CHECK_OUTPUT`` cells whose output is committed
and compared on every test run. Such a cell prints :func:`summary_text` of a few simulated
(never timed) quantities: sorted keys, floats rounded to a few significant digits, so the
text is the same on every machine (JAX CPU floats differ across machines only in the last
digits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["summary_text"]


def _format(value: Any, digits: int) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) or (
        hasattr(value, "ndim") and getattr(value, "ndim", None) == 0
    ):
        x = float(value)
        if not math.isfinite(x):
            return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        text = f"{x:.{digits}g}"
        return "0" if text == "-0" else text
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_format(v, digits) for v in value) + "]"
    raise TypeError(
        f"summary values must be numbers, strings or lists of them, got {type(value).__name__}"
    )


def summary_text(values: Mapping[str, Any], *, digits: int = 3) -> str:
    """Formats ``values`` as sorted ``key: value`` lines with rounded floats.

    Args:
        values: name -> number, string, or list of them (numpy/JAX scalars allowed).
        digits: significant digits of floats (``1 <= digits <= 6``).

    Returns:
        The text to ``print`` in a ``# NBVAL_CHECK_OUTPUT`` cell.

    Raises:
        ValueError: for ``digits`` outside 1..6 or an empty mapping.
        TypeError: for a value that is not a number, string or list.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 6:
        raise ValueError(f"digits must be an integer in 1..6, got {digits!r}")
    if not values:
        raise ValueError("values must not be empty")
    return "\n".join(f"{k}: {_format(values[k], digits)}" for k in sorted(values))
