"""``promtool test rules`` files generated from simulated SLI series.

Given an objective's good/total event counts per bucket, :func:`rule_test` writes the
counters as Prometheus input series (one sample per bucket, in promtool's expanding
notation) and, at a set of evaluation times, the alerts meshlab itself predicts
(:func:`meshlab.slo.burn.firing` for the burn-rate alerts,
:func:`meshlab.slo.burn.threshold_firing` for the threshold alerts). ``promtool test rules`` then checks that the generated
alert rules fire exactly where meshlab says they do, and nowhere else.

Evaluation times within ``margin`` buckets of a predicted change are skipped: there the
answer depends on whether a range selector includes the sample on its left edge, which
is Prometheus' business, not the model's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from meshlab.slo.burn import alert_windows, firing, threshold_firing
from meshlab.slo.prometheus import (
    EVENTS_METRIC,
    GOOD_METRIC,
    SEVERITY,
    alert_rules,
    threshold_rules,
    window_label,
)
from meshlab.slo.spec import Objective

__all__ = ["expanding_series", "rule_test"]


def expanding_series(cumulative: np.ndarray) -> str:
    """promtool's expanding notation for a counter sampled once per interval.

    A token ``a+bxn`` stands for the ``n + 1`` values ``a, a+b, …, a+n·b``; runs of equal
    increments fold into one token, so a steady counter is a single token.
    """
    c = np.asarray(cumulative, np.int64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"cumulative must be a non-empty 1-D series, got shape {c.shape}")
    inc = np.diff(c)
    if np.any(inc < 0):
        raise ValueError("a counter must not decrease")
    if inc.size == 0:
        return str(int(c[0]))
    tokens, i = [], 0
    while i < inc.size:
        j = i
        while j + 1 < inc.size and inc[j + 1] == inc[i]:
            j += 1
        run = j - i + 1
        if i == 0:  # the first token also emits the starting value
            tokens.append(f"{int(c[0])}+{int(inc[0])}x{run}")
        else:
            tokens.append(f"{int(c[i] + inc[i])}+{int(inc[i])}x{run - 1}")
        i = j + 1
    return " ".join(tokens)


def rule_test(
    objective: Objective,
    good,
    total,
    bucket_s: float,
    rule_file: str,
    *,
    eval_every_s: float = 300.0,
    margin: int = 2,
) -> dict[str, Any]:
    """A ``promtool test rules`` document for one objective's simulated series.

    Args:
        objective: the spec entry (its alert rules must be in ``rule_file``).
        good, total: ``[T]`` event counts per bucket (integers).
        bucket_s: bucket length = the input series' interval (seconds, whole).
        rule_file: path of the generated rule file, as promtool should load it.
        eval_every_s: spacing of the evaluation times.
        margin: skip evaluation times within this many buckets of a predicted change.

    Returns:
        The test document (serialize with ``yaml.safe_dump``).
    """
    good = np.asarray(good, np.int64)
    total = np.asarray(total, np.int64)
    if good.shape != total.shape or good.ndim != 1:
        raise ValueError(
            f"good and total must be equal 1-D series, got {good.shape}, {total.shape}"
        )
    if np.any(good > total) or np.any(good < 0):
        raise ValueError("need 0 <= good <= total in every bucket")
    windows = alert_windows(objective.window_s)
    fire = list(np.asarray(firing(good, total, bucket_s, objective.target, windows)))
    rules = alert_rules(objective)
    for w, rule in zip(windows, rules, strict=True):
        assert rule["labels"]["severity"] == SEVERITY[w.severity]
    for a, rule in zip(objective.alerts, threshold_rules(objective), strict=True):
        rules.append(rule)
        fire.append(np.asarray(threshold_firing(good, total, bucket_s, a.over_s, a.below, a.for_s)))
    interval = window_label(bucket_s)
    # sample k (k = 0..T) is the counter after k buckets, at time k * bucket_s
    cum_g = np.concatenate([[0], np.cumsum(good)])
    cum_t = np.concatenate([[0], np.cumsum(total)])
    base = f'slo="{objective.name}",component="{objective.component}"'
    series = [
        {"series": f"{GOOD_METRIC}{{{base}}}", "values": expanding_series(cum_g)},
        {"series": f"{EVENTS_METRIC}{{{base}}}", "values": expanding_series(cum_t)},
    ]
    step = max(1, round(eval_every_s / bucket_s))
    changes = [np.flatnonzero(np.diff(f.astype(np.int8))) for f in fire]
    cases = []
    for k in range(step, good.size + 1, step):  # bucket k-1 ends at sample k
        b = k - 1
        if any(np.any(np.abs(ch - b) <= margin) or np.any(np.abs(ch + 1 - b) <= margin)
               for ch in changes):  # fmt: skip
            continue
        for rule, f in zip(rules, fire, strict=True):
            exp = []
            if f[b]:
                exp.append(
                    {
                        "exp_labels": {**rule["labels"]},
                        "exp_annotations": dict(rule["annotations"]),
                    }
                )
            cases.append(
                {
                    "eval_time": f"{int(k * bucket_s)}s",
                    "alertname": rule["alert"],
                    "exp_alerts": exp,
                }
            )
    return {
        "rule_files": [rule_file],
        "evaluation_interval": interval,
        "tests": [{"interval": interval, "input_series": series, "alert_rule_test": cases}],
    }
