"""Input checks shared by every domain: one behaviour, one wording, everywhere.

Every check runs on concrete Python / numpy values before anything is compiled, names
the parameter as the caller wrote it, gives the value and says what is allowed. Type
mistakes raise ``TypeError``; values out of range raise ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import jax
import numpy as np

__all__ = ["check_choice", "check_int", "check_key", "check_prob", "check_real"]


def check_key(key: Any, name: str = "key") -> None:
    """Requires a typed JAX PRNG key (``jax.random.key(seed)``).

    Legacy ``uint32[2]`` keys and Python ints are refused with the same message
    everywhere, so a key mistake never surfaces as a JAX tracing error.

    Raises:
        TypeError: ``key`` is not a typed key.
    """
    if not (isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(
            f"{name} must be a typed jax.random.key, got {type(key).__name__}"
            f" with dtype {getattr(key, 'dtype', None)}; create one with jax.random.key(seed)"
        )


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Requires an integer (not a bool) in ``[low, high]``; returns it as ``int``.

    Raises:
        TypeError: not an integer.
        ValueError: out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return v


def check_real(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Requires a real number (not a bool, not NaN) in the given interval; returns a float.

    Args:
        name: the parameter as the caller wrote it.
        value: the value to check.
        low, high: bounds (``None``: unbounded).
        low_open, high_open: exclude the bound itself.
        allow_inf: accept ``±inf`` (still subject to the bounds).

    Raises:
        TypeError: not a real number.
        ValueError: NaN, infinite (unless allowed) or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value!r}")
    lo_ok = low is None or (v > low if low_open else v >= low)
    hi_ok = high is None or (v < high if high_open else v <= high)
    if not (lo_ok and hi_ok):
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ValueError(f"{name} must be in {lo}, {hi}, got {value!r}")
    return v


def check_prob(name: str, value: Any) -> np.ndarray:
    """Requires a probability (scalar or array) in ``[0, 1]``; returns it as float64."""
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr > 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return arr


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Requires ``value`` to be one of ``allowed``; returns it."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value
