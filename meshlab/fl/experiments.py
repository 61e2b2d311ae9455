"""Sweeps and tables behind the ``fl_robustness`` report (tidy polars frames, metric dicts).

* :func:`robustness_sweep`: every aggregator x attack x Byzantine fraction x seed with the
  synchronous orchestrator; one compilation per aggregator (attacks, fractions and seeds
  are vmapped through :class:`~meshlab.fl.orchestrators.FLParams`). The same keys and
  attacker sets are used for every aggregator (common random numbers), and attacker sets
  are nested across fractions for a given seed.
* :func:`orchestrator_comparison`: synchronous vs batch-async vs streaming on the same
  data and keys, with the simulated clock (for time-to-accuracy).
* :func:`hierarchical_bytes`: hierarchical vs flat bytes per round.
* :func:`group_mean_ci`: grouped mean with a two-sided 95 % Student-t interval over seeds
  (the per-sample form is :func:`meshlab.core.stats.mean_ci`).
* :func:`detection_table`, :func:`convergence_table`, :func:`time_to_accuracy_table`,
  :func:`rule_choice`, :func:`report_metrics`: the report's tables and headline numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from meshlab.core.batching import seed_keys, stack_params
from meshlab.core.kernel import rollout_seeds
from meshlab.core.stats import t_quantile_975
from meshlab.core.validation import check_int, check_key, check_real
from meshlab.fl.aggregators import aggregator_for
from meshlab.fl.data import FederatedData, choose_byzantine
from meshlab.fl.orchestrators import (
    FLConfig,
    build,
    make_params,
    rollout,
    rollout_batch,
    summarize,
    time_to_accuracy,
)

__all__ = [
    "convergence_table",
    "detection_table",
    "group_mean_ci",
    "hierarchical_bytes",
    "orchestrator_comparison",
    "report_metrics",
    "robustness_sweep",
    "rule_choice",
    "time_to_accuracy_table",
]

_ROUND_METRICS = ("accuracy", "loss", "grad_norm", "precision", "recall", "f1")


def group_mean_ci(df: pl.DataFrame, by: Sequence[str], value: str) -> pl.DataFrame:
    """Mean of ``value`` over the rows of each ``by`` group with a 95 % t-interval.

    Returns columns ``*by, mean, ci_lo, ci_hi, n`` (``ci`` = mean +- t sd / sqrt(n), with
    ``t = meshlab.core.stats.t_quantile_975(n - 1)``; equal to the mean when n = 1).
    Non-finite values are dropped before averaging.
    """
    g = (
        df.filter(pl.col(value).is_finite())
        .group_by(list(by), maintain_order=True)
        .agg(
            pl.col(value).mean().alias("mean"), pl.col(value).std().alias("sd"), pl.len().alias("n")
        )
    )
    half = [
        t_quantile_975(int(n) - 1) * (sd or 0.0) / math.sqrt(n) if n > 1 else 0.0
        for n, sd in zip(g["n"], g["sd"], strict=True)
    ]
    g = g.with_columns(pl.Series("half", half, dtype=pl.Float64))
    return g.select(
        *by,
        "mean",
        (pl.col("mean") - pl.col("half")).alias("ci_lo"),
        (pl.col("mean") + pl.col("half")).alias("ci_hi"),
        "n",
    )


def robustness_sweep(
    key: jax.Array,
    data: FederatedData,
    config: FLConfig,
    aggregators: Sequence[str],
    fractions: Sequence[float],
    n_seeds: int,
    f_max: int,
    *,
    attack_strength: Mapping[str, float] | None = None,
    client_lr: float = 0.1,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Runs every aggregator x attack (``config.attacks``) x fraction x seed.

    Args:
        key: typed PRNG key.
        data: federated data (``config.n_clients`` clients).
        config: template configuration; its ``aggregator`` is replaced by each rule's
            :func:`~meshlab.fl.aggregators.aggregator_for` spec (``f <= f_max``) and its
            orchestrator by ``"sync"``.
        aggregators: rule names (pre-aggregators allowed, e.g. ``"nnm+krum"``).
        fractions: Byzantine fractions in [0, 1); ``round(fraction * n)`` attackers.
        n_seeds: seeds per cell.
        f_max: the ``f`` the defender configures (rules with a lower breakdown point get
            their largest admissible ``f``).
        attack_strength: ``{attack: strength}`` (see :func:`make_params`).
        client_lr: base client learning rate.

    Returns:
        ``(per_round, per_run)``: per-round rows (aggregator, f, attack, fraction, seed,
        round, accuracy, loss, grad_norm, precision, recall, f1) and per-run rows
        (final accuracy / precision / recall / F1, convergence round, rounds to isolate
        the attackers; see :func:`~meshlab.fl.orchestrators.summarize`).
    """
    check_key(key)
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    n = config.n_clients
    counts = [int(round(f * n)) for f in fractions]
    if any(not 0 <= c < n for c in counts):
        raise ValueError(f"fractions must lie in [0, 1), got {list(fractions)}")
    config = dataclasses.replace(config, orchestrator="sync")
    n_att, n_fr = len(config.attacks), len(fractions)
    k_byz, k_run = jax.random.split(key)
    byz_keys = jax.random.split(k_byz, n_seeds)
    byz = [[choose_byzantine(k, n, c) for k in byz_keys] for c in counts]  # [F][S] bool[n]
    grid = [(a, j, s) for a in range(n_att) for j in range(n_fr) for s in range(n_seeds)]
    params = stack_params(
        [
            make_params(
                config,
                np.asarray(byz[j][s]),
                attack=a,
                attack_strength=attack_strength,
                client_lr=client_lr,
            )  # fmt: skip
            for a, j, s in grid
        ]
    )
    keys = seed_keys(k_run, len(grid))
    label = {
        "attack": [config.attacks[a] for a, _, _ in grid],
        "fraction": [float(fractions[j]) for _, j, _ in grid],
        "seed": np.asarray([s for _, _, s in grid]),
    }
    rounds, runs = [], []
    for name in aggregators:
        spec = aggregator_for(name, n=n, f_max=f_max)
        cfg = dataclasses.replace(config, aggregator=spec)
        state, info = rollout_batch(build(cfg, data), keys, params)
        t_len = info.accuracy.shape[-1]
        head = {"aggregator": spec.name, "f": spec.f, **label}
        rounds.append(
            pl.DataFrame(
                {
                    **{
                        k: v if isinstance(v, str | int) else np.repeat(np.asarray(v), t_len)
                        for k, v in head.items()
                    },  # fmt: skip
                    "round": np.tile(np.arange(t_len), len(grid)),
                    **{m: np.asarray(getattr(info, m)).ravel() for m in _ROUND_METRICS},
                }
            )
        )
        summary = summarize((state, info), cfg, params)
        runs.append(
            pl.DataFrame(
                {
                    **head,
                    **{
                        k: summary[k]
                        for k in (
                            "final_accuracy",
                            "final_precision",
                            "final_recall",
                            "final_f1",
                            "converged_round",
                            "rounds_to_isolate",
                        )
                    },
                }  # fmt: skip
            )
        )
    return pl.concat(rounds), pl.concat(runs)


