"""The membership figures of the beacons report: tidy polars frames and metric dicts.

Detection (crash detection inside the beacon model)::

    dets = experiments.report_detectors(timeout_s=3.0, phi_threshold=8.0, pause_s=3.0)
    crashed = experiments.choose_crashed(key, n_nodes=100, n_crashed=6)
    times, rates = experiments.detection_runs(key, topo, dets, crashed, 25, 50, [0.0, 0.2], 2)
    summary = experiments.detection_summary(times, rates)
    metrics = experiments.detection_metrics(summary, [0.0, 0.2])

Dissemination (gossip coverage against the Serf envelope)::

    curves, crossings = experiments.gossip_runs(key, topo_key, [256], 8, 3, 25, 8, 0.0, 0.2)
    metrics |= experiments.gossip_metrics(crossings, [256])

Every mean comes with a 95 % Student-t half-width over seeds (and crashed nodes for the
detection times), from :func:`meshlab.core.stats.mean_ci`. polars is imported on first
use, so ``import meshlab.membership`` does not load it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from meshlab.core.stats import mean_ci
from meshlab.core.validation import check_int
from meshlab.membership import detection, detectors, gossip, serf
from meshlab.mesh import beacons
from meshlab.mesh import topology as topologies

if TYPE_CHECKING:  # polars is imported on first use: `import meshlab.membership` stays light
    import polars as pl

__all__ = [
    "choose_crashed",
    "detection_metrics",
    "detection_runs",
    "detection_summary",
    "gossip_metrics",
    "gossip_runs",
    "pick",
    "report_detectors",
]

_WHICH = (("first neighbour", "first_s"), ("all neighbours", "all_s"))


def report_detectors(
    timeout_s: float = 3.0, phi_threshold: float = 8.0, pause_s: float = 3.0
) -> dict[str, tuple]:
    """The four detectors of the report, ``{label: (spec, params)}`` in this order.

    A fixed timeout, φ-accrual normal (Akka) without and with an acceptable pause, and
    φ-accrual exponential (Cassandra); all start from Akka's bootstrap (1 s ± 0.25 s).
    """
    thr = phi_threshold
    return {
        f"timeout {timeout_s:g} s": detectors.timeout(timeout_s),
        f"phi-normal {thr:g}": detectors.phi_accrual(threshold=thr),
        f"phi-normal {thr:g}, pause {pause_s:g} s": detectors.phi_accrual(
            threshold=thr, acceptable_pause_s=pause_s
        ),
        f"phi-exponential {thr:g}": detectors.phi_accrual(threshold=thr, model="exponential"),
    }


def choose_crashed(key: jax.Array, n_nodes: int, n_crashed: int) -> np.ndarray:
    """``n_crashed`` distinct node ids drawn uniformly (``jax.random.choice``), int64[M]."""
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    n_crashed = check_int("n_crashed", n_crashed, low=1, high=n_nodes)
    return np.asarray(jax.random.choice(key, n_nodes, (n_crashed,), replace=False), np.int64)


def detection_runs(
    key: jax.Array,
    topology: Any,
    detector_set: Mapping[str, tuple],
    crashed: Sequence[int],
    crash_round: int,
    n_rounds: int,
    losses: Sequence[float],
    n_seeds: int,
    *,
    config: Any = None,
    beacon_overrides: Mapping[str, Any] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Crash detection in the beacon model for every loss level (one rollout per level).

    Each loss level runs :func:`meshlab.membership.detection.crash_detection` with all
    detectors bundled, ``n_seeds`` seeds from the same ``key`` (so levels share their
    random streams) and ``beacons.params(loss_p=loss, **beacon_overrides)``.

    Args:
        key: typed key.
        topology: the beacon mesh.
        detector_set: ``{label: (spec, params)}`` (e.g. :func:`report_detectors`).
        crashed: distinct crashed node ids.
        crash_round: first round the crashed nodes are down.
        n_rounds: beacon rounds per run.
        losses: iid beacon loss probabilities.
        n_seeds: independent runs per level.
        config: ``beacons.BeaconConfig`` (default ``BeaconConfig()``).
        beacon_overrides: other ``beacons.params`` fields.

    Returns:
        ``(times, rates)``: ``times`` has one row per detector, loss, seed, crashed node
        and ``which`` (``"first neighbour"`` / ``"all neighbours"``) with ``detect_s``
        (seconds from crash to suspicion, ``inf`` if not within the run); ``rates`` has one
        row per detector, loss and seed with ``false_suspicion_rate`` (fraction of live-link
        time suspected), ``mistakes_per_link_hour`` and ``links_ever_suspected``.
    """
    import polars as pl

    names = list(detector_set)
    crashed = np.asarray(crashed, np.int64)
    rows, rates = [], []
    for loss in losses:
        params = beacons.params(**{**(beacon_overrides or {}), "loss_p": loss})
        reports = detection.crash_detection(
            key,
            topology,
            list(detector_set.values()),
            crashed,
            crash_round,
            n_rounds,
            config=config,
            params=params,
            n_seeds=n_seeds,
        )
        for name, rep in zip(names, reports, strict=True):
            arrays = {field: np.asarray(getattr(rep, field)) for _, field in _WHICH}
            fs = np.asarray(rep.false_suspicion_rate)
            mistakes = np.asarray(rep.mistake_rate_per_s)
            ever = np.asarray(rep.links_ever_suspected)
            for s in range(n_seeds):
                for j, node in enumerate(crashed):
                    for which, field in _WHICH:
                        rows.append(
                            {
                                "detector": name,
                                "loss": loss,
                                "seed": s,
                                "node": int(node),
                                "which": which,
                                "detect_s": float(arrays[field][s, j]),
                            }
                        )
                rates.append(
                    {
                        "detector": name,
                        "loss": loss,
                        "seed": s,
                        "false_suspicion_rate": float(fs[s]),
                        "mistakes_per_link_hour": 3600 * float(mistakes[s]),
                        "links_ever_suspected": float(ever[s]),
                    }
                )
    return pl.DataFrame(rows), pl.DataFrame(rates)


