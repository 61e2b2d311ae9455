"""The scaling report's analyses: predict at large N from small runs, then simulate and compare.

Every function returns a tidy polars frame (or a dict) and takes its randomness from an
explicit key; wall-clock measurements (simulator throughput, FL aggregation time) are
labelled as such and never enter an assertion::

    from meshlab.scaling import experiments as ex
    k_fit, k_big, k_gos = jax.random.split(jax.random.key(0), 3)
    small = ex.simulate_sizes(k_fit, [100, 200, 500, 1000, 2000], 8, 50, 4)
    large = ex.simulate_sizes(k_big, [10_000, 100_000], 8, 50, 3)
    errors = ex.prediction_errors(small, large, ["p99_ms", "delivery_ratio"])
    sla = ex.sla_table(predict.scheme_costs(), [1.0, 10.0], [0.01, 0.05, 0.1], 0.005)

Sources of each prediction are in :mod:`meshlab.scaling.predict`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from functools import partial

import jax
import numpy as np
import polars as pl

from meshlab.core.stats import mean_ci
from meshlab.core.validation import (
    check_choice,
    check_int,
    check_list,
    check_real,
    check_section,
    check_seed,
)
from meshlab.membership import detection, detectors, gossip, serf
from meshlab.mesh import beacons, topology
from meshlab.scaling import predict, usl

__all__ = [
    "REPORT_PARAMS",
    "SEED_CLAIMS",
    "check_report_params",
    "closed_form_errors",
    "cut_fractions",
    "detection_sizes",
    "fl_aggregation_times",
    "fl_prediction_errors",
    "gossip_sizes",
    "prediction_errors",
    "roofline",
    "seed_extrapolation",
    "simulate_sizes",
    "simulator_throughput",
    "simulator_usl",
    "sla_table",
]

SEED_CLAIMS = ((100, 0.010), (500, 0.050), (1000, 0.100))
"""The modelled system's load-test claims: (nodes, p99 seconds); "limits" at 2,000."""


def _int_list(low: int, min_len: int = 1):
    item = partial(check_int, low=low)
    return partial(check_list, item=item, min_len=min_len, distinct=True)


def _real_list(low: float):
    item = partial(check_real, low=low, low_open=True)
    return partial(check_list, item=item, min_len=1)


def _scheme(name, value):
    from meshlab.crypto import profiles, schemes

    allowed = tuple(
        a for a in profiles.reference_profile().algorithms if schemes.kind(a) == "signature"
    )
    return check_choice(name, value, allowed)


def _rule(name, value):
    from meshlab.fl.aggregators import AGGREGATORS

    return check_choice(name, value, AGGREGATORS)


REPORT_PARAMS = {
    "seed": check_seed,
    "degree": partial(check_int, low=1, high=64),
    "fit_sizes": _int_list(4, min_len=3),
    "check_sizes": _int_list(4),
    "n_rounds": partial(check_int, low=2),
    "n_seeds": partial(check_int, low=2),
    "gossip_fanout": partial(check_int, low=1),
    "gossip_fit_sizes": _int_list(4, min_len=3),
    "gossip_check_sizes": _int_list(4),
    "gossip_rounds": partial(check_int, low=2),
    "detection_fit_sizes": partial(check_list, item=partial(check_int, low=4), min_len=0),
    "detection_check_sizes": partial(check_list, item=partial(check_int, low=4), min_len=0),
    "detection_timeout_s": partial(check_real, low=0.0, low_open=True),
    "detection_rounds": partial(check_int, low=4),
    "fl_rules": partial(check_list, item=_rule, min_len=1, distinct=True),
    "fl_fit_n": _int_list(8, min_len=3),
    "fl_check_n": _int_list(8),
    "fl_dim": partial(check_int, low=1),
    "schemes": partial(check_list, item=_scheme, min_len=1, distinct=True),
    "beacon_rates_hz": _real_list(0.0),
    "sla_thresholds_ms": _real_list(0.0),
    "throughput_sizes": partial(check_list, item=partial(check_int, low=4), min_len=0),
    "throughput_rounds": partial(check_int, low=1),
    "throughput_repeats": partial(check_int, low=1),
    "extrapolate_sizes": _int_list(2),
    "partition_sizes": partial(check_list, item=partial(check_int, low=16), min_len=0),
    "partition_shards": partial(check_list, item=partial(check_int, low=2), min_len=0),
    "calibrate_mb": partial(check_int, low=1),
}
"""Every parameter of the ``scaling`` report and its check (``scaling.<key>`` in errors)."""


