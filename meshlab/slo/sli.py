"""SLIs from simulated runs: good and total events per scrape-interval bucket.

A simulation reports per step (a beacon round, an SVID step); an SLI is those counts
summed over consecutive steps into buckets of ``bucket_s`` (a scrape interval). Every
function returns :class:`SliSeries` keyed by the SLI source names of
:data:`meshlab.slo.spec.SLI_SOURCES`, so a spec's objectives pick their series by source,
and :func:`evaluate` turns a series into compliance, budget and alert timing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from meshlab.slo.burn import alert_windows, firing, threshold_firing
from meshlab.slo.spec import Objective

__all__ = [
    "SliSeries",
    "beacon_slis",
    "by_source",
    "bucket_sum",
    "evaluate",
    "fl_slis",
    "lognormal_fraction_below",
    "pqc_slis",
    "sample_slis",
    "series_key",
    "svid_slis",
]


class SliSeries(NamedTuple):
    """Good and total events per bucket (float64 ``[T]``) and the bucket length."""

    good: np.ndarray
    total: np.ndarray
    bucket_s: float

    @property
    def ratio(self) -> float:
        """Good / total over the whole series (1.0 when there were no events)."""
        t = float(self.total.sum())
        return 1.0 if t == 0 else float(self.good.sum()) / t


def bucket_sum(per_step, steps_per_bucket: int) -> np.ndarray:
    """Sums ``per_step[..., T]`` over consecutive groups of ``steps_per_bucket`` steps.

    An incomplete last group is dropped (a scrape never sees half an interval).
    """
    x = np.asarray(per_step, np.float64)
    k = int(steps_per_bucket)
    if k < 1:
        raise ValueError(f"steps_per_bucket must be >= 1, got {steps_per_bucket}")
    n = x.shape[-1] // k
    if n == 0:
        raise ValueError(f"{x.shape[-1]} steps are fewer than one bucket of {k} steps")
    return x[..., : n * k].reshape(*x.shape[:-1], n, k).sum(axis=-1)


def _steps_per_bucket(step_s: float, bucket_s: float) -> int:
    k = bucket_s / step_s
    if k < 1 or abs(k - round(k)) > 1e-9:
        raise ValueError(f"bucket_s={bucket_s} must be a whole multiple of the step {step_s} s")
    return round(k)


def beacon_slis(
    infos: Any,
    interval_s: float,
    bucket_s: float,
    *,
    thresholds_s: tuple[float, ...] = (),
    n_nodes: int | None = None,
    headroom: tuple[float, ...] = (),
    link_levels: tuple[float, ...] = (),
) -> dict[str, SliSeries]:
    """SLIs of a beacon rollout's per-round :class:`~meshlab.mesh.beacons.BeaconInfo`.

    Args:
        infos: the rollout's ``infos`` (fields stacked over rounds, ``[R]``).
        interval_s: the beacon interval (round length, seconds).
        bucket_s: scrape interval (a whole number of rounds).
        thresholds_s: the model's ``BeaconConfig.sli_thresholds_s`` (``infos.fast``
            columns), for the latency SLIs.
        n_nodes: the mesh size, for the availability SLI.

    Returns:
        ``beacons.delivery`` (accepted / sent), ``beacons.valid`` (accepted / arrived),
        ``membership.false_suspicion`` (live links not wrongly suspected / live links; only
        meaningful with a detector), plus ``beacons.latency@<threshold>`` (accepted beacons
        at or under each threshold / accepted), and with ``n_nodes``
        ``mesh.node_availability`` (nodes up / nodes) and ``system.queue_headroom`` (up
        nodes whose backlog stays under one interval / nodes up); per level of the model's
        ``BeaconConfig.headroom_thresholds`` (``headroom``) ``system.cpu_headroom`` and
        ``system.memory_headroom`` (up nodes under the level / nodes up) keyed
        ``[threshold=<level>]``; and per level of ``link_levels``
        ``system.network_headroom[threshold=<level>]`` (link-rounds whose traffic stays
        under the level of the link's capacity / link-rounds).
    """
    k = _steps_per_bucket(float(interval_s), float(bucket_s))
    g = lambda name: np.asarray(getattr(infos, name), np.float64)  # noqa: E731
    sent, acc, rej = g("sent"), g("accepted"), g("rejected")
    out = {
        "beacons.delivery": SliSeries(bucket_sum(acc, k), bucket_sum(sent, k), bucket_s),
        "beacons.valid": SliSeries(bucket_sum(acc, k), bucket_sum(acc + rej, k), bucket_s),
        "membership.false_suspicion": SliSeries(
            bucket_sum(g("live_links") - g("false_suspected"), k),
            bucket_sum(g("live_links"), k),
            bucket_s,
        ),
    }
    if thresholds_s:
        fast = np.asarray(infos.fast, np.float64).reshape(acc.size, -1)  # [R, M]
        if fast.shape[1] != len(thresholds_s):
            raise ValueError(
                f"infos.fast has {fast.shape[1]} columns for {len(thresholds_s)} thresholds"
            )
        counted = g("sli_accepted")
        for m, thr in enumerate(thresholds_s):
            out[f"beacons.latency@{float(thr):g}"] = SliSeries(
                bucket_sum(fast[:, m], k), bucket_sum(counted, k), bucket_s
            )
    if n_nodes is not None:
        up = g("nodes_up")
        out["mesh.node_availability"] = SliSeries(
            bucket_sum(up, k), bucket_sum(np.full(up.shape, float(n_nodes)), k), bucket_s
        )
        out["system.queue_headroom"] = SliSeries(
            bucket_sum(up - g("nodes_backlogged"), k), bucket_sum(up, k), bucket_s
        )
    if headroom:
        up = bucket_sum(g("nodes_up"), k)
        for name, field in (
            ("system.cpu_headroom", "cpu_ok"),
            ("system.memory_headroom", "memory_ok"),
        ):
            counts = np.asarray(getattr(infos, field), np.float64).reshape(acc.size, -1)
            if counts.shape[1] != len(headroom):
                raise ValueError(
                    f"infos.{field} has {counts.shape[1]} columns for {len(headroom)} levels"
                )
            for m, level in enumerate(headroom):
                key = series_key(name, {"threshold": f"{float(level):g}"})
                out[key] = SliSeries(bucket_sum(counts[:, m], k), up, bucket_s)
    for level in link_levels:
        over = (g("link_util") >= float(level)).astype(np.float64) * sent
        key = series_key("system.network_headroom", {"threshold": f"{float(level):g}"})
        out[key] = SliSeries(bucket_sum(g("links") - over, k), bucket_sum(g("links"), k), bucket_s)
    return out


def svid_slis(
    trace: Any,
    n_nodes: int,
    dt_s: float,
    bucket_s: float,
    *,
    thresholds_s: tuple[float, ...] = (),
) -> dict[str, SliSeries]:
    """SLIs of an SVID lifecycle rollout's :class:`~meshlab.identity.svid.SvidTrace`.

    Args:
        trace: the rollout's trace (``[steps]`` series).
        n_nodes: the number of workloads.
        dt_s: the step (s). bucket_s: scrape interval (a whole number of steps).
        thresholds_s: the run's ``SvidConfig.sli_thresholds_s`` (``trace.fast`` columns).

    Returns:
        ``identity.rotation`` (issuances that succeeded / attempted),
        ``identity.validity`` (node-steps with a valid SVID / node-steps) and per threshold
        ``identity.issuance_latency@<threshold>`` (answered issuances at or under it /
        answered: the server's request-duration histogram, timeouts included as slow).
    """
    k = _steps_per_bucket(float(dt_s), float(bucket_s))
    attempts = np.asarray(trace.attempts, np.float64)
    ok = np.asarray(trace.successes, np.float64)
    valid = (1.0 - np.asarray(trace.frac_without_identity, np.float64)) * n_nodes
    out = {
        "identity.rotation": SliSeries(bucket_sum(ok, k), bucket_sum(attempts, k), bucket_s),
        "identity.validity": SliSeries(
            bucket_sum(valid, k), bucket_sum(np.full(valid.shape, float(n_nodes)), k), bucket_s
        ),
    }
    if thresholds_s:
        fast = np.asarray(trace.fast, np.float64).reshape(attempts.size, -1)
        if fast.shape[1] != len(thresholds_s):
            raise ValueError(
                f"trace.fast has {fast.shape[1]} columns for {len(thresholds_s)} thresholds"
            )
        answered = bucket_sum(np.asarray(trace.answered, np.float64), k)
        for m, thr in enumerate(thresholds_s):
            out[f"identity.issuance_latency@{float(thr):g}"] = SliSeries(
                bucket_sum(fast[:, m], k), answered, bucket_s
            )
    return out


def sample_slis(
    source: str,
    samples_s: Any,
    thresholds_s: tuple[float, ...],
    events_per_bucket: int,
    bucket_s: float,
    select: Mapping[str, str] | None = None,
) -> dict[str, SliSeries]:
    """Latency SLIs from individual event latencies in time order.

    Consecutive groups of ``events_per_bucket`` events form one scrape interval (an
    incomplete last group is dropped); an event is good when its latency is at or under
    the threshold (``inf`` or ``nan``, e.g. never detected: bad).

    Args:
        source: the SLI source (e.g. ``"membership.detection_latency"``).
        samples_s: ``[n]`` latencies (s), in time order.
        thresholds_s: thresholds (s).
        events_per_bucket: events per scrape interval (>= 1).
        bucket_s: scrape interval (s).
        select: the objectives' ``select`` labels, if the source has them.

    Returns:
        ``{"<series_key(source, select)>@<threshold>": SliSeries}``.
    """
    x = np.asarray(samples_s, np.float64).reshape(-1)
    total = bucket_sum(np.ones_like(x), events_per_bucket)
    out = {}
    for thr in thresholds_s:
        good = bucket_sum(np.nan_to_num(x, nan=np.inf) <= float(thr), events_per_bucket)
        out[f"{series_key(source, select)}@{float(thr):g}"] = SliSeries(good, total, bucket_s)
    return out


def fl_slis(infos: Any, n_honest: int, target_accuracy: float) -> dict[str, SliSeries]:
    """SLIs of one FL run's per-round :class:`~meshlab.fl.orchestrators.RoundInfo`.

    Each round is one bucket, as long as the run's mean simulated round (``time_s``).

    Returns:
        ``fl.honest_kept`` (honest clients the Byzantine detector did not flag / honest
        clients, per round; false positives = flagged × (1 − precision)),
        ``fl.round_success`` (rounds that aggregated at least one update into a finite
        model / rounds) and ``fl.convergence`` (one bucket for the run: 1 good event when
        the final accuracy reaches ``target_accuracy``).
    """
    t = np.asarray(infos.time_s, np.float64).reshape(-1)
    rounds = t.size
    bucket_s = float(t[-1] / rounds) if rounds and t[-1] > 0 else 1.0
    flagged = np.asarray(infos.n_flagged, np.float64).reshape(-1)
    precision = np.asarray(infos.precision, np.float64).reshape(-1)
    false_pos = np.rint(flagged * (1.0 - precision))
    honest = np.full(rounds, float(n_honest))
    ok = np.isfinite(np.asarray(infos.grad_norm, np.float64).reshape(-1)) & (
        np.asarray(infos.n_aggregated).reshape(-1) > 0
    )
    acc = np.asarray(infos.accuracy, np.float64).reshape(-1)
    return {
        "fl.honest_kept": SliSeries(honest - false_pos, honest, bucket_s),
        "fl.round_success": SliSeries(ok.astype(np.float64), np.ones(rounds), bucket_s),
        "fl.convergence": SliSeries(
            np.array([float(acc[-1] >= target_accuracy)]), np.ones(1), bucket_s * rounds
        ),
    }


def series_key(source: str, select: Mapping[str, str] | None = None) -> str:
    """The key a series is stored under: ``source`` or ``source[k=v,...]`` (sorted)."""
    if not select:
        return source
    return source + "[" + ",".join(f"{k}={v}" for k, v in sorted(select.items())) + "]"


def pqc_slis(
    success: Mapping[str, Any], ops_per_bucket: int, bucket_s: float
) -> dict[str, SliSeries]:
    """``pqc.success`` series per family from per-operation outcomes.

    Args:
        success: ``{family: bool[n]}`` with family ``"kem"`` or ``"signature"`` (e.g. from
            :func:`meshlab.crypto.sla.success_trace`), operations in time order.
        ops_per_bucket: operations per scrape interval (the operation rate × ``bucket_s``).
        bucket_s: scrape interval (s).

    Returns:
        ``{"pqc.success[family=<family>]": SliSeries}``.
    """
    out = {}
    for family, ok in success.items():
        ok = np.asarray(ok, np.float64)
        good = bucket_sum(ok, ops_per_bucket)
        out[series_key("pqc.success", {"family": family})] = SliSeries(
            good, np.full(good.shape, float(ops_per_bucket)), float(bucket_s)
        )
    return out


def lognormal_fraction_below(threshold_s: float, median_s: float, p90_s: float) -> float:
    """Share of a lognormal latency (fitted from its median and p90) below a threshold.

    ``sigma = ln(p90 / median) / z_0.9``; the share is ``Φ((ln thr − ln median) / sigma)``
    (1 or 0 for a degenerate ``p90 == median``).
    """
    if not (threshold_s > 0 and median_s > 0 and p90_s >= median_s):
        raise ValueError(
            f"need threshold_s > 0, median_s > 0, p90_s >= median_s; got "
            f"{threshold_s}, {median_s}, {p90_s}"
        )
    sigma = math.log(p90_s / median_s) / 1.2815515655446004
    if sigma == 0:
        return 1.0 if threshold_s >= median_s else 0.0
    z = (math.log(threshold_s) - math.log(median_s)) / sigma
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def evaluate(
    series: SliSeries, objective: Objective, fault_start_s: float | None = None
) -> dict[str, Any]:
    """Compliance, error budget and alert timing of one objective over one series.

    Args:
        series: the SLI's good/total events per bucket.
        objective: the spec entry (target, window, alert factors).
        fault_start_s: when a fault began (seconds from the series start), to measure
            the monitoring's own time to detect; ``None`` for a no-fault run.

    Returns:
        ``sli`` (good / total), ``met`` (``sli >= target``), ``budget_consumed`` (share
        of the period's budget this series spent, scaled to the compliance window: a
        series of length L spends ``(1 - sli) / (1 - target) × L / window``),
        ``budget_remaining`` (``1 - budget_consumed``), and per alert window
        ``first_alert_s`` (bucket end at which it first fires, ``nan`` if never) and
        ``detect_s`` (from the fault start to the first bucket end after it at which the
        alert holds; ``nan`` if it never does), keyed ``<page|ticket>_<long window>s``;
        the objective's threshold alerts likewise, keyed ``threshold_<alert name>``.
    """
    good, total, b = series
    sli = series.ratio
    length_s = total.size * b
    error = 1.0 - sli
    consumed = error / objective.error_budget * length_s / objective.window_s
    windows = alert_windows(objective.window_s)
    fire = np.asarray(firing(good, total, b, objective.target, windows))
    alerts = {}
    for w, f in zip(windows, fire, strict=True):
        first, detect = _first_times(f, b, fault_start_s)
        key = f"{w.severity}_{int(w.long_s)}s"
        alerts[key] = {"first_alert_s": first, "detect_s": detect, "factor": w.factor}
    for a in objective.alerts:
        f = np.asarray(threshold_firing(good, total, b, a.over_s, a.below, a.for_s))
        first, detect = _first_times(f, b, fault_start_s)
        alerts[f"threshold_{a.name}"] = {
            "first_alert_s": first,
            "detect_s": detect,
            "severity": a.severity,
        }
    return {
        "sli": sli,
        "met": bool(sli >= objective.target),
        "budget_consumed": consumed,
        "budget_remaining": 1.0 - consumed,
        "alerts": alerts,
    }


def _first_times(f: np.ndarray, bucket_s: float, fault_start_s: float | None):
    """First bucket end at which ``f`` holds, and the delay after the fault start."""
    ends = (np.arange(f.size) + 1) * bucket_s
    idx = np.flatnonzero(f)
    first = float(ends[idx[0]]) if idx.size else math.nan
    detect = math.nan
    if fault_start_s is not None:
        after = np.flatnonzero(f & (ends > fault_start_s))
        if after.size:
            detect = float(ends[after[0]] - fault_start_s)
    return first, detect


def by_source(slis: Mapping[str, SliSeries], objective: Objective) -> SliSeries | None:
    """The series an objective reads (latency SLIs by source and threshold; sources with a
    ``select`` by :func:`series_key`), if present."""
    if objective.kind == "latency":
        base = series_key(objective.source, dict(objective.select))
        return slis.get(f"{base}@{objective.threshold_s:g}")
    return slis.get(series_key(objective.source, dict(objective.select)))