def detection_summary(times: pl.DataFrame, rates: pl.DataFrame) -> pl.DataFrame:
    """One row per detector and loss: detection times and false suspicion, mean ± 95 % CI.

    Columns: ``detector``, ``loss``, ``first_mean_s``, ``first_ci95_s``, ``all_mean_s``,
    ``all_ci95_s`` (over seeds × crashed nodes, undetected crashes left out),
    ``all_max_s`` (``inf`` if any crash stayed undetected by some neighbour),
    ``undetected`` (crashes not detected by all neighbours), ``false_suspicion_rate``,
    ``false_suspicion_ci95`` (over seeds).
    """
    import polars as pl

    summary = []
    for (name, loss), grp in times.group_by("detector", "loss", maintain_order=True):
        first = grp.filter(pl.col("which") == "first neighbour")["detect_s"].to_numpy()
        every = grp.filter(pl.col("which") == "all neighbours")["detect_s"].to_numpy()
        fs = rates.filter((pl.col("detector") == name) & (pl.col("loss") == loss))
        c_first, c_all = mean_ci(first), mean_ci(every)
        c_fs = mean_ci(fs["false_suspicion_rate"].to_numpy())
        summary.append(
            {
                "detector": name,
                "loss": loss,
                "first_mean_s": c_first["mean"],
                "first_ci95_s": c_first["ci95"],
                "all_mean_s": c_all["mean"],
                "all_ci95_s": c_all["ci95"],
                "all_max_s": float(np.max(every)),
                "undetected": int(np.sum(~np.isfinite(every))),
                "false_suspicion_rate": c_fs["mean"],
                "false_suspicion_ci95": c_fs["ci95"],
            }
        )
    return pl.DataFrame(summary)


def pick(summary: pl.DataFrame, name: str, loss: float, column: str) -> float:
    """The value of ``column`` for detector ``name`` at ``loss`` in a summary frame."""
    import polars as pl

    hit = summary.filter((pl.col("detector") == name) & (pl.col("loss") == loss))
    if hit.height != 1:
        raise ValueError(f"no single summary row for detector={name!r}, loss={loss!r}")
    return float(hit[column][0])