def check_report_params(values: dict) -> dict:
    """Checks the ``scaling`` section (all keys of :data:`REPORT_PARAMS`) before any work.

    Besides each key's range: the detection sizes are both empty (section skipped) or
    ``detection_fit_sizes`` has >= 3 sizes, and ``throughput_sizes`` is empty or has >= 3.

    Raises:
        TypeError / ValueError: naming ``scaling.<key>``, its value and what is allowed.
    """
    out = check_section("scaling", values, REPORT_PARAMS)
    if out["detection_check_sizes"] and len(out["detection_fit_sizes"]) < 3:
        raise ValueError(
            "scaling.detection_fit_sizes needs >= 3 sizes when detection_check_sizes is set, "
            f"got {out['detection_fit_sizes']}"
        )
    if 0 < len(out["throughput_sizes"]) < 3:
        raise ValueError(
            "scaling.throughput_sizes must be empty (skip) or list >= 3 sizes for the USL fit, "
            f"got {out['throughput_sizes']}"
        )
    return out


def _sizes(name: str, sizes: Sequence[int]) -> list[int]:
    if len(sizes) < 1:
        raise ValueError(f"{name} must list at least one size, got {list(sizes)}")
    return [check_int(f"{name}[{i}]", n, low=2) for i, n in enumerate(sizes)]


def simulate_sizes(
    key: jax.Array,
    sizes: Sequence[int],
    degree: int,
    n_rounds: int,
    n_seeds: int,
    params: beacons.BeaconParams | None = None,
    config: beacons.BeaconConfig | None = None,
) -> pl.DataFrame:
    """Runs the beacon model on a random ``degree``-regular mesh at each size.

    Size ``i`` uses ``fold_in(key, i)`` for its topology and its seeds (one ``vmap``).

    Returns:
        One row per (n_nodes, seed): ``p99_ms``, ``p50_ms``, ``delivery_ratio``,
        ``cpu_util_mean`` (verify CPU), ``rx_bps`` (bits received per node per second,
        measured from the beacons addressed to the nodes), ``bin_rel_error``.
    """
    sizes = _sizes("sizes", sizes)
    degree = check_int("degree", degree, low=1)
    config = beacons.BeaconConfig() if config is None else config
    params = beacons.params() if params is None else params
    rows = []
    for i, n in enumerate(sizes):
        k_topo, k_sim = jax.random.split(jax.random.fold_in(key, i))
        topo = topology.random_regular(k_topo, n_nodes=n, degree=degree)
        kernel = beacons.build(config, topo)
        states, _ = beacons.rollout_seeds(kernel, k_sim, params, n_rounds, n_seeds)
        for s in range(n_seeds):
            one = jax.tree.map(lambda x, s=s: x[s], states)
            summ = beacons.summarize(one, config, params)
            sent = float(np.asarray(one.sent, np.float64).sum())
            rows.append(
                {
                    "n_nodes": n,
                    "seed": s,
                    "p50_ms": 1e3 * summ["p50_s"],
                    "p99_ms": 1e3 * summ["p99_s"],
                    "delivery_ratio": summ["delivery_ratio"],
                    "cpu_util_mean": summ["cpu_util_mean"],
                    "rx_bps": 8.0 * sent * float(params.beacon_bytes) / summ["sim_seconds"] / n,
                    "bin_rel_error": summ["bin_rel_error"],
                }
            )
    return pl.DataFrame(rows)


