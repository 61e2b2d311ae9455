"""Input checks shared by every domain: one behaviour, one wording, everywhere.

Every check runs on concrete Python / numpy values before anything is compiled, names
the parameter as the caller wrote it, gives the value and says what is allowed. Type
mistakes raise ``TypeError``; values out of range raise ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

import jax
import numpy as np

__all__ = [
    "SEED_MAX",
    "check_bool",
    "check_choice",
    "check_int",
    "check_key",
    "check_list",
    "check_prob",
    "check_real",
    "check_section",
    "check_seed",
    "boolean",
    "integer",
    "list_of",
    "one_of",
    "probability",
    "real",
    "seed",
    "text",
]

SEED_MAX = 2**32 - 1
"""Largest seed: ``jax.random.key`` keeps 32 bits of a seed (larger ones collide)."""


def check_key(key: Any, name: str = "key") -> None:
    """Requires a typed JAX PRNG key (``jax.random.key(seed)``).

    One behaviour everywhere (every ``build``/``rollout`` of every domain calls this before
    anything is traced): legacy ``uint32[2]`` keys (``jax.random.PRNGKey``), Python ints,
    strings and anything else are refused with the same message, so a key mistake never
    surfaces as a JAX tracing error.

    Raises:
        TypeError: ``key`` is not a typed key.
    """
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return
    if isinstance(key, jax.Array | np.ndarray) and key.dtype == np.uint32:
        hint = "a legacy uint32 key (jax.random.PRNGKey); wrap it with jax.random.wrap_key_data"
    elif isinstance(key, str | bytes):
        hint = f"the string {key!r} (seeds are integers)"
    else:
        hint = f"{type(key).__name__} with dtype {getattr(key, 'dtype', None)}"
    raise TypeError(
        f"{name} must be a typed jax.random.key, got {hint}; create one with jax.random.key(seed)"
    )


def check_seed(name: str, value: Any) -> int:
    """Requires an integer seed in ``[0, SEED_MAX]`` (not a bool, not a string); returns it.

    Raises:
        TypeError: not an integer (e.g. ``-p seed=abc`` reaches a notebook as a string).
        ValueError: negative or above :data:`SEED_MAX`.
    """
    return check_int(name, value, low=0, high=SEED_MAX)


def check_bool(name: str, value: Any) -> bool:
    """Requires ``True`` or ``False`` (not 0/1, not a string); returns it.

    Raises:
        TypeError: not a bool.
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def check_list(
    name: str,
    value: Any,
    item: Callable[[str, Any], Any],
    *,
    min_len: int = 1,
    max_len: int | None = None,
    distinct: bool = False,
) -> list:
    """Requires a list/tuple whose items each pass ``item(f"{name}[i]", value[i])``.

    Args:
        name: the parameter as the caller wrote it; items are named ``name[i]``.
        value: the sequence.
        item: a check taking ``(name, value)``, e.g. ``functools.partial(check_int, low=2)``.
        min_len, max_len: allowed length.
        distinct: refuse repeated items.

    Returns:
        The list of checked items.

    Raises:
        TypeError: not a list/tuple, or an item of the wrong type.
        ValueError: wrong length, repeated items, or an item out of range.
    """
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list, got {value!r}")
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        hi = "" if max_len is None else f" and <= {max_len}"
        raise ValueError(f"{name} must have >= {min_len}{hi} items, got {len(value)}: {value!r}")
    out = [item(f"{name}[{i}]", v) for i, v in enumerate(value)]
    if distinct and len({repr(v) for v in out}) != len(out):
        raise ValueError(f"{name} must not repeat items, got {value!r}")
    return out


def check_section(
    section: str, values: Mapping[str, Any], spec: Mapping[str, Callable[[str, Any], Any]]
) -> dict[str, Any]:
    """Checks every parameter of a notebook / ``params.yaml`` section before any work.

    Each check is called as ``check(f"{section}.{key}", values[key])``, so an error names the
    key as the user wrote it (``beacons.gossip_loss``). A notebook passes ``globals()``;
    its hygiene test makes sure ``spec`` covers every name of its parameters cell.

    Args:
        section: the params.yaml section (the stage name).
        values: a mapping holding (at least) every key of ``spec``.
        spec: parameter -> check taking ``(name, value)``: the factories below
            (:func:`integer`, :func:`real`, :func:`probability`, :func:`seed`,
            :func:`one_of`, :func:`list_of`, :func:`text`, :func:`boolean`) or any
            ``check_*`` with bounds bound by ``functools.partial``.

    Returns:
        parameter -> checked value.

    Raises:
        TypeError / ValueError: the first bad parameter, named ``section.key``.
    """
    missing = sorted(set(spec) - set(values))
    if missing:
        raise ValueError(f"{section}: parameter(s) {missing} are checked but were not given")
    return {k: check(f"{section}.{k}", values[k]) for k, check in spec.items()}


Check = Callable[[str, Any], Any]


def integer(low: int | None = None, high: int | None = None) -> Check:
    """A check for an integer in ``[low, high]`` (see :func:`check_int`)."""
    return partial(check_int, low=low, high=high)


def real(low: float | None = None, high: float | None = None, **kw: bool) -> Check:
    """A check for a real number (see :func:`check_real` for ``low_open`` etc.)."""
    return partial(check_real, low=low, high=high, **kw)


def probability() -> Check:
    """A check for a probability in ``[0, 1]`` (see :func:`check_prob`)."""
    return lambda name, value: float(check_prob(name, check_real(name, value)))


def seed() -> Check:
    """A check for a seed (see :func:`check_seed`)."""
    return check_seed


def boolean() -> Check:
    """A check for ``true``/``false`` (see :func:`check_bool`)."""
    return check_bool


def text() -> Check:
    """A check for a non-empty string."""

    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name} must be a non-empty string, got {value!r}")
        return value

    return check


def one_of(allowed: Iterable[Any]) -> Check:
    """A check for one of ``allowed`` (see :func:`check_choice`)."""
    allowed = tuple(allowed)
    return lambda name, value: check_choice(name, value, allowed)


def list_of(item: Check, *, min_len: int = 1, distinct: bool = False) -> Check:
    """A check for a list whose items pass ``item`` (see :func:`check_list`)."""
    return partial(check_list, item=item, min_len=min_len, distinct=distinct)


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
    if isinstance(value, str | bytes | bool):
        raise TypeError(f"{name} must be a probability in [0, 1], got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a probability in [0, 1], got {value!r}") from None
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr > 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return arr


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Requires ``value`` to be one of ``allowed``; returns it."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value