def orchestrator_comparison(
    key: jax.Array,
    data: FederatedData,
    config: FLConfig,
    *,
    n_seeds: int,
    k: int,
    sync_rounds: int,
    async_rounds: int,
    stream_rounds: int,
    stream_mixing: float,
    client_lr: float = 0.1,
) -> pl.DataFrame:
    """Synchronous vs batch-async (first ``k`` arrivals) vs streaming, clean runs.

    Every scheme runs ``n_seeds`` seeds with the keys ``split(key, n_seeds)``; streaming
    reports every ``k`` events and mixes with weight ``stream_mixing``.

    Returns:
        per-round rows (orchestrator, seed, round, time_s, accuracy, bytes_server, staleness).
    """
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    k = check_int("k", k, 1, config.n_clients)
    runs = {
        "sync": (dataclasses.replace(config, orchestrator="sync"), sync_rounds, 1.0),
        "batch_async": (
            dataclasses.replace(config, orchestrator="batch_async", clients_per_round=k),
            async_rounds,
            1.0,
        ),
        "streaming": (
            dataclasses.replace(config, orchestrator="streaming", events_per_round=k),
            stream_rounds,
            stream_mixing,
        ),
    }
    frames = []
    for name, (cfg, n_rounds, server_lr) in runs.items():
        params = make_params(cfg, client_lr=client_lr, server_lr=server_lr)
        _, info = rollout_seeds(build(cfg, data), key, params, n_rounds, n_seeds)
        t_len = info.accuracy.shape[-1]
        frames.append(
            pl.DataFrame(
                {
                    "orchestrator": name,
                    "seed": np.repeat(np.arange(n_seeds), t_len),
                    "round": np.tile(np.arange(t_len), n_seeds),
                    **{
                        m: np.asarray(getattr(info, m)).ravel()
                        for m in ("time_s", "accuracy", "bytes_server", "staleness")
                    },
                }
            )
        )
    return pl.concat(frames)


class _Curve(NamedTuple):
    accuracy: jax.Array
    time_s: jax.Array