def gossip_sizes(
    key: jax.Array,
    sizes: Sequence[int],
    fanout: int,
    n_rounds: int,
    n_seeds: int,
    loss: float = 0.0,
    mode: str = "push",
) -> pl.DataFrame:
    """Gossip rounds to 99.9 % coverage on the complete graph at each size.

    Returns:
        One row per (n_nodes, seed): ``rounds_999`` (``nan`` if not reached within
        ``n_rounds``) and ``serf_rounds_999`` (the Serf envelope's crossing).
    """
    sizes = _sizes("sizes", sizes)
    prm = gossip.params(loss)
    level = gossip.COVERAGE_LEVELS.index(0.999)
    rows = []
    for i, n in enumerate(sizes):
        config = gossip.GossipConfig(n_nodes=n, mode=mode, fanout=fanout)
        kernel = gossip.build(config, None)
        res = gossip.summarize(
            gossip.rollout_seeds(kernel, jax.random.fold_in(key, i), prm, n_rounds, n_seeds),
            config,
            prm,
        )
        hit = np.asarray(res.rounds_to)[:, level].astype(float)
        env = float(serf.rounds_to(0.999, n, fanout, loss))
        for s in range(n_seeds):
            rows.append(
                {
                    "n_nodes": n,
                    "seed": s,
                    "rounds_999": hit[s] if hit[s] >= 0 else math.nan,
                    "serf_rounds_999": env,
                }
            )
    return pl.DataFrame(rows)


def detection_sizes(
    key: jax.Array,
    sizes: Sequence[int],
    degree: int,
    timeout_s: float,
    n_rounds: int,
    n_seeds: int,
    n_crashed: int = 4,
    params: beacons.BeaconParams | None = None,
) -> pl.DataFrame:
    """Crash-detection time of a timeout detector in the beacon mesh at each size.

    ``n_crashed`` nodes (ids spread evenly) crash at round ``n_rounds // 2``.

    Returns:
        One row per (n_nodes, seed): ``detect_first_s`` and ``detect_all_s`` (means over
        the crashed nodes: until the first / the last neighbour suspects).
    """
    sizes = _sizes("sizes", sizes)
    rows = []
    for i, n in enumerate(sizes):
        k_topo, k_sim = jax.random.split(jax.random.fold_in(key, i))
        topo = topology.random_regular(k_topo, n_nodes=n, degree=degree)
        crashed = np.linspace(0, n - 1, n_crashed).astype(int).tolist()
        rep = detection.crash_detection(
            k_sim,
            topo,
            detectors.timeout(timeout_s),
            crashed,
            n_rounds // 2,
            n_rounds,
            params=params,
            n_seeds=n_seeds,
        )
        first = np.asarray(rep.first_s, np.float64)
        last = np.asarray(rep.all_s, np.float64)
        for s in range(n_seeds):
            rows.append(
                {
                    "n_nodes": n,
                    "seed": s,
                    "detect_first_s": float(first[s].mean()),
                    "detect_all_s": float(last[s].mean()),
                }
            )
    return pl.DataFrame(rows)