def detection_metrics(summary: pl.DataFrame, losses: Sequence[float]) -> dict:
    """Headline detection metrics: mean time to first / all neighbours at the first loss
    level and the false-suspicion rate at the last one, per detector; undetected crashes."""
    names = list(dict.fromkeys(summary["detector"].to_list()))
    lo, hi = losses[0], losses[-1]
    return {
        "detect_all_mean_s_loss0": {n: pick(summary, n, lo, "all_mean_s") for n in names},
        "detect_first_mean_s_loss0": {n: pick(summary, n, lo, "first_mean_s") for n in names},
        "false_suspicion_rate_max_loss": {
            n: pick(summary, n, hi, "false_suspicion_rate") for n in names
        },
        "undetected_crashes": int(summary["undetected"].sum()),
    }


def gossip_runs(
    key: jax.Array,
    topology_key: jax.Array,
    sizes: Sequence[int],
    degree: int,
    fanout: int,
    n_rounds: int,
    n_seeds: int,
    loss: float,
    interval_s: float,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Gossip coverage of push / pull / push-pull on the complete graph and a random
    regular mesh (``meshlab.mesh.topology.random_regular(topology_key, n, degree)``).

    Every size, graph and mode runs ``n_seeds`` seeds from ``key`` (the source is drawn
    per seed).

    Returns:
        ``(curves, crossings)``. ``curves``: one row per size, graph, mode and round with
        ``seconds``, ``coverage`` (mean over seeds), ``coverage_min``, ``coverage_max`` and
        ``serf_envelope`` (:func:`meshlab.membership.serf.convergence`). ``crossings``: one
        row per size, graph, mode and level of :data:`gossip.COVERAGE_LEVELS` with
        ``rounds_mean``, ``rounds_ci95`` (over the seeds that reached it), ``reached``
        (seeds), ``seconds_mean`` and ``serf_rounds`` (the envelope's crossing;
        ``nan`` for 100 %).
    """
    import polars as pl

    levels = gossip.COVERAGE_LEVELS
    prm = gossip.params(loss)
    curves, crossings = [], []
    for n in sizes:
        graphs = {
            "complete": None,
            f"regular {degree}": topologies.random_regular(topology_key, n_nodes=n, degree=degree),
        }
        env = serf.convergence(np.arange(n_rounds + 1), n, fanout, loss)
        env_rounds = serf.rounds_to(levels, n, fanout, loss).tolist()
        for graph, table in graphs.items():
            for mode in gossip.MODES:
                config = gossip.GossipConfig(
                    n_nodes=n, mode=mode, fanout=fanout, round_interval_s=interval_s
                )
                kernel = gossip.build(config, table)
                res = gossip.summarize(
                    gossip.rollout_seeds(kernel, key, prm, n_rounds, n_seeds), config, prm
                )
                cov = np.asarray(res.coverage)
                for r in range(n_rounds + 1):
                    curves.append(
                        {
                            "n_nodes": n,
                            "graph": graph,
                            "mode": mode,
                            "round": r,
                            "seconds": r * interval_s,
                            "coverage": float(cov[:, r].mean()),
                            "coverage_min": float(cov[:, r].min()),
                            "coverage_max": float(cov[:, r].max()),
                            "serf_envelope": float(env[r]),
                        }
                    )
                hit = np.asarray(res.rounds_to).astype(float)
                hit[hit < 0] = np.nan  # not reached within n_rounds
                for j, q in enumerate(levels):
                    c = mean_ci(hit[:, j])
                    crossings.append(
                        {
                            "n_nodes": n,
                            "graph": graph,
                            "mode": mode,
                            "level": q,
                            "rounds_mean": c["mean"],
                            "rounds_ci95": c["ci95"],
                            "reached": int(np.isfinite(hit[:, j]).sum()),
                            "seconds_mean": c["mean"] * interval_s,
                            "serf_rounds": env_rounds[j],
                        }
                    )
    return pl.DataFrame(curves), pl.DataFrame(crossings)


def gossip_metrics(crossings: pl.DataFrame, sizes: Sequence[int]) -> dict:
    """Rounds to 99.9 % coverage per graph / mode / size, and the Serf envelope's, as dicts."""
    import polars as pl

    at = crossings.filter(pl.col("level") == 0.999)
    return {
        "gossip_rounds_to_999": {
            f"{r['graph']}/{r['mode']}/N={r['n_nodes']}": r["rounds_mean"]
            for r in at.iter_rows(named=True)
        },
        "serf_rounds_to_999": {
            f"N={n}": float(at.filter(pl.col("n_nodes") == n)["serf_rounds"][0]) for n in sizes
        },
    }
