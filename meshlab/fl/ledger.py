# ruff: noqa: F722  (jaxtyping shape strings)
"""The FL update ledger: every honest client's update in every round is aggregated or
accounted for with a reason, and the books balance exactly (Jepsen's set-full idea).

A run's updates are per-round client masks ``bool[R, n]`` (rounds x clients; numpy or JAX,
a leading batch axis is allowed). :func:`route` sends each honest update that was sent
down exactly one path, in a fixed order of precedence: a crashed client (``"crashed"``),
an update cut off by a partition (``"partition"``), one too stale to use (``"stale"``),
one the rule or the Byzantine detector rejected (``"rejected"``), otherwise
``"aggregated"``. :func:`account` then counts the paths *independently* of how they were
produced and :func:`check` raises unless ``aggregated + accounted == sent`` with no update
counted twice, none counted that was not sent, and none silently missing::

    from meshlab.fl import ledger
    sent = participants & honest[None, :]                # bool[R, n]
    aggregated, reasons = ledger.route(sent, crashed=down, partition=cut)
    book = ledger.account(sent, aggregated, reasons)
    ledger.check(book)                                   # raises on any imbalance
    book.counts                                          # {"sent": ..., "aggregated": ..., ...}

The chaos scenarios compute ``crashed`` / ``partition`` from their fault schedules and
``rejected`` from the detector's flags or the rule's selection; an FL orchestrator that
aggregates everything it receives has ``aggregated == sent``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = ["REASONS", "Ledger", "account", "check", "route"]

REASONS = ("crashed", "partition", "stale", "rejected")
"""Reasons an honest update is not aggregated, in order of precedence."""


class Ledger(NamedTuple):
    """The books of one run (or a batch of runs).

    Attributes:
        counts: ``{"sent", "aggregated", "accounted", <reason>...: int}`` totals.
        per_round: the same keys, ``int64[..., R]`` per round.
        unaccounted: ``bool[..., R, n]`` sent, neither aggregated nor given a reason.
        double: ``bool[..., R, n]`` counted on more than one path.
        phantom: ``bool[..., R, n]`` aggregated or given a reason but never sent.
    """

    counts: dict
    per_round: dict
    unaccounted: np.ndarray
    double: np.ndarray
    phantom: np.ndarray


def _mask(name: str, value: Any, shape: tuple | None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype != bool:
        raise TypeError(f"{name} must be a bool mask [rounds, clients], got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(f"{name} must be bool[rounds, clients] (or batched), got {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have the shape of sent {shape}, got {arr.shape}")
    return arr


def route(
    sent: Any,
    *,
    crashed: Any = None,
    partition: Any = None,
    stale: Any = None,
    rejected: Any = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sends every update in ``sent`` down one path, by the precedence of :data:`REASONS`.

    Args:
        sent: ``bool[..., R, n]`` honest updates sent (client trained and sent in round r).
        crashed, partition, stale, rejected: ``bool[..., R, n]`` conditions (``None``: never).

    Returns:
        ``(aggregated, reasons)``: ``aggregated`` bool like ``sent``; ``reasons`` maps each
        of :data:`REASONS` to the updates dropped for it.
    """
    s = _mask("sent", sent, None)
    left = s.copy()
    reasons = {}
    for name, cond in zip(REASONS, (crashed, partition, stale, rejected), strict=True):
        c = np.zeros_like(s) if cond is None else _mask(name, cond, s.shape)
        reasons[name] = left & c
        left = left & ~c
    return left, reasons


def account(sent: Any, aggregated: Any, reasons: Mapping[str, Any]) -> Ledger:
    """Counts the paths of a run's updates (independently of how they were routed).

    Args:
        sent: ``bool[..., R, n]`` honest updates sent.
        aggregated: ``bool[..., R, n]`` updates the server aggregated.
        reasons: ``{reason: bool[..., R, n]}`` with keys from :data:`REASONS`.

    Raises:
        ValueError / TypeError: unknown reasons or masks of the wrong shape or dtype.
    """
    s = _mask("sent", sent, None)
    a = _mask("aggregated", aggregated, s.shape)
    unknown = set(reasons) - set(REASONS)
    if unknown:
        raise ValueError(f"reasons must be among {REASONS}, got {sorted(unknown)}")
    rs = {k: _mask(f"reasons[{k!r}]", reasons.get(k, np.zeros_like(s)), s.shape) for k in REASONS}
    paths = np.stack([a, *rs.values()]).astype(np.int64)
    n_paths = paths.sum(axis=0)
    accounted = np.zeros_like(s)
    for m in rs.values():
        accounted |= m
    per_round = {
        "sent": s.sum(axis=-1, dtype=np.int64),
        "aggregated": a.sum(axis=-1, dtype=np.int64),
        "accounted": accounted.sum(axis=-1, dtype=np.int64),
        **{k: m.sum(axis=-1, dtype=np.int64) for k, m in rs.items()},
    }
    counts = {k: int(v.sum()) for k, v in per_round.items()}
    return Ledger(
        counts=counts,
        per_round=per_round,
        unaccounted=s & (n_paths == 0),
        double=n_paths > 1,
        phantom=~s & (n_paths > 0),
    )


def check(book: Ledger) -> None:
    """Raises ``AssertionError`` unless ``aggregated + accounted == sent`` exactly, with no
    update missing, counted twice or counted without being sent (first offenders named as
    ``(round, client)``, with any batch indices first)."""
    problems = []
    for name in ("unaccounted", "double", "phantom"):
        mask = getattr(book, name)
        if mask.any():
            first = [tuple(int(i) for i in x) for x in np.argwhere(mask)[:5]]
            problems.append(f"{int(mask.sum())} {name} updates, first {first}")
    c = book.counts
    if c["aggregated"] + c["accounted"] != c["sent"]:
        problems.append(
            f"aggregated {c['aggregated']} + accounted {c['accounted']} != sent {c['sent']}"
        )
    if problems:
        raise AssertionError("FL update ledger does not balance: " + "; ".join(problems))