def prediction_errors(
    small: pl.DataFrame, large: pl.DataFrame, quantities: Sequence[str]
) -> pl.DataFrame:
    """Fits each quantity on the small sizes, predicts the large ones, compares.

    The law is :func:`meshlab.scaling.predict.fit_log` (``a + b ln N``) on every
    (size, seed) row of ``small``; the simulated value at a large size is the mean over
    its seeds with a 95 % Student-t half-width.

    Returns:
        One row per (quantity, n_nodes): ``predicted`` and ``predicted_ci95`` (band of the
        fitted mean), ``simulated`` and ``simulated_ci95``, ``rel_error``
        (predicted / simulated − 1) and ``rel_error_ci95`` (both half-widths combined in
        quadrature, relative to the simulated mean), ``slope`` (``b``) and ``fit_sizes``.
    """
    rows = []
    for q in quantities:
        if q not in small.columns or q not in large.columns:
            raise ValueError(f"quantity {q!r} is not a column of both frames")
        ok = small.filter(pl.col(q).is_not_nan() & pl.col(q).is_not_null())
        fit = predict.fit_log(ok["n_nodes"].to_numpy(), ok[q].to_numpy())
        for n in sorted(set(large["n_nodes"].to_list())):
            sim = mean_ci(large.filter(pl.col("n_nodes") == n)[q].to_numpy())
            mean, half = predict.predict_log(fit, n)
            mean, half = float(mean), float(half)
            err = mean / sim["mean"] - 1.0 if sim["mean"] else math.nan
            sim_half = sim["ci95"] if math.isfinite(sim["ci95"]) else 0.0
            rows.append(
                {
                    "quantity": q,
                    "n_nodes": n,
                    "predicted": mean,
                    "predicted_ci95": half,
                    "simulated": sim["mean"],
                    "simulated_ci95": sim["ci95"],
                    "n_seeds": sim["n"],
                    "rel_error": err,
                    "rel_error_ci95": math.hypot(half, sim_half) / abs(sim["mean"])
                    if sim["mean"]
                    else math.nan,
                    "slope": fit.slope,
                    "fit_sizes": int(ok["n_nodes"].n_unique()),
                }
            )
    return pl.DataFrame(rows)


def closed_form_errors(
    large: pl.DataFrame, degree: int, params: beacons.BeaconParams | None = None
) -> pl.DataFrame:
    """Closed-form per-node predictions (no fit) against the simulated sizes.

    ``rx_bps`` and ``cpu_util_mean`` from :func:`meshlab.scaling.predict.node_load` (degree ×
    rate × bytes; degree × rate × verify mean × ``(1 − loss_p)``: lost beacons are never
    verified), ``delivery_ratio`` = ``1 − loss_p`` (iid loss, no faults, queues drained).

    Returns:
        Rows as :func:`prediction_errors` (``predicted_ci95`` = 0: no fitted parameters).
    """
    params = beacons.params() if params is None else params
    rate = 1.0 / float(params.interval_s)
    load = predict.node_load(degree, rate, float(params.beacon_bytes), float(params.verify_mean_s))
    want = {
        "rx_bps": float(load["rx_bps"]),
        "cpu_util_mean": float(load["verify_cpu"]) * (1.0 - float(params.loss_p)),
        "delivery_ratio": 1.0 - float(params.loss_p),
    }
    rows = []
    for q, pred in want.items():
        for n in sorted(set(large["n_nodes"].to_list())):
            sim = mean_ci(large.filter(pl.col("n_nodes") == n)[q].to_numpy())
            sim_half = sim["ci95"] if math.isfinite(sim["ci95"]) else 0.0
            rows.append(
                {
                    "quantity": q,
                    "n_nodes": n,
                    "predicted": pred,
                    "predicted_ci95": 0.0,
                    "simulated": sim["mean"],
                    "simulated_ci95": sim["ci95"],
                    "n_seeds": sim["n"],
                    "rel_error": pred / sim["mean"] - 1.0,
                    "rel_error_ci95": sim_half / abs(sim["mean"]),
                    "slope": 0.0,
                    "fit_sizes": 0,
                }
            )
    return pl.DataFrame(rows)


