"""What a chaos run measured: MTTD, MTTR, availability, delivery, latency, blast radius.

Definitions (times in seconds, ``T = interval_s``, the primary fault starts at round
``s``; a round ``r`` ends at ``(r + 1) T``):

* **MTTD (first)**: ``(r_d + 1 - s) T`` where ``r_d`` is the first round >= ``s`` in which
  some up monitor suspected one of the primary fault's nodes, or the controller
  convicted it. Nodes the primary fault does not touch never count. nan: never detected.
* **MTTD (all)**: the same with *every* up monitor of the node suspecting it, maximised
  over the primary nodes; inf if some node never reaches it.
* **Recovered** (once, for every measure): the service is *recovered* from the first
  round after which every round to the end of the run is within objective
  (:mod:`meshlab.chaos.controller`). **MTTR** = ``(r_last_bad + 1 - s) T`` with
  ``r_last_bad`` the last round out of objective (0 if none at or after ``s``; inf if the
  last round is out of objective: not recovered).
* **Verdict**: ``not_recovered`` (out of objective in the run's last round),
  ``recovers`` (back within objective strictly before the primary fault's window ends,
  or never out of objective), ``degrades`` (back only when or after the window ended).
* **Availability**: share of rounds within objective.
* **Blast radius**: share of receivers whose delivery since ``s`` (expected beacons they
  accepted) fell below the delivery objective.
* **Work on rejected beacons**: rejected beacons x ``verify_mean_s`` (verify seconds).
* **Load shed**: node-rounds in which a node shed load (skipped its beacon over the
  backlog threshold, or refused cascade load), and the cascade load refused over the run
  (load units: 1 = one node's normal load for one round): what the controller's load
  shedding cost.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from meshlab.core.stats import mean_ci

__all__ = ["MEASURES", "summarize", "summarize_seeds", "verdict"]

MEASURES = (
    "mttd_first_s",
    "mttd_all_s",
    "mttr_s",
    "availability",
    "delivery_fault",
    "delivery_min",
    "p99_fault_s",
    "false_suspicions",
    "false_convictions",
    "convicted",
    "blast_radius",
    "rejected",
    "rejected_verify_s",
    "shed_node_rounds",
    "load_refused",
)
_NEVER = 2**31 - 1


def verdict(last_bad: int, start: int, end: int, n_rounds: int) -> str:
    """The observed verdict from the last round out of objective (see the module doc)."""
    if last_bad >= n_rounds - 1:
        return "not_recovered"
    if last_bad < start or last_bad + 1 < end:
        return "recovers"
    return "degrades"


def _one(st: dict, info: dict, sc: dict, interval_s: float, verify_s: float, obj: float) -> dict:
    n_rounds = int(np.asarray(info["ok"]).shape[0])
    s, e = int(sc["primary_start"]), int(sc["primary_end"])
    prim = np.asarray(sc["primary_nodes"], bool)
    first = np.asarray(st["first_detect"], np.int64)[prim]
    alld = np.asarray(st["all_detect"], np.int64)[prim]
    if prim.any() and (first < _NEVER).any():
        mttd_first = (first[first < _NEVER].min() + 1 - s) * interval_s
    else:
        mttd_first = math.nan
    if prim.any() and (alld < _NEVER).all():
        mttd_all = (alld.max() + 1 - s) * interval_s
    elif prim.any() and (first < _NEVER).any():
        mttd_all = math.inf
    else:
        mttd_all = math.nan
    last_bad = int(st["last_bad"])
    if last_bad >= n_rounds - 1:
        mttr = math.inf
    elif last_bad < s:
        mttr = 0.0
    else:
        mttr = (last_bad + 1 - s) * interval_s
    delivery = np.asarray(info["delivery"], np.float64)
    p99 = np.asarray(info["p99_s"], np.float64)
    after = slice(s, n_rounds) if s < n_rounds else slice(0, 0)
    during = slice(s, max(min(e, n_rounds), s + 1)) if s < n_rounds else slice(0, 0)
    rg, re_ = np.asarray(st["recv_good"]), np.asarray(st["recv_expected"])
    has = re_ > 0
    radius = float(np.mean((rg[has] / re_[has]) < obj)) if has.any() else 0.0
    convicted = np.asarray(st["convicted"], bool)
    invalid = np.asarray(sc["invalid_nodes"], bool)
    rejected = int(np.asarray(info["rejected"]).sum())
    p99_d = p99[during]
    return {
        "mttd_first_s": float(mttd_first),
        "mttd_all_s": float(mttd_all),
        "mttr_s": float(mttr),
        "availability": 1.0 - int(st["bad_rounds"]) / n_rounds,
        "delivery_fault": float(delivery[during].mean()) if delivery[during].size else math.nan,
        "delivery_min": float(delivery[after].min()) if delivery[after].size else math.nan,
        "p99_fault_s": float(np.nanmax(p99_d)) if np.isfinite(p99_d).any() else math.nan,
        "false_suspicions": int(np.asarray(info["false_suspected"]).sum()),
        "false_convictions": int((convicted & ~invalid).sum()),
        "convicted": int(convicted.sum()),
        "blast_radius": radius,
        "rejected": rejected,
        "rejected_verify_s": rejected * verify_s,
        "shed_node_rounds": int(np.asarray(info["shed"]).sum()),
        "load_refused": float(np.asarray(info["load_refused"], np.float64).sum()),
        "verdict": verdict(last_bad, s, e, n_rounds),
    }


def _index(tree: dict, idx: tuple) -> dict:
    return {k: np.asarray(v)[idx] for k, v in tree.items()}


def summarize(outcome: Any, *, interval_s: float, verify_s: float) -> list[list[dict]]:
    """Per-run measures of a batched outcome (leading axes ``[scenarios, seeds]``).

    Args:
        outcome: ``(state_dict, info_dict, scenario_dict, objective)`` as returned by
            :func:`meshlab.chaos.experiments.run_batch` (numpy arrays).
        interval_s: the beacon interval (seconds per round).
        verify_s: mean verify time (seconds) charged per rejected beacon.

    Returns:
        ``out[b][s]``: a dict of :data:`MEASURES` plus ``verdict`` for scenario ``b``, seed ``s``.
    """
    st, info, sc, obj = outcome
    n_b, n_s = np.asarray(st["last_bad"]).shape
    return [
        [
            _one(
                _index(st, (b, s)),
                _index(info, (b, s)),
                _index(sc, (b,)),
                interval_s,
                verify_s,
                float(np.asarray(obj)[b]),
            )
            for s in range(n_s)
        ]
        for b in range(n_b)
    ]


def summarize_seeds(runs: list[dict]) -> dict:
    """Mean and 95 % CI over seeds of each measure, plus the verdict of every seed.

    Non-finite values (never detected, not recovered) are dropped from the mean; their
    count is reported as ``<measure>_censored``.
    """
    out: dict[str, Any] = {}
    for m in MEASURES:
        vals = np.asarray([r[m] for r in runs], np.float64)
        ci = mean_ci(vals)
        out[m] = ci["mean"]
        out[f"{m}_ci95"] = ci["ci95"]
        out[f"{m}_censored"] = int((~np.isfinite(vals)).sum())
    verdicts = [r["verdict"] for r in runs]
    out["verdict"] = max(set(verdicts), key=lambda v: (verdicts.count(v), v))
    out["verdicts"] = verdicts
    return out