def time_to_accuracy_table(orch: pl.DataFrame, target: float) -> pl.DataFrame:
    """Median over seeds of :func:`~meshlab.fl.orchestrators.time_to_accuracy` per scheme.

    Args:
        orch: rows of :func:`orchestrator_comparison`.
        target: accuracy target in [0, 1].

    Returns:
        rows (orchestrator, median_time_to_target_s (inf: not reached by half the seeds),
        reached_share), sorted by orchestrator.
    """
    check_real("target", target, 0.0, 1.0)
    rows = []
    for name in sorted(orch["orchestrator"].unique().to_list()):
        o = orch.filter(pl.col("orchestrator") == name).sort(["seed", "round"])
        n_seeds = o["seed"].n_unique()
        acc = o["accuracy"].to_numpy().reshape(n_seeds, -1)
        t = o["time_s"].to_numpy().reshape(n_seeds, -1)
        tta = np.asarray(time_to_accuracy(_Curve(jnp.asarray(acc), jnp.asarray(t)), target))
        rows.append(pl.DataFrame({"orchestrator": name, "time_s": tta}))
    return (
        pl.concat(rows)
        .group_by("orchestrator")
        .agg(
            pl.col("time_s").median().alias("median_time_to_target_s"),
            pl.col("time_s").is_finite().mean().alias("reached_share"),
        )
        .sort("orchestrator")
    )


def detection_table(per_run: pl.DataFrame) -> pl.DataFrame:
    """Detector precision / recall / F1 and isolation per attack and fraction.

    Only runs with attackers that act (fraction > 0, attack not ``"none"``) count.
    ``isolated_share``: share of runs whose flagged set became the attacker set;
    ``median_rounds_to_isolate`` over those runs.
    """
    return (
        per_run.filter((pl.col("fraction") > 0) & (pl.col("attack") != "none"))
        .group_by(["attack", "fraction"], maintain_order=True)
        .agg(
            pl.col("final_precision").mean().alias("precision"),
            pl.col("final_recall").mean().alias("recall"),
            pl.col("final_f1").mean().alias("f1"),
            (pl.col("rounds_to_isolate") > 0).mean().alias("isolated_share"),
            pl.col("rounds_to_isolate")
            .filter(pl.col("rounds_to_isolate") > 0)
            .median()
            .alias("median_rounds_to_isolate"),
        )
        .sort(["attack", "fraction"])
    )


def convergence_table(per_run: pl.DataFrame) -> pl.DataFrame:
    """Share of runs declared converged and their median convergence round per cell."""
    return (
        per_run.group_by(["aggregator", "attack", "fraction"], maintain_order=True)
        .agg(
            (pl.col("converged_round") >= 0).mean().alias("converged_share"),
            pl.col("converged_round")
            .filter(pl.col("converged_round") >= 0)
            .median()
            .alias("median_round"),
        )
        .sort(["aggregator", "attack", "fraction"])
    )


def hierarchical_bytes(
    key: jax.Array,
    data: FederatedData,
    config: FLConfig,
    *,
    client_lr: float = 0.1,
) -> tuple[pl.DataFrame, dict]:
    """Runs ``config`` (hierarchical) and compares its bytes with a flat round's.

    Flat bytes per round are the closed form ``2 m d B`` (``m`` clients with data; the
    test suite checks it against the synchronous orchestrator's counter); the
    hierarchical server tier's closed form is ``2 Z d B``.

    Returns:
        ``(table, facts)``: table rows (scheme, server_tier_bytes_per_round,
        all_tiers_bytes_per_round, closed_form_server_tier); facts ``saving`` (flat /
        hierarchical server-tier bytes), ``final_accuracy``, ``round_time_s``.
    """
    if config.orchestrator != "hierarchical":
        raise ValueError(f"config.orchestrator must be 'hierarchical', got {config.orchestrator!r}")
    _, info = rollout(build(config, data), key, make_params(config, client_lr=client_lr))
    m_active = int(np.asarray(data.mask).any(axis=1).sum())
    d_b = config.update_bytes
    table = pl.DataFrame(
        {
            "scheme": ["flat (closed form, checked in tests)", "hierarchical (measured)"],
            "server_tier_bytes_per_round": [2.0 * m_active * d_b, float(info.bytes_server[0])],
            "all_tiers_bytes_per_round": [2.0 * m_active * d_b, float(info.bytes_total[0])],
            "closed_form_server_tier": [2.0 * m_active * d_b, 2.0 * config.n_zones * d_b],
        }
    )
    col = table["server_tier_bytes_per_round"]
    facts = {
        "saving": float(col[0] / col[1]),
        "final_accuracy": float(info.accuracy[-1]),
        "round_time_s": float(info.time_s[0]),
    }
    return table, facts