def fl_prediction_errors(small: pl.DataFrame, large: pl.DataFrame) -> pl.DataFrame:
    """Per rule: a power law ``t = c n^k`` fitted on the small client counts, checked on
    the large ones (:func:`meshlab.scaling.predict.fit_power`).

    Returns:
        One row per (rule, n) of ``large``: ``exponent`` (``k``), ``predicted_s`` with its
        95 % band ``predicted_lo_s`` / ``predicted_hi_s``, ``measured_s``, ``rel_error``.
    """
    rows = []
    for rule in sorted(set(small["rule"].to_list())):
        s = small.filter(pl.col("rule") == rule)
        fit = predict.fit_power(s["n"].to_numpy(), s["seconds"].to_numpy())
        for r in large.filter(pl.col("rule") == rule).iter_rows(named=True):
            mid, lo, hi = predict.predict_power(fit, r["n"])
            rows.append(
                {
                    "rule": rule,
                    "n": r["n"],
                    "exponent": fit.slope,
                    "predicted_s": float(mid),
                    "predicted_lo_s": float(lo),
                    "predicted_hi_s": float(hi),
                    "measured_s": r["seconds"],
                    "rel_error": float(mid) / r["seconds"] - 1.0,
                }
            )
    return pl.DataFrame(rows)


def sla_table(
    costs: Sequence[dict],
    beacon_rates_hz: Sequence[float],
    thresholds_s: Sequence[float],
    base_p99_s: float,
    rho_bound: float = 0.8,
) -> pl.DataFrame:
    """Where the verify queue limits the mesh, per scheme and beacon rate.

    Args:
        costs: rows of :func:`meshlab.scaling.predict.scheme_costs`.
        beacon_rates_hz: beacon rates (1 / interval).
        thresholds_s: p99 SLA thresholds (e.g. 10 / 50 / 100 ms).
        base_p99_s: the network part of the p99 (fitted on small runs).
        rho_bound: utilization bound (default 0.8).

    Returns:
        One row per (scheme, rate): ``degree_rho_bound`` (first degree with
        ``rho >= rho_bound``), ``degree_knee`` (first degree with ``rho >= 0.5``, where the
        M/M/1 mean wait equals the service time), ``degree_p99_<ms>ms`` (largest degree
        meeting each threshold; 0 if none) and the per-node ``rx_mbps_at_knee``.
    """
    rows = []
    for c in costs:
        es = c["verify_mean_s"]
        for rate in beacon_rates_hz:
            row = {
                "scheme": c["scheme"],
                "profile": c["profile"],
                "beacon_rate_hz": float(rate),
                "verify_mean_us": 1e6 * es,
                "degree_rho_bound": math.ceil(rho_bound / (rate * es)),
                "degree_knee": math.ceil(0.5 / (rate * es)),
            }
            for t in thresholds_s:
                row[f"degree_p99_{round(1e3 * t)}ms"] = predict.sla_degree(
                    rate, es, t, service_cv=c["verify_cv"], base_p99_s=base_p99_s
                )
            row["rx_mbps_at_knee"] = float(
                predict.node_load(row["degree_knee"], rate, c["beacon_bytes"], es)["rx_bps"] / 1e6
            )
            rows.append(row)
    return pl.DataFrame(rows)


def seed_extrapolation(
    p99_fit: predict.LogFit, sizes: Sequence[int], verify_mean_s: float, beacon_rate_hz: float
) -> pl.DataFrame:
    """The seed's claims extrapolated naively vs what the model predicts.

    Returns:
        One row per size: ``claimed_ms`` (the seed's figure where it made one),
        ``naive_linear_ms`` / ``naive_quadratic_ms`` (polynomials through the claims),
        ``model_ms`` ± ``model_ci95_ms`` (the fixed-degree mesh's p99 law fitted on small
        runs) and ``full_mesh_rho`` (verify utilization if every node verified every other
        node's beacon: ``(N − 1) · rate · verify``; >= 1 means unstable).
    """
    n_claim = [n for n, _ in SEED_CLAIMS]
    p_claim = [p for _, p in SEED_CLAIMS]
    claims = dict(SEED_CLAIMS)
    at = np.asarray(sizes, np.float64)
    lin = predict.naive_extrapolation(n_claim, p_claim, at, degree=1)
    quad = predict.naive_extrapolation(n_claim, p_claim, at, degree=2)
    model, half = predict.predict_log(p99_fit, at)
    rows = []
    for i, n in enumerate(sizes):
        rows.append(
            {
                "n_nodes": int(n),
                "claimed_ms": 1e3 * claims[n] if n in claims else math.nan,
                "naive_linear_ms": 1e3 * float(lin[i]),
                "naive_quadratic_ms": 1e3 * float(quad[i]),
                "model_ms": float(model[i]),
                "model_ci95_ms": float(half[i]),
                "full_mesh_rho": (n - 1) * beacon_rate_hz * verify_mean_s,
            }
        )
    return pl.DataFrame(rows)


