"""The SLA report's experiments: SLIs under nominal load and hand-built incidents.

Each function runs one domain's model and returns tidy polars frames (or dicts) that the
``sla`` notebook tabulates and charts:

* :func:`incident_schedules` / :func:`beacon_incidents`: a catalogue of incidents as
  fault schedules (``meshlab.mesh.faults``) run through the beacon model in one compiled,
  ``vmap``\\ ped call; :func:`objective_table` evaluates every mesh/membership objective of
  the spec on every incident (SLI, budget, when each alert fired, how long after the fault
  began).
* :func:`svid_series`: the SVID lifecycle through an identity-server outage.
* :func:`detection_series`, :func:`dissemination_series`: crash-detection and gossip
  dissemination latency events, one batch of independent runs per scrape interval.
* :func:`handshake_series`: real KEM handshakes, timed in CPU and wall time.
* :func:`pqc_table`: per-operation latency objectives against measured and reference
  cost profiles.
* :func:`aggregation_timing`: FL aggregation latency per rule and size, measured with
  robust statistics and a stability verdict.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from meshlab.slo.sli import (
    SliSeries,
    beacon_slis,
    by_source,
    evaluate,
    fl_slis,
    sample_slis,
    svid_slis,
)
from meshlab.slo.spec import SloSpec

__all__ = [
    "INCIDENTS",
    "aggregation_timing",
    "beacon_incidents",
    "burn_series",
    "chaos_series",
    "coverage",
    "detection_series",
    "dissemination_series",
    "fl_series",
    "handshake_series",
    "handshake_verdict",
    "incident_schedules",
    "objective_table",
    "pqc_series",
    "pqc_table",
    "svid_series",
    "timing_verdict",
    "verdicts",
]

INCIDENTS = {
    "none": "no fault",
    "crash_5pct": "5 % of nodes crash (and restart when the window ends)",
    "partition_bisect": "the mesh splits into two halves (both directions)",
    "loss_20pct": "20 % extra loss on every link",
    "invalid_2pct": "2 % of nodes send beacons that fail verification",
    "latency_200ms": "+200 ms on the links of 10 % of nodes",
}


def incident_schedules(
    names: Sequence[str], n_nodes: int, start_round: int, duration_rounds: int, seed: int = 0
):
    """Fault schedules of the named incidents, padded to one shape and stacked.

    Targets are chosen from a permutation of the nodes drawn from ``seed`` (numpy), so
    the same seed picks the same nodes in every run.

    Returns:
        A :class:`~meshlab.mesh.faults.FaultParams` with a leading ``len(names)`` axis.
    """
    from meshlab.mesh import faults

    unknown = [n for n in names if n not in INCIDENTS]
    if unknown:
        raise ValueError(f"unknown incident(s) {unknown}; known: {sorted(INCIDENTS)}")
    if not names:
        raise ValueError("need at least one incident")
    order = np.random.default_rng(seed).permutation(n_nodes)

    def share(frac: float) -> np.ndarray:
        mask = np.zeros(n_nodes, bool)
        mask[order[: max(1, round(frac * n_nodes))]] = True
        return mask

    end = start_round + duration_rounds
    one = []
    for name in names:
        if name == "none":
            one.append(faults.none(n_nodes, 1))
        elif name == "crash_5pct":
            one.append(faults.crash(share(0.05), start_round, end))
        elif name == "partition_bisect":
            groups = (np.arange(n_nodes) >= n_nodes // 2).astype(np.int32)
            one.append(faults.partition(groups, start_round, end))
        elif name == "loss_20pct":
            one.append(faults.loss(np.ones(n_nodes, bool), 0.2, start_round, end))
        elif name == "invalid_2pct":
            one.append(faults.invalid(share(0.02), start_round, end))
        elif name == "latency_200ms":
            one.append(faults.latency(share(0.10), 0.2, start_round, end))
    return faults.stack([faults.combine([f], n_slots=1) for f in one])


def beacon_incidents(
    key: jax.Array,
    names: Sequence[str],
    *,
    n_nodes: int,
    degree: int,
    hours: float,
    start_s: float,
    duration_s: float,
    latency_thresholds_s: Sequence[float],
    bucket_s: float = 15.0,
    loss_p: float = 0.01,
    timeout_s: float = 3.0,
    seed: int = 0,
    headroom_levels: Sequence[float] = (),
    link_levels: Sequence[float] = (),
) -> dict[str, dict[str, SliSeries]]:
    """Runs every incident through the beacon model (1 s rounds) in one ``vmap``.

    The mesh is a random regular graph; a timeout failure detector runs inside the model
    (for the false-suspicion SLI); the model counts, per round, the accepted beacons
    faster than each latency threshold, and the up nodes whose verify CPU and queue
    memory stay under each of ``headroom_levels``; ``link_levels`` are the network
    headroom levels. ``loss_p`` is the links' own iid loss.

    Returns:
        ``{incident: {SLI source: series}}`` per ``bucket_s`` scrape interval
        (:func:`meshlab.slo.sli.beacon_slis`).
    """
    from meshlab.core.kernel import scan_steps
    from meshlab.membership import detectors
    from meshlab.mesh import beacons, topology

    k_topo, k_run = jax.random.split(key)
    topo = topology.random_regular(k_topo, n_nodes=n_nodes, degree=degree)
    spec, det_params = detectors.timeout(timeout_s)
    config = beacons.BeaconConfig(
        detector=spec,
        sli_thresholds_s=tuple(float(t) for t in latency_thresholds_s),
        headroom_thresholds=tuple(float(t) for t in headroom_levels),
    )
    kernel = beacons.build(config, topo)
    n_rounds = int(round(hours * 3600))
    schedules = incident_schedules(names, n_nodes, int(start_s), max(1, int(duration_s)), seed=seed)
    base = beacons.params(detector=det_params, loss_p=loss_p)

    @jax.jit
    def run(sched):
        p = base._replace(faults=sched)
        return scan_steps(kernel, k_run, p, n_rounds)[1]

    infos = jax.vmap(run)(schedules)
    infos = jax.tree.map(np.asarray, infos)
    return {
        n: beacon_slis(
            jax.tree.map(lambda x, i=i: x[i], infos),
            1.0,
            bucket_s,
            thresholds_s=config.sli_thresholds_s,
            n_nodes=n_nodes,
            headroom=config.headroom_thresholds,
            link_levels=tuple(float(t) for t in link_levels),
        )
        for i, n in enumerate(names)
    }


def chaos_series(buckets) -> dict[str, dict[str, SliSeries]]:
    """Mesh SLI series per chaos scenario from the chaos report's bucket counts.

    Args:
        buckets: the chaos report's ``sli_buckets.csv`` frame
            (:func:`meshlab.chaos.experiments.sli_buckets`: per scenario and time bucket,
            summed over seeds, with the self-healing controller on).

    Returns:
        ``{"chaos:<scenario>": {source: SliSeries}}``, buckets in time order:
        ``beacons.delivery`` (expected beacons accepted / expected), and where the frame
        has the columns ``mesh.node_availability`` (up node-rounds / node-rounds),
        ``beacons.valid`` (accepted / verified) and ``beacons.latency@<threshold>`` per
        ``fast_<threshold>`` column (accepted at or under it / accepted).
    """
    import polars as pl

    out = {}
    cols = set(buckets.columns)
    fast = [c for c in buckets.columns if c.startswith("fast_")]
    for (name,), g in buckets.sort("scenario", "bucket").group_by("scenario", maintain_order=True):
        t = g["t_start_s"].to_numpy()
        bucket_s = float(t[1] - t[0]) if t.size > 1 else 1.0
        col = lambda c: g[c].cast(pl.Float64).to_numpy()  # noqa: E731, B023
        runs = {"beacons.delivery": SliSeries(col("good"), col("total"), bucket_s)}
        if {"nodes_up", "node_rounds"} <= cols:
            runs["mesh.node_availability"] = SliSeries(
                col("nodes_up"), col("node_rounds"), bucket_s
            )
        if {"accepted", "rejected"} <= cols:
            runs["beacons.valid"] = SliSeries(
                col("accepted"), col("accepted") + col("rejected"), bucket_s
            )
        if fast and "sli_accepted" in cols:
            for c in fast:
                thr = float(c.removeprefix("fast_"))
                runs[f"beacons.latency@{thr:g}"] = SliSeries(col(c), col("sli_accepted"), bucket_s)
        out[f"chaos:{name}"] = runs
    return out


def objective_table(
    spec: SloSpec,
    slis: Mapping[str, Mapping[str, SliSeries]],
    fault_start_s: Mapping[str, float | None],
):
    """Every objective with a series, evaluated on every run.

    Args:
        spec: the SLO spec.
        slis: ``{run name: {SLI source: series}}`` (from :func:`meshlab.slo.sli.beacon_slis`).
        fault_start_s: ``{run name: fault start in seconds, or None}``.

    Returns:
        polars frame: run, objective, component, target, sli, met, budget_consumed,
        page_s / ticket_s (first page / ticket alert, seconds from the run start),
        detect_page_s / detect_ticket_s / detect_threshold_s (first burn-rate page, ticket
        and threshold alert after the fault began, seconds).
    """
    import polars as pl

    rows = []
    for run, series_by_source in slis.items():
        for o in spec.objectives:
            series = by_source(series_by_source, o)
            if series is None:
                continue
            ev = evaluate(series, o, fault_start_s.get(run))
            pages = [a for k, a in ev["alerts"].items() if k.startswith("page")]
            tickets = [a for k, a in ev["alerts"].items() if k.startswith("ticket")]
            thresholds = [a for k, a in ev["alerts"].items() if k.startswith("threshold")]
            first = lambda al, f: min((a[f] for a in al if math.isfinite(a[f])), default=math.nan)  # noqa: E731
            rows.append(
                {
                    "run": run,
                    "objective": o.name,
                    "component": o.component,
                    "target": o.target,
                    "sli": ev["sli"],
                    "met": ev["met"],
                    "budget_consumed": ev["budget_consumed"],
                    "page_s": first(pages, "first_alert_s"),
                    "ticket_s": first(tickets, "first_alert_s"),
                    "detect_page_s": first(pages, "detect_s"),
                    "detect_ticket_s": first(tickets, "detect_s"),
                    "detect_threshold_s": first(thresholds, "detect_s"),
                }
            )
    return pl.DataFrame(rows)


def burn_series(
    series: SliSeries, target: float, window_s: float = 3600.0, period_s: float = 30 * 86400.0
):
    """Burn rate over a trailing window and the share of the period's budget spent so far.

    The period's budget in events is ``(1 - target) × rate × period_s``, with ``rate`` the
    run's mean event rate; the share spent at a bucket end is the bad events so far over
    that budget (1.0 = the whole period's budget gone).

    Returns:
        ``(t_s, burn_rate, budget_spent)`` numpy arrays, one value per bucket.
    """
    from meshlab.slo.burn import window_error_ratio

    b = series.bucket_s
    ratio = np.asarray(window_error_ratio(series.good, series.total, b, window_s), np.float64)
    rate = float(series.total.sum()) / (series.total.size * b)
    budget_events = (1.0 - target) * rate * period_s
    spent = np.cumsum(series.total - series.good) / max(budget_events, 1e-300)
    t = (np.arange(series.total.size) + 1) * b
    return t, ratio / (1.0 - target), spent


def svid_series(
    key: jax.Array,
    *,
    n_nodes: int,
    hours: float,
    dt_s: float,
    outage_start_s: float,
    outage_minutes: float,
    bucket_s: float,
    latency_thresholds_s: Sequence[float] = (),
) -> tuple[dict[str, SliSeries], dict]:
    """The SVID lifecycle through one identity-server outage: SLI series and summary.

    ``latency_thresholds_s`` adds the issuance-latency SLIs (answered requests at or
    under each threshold per bucket)."""
    from meshlab.identity import svid

    n_steps = int(round(hours * 3600 / dt_s))
    thresholds = tuple(float(t) for t in latency_thresholds_s)
    config = svid.SvidConfig(
        n_nodes=n_nodes, n_steps=n_steps, dt_s=dt_s, sli_thresholds_s=thresholds
    )
    p = svid.params(outages=[(outage_start_s, outage_start_s + 60.0 * outage_minutes)])
    final, trace = svid.rollout(svid.build(config), key, p, n_steps)
    slis = svid_slis(trace, n_nodes, dt_s, bucket_s, thresholds_s=thresholds)
    return slis, svid.summarize(final, config, p)


def detection_series(
    key: jax.Array,
    *,
    n_nodes: int,
    degree: int,
    thresholds_s: Sequence[float],
    n_buckets: int,
    crashes_per_bucket: int,
    bucket_s: float,
    timeout_s: float = 3.0,
    loss_p: float = 0.01,
) -> tuple[dict[str, SliSeries], dict]:
    """``membership.detection_latency`` series: crashes and how long every neighbour took.

    Each scrape interval holds ``crashes_per_bucket`` crashes: bucket ``b`` is one
    independent beacon-model run (seed ``b`` of one ``vmap``, :func:`meshlab.membership.
    detection.crash_detection`) on a random regular graph with the timeout detector, in
    which those nodes (drawn from ``key``, the same in every run) crash together after 10
    rounds of 1 s. An event is one crash; it is good when *every* listening neighbour
    suspects the node within the threshold (``DetectionReport.all_s``); a crash some
    neighbour never suspects before the run ends (``max(thresholds) + 2`` s after it) is
    bad.

    Returns:
        ``(slis, summary)``: series keyed ``membership.detection_latency@<threshold>``,
        and ``crashes``, ``all_s_p50`` / ``p99`` / ``max`` (s) and ``undetected``.
    """
    from meshlab.core.validation import check_int
    from meshlab.membership import detection, detectors
    from meshlab.mesh import beacons, topology

    n_buckets = check_int("n_buckets", n_buckets, 1)
    crashes = check_int("crashes_per_bucket", crashes_per_bucket, 1, n_nodes - 1)
    k_topo, k_nodes, k_run = jax.random.split(key, 3)
    topo = topology.random_regular(k_topo, n_nodes=n_nodes, degree=degree)
    nodes = np.sort(np.asarray(jax.random.permutation(k_nodes, n_nodes)[:crashes]))
    crash_round = 10
    n_rounds = crash_round + int(math.ceil(max(thresholds_s))) + 2
    rep = detection.crash_detection(
        k_run, topo, detectors.timeout(timeout_s), nodes.tolist(), crash_round, n_rounds,
        params=beacons.params(loss_p=loss_p), n_seeds=n_buckets,
    )  # fmt: skip
    all_s = np.asarray(rep.all_s, np.float64).reshape(-1)  # [buckets * crashes], time order
    slis = sample_slis(
        "membership.detection_latency", all_s, tuple(thresholds_s), crashes, bucket_s
    )
    done = all_s[np.isfinite(all_s)]
    q = lambda v: float(np.quantile(done, v)) if done.size else math.nan  # noqa: E731
    summary = {
        "crashes": int(all_s.size),
        "all_s_p50": q(0.5),
        "all_s_p99": q(0.99),
        "all_s_max": q(1.0),
        "undetected": int((~np.isfinite(all_s)).sum()),
    }
    return slis, summary


def dissemination_series(
    key: jax.Array,
    *,
    n_nodes: int,
    thresholds_s: Sequence[float],
    n_buckets: int,
    updates_per_bucket: int,
    bucket_s: float,
    fanout: int = 3,
    mode: str = "push",
    round_interval_s: float = 0.2,
    loss: float = 0.01,
    incident_loss: float | None = None,
    incident_buckets: tuple[int, int] = (0, 0),
    level: float = 0.999,
) -> tuple[dict[str, SliSeries], dict]:
    """``membership.dissemination_latency`` series: gossiped updates and their spread time.

    Each scrape interval holds ``updates_per_bucket`` updates, each an independent gossip
    run (:mod:`meshlab.membership.gossip`, one ``vmap`` over all of them) from a random
    source over a complete graph; an update is good when it reaches ``level`` of the
    nodes within the threshold. During ``incident_buckets`` (``[start, end)``) the contact
    loss is ``incident_loss`` instead of ``loss`` (a lossy network slows the spread).

    Returns:
        ``(slis, summary)``: series keyed ``membership.dissemination_latency@<threshold>``,
        and per phase (``nominal`` / ``incident``) the updates and ``p50_s`` / ``p99_s``
        of the time to ``level``, with ``unreached`` (never within the run).
    """
    import jax.numpy as jnp

    from meshlab.core.validation import check_int, check_prob
    from meshlab.membership import gossip

    n_buckets = check_int("n_buckets", n_buckets, 1)
    per = check_int("updates_per_bucket", updates_per_bucket, 1)
    loss = float(check_prob("loss", loss))
    inc = loss if incident_loss is None else float(check_prob("incident_loss", incident_loss))
    lo, hi = (int(v) for v in incident_buckets)
    if not 0 <= lo <= hi <= n_buckets:
        raise ValueError(
            f"incident_buckets={incident_buckets!r} must satisfy 0 <= start <= end <= {n_buckets}"
        )
    n_rounds = int(math.ceil(max(thresholds_s) / round_interval_s)) + 1
    config = gossip.GossipConfig(
        n_nodes=n_nodes, mode=mode, fanout=fanout, round_interval_s=round_interval_s
    )
    kernel = gossip.build(config)
    bucket_of = np.repeat(np.arange(n_buckets), per)
    losses = np.where((bucket_of >= lo) & (bucket_of < hi), inc, loss).astype(np.float32)
    keys = jax.random.split(key, losses.size)

    base = gossip.params(loss=loss)

    @jax.jit
    def spread(k, p_loss):
        p = base._replace(loss=p_loss)
        res = gossip.summarize(gossip.rollout(kernel, k, p, n_rounds), config, p)
        reach = gossip.rounds_to_coverage(res.coverage, (level,))[0]
        return jnp.where(reach >= 0, reach.astype(jnp.float32) * round_interval_s, jnp.inf)

    t = np.asarray(jax.vmap(spread)(keys, jnp.asarray(losses)), np.float64)
    slis = sample_slis("membership.dissemination_latency", t, tuple(thresholds_s), per, bucket_s)
    summary = {}
    for phase, sel in (("nominal", losses == loss), ("incident", losses != loss)):
        x = t[sel]
        ok = x[np.isfinite(x)]
        summary[phase] = {
            "updates": int(x.size),
            "p50_s": float(np.quantile(ok, 0.5)) if ok.size else math.nan,
            "p99_s": float(np.quantile(ok, 0.99)) if ok.size else math.nan,
            "unreached": int((~np.isfinite(x)).sum()),
        }
    return slis, summary


def handshake_series(
    *,
    algorithm: str,
    thresholds_s: Sequence[float],
    n_buckets: int,
    ops_per_bucket: int,
    bucket_s: float,
    backend: str | None = None,
) -> tuple[dict[str, dict[str, SliSeries]], dict]:
    """``pqc.handshake_latency`` series from real KEM handshakes, timed two ways.

    ``n_buckets × ops_per_bucket`` handshakes (:func:`meshlab.crypto.sla.handshake_times`)
    in time order; the same events give one series on thread CPU time (what the
    operation costs; a busy machine barely changes it) and one on wall time (what a
    caller waited). A verdict from wall time alone could flip with the machine's load:
    the summary's ``verdict`` is ``pass`` / ``fail`` per threshold only when both clocks
    agree, ``inconclusive`` otherwise.

    Returns:
        ``({"handshake_cpu": slis, "handshake_wall": slis}, summary)``: series keyed
        ``pqc.handshake_latency[algorithm=<algorithm>]@<threshold>``; the summary has the
        CPU and wall p50 / p99 (ms), the load average and per threshold the two shares
        under it and the verdict (against the objective's target, given by the caller).
    """
    from meshlab.core.validation import check_int
    from meshlab.crypto.sla import handshake_times, load_average

    n_buckets = check_int("n_buckets", n_buckets, 1)
    per = check_int("ops_per_bucket", ops_per_bucket, 1)
    load = load_average()
    cpu, wall = handshake_times(algorithm, n_buckets * per, backend=backend)
    sel = {"algorithm": algorithm}
    th = tuple(thresholds_s)
    runs = {
        "handshake_cpu": sample_slis("pqc.handshake_latency", cpu, th, per, bucket_s, sel),
        "handshake_wall": sample_slis("pqc.handshake_latency", wall, th, per, bucket_s, sel),
    }
    summary = {
        "algorithm": algorithm,
        "handshakes": int(cpu.size),
        "cpu_p50_ms": float(np.median(cpu) * 1e3),
        "cpu_p99_ms": float(np.quantile(cpu, 0.99) * 1e3),
        "wall_p50_ms": float(np.median(wall) * 1e3),
        "wall_p99_ms": float(np.quantile(wall, 0.99) * 1e3),
        "load_avg_1m": float(load),
        "share_under": {
            f"{t:g}": {"cpu": float((cpu <= t).mean()), "wall": float((wall <= t).mean())}
            for t in th
        },
    }
    return runs, summary


def handshake_verdict(share_cpu: float, share_wall: float, target: float) -> str:
    """``pass`` / ``fail`` when the CPU-time and wall-time SLIs agree about ``target``,
    ``inconclusive`` when only one of them meets it (the machine's load decided)."""
    a, b = share_cpu >= target, share_wall >= target
    if a and b:
        return "pass"
    if not a and not b:
        return "fail"
    return "inconclusive"


def fl_series(
    key: jax.Array,
    *,
    n_clients: int,
    n_rounds: int,
    rule: str,
    attack: str,
    byzantine_fraction: float,
    target_accuracy: float,
) -> tuple[dict[str, SliSeries], dict]:
    """One synchronous FL run on the digits under an attack: SLI series and summary.

    ``byzantine_fraction`` of the clients attack; the rule is configured for that many
    (or its own maximum). Returns :func:`meshlab.slo.sli.fl_slis` and ``fl.summarize``.
    """
    from meshlab import fl

    k_data, k_byz, k_run = jax.random.split(key, 3)
    data = fl.load_digits_federated(k_data, n_clients, 0.5)
    n_byz = int(round(byzantine_fraction * n_clients))
    config = fl.FLConfig(
        model=fl.ModelSpec("logistic_regression", 64, 10),
        aggregator=fl.aggregator_for(rule, n=n_clients, f_max=max(n_byz, 1)),
        n_clients=n_clients,
        n_rounds=n_rounds,
        attacks=("none", attack),
        detector=fl.ByzantineDetectorConfig(),
    )
    byz = np.asarray(fl.choose_byzantine(k_byz, n_clients, n_byz))
    params = fl.make_params(config, byz, attack=attack if n_byz else "none", client_lr=0.3)
    state, infos = fl.rollout(fl.build(config, data), k_run, params)
    summary = fl.summarize((state, infos), config, params)
    return fl_slis(infos, n_clients - n_byz, target_accuracy), summary


def pqc_series(
    key: jax.Array,
    *,
    kem_algorithm: str,
    signature_algorithm: str,
    n_buckets: int,
    ops_per_bucket: int,
    bucket_s: float,
    corrupt_p: float = 0.0,
    corrupt_buckets: tuple[int, int] = (0, 0),
    backend: str | None = None,
) -> tuple[dict[str, SliSeries], dict]:
    """``pqc.success`` series from real KEM handshakes and signature rounds.

    Operations run in time order, ``ops_per_bucket`` per scrape interval; during buckets
    ``corrupt_buckets[0] <= b < corrupt_buckets[1]`` each operation's ciphertext or
    signature is corrupted in transit with probability ``corrupt_p`` (one random bit
    flipped; the mask and bit positions come from ``key``), which makes the operation fail
    for real (:func:`meshlab.crypto.sla.success_trace`).

    Returns:
        ``(slis, summary)``: the series keyed like :func:`meshlab.slo.sli.pqc_slis`, and
        per family the operations run, failed, and failed among the uncorrupted ones
        (must be 0: a correct implementation never fails on clean input).
    """
    from meshlab.core.validation import check_int, check_prob
    from meshlab.crypto.sla import success_trace
    from meshlab.slo.sli import pqc_slis

    n_buckets = check_int("n_buckets", n_buckets, 1)
    ops_per_bucket = check_int("ops_per_bucket", ops_per_bucket, 1)
    corrupt_p = float(check_prob("corrupt_p", corrupt_p))
    lo, hi = (int(v) for v in corrupt_buckets)
    if not 0 <= lo <= hi <= n_buckets:
        raise ValueError(
            f"corrupt_buckets={corrupt_buckets!r} must satisfy 0 <= start <= end <= {n_buckets}"
        )
    n = n_buckets * ops_per_bucket
    in_window = (np.arange(n) // ops_per_bucket >= lo) & (np.arange(n) // ops_per_bucket < hi)
    success, summary = {}, {}
    for i, (family, alg) in enumerate((("kem", kem_algorithm), ("signature", signature_algorithm))):
        k_mask, k_bit = jax.random.split(jax.random.fold_in(key, i))
        draw = np.asarray(jax.random.bernoulli(k_mask, corrupt_p, (n,)))
        bits = np.asarray(jax.random.randint(k_bit, (n,), 0, 2**30))
        corrupt = draw & in_window
        ok = success_trace(alg, corrupt, backend=backend, flip_bit=bits)
        success[family] = ok
        summary[family] = {
            "algorithm": alg,
            "operations": n,
            "corrupted": int(corrupt.sum()),
            "failed": int((~ok).sum()),
            "failed_uncorrupted": int((~ok & ~corrupt).sum()),
        }
    return pqc_slis(success, ops_per_bucket, bucket_s), summary


def pqc_table(spec: SloSpec, latency):
    """Per-operation latency objectives against each cost profile in ``latency``.

    Args:
        spec: the SLO spec (its ``pqc.op_latency`` objectives, selected by algorithm and
            operation).
        latency: the pqc report's ``latency.csv`` frame (profile, algorithm, operation,
            median_us, p90_us, p99_us).

    Returns:
        polars frame: objective, profile, algorithm, operation, threshold_ms, target,
        share_below (lognormal from median and p90), p99_ms, met.
    """
    import polars as pl

    from meshlab.slo.sli import lognormal_fraction_below

    rows = []
    for o in spec.objectives:
        if o.source != "pqc.op_latency":
            continue
        sel = dict(o.select)
        match = latency.filter(
            (pl.col("algorithm") == sel.get("algorithm"))
            & (pl.col("operation") == sel.get("operation"))
            & pl.col("median_us").is_not_null()
            & pl.col("p90_us").is_not_null()
        )
        for r in match.iter_rows(named=True):
            share = lognormal_fraction_below(
                o.threshold_s, r["median_us"] * 1e-6, max(r["p90_us"], r["median_us"]) * 1e-6
            )
            p99 = r.get("p99_us")
            rows.append(
                {
                    "objective": o.name,
                    "profile": r["profile"],
                    "algorithm": r["algorithm"],
                    "operation": r["operation"],
                    "threshold_ms": o.threshold_s * 1e3,
                    "target": o.target,
                    "share_below": share,
                    "p99_ms": None if p99 is None else p99 * 1e-3,
                    "met": bool(share >= o.target and (p99 is None or p99 * 1e-6 <= o.threshold_s)),
                }
            )
    return pl.DataFrame(rows)


def timing_verdict(
    wall_rounds: Sequence[float], cpu_rounds: Sequence[float], threshold_s: float
) -> tuple[float, float, float, str]:
    """Robust verdict from per-round medians of wall and CPU time.

    Returns:
        ``(wall_median, cpu_median, spread, verdict)``: medians over rounds, the spread
        ``(max - min) / median`` of the wall rounds (a stability measure, reported), and
        ``"pass"`` when every round's wall and CPU medians are under ``threshold_s``,
        ``"fail"`` when every one is at or over it, and ``"inconclusive"`` otherwise: the
        rounds, or wall and CPU time (a busy machine), disagree about the threshold.
    """
    wall, cpu = np.asarray(wall_rounds, float), np.asarray(cpu_rounds, float)
    wm, cm = float(np.median(wall)), float(np.median(cpu))
    spread = float((wall.max() - wall.min()) / max(wm, 1e-12))
    under = np.concatenate([wall, cpu]) < threshold_s
    if under.all():
        return wm, cm, spread, "pass"
    if not under.any():
        return wm, cm, spread, "fail"
    return wm, cm, spread, "inconclusive"


def aggregation_timing(
    key: jax.Array,
    rules: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    threshold_s: float,
    *,
    f_fraction: float = 0.2,
    repeats: int = 7,
    rounds: int = 3,
):
    """FL aggregation latency per rule and size, with a verdict a busy machine cannot flip.

    Each (rule, n, d) is timed ``repeats`` times in each of ``rounds`` interleaved rounds
    (rules and sizes alternate, so a burst of background load hits all of them); the
    statistic is the median of per-round medians of **process CPU time** and of wall time,
    and the verdict (:func:`timing_verdict`) is pass or fail only when every round and both
    clocks agree about the threshold, otherwise inconclusive.

    Returns:
        polars frame: rule, n, d, wall_median_s, cpu_median_s, spread, load_avg_1m,
        verdict.
    """
    import polars as pl

    from meshlab import fl

    cases = []
    for n, d in sizes:
        k1, key = jax.random.split(key)
        x = jax.random.normal(k1, (n, d), jax.numpy.float32)
        mask = jax.numpy.ones((n,), bool)
        for rule in rules:
            f = max(0, min(int(f_fraction * n), (n - 3) // 4 if rule == "bulyan" else n // 2 - 1))
            agg = fl.make_aggregator(rule, n=n, f=f)
            fn = jax.jit(agg.aggregate)
            jax.block_until_ready(fn(key, x, mask))  # compile outside the timing
            cases.append((rule, n, d, fn, x, mask))
    wall = {i: [] for i in range(len(cases))}
    cpu = {i: [] for i in range(len(cases))}
    for _ in range(rounds):
        for i, (_, _, _, fn, x, mask) in enumerate(cases):
            w, c = [], []
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                jax.block_until_ready(fn(key, x, mask))
                w.append(time.perf_counter() - t0)
                c.append(time.process_time() - c0)
            wall[i].append(float(np.median(w)))
            cpu[i].append(float(np.median(c)))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    rows = []
    for i, (rule, n, d, *_rest) in enumerate(cases):
        wm, cm, spread, verdict = timing_verdict(wall[i], cpu[i], threshold_s)
        rows.append(
            {
                "rule": rule, "n": n, "d": d, "wall_median_s": wm, "cpu_median_s": cm,
                "spread": spread, "load_avg_1m": load, "verdict": verdict,
            }
        )  # fmt: skip
    return pl.DataFrame(rows)


def _held(ok: bool) -> str:
    return "held" if ok else "not held"


def coverage(spec: SloSpec, tables: Mapping[str, Any]):
    """Where each objective was evaluated, so an objective without data is visible.

    Args:
        spec: the SLO spec.
        tables: ``{section name: polars frame with an "objective" column}``.

    Returns:
        polars frame: objective, component, source, evaluated_in (comma-separated section
        names; empty when no run in this report produces the objective's SLI).
    """
    import polars as pl

    rows = []
    for o in spec.objectives:
        where = [name for name, t in tables.items() if o.name in set(t["objective"].to_list())]
        rows.append(
            {
                "objective": o.name,
                "component": o.component,
                "source": o.source,
                "evaluated_in": ", ".join(where),
            }
        )
    return pl.DataFrame(rows)


def verdicts(
    objectives,
    svid_summary: Mapping[str, Any],
    pqc,
    aggregation,
    threshold_s: float,
    pqc_success=None,
) -> list[dict[str, Any]]:
    """The seed system's headline claims: ``held`` / ``not held`` / ``inconclusive``, with
    the measured value, the target and the margin (positive: room to spare).

    ``pqc_success`` (optional) is :func:`objective_table` over :func:`pqc_series` runs; its
    ``pqc_nominal`` run gives the "PQC 99.99 % success" claim."""
    rows = []
    nominal = objectives.filter(objectives["run"] == "none")
    avail = nominal.filter(nominal["objective"] == "mesh_beacon_delivery")
    if avail.height:
        sli = float(avail["sli"][0])
        rows.append({"claim": "mesh availability 99.99 % (beacon delivery, no fault)",
                     "value": sli, "target": 0.9999, "held": _held(sli >= 0.9999),
                     "margin": sli - 0.9999})  # fmt: skip
    if pqc.height:
        for prof in pqc["profile"].unique(maintain_order=True).to_list():
            sub = pqc.filter(pqc["profile"] == prof)
            worst = float(sub["share_below"].min())
            rows.append({"claim": f"PQC operations < 5 ms ({prof})", "value": worst,
                         "target": float(sub["target"].max()), "held": _held(bool(sub["met"].all())),
                         "margin": worst - float(sub["target"].max())})  # fmt: skip
    if pqc_success is not None:
        nominal_pqc = pqc_success.filter(pqc_success["run"] == "pqc_nominal")
        if nominal_pqc.height:
            sli = float(nominal_pqc["sli"].min())
            rows.append({"claim": "PQC operations 99.99 % success (no fault)", "value": sli,
                         "target": 0.9999, "held": _held(sli >= 0.9999),
                         "margin": sli - 0.9999})  # fmt: skip
    p99 = float(svid_summary["issuance_latency_p99_s"])
    rows.append({"claim": "SVID issuance < 1,000 ms (p99)", "value": p99, "target": 1.0,
                 "held": _held(p99 < 1.0), "margin": 1.0 - p99})  # fmt: skip
    if aggregation.height:
        worst = aggregation.sort("wall_median_s", descending=True).row(0, named=True)
        held = "fail" not in aggregation["verdict"].to_list()
        inconclusive = "inconclusive" in aggregation["verdict"].to_list()
        rows.append({"claim": f"FL aggregation < {threshold_s * 1e3:.0f} ms (every rule and size)",
                     "value": worst["wall_median_s"], "target": threshold_s,
                     "held": "inconclusive" if inconclusive and held else _held(held),
                     "margin": threshold_s - worst["wall_median_s"]})  # fmt: skip
    return rows
