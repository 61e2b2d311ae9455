"""The Serf/memberlist convergence model of gossip dissemination (closed form).

The Serf convergence simulator (``website/source/assets/javascripts/_simulator.js``,
``convergenceAtRound``) predicts the informed fraction after ``x`` gossip rounds as

``fraction(x) = 1 / (1 + (N + 1) · exp(−0.5 · fanout · (1 − loss) · (1 − failed) · x))``,

the logistic solution of ``di/dx = 0.5 · fanout · (1 − loss)(1 − failed) · i (1 − i)``
started from ``1 / (N + 2)``: :func:`convergence`. :func:`rounds_to` is its inverse (the
envelope the report compares simulated crossing rounds with; it grows as ``log N``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from meshlab.core.validation import check_int, check_real

__all__ = ["convergence", "rounds_to"]


def _rate(n_nodes: int, fanout: float, loss: float, failed: float) -> float:
    check_int("n_nodes", n_nodes, low=1)
    fanout = check_real("fanout", fanout, 0.0, low_open=True)
    loss = check_real("loss", loss, 0.0, 1.0, high_open=True)
    failed = check_real("failed", failed, 0.0, 1.0, high_open=True)
    return 0.5 * fanout * (1.0 - loss) * (1.0 - failed)


def convergence(
    rounds: Any, n_nodes: int, fanout: float, loss: float = 0.0, failed: float = 0.0
) -> np.ndarray:
    """Informed fraction after ``rounds`` gossip rounds (Serf/memberlist model).

    Args:
        rounds: round numbers (array-like, may be fractional).
        n_nodes: cluster size N (>= 1).
        fanout: gossip fanout (> 0).
        loss: packet loss probability in [0, 1).
        failed: fraction of failed nodes in [0, 1).

    Returns:
        float64 array of fractions, the shape of ``rounds``.
    """
    rate = _rate(n_nodes, fanout, loss, failed)
    x = np.asarray(rounds, dtype=np.float64)
    return 1.0 / (1.0 + (n_nodes + 1.0) * np.exp(-rate * x))


def rounds_to(
    level: Any, n_nodes: int, fanout: float, loss: float = 0.0, failed: float = 0.0
) -> np.ndarray:
    """Rounds (fractional) after which :func:`convergence` reaches ``level``.

    ``x = (ln(N + 1) − ln(1 / level − 1)) / (0.5 · fanout · (1 − loss)(1 − failed))``;
    the model never reaches full coverage, so ``level = 1`` gives ``nan``.

    Args:
        level: informed fractions in (0, 1] (array-like).
        n_nodes, fanout, loss, failed: as in :func:`convergence`.

    Returns:
        float64 array, the shape of ``level``.
    """
    rate = _rate(n_nodes, fanout, loss, failed)
    q = np.asarray(level, dtype=np.float64)
    if np.any(~np.isfinite(q)) or np.any(q <= 0.0) or np.any(q > 1.0):
        raise ValueError(f"level must lie in (0, 1], got {level!r}")
    with np.errstate(divide="ignore"):
        logit = np.log(np.where(q < 1.0, 1.0 / q - 1.0, 1.0))
    return np.where(q < 1.0, (np.log(n_nodes + 1) - logit) / rate, np.nan)