def simulator_throughput(
    key: jax.Array,
    sizes: Sequence[int],
    degree: int,
    n_rounds: int,
    repeats: int = 1,
    params: beacons.BeaconParams | None = None,
) -> pl.DataFrame:
    """Wall-clock throughput of the beacon simulator (link-events per second) vs N.

    One warm-up rollout compiles; then ``repeats`` timed rollouts of ``n_rounds`` rounds
    (the median is reported). A link-event is one beacon on one link in one round.

    Returns:
        One row per size: ``wall_s`` (median), ``link_events``, ``link_events_per_s``.
    """
    sizes = _sizes("sizes", sizes)
    params = beacons.params() if params is None else params
    config = beacons.BeaconConfig()
    rows = []
    for i, n in enumerate(sizes):
        k_topo, k_sim = jax.random.split(jax.random.fold_in(key, i))
        topo = topology.random_regular(k_topo, n_nodes=n, degree=degree)
        kernel = beacons.build(config, topo)
        jax.block_until_ready(beacons.rollout(kernel, k_sim, params, n_rounds)[0])
        times = []
        for r in range(repeats):
            t0 = time.perf_counter()
            st, _ = beacons.rollout(kernel, jax.random.fold_in(k_sim, r + 1), params, n_rounds)
            jax.block_until_ready(st)
            times.append(time.perf_counter() - t0)
        wall = float(np.median(times))
        events = n * degree * n_rounds
        rows.append(
            {
                "n_nodes": n,
                "wall_s": wall,
                "link_events": events,
                "link_events_per_s": events / wall,
            }
        )
    return pl.DataFrame(rows)


def simulator_usl(throughput: pl.DataFrame) -> dict:
    """USL fit of the simulator's own throughput vs N (load = nodes).

    Returns:
        ``{"alpha", "beta", "gamma", "peak_n", "ceiling", "ci95"}`` of
        :func:`meshlab.scaling.usl.fit_usl` on ``(n_nodes, link_events_per_s)``.
    """
    fit = usl.fit_usl(throughput["n_nodes"].to_numpy(), throughput["link_events_per_s"].to_numpy())
    return {
        "alpha": fit.alpha,
        "beta": fit.beta,
        "gamma": fit.gamma,
        "peak_n": fit.peak_n,
        "ceiling": fit.ceiling,
        "ci95": fit.ci95,
        "n_points": fit.n_points,
    }


