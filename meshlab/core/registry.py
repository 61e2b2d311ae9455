"""The provenance registry: domains add what produced their numbers; reporting reads it.

A domain registers a zero-argument function under a key (for example the crypto domain
registers ``"pqc_backend"``); :func:`meshlab.reporting.provenance.provenance` calls every
registered function when it writes a report. Reporting therefore never imports a domain,
and importing a domain never imports the reporting stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["collect_provenance", "register_provenance"]

_PROVIDERS: dict[str, Callable[[], Any]] = {}


def register_provenance(name: str, provider: Callable[[], Any]) -> None:
    """Registers ``provider()`` to fill the provenance field ``name`` (last one wins)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"provenance field name must be a non-empty str, got {name!r}")
    if not callable(provider):
        raise TypeError(f"provider for {name!r} must be callable, got {type(provider).__name__}")
    _PROVIDERS[name] = provider


def collect_provenance() -> dict[str, Any]:
    """Calls every registered provider; a failing provider records its error text."""
    out: dict[str, Any] = {}
    for name, provider in sorted(_PROVIDERS.items()):
        try:
            out[name] = provider()
        except Exception as exc:  # provenance must never stop a report
            out[name] = f"unavailable: {type(exc).__name__}: {exc}"
    return out
