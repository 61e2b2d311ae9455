"""OpenMetrics export of simulated SLI series, for backfilling a real Prometheus.

``promtool tsdb create-blocks-from openmetrics FILE DIR`` turns the text into TSDB blocks
that a Prometheus server started on ``DIR`` serves over its HTTP API, so PromQL, the
generated recording rules and the dashboards' queries can be run over a simulated
history. Counters follow the OpenMetrics text format: a ``# TYPE`` line per family,
``_total`` samples with timestamps in seconds, and a final ``# EOF``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from meshlab.slo.prometheus import EVENTS_METRIC, GOOD_METRIC
from meshlab.slo.spec import Objective

__all__ = ["openmetrics_text"]


def _family(metric: str) -> str:
    return metric.removesuffix("_total")


def openmetrics_text(
    series: Mapping[str, tuple[Objective, Sequence[float], Sequence[float]]],
    start_s: float,
    bucket_s: float,
) -> str:
    """Counters of every objective's good and total events, one sample per bucket end.

    Args:
        series: ``{objective name: (objective, good[T], total[T])}`` event counts per bucket.
        start_s: Unix time (seconds) of the first bucket's start. Prometheus drops samples
            older than its retention: choose a start within the last days.
        bucket_s: bucket length in seconds.

    Returns:
        OpenMetrics text; sample ``k`` is the counter after ``k`` buckets at
        ``start_s + k * bucket_s`` (``k = 0`` is the zero sample at the start).
    """
    if bucket_s <= 0:
        raise ValueError(f"bucket_s must be > 0, got {bucket_s}")
    lines: list[str] = []
    for metric, pick in ((EVENTS_METRIC, 2), (GOOD_METRIC, 1)):
        fam = _family(metric)
        lines.append(f"# TYPE {fam} counter")
        for name, entry in series.items():
            objective = entry[0]
            counts = np.asarray(entry[pick], np.float64)
            cum = np.concatenate([[0.0], np.cumsum(counts)])
            labels = f'slo="{name}",component="{objective.component}"'
            for k, value in enumerate(cum):
                t = start_s + k * bucket_s
                lines.append(f"{metric}{{{labels}}} {value:.17g} {t:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