def roofline(n_nodes: int, degree: int, link_events_per_s: float, membw_gb_per_s: float) -> dict:
    """A roofline estimate: compulsory bytes per link-event vs memory bandwidth.

    The compulsory traffic of one round is reading and writing the carried beacon state
    once and reading the neighbour table (shapes from ``jax.eval_shape``, nothing run);
    the temporaries of the step only add to it, so ``membw / bytes`` is an upper bound on
    the link-events per second this machine's memory allows.

    Returns:
        ``{"bytes_per_link_event", "bound_link_events_per_s", "measured_link_events_per_s",
        "fraction_of_bound", "membw_gb_per_s"}``.
    """
    n_nodes = check_int("n_nodes", n_nodes, low=2)
    degree = check_int("degree", degree, low=1)
    config = beacons.BeaconConfig()
    params = beacons.params()
    data = beacons.MeshData(
        jax.ShapeDtypeStruct((n_nodes, degree), np.int32),
        jax.ShapeDtypeStruct((n_nodes, degree), np.bool_),
        jax.ShapeDtypeStruct((n_nodes, 2), np.float32),
    )
    state = jax.eval_shape(
        lambda k, d: beacons._init_fn(k, d, config, params), jax.random.key(0), data
    )

    def nbytes(tree) -> int:
        return sum(
            int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)
        )

    per_round = 2 * nbytes(state) + nbytes(data)
    per_link = per_round / (n_nodes * degree)
    bound = membw_gb_per_s * 1e9 / per_link
    return {
        "bytes_per_link_event": per_link,
        "bound_link_events_per_s": bound,
        "measured_link_events_per_s": float(link_events_per_s),
        "fraction_of_bound": float(link_events_per_s) / bound,
        "membw_gb_per_s": float(membw_gb_per_s),
    }


def cut_fractions(
    key: jax.Array,
    sizes: Sequence[int],
    shards: Sequence[int],
    degree: int,
    kinds: Sequence[str] = ("random_geometric", "grid_2d", "random_regular"),
    orderings: Sequence[str] = ("identity", "hilbert"),
) -> pl.DataFrame:
    """Share of links crossing shards per topology × ordering × shard count.

    Uses :mod:`meshlab.scaling.partition` (space-filling-curve orderings, padding) when it
    is installed in this tree; returns an empty frame otherwise.

    The geometric graph may come out disconnected at small N (it is accepted here: cut
    fractions are defined either way); each row says how many connected components its
    graph has, so a disconnected one is visible in the report.

    Returns:
        One row per (topology, n_nodes, ordering, n_shards): ``components`` and
        ``cut_fraction``.
    """
    try:
        from meshlab.scaling import partition
    except ImportError:  # the partition module is optional for this report
        return pl.DataFrame()
    rows = []
    for i, n in enumerate(sizes):
        for j, kind in enumerate(kinds):
            topo = topology.build_topology(
                kind, jax.random.fold_in(key, 100 * i + j), n, degree, 2 * degree,
                allow_disconnected=True,
            )  # fmt: skip
            n_components = int(np.unique(topology.components(topo)).size)
            for ordering in orderings:
                t = partition.reorder(topo, ordering).topology
                for k in shards:
                    rows.append(
                        {
                            "topology": kind,
                            "n_nodes": n,
                            "ordering": ordering,
                            "n_shards": k,
                            "components": n_components,
                            "cut_fraction": float(partition.cut_fraction(partition.pad(t, k), k)),
                        }
                    )
    return pl.DataFrame(rows)


def fl_aggregation_times(
    key: jax.Array, rules: Sequence[str], n_clients: Sequence[int], dim: int, repeats: int = 3
) -> pl.DataFrame:
    """Wall-clock time of one aggregation per rule and number of clients (compiled first).

    Returns:
        One row per (rule, n): ``seconds`` (median of ``repeats`` after a warm-up call).
    """
    from meshlab.fl import aggregators

    rows = []
    for rule in rules:
        for i, n in enumerate(_sizes("n_clients", n_clients)):
            agg = aggregators.make_aggregator(rule, n=n, f=max(1, n // 10))
            k_x, k_a = jax.random.split(jax.random.fold_in(key, i))
            x = jax.random.normal(k_x, (n, dim), np.float32)
            mask = np.ones((n,), bool)
            run = jax.jit(agg.aggregate)
            jax.block_until_ready(run(k_a, x, mask))
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(run(k_a, x, mask))
                times.append(time.perf_counter() - t0)
            rows.append({"rule": rule, "n": n, "dim": dim, "seconds": float(np.median(times))})
    return pl.DataFrame(rows)