def rule_choice(final: pl.DataFrame, tolerance: float = 0.02) -> pl.DataFrame:
    """Which rule to choose for which threat, at the largest Byzantine fraction swept.

    For every attack: the rule with the best mean final accuracy, the others within
    ``tolerance`` of it ("also fine"), the plain mean for reference and the clean mean
    (first attack, fraction 0). A last row, "unknown (worst case)", ranks the rules by
    their worst accuracy over all attacks at that fraction.

    Args:
        final: :func:`group_mean_ci` of the per-run final accuracy by aggregator, attack
            and fraction.
        tolerance: accuracy margin of "also fine".
    """
    top = final["fraction"].max()
    attacks = final["attack"].unique(maintain_order=True).to_list()
    clean_mean = final.filter(
        (pl.col("attack") == attacks[0]) & (pl.col("fraction") == 0.0)
        & (pl.col("aggregator") == "mean")
    )  # fmt: skip
    clean_acc = round(float(clean_mean["mean"][0]) if clean_mean.height else float("nan"), 3)
    rows = []
    for attack in attacks:
        cell = final.filter((pl.col("attack") == attack) & (pl.col("fraction") == top)).sort(
            "mean", descending=True
        )
        best = cell.row(0, named=True)
        ok = cell.filter(pl.col("mean") >= best["mean"] - tolerance)["aggregator"].to_list()
        mean_row = cell.filter(pl.col("aggregator") == "mean")
        rows.append(
            {
                "threat": attack,
                "fraction": top,
                "choose": best["aggregator"],
                "accuracy": round(best["mean"], 3),
                "also_fine": ", ".join(a for a in ok if a != best["aggregator"]),
                "mean_accuracy": round(float(mean_row["mean"][0]), 3) if mean_row.height else None,
                "clean_mean_accuracy": clean_acc,
            }
        )
    worst = (
        final.filter(pl.col("fraction") == top)
        .group_by("aggregator")
        .agg(pl.col("mean").min().alias("worst"))
        .sort("worst", descending=True)
    )
    mean_worst = worst.filter(pl.col("aggregator") == "mean")["worst"]
    rows.append(
        {
            "threat": "unknown (worst case)",
            "fraction": top,
            "choose": worst["aggregator"][0],
            "accuracy": round(float(worst["worst"][0]), 3),
            "also_fine": ", ".join(
                worst.filter(pl.col("worst") >= worst["worst"][0] - tolerance)["aggregator"][
                    1:
                ].to_list()
            ),
            "mean_accuracy": round(float(mean_worst[0]), 3) if len(mean_worst) else None,
            "clean_mean_accuracy": clean_acc,
        }
    )
    return pl.DataFrame(rows)


def report_metrics(
    final: pl.DataFrame,
    detection: pl.DataFrame,
    tta: pl.DataFrame,
    summary: pl.DataFrame,
    *,
    alie_fraction: float,
    extra: Mapping | None = None,
) -> dict:
    """The headline numbers of the report (``metrics.json``; rounded, JSON-ready).

    Args:
        final: :func:`group_mean_ci` of the final accuracy (aggregator, attack, fraction).
        detection: :func:`detection_table`.
        tta: :func:`time_to_accuracy_table`.
        summary: :func:`rule_choice`.
        alie_fraction: the Byzantine fraction the ALIE numbers are quoted at.
        extra: parameters and facts to include as they are (first in the dict).

    Returns:
        ``clean_mean_accuracy``, ``alie_mean_accuracy``, ``alie_best_robust_rule`` /
        ``_accuracy``, ``alie_detection_precision`` / ``_recall`` (None where absent),
        ``tta_<orchestrator>_s`` and ``summary`` (the rule-choice rows).
    """

    def acc_of(agg, attack, frac):
        row = final.filter(
            (pl.col("aggregator") == agg) & (pl.col("attack") == attack)
            & (pl.col("fraction") == frac)
        )  # fmt: skip
        return round(float(row["mean"][0]), 4) if row.height else None

    robust = final.filter(
        (pl.col("attack") == "alie") & (pl.col("fraction") == alie_fraction)
        & (pl.col("aggregator") != "mean")
    ).sort("mean", descending=True)  # fmt: skip
    det = detection.filter((pl.col("attack") == "alie") & (pl.col("fraction") == alie_fraction))
    first = lambda df, col: round(float(df[col][0]), 4) if df.height else None
    return {
        **dict(extra or {}),
        "clean_mean_accuracy": acc_of("mean", "none", 0.0),
        "alie_fraction": alie_fraction,
        "alie_mean_accuracy": acc_of("mean", "alie", alie_fraction),
        "alie_best_robust_rule": robust["aggregator"][0] if robust.height else None,
        "alie_best_robust_accuracy": first(robust, "mean"),
        "alie_detection_precision": first(det, "precision"),
        "alie_detection_recall": first(det, "recall"),
        **{
            f"tta_{r['orchestrator']}_s": r["median_time_to_target_s"]
            for r in tta.iter_rows(named=True)
        },
        "summary": summary.to_dicts(),
    }
