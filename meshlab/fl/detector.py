"""Byzantine detection: per-round outlier scores, reputation with decay, flagged set.

Each round, for the participating updates ``u_i``:

1. robust centre ``c``: the coordinate-wise median of the finite participating updates;
2. distance score ``z_i = (||u_i - c|| - med_j ||u_j - c||) / (1.4826 MAD_j + eps)``
   (robust z-score of the distance; non-finite updates get ``+inf``);
3. cosine similarity ``cos_i = <u_i, c> / (||u_i|| ||c||)`` (non-finite: -1);
4. a round outlier is ``z_i > z_threshold`` or ``cos_i < cos_threshold``;
5. reputation ``r_i <- decay * r_i + (1 - decay) * (1 - outlier_i)`` for participants
   (absent clients keep theirs; everyone starts at 1);
6. flagged: ``r_i < flag_threshold``.

A client that is an outlier every round is flagged after
``ceil(log(flag_threshold) / log(decay))`` rounds (2 with the defaults); an honest client
needs that many consecutive outlier rounds to be flagged (for a false alarm rate
``q`` per round, about ``q^2`` per round with the defaults).

:func:`detection_metrics` gives precision / recall / F1 against the ground truth and
:func:`rounds_to_isolate` the first round whose flagged set equals the attacker set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from meshlab.core.validation import check_int, check_real

__all__ = [
    "DetectionMetrics",
    "ByzantineDetectorConfig",
    "ByzantineDetectorState",
    "detection_metrics",
    "detector_init",
    "detector_update",
    "outlier_scores",
    "rounds_to_isolate",
]


@dataclass(frozen=True)
class ByzantineDetectorConfig:
    """Static configuration of the Byzantine (update-outlier) detector.

    Attributes:
        z_threshold: robust z-score of the distance above which a round outlier is called.
        cos_threshold: cosine similarity to the centre below which an outlier is called
            (in [-1, 1]; -1 disables the cosine test).
        decay: reputation memory in [0, 1).
        flag_threshold: reputation below which a client is flagged, in (0, 1).
    """

    z_threshold: float = 3.0
    cos_threshold: float = 0.0
    decay: float = 0.7
    flag_threshold: float = 0.5

    def __post_init__(self):
        for name, lo, hi, lo_open, hi_open in (
            ("z_threshold", 0.0, None, False, False),
            ("cos_threshold", -1.0, 1.0, False, False),
            ("decay", 0.0, 1.0, False, True),
            ("flag_threshold", 0.0, 1.0, True, True),
        ):
            v = check_real(name, getattr(self, name), lo, hi, low_open=lo_open, high_open=hi_open)
            object.__setattr__(self, name, v)


class ByzantineDetectorState(NamedTuple):
    """Reputation ``f32[n]`` (1 = trusted), flagged ``bool[n]``, rounds observed."""

    reputation: Float[Array, " n"]
    flagged: Bool[Array, " n"]
    rounds: Int[Array, ""]


class DetectionMetrics(NamedTuple):
    """Precision, recall and F1 of a flagged set (scalars)."""

    precision: Float[Array, ""]
    recall: Float[Array, ""]
    f1: Float[Array, ""]


def detector_init(n_clients: int) -> ByzantineDetectorState:
    """Everyone trusted."""
    n_clients = check_int("n_clients", n_clients, low=1)
    return ByzantineDetectorState(
        jnp.ones(n_clients, jnp.float32), jnp.zeros(n_clients, bool), jnp.int32(0)
    )


def outlier_scores(
    updates: Float[Array, "n d"], mask: Bool[Array, " n"]
) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
    """Robust distance z-scores and cosine similarities to the coordinate-wise median.

    Args:
        updates: ``f32[n, d]`` client updates (may contain NaN / Inf).
        mask: ``bool[n]`` participating clients.

    Returns:
        ``(z f32[n], cos f32[n])``; entries of non-participants are 0 and 1.
    """
    finite = jnp.all(jnp.isfinite(updates), axis=1)
    valid = mask & finite
    centre = jnp.nanmedian(jnp.where(valid[:, None], updates, jnp.nan), axis=0)
    centre = jnp.where(jnp.isfinite(centre), centre, 0.0)  # no valid update at all
    safe = jnp.where(valid[:, None], updates, centre)
    dist = jnp.linalg.norm(safe - centre, axis=1)
    d_valid = jnp.where(valid, dist, jnp.nan)
    med = jnp.nanmedian(d_valid)
    mad = jnp.nanmedian(jnp.abs(d_valid - med))
    eps = 1e-6 * jnp.maximum(jnp.nan_to_num(med), 1e-12)
    z = (dist - med) / (1.4826 * jnp.nan_to_num(mad) + eps)
    z = jnp.where(finite, z, jnp.inf)
    norm_c = jnp.linalg.norm(centre)
    cos = (safe @ centre) / jnp.maximum(jnp.linalg.norm(safe, axis=1) * norm_c, 1e-30)
    cos = jnp.where(finite, jnp.where(norm_c > 0, cos, 1.0), -1.0)
    return jnp.where(mask, z, 0.0), jnp.where(mask, cos, 1.0)


def detector_update(
    config: ByzantineDetectorConfig,
    state: ByzantineDetectorState,
    updates: Float[Array, "n d"],
    mask: Bool[Array, " n"],
) -> tuple[ByzantineDetectorState, Bool[Array, " n"]]:
    """Scores this round's updates and updates reputations.

    Returns:
        ``(new_state, outlier bool[n])`` (this round's outlier calls).
    """
    z, cos = outlier_scores(updates, mask)
    outlier = mask & ((z > config.z_threshold) | (cos < config.cos_threshold))
    rep = config.decay * state.reputation + (1.0 - config.decay) * (
        1.0 - outlier.astype(jnp.float32)
    )
    rep = jnp.where(mask, rep, state.reputation)
    return ByzantineDetectorState(rep, rep < config.flag_threshold, state.rounds + 1), outlier


def detection_metrics(
    flagged: Bool[Array, "... n"], byzantine: Bool[Array, "... n"]
) -> DetectionMetrics:
    """Precision / recall / F1 of ``flagged`` against the true attackers.

    Conventions: precision is 1 when nothing is flagged, recall is 1 when there is no
    attacker (so a clean run with no false alarm scores 1 / 1 / 1).
    """
    tp = jnp.sum(flagged & byzantine, axis=-1)
    n_flag = jnp.sum(flagged, axis=-1)
    n_byz = jnp.sum(byzantine, axis=-1)
    precision = jnp.where(
        n_flag > 0, tp.astype(jnp.float32) / jnp.maximum(n_flag, 1).astype(jnp.float32), 1.0
    )
    recall = jnp.where(
        n_byz > 0, tp.astype(jnp.float32) / jnp.maximum(n_byz, 1).astype(jnp.float32), 1.0
    )
    f1 = jnp.where(
        precision + recall > 0, 2 * precision * recall / jnp.maximum(precision + recall, 1e-12), 0.0
    )
    return DetectionMetrics(
        precision.astype(jnp.float32), recall.astype(jnp.float32), f1.astype(jnp.float32)
    )


def rounds_to_isolate(flagged: Bool[Array, "T n"], byzantine: Bool[Array, " n"]) -> Int[Array, ""]:
    """Number of rounds until the flagged set first equals the attacker set (-1: never).

    Args:
        flagged: ``bool[T, n]`` flagged set after every round.
        byzantine: ``bool[n]`` ground truth.

    Returns:
        ``t + 1`` for the first round ``t`` (0-based) with ``flagged[t] == byzantine``.
    """
    exact = jnp.all(flagged == byzantine, axis=-1)
    return jnp.where(exact.any(), jnp.argmax(exact) + 1, -1).astype(jnp.int32)
