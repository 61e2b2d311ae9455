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
* :func:`worst_case_sweep`: every rule (with / without NNM or bucketing) x Dirichlet alpha x
  Byzantine count f x attack (published strengths and the optimized attacks) x seed, one
  compilation per rule and f (each rule told the true f; every run the unbatched program,
  so each cell equals its ``rollout`` bit for bit); :func:`worst_case_table` keeps
  each cell's worst attack, :func:`recommend` picks a rule per threat from it (with CI
  overlap), and
  :func:`published_findings` checks the anchors' qualitative findings.
* :func:`detection_table`, :func:`convergence_table`, :func:`time_to_accuracy_table`,
  :func:`rule_choice`, :func:`report_metrics`: the report's tables and headline numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from meshlab.core.batching import seed_keys, stack_params
from meshlab.core.kernel import Kernel, rollout_seeds, scan_steps
from meshlab.core.stats import t_quantile_975
from meshlab.core.validation import (
    check_choice,
    check_int,
    check_key,
    check_list,
    check_real,
    check_section,
    check_seed,
)
from meshlab.fl.aggregators import AGGREGATORS, PRE_AGGREGATORS, aggregator_for
from meshlab.fl.attacks import ATTACKS, DIRECTIONS
from meshlab.fl.data import FederatedData, choose_byzantine, load_digits_federated
from meshlab.fl.orchestrators import (
    DATA_ATTACKS,
    FLConfig,
    build,
    make_params,
    rollout,
    rollout_batch,
    summarize,
    time_to_accuracy,
)

__all__ = [
    "REPORT_PARAMS",
    "WORST_CASE_ATTACKS",
    "WORST_CASE_CHOICES",
    "alpha_datasets",
    "check_report_params",
    "convergence_table",
    "detection_table",
    "group_mean_ci",
    "hierarchical_bytes",
    "orchestrator_comparison",
    "published_findings",
    "recommend",
    "report_metrics",
    "robustness_sweep",
    "rule_choice",
    "time_to_accuracy_table",
    "worst_case_sweep",
    "worst_case_table",
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


# ------------------------------------------------------------------ worst case over attacks

# the attack set of the worst-case grid: published strengths and the optimized attacks
WORST_CASE_ATTACKS: tuple[str, ...] = (
    "sign_flip",
    "alie",
    "ipm",
    "ipm_large",
    "opt_alie",
    "opt_ipm",
    "min_max",
    "min_sum",
)
# attacks the worst-case grid accepts (rewrite updates; non-finite rows are a separate table)
WORST_CASE_CHOICES: tuple[str, ...] = tuple(a for a in ATTACKS if a not in ("none", "nonfinite"))


def alpha_datasets(key: jax.Array, n_clients: int, alphas: Sequence[float]) -> FederatedData:
    """Digits split across ``n_clients`` for every Dirichlet ``alpha``, stacked ``[A, ...]``.

    The same key gives the same test set and training samples for every ``alpha`` (only the
    partition changes); every split is padded to the largest client over all ``alpha`` so
    the splits share one shape and a sweep can loop over them in one compiled program.
    """
    check_key(key)
    if len(alphas) == 0:
        raise ValueError("alphas must be a non-empty sequence of Dirichlet concentrations > 0")
    sets = [load_digits_federated(key, n_clients, float(a)) for a in alphas]
    cap = max(int(d.x.shape[1]) for d in sets)

    def pad(d: FederatedData) -> FederatedData:
        extra = cap - int(d.x.shape[1])
        widen = lambda a, v: np.pad(np.asarray(a), [(0, 0), (0, extra)] + [(0, 0)] * (a.ndim - 2),
                                    constant_values=v)  # fmt: skip
        return d._replace(x=widen(d.x, 0.0), y=widen(d.y, 0), mask=widen(d.mask, False),
                          index=widen(d.index, -1))  # fmt: skip

    return jax.tree.map(lambda *xs: jnp.stack(xs), *[pad(d) for d in sets])


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _grid_jit(init_fn, step_fn, config, n_steps, data, keys, params):
    """Final accuracy ``f32[cells, A, seeds]``: every run as the unbatched program.

    Cells (attack, f), alpha splits and seeds are nested ``lax.map`` loops, not ``vmap``: each run is
    then the same program :func:`~meshlab.fl.orchestrators.rollout` compiles, so the sweep
    gives the cells' numbers bit for bit. Under ``vmap`` over runs, XLA:CPU's batched
    matrix products (the logits ``x @ W`` of local training) round differently from the
    unbatched ones, so the client updates differ by a few ulps, and rules that select rows
    (Krum after NNM, whose scores can lie within a few ulps) then pick other rows: final
    accuracies moved by up to 0.07. The attack index stays unbatched, so ``lax.switch``
    runs one branch.
    """

    def one_cell(p):
        def one_alpha(d):
            kernel = Kernel(config, d, init_fn, step_fn)

            def one_seed(s):
                q = jax.tree.map(lambda x: x[s], p._replace(attack=None))._replace(attack=p.attack)
                return scan_steps(kernel, keys[s], q, n_steps)[1].accuracy[-1]

            return jax.lax.map(one_seed, jnp.arange(keys.shape[0]))

        return jax.lax.map(one_alpha, data)

    return jax.lax.map(one_cell, params._replace(attack=params.attack[:, 0]))


def worst_case_sweep(
    key: jax.Array,
    datasets: FederatedData,
    alphas: Sequence[float],
    config: FLConfig,
    rules: Sequence[str],
    f_values: Sequence[int],
    n_seeds: int,
    *,
    attacks: Sequence[str] = WORST_CASE_ATTACKS,
    attack_strength: Mapping[str, float] | None = None,
    attack_options: Mapping[str, Mapping] | None = None,
    client_lr: float = 0.1,
    progress: Callable[[str, int], None] | None = None,
) -> pl.DataFrame:
    """Final accuracy of every rule x Dirichlet alpha x f x attack x seed.

    The defender is told the true number of attackers, as in ByzFL's benchmark: a cell with
    ``f`` attackers runs the rule with ``f`` (rules with a lower breakdown point get their
    largest admissible ``f``, reported as ``f_config``). ``f`` is data, not configuration:
    each rule is compiled once, built for the largest ``f`` it admits up to
    ``max(f_values)``, and every cell passes its own ``f`` (:class:`FLParams` ``.f``, see
    ``Aggregator.aggregate``). One compiled sweep per rule: inside it ``(attack, f)`` cells,
    ``alpha`` splits (one shape, :func:`alpha_datasets`) and seeds are data, looped by
    ``lax.map`` so that every cell equals its :func:`~meshlab.fl.orchestrators.rollout`
    bit for bit (batching by ``vmap`` rounds the local updates differently, which rules
    selecting rows amplify); the attack is an index (``lax.switch`` runs one branch). The
    ``f`` attackers are a mask over the fixed ``config.n_clients`` clients, nested across
    ``f`` for a seed; every rule sees the same keys and attacker sets (common random
    numbers). A clean run (attack ``"none"``, labelled ``f`` = 0) is added per ``(alpha,
    seed)`` as the reference, with the rule told the smallest ``f``.

    Args:
        key: typed PRNG key.
        datasets: :class:`FederatedData` stacked over ``alphas`` (leading axis ``A``).
        alphas: the Dirichlet concentrations of ``datasets`` (labels only).
        config: template (``n_clients``, model, rounds, local steps, ...); its aggregator,
            attacks and orchestrator are replaced.
        rules: aggregator names, pre-aggregators allowed (``"nnm+median"``).
        f_values: Byzantine counts in ``[1, n_clients)``.
        n_seeds: seeds per cell (>= 1).
        attacks: the attack set (names of :data:`meshlab.fl.attacks.ATTACKS`).
        attack_strength: ``{attack: strength}`` (see ``make_params``; ALIE default z_max).
        attack_options: structural options per attack (e.g. ``{"min_max": {"direction":
            "sign"}}``).
        client_lr: client learning rate.
        progress: called as ``progress(rule, f_max)`` before each rule's compiled sweep.

    Returns:
        rows (rule, f_config, alpha, f, attack, seed, final_accuracy).
    """
    check_key(key)
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    n = config.n_clients
    f_values = [check_int(f"f_values[{i}]", f, 1, n - 1) for i, f in enumerate(f_values)]
    if not f_values:
        raise ValueError("f_values must be a non-empty sequence of ints in [1, n_clients)")
    if jax.tree.leaves(datasets)[0].shape[0] != len(alphas):
        raise ValueError(f"datasets has {jax.tree.leaves(datasets)[0].shape[0]} splits, "
                         f"alphas has {len(alphas)}")  # fmt: skip
    table = ("none", *attacks)
    opts = tuple((a, tuple(dict(o).items())) for a, o in (attack_options or {}).items())
    config = dataclasses.replace(config, orchestrator="sync", attacks=table, attack_options=opts)
    config = dataclasses.replace(config, detector=None)  # not needed for accuracy
    k_byz, k_run = jax.random.split(key)
    byz_keys = jax.random.split(k_byz, n_seeds)
    keys = jax.random.split(k_run, n_seeds)
    first = jax.tree.map(lambda x: x[0], datasets)
    seeds = np.arange(n_seeds)
    attackers = {
        (f, s): np.asarray(choose_byzantine(byz_keys[s], n, f)) for f in f_values for s in seeds
    }
    attackers.update({(0, s): np.zeros(n, bool) for s in seeds})
    # (attack index, attackers): the clean run once, then every attack at every f
    cells = [(0, 0)] + [(a, f) for f in f_values for a in range(1, len(table))]
    frames = []
    for rule in rules:
        spec = aggregator_for(rule, n=n, f_max=max(f_values))
        if progress is not None:
            progress(rule, spec.f)
        cfg = dataclasses.replace(config, aggregator=spec)
        told = {f: min(f or min(f_values), spec.f) for _, f in cells}
        params = stack_params(
            [
                stack_params(
                    [
                        make_params(cfg, attackers[(f, s)], attack=a, f=told[f],
                                    attack_strength=attack_strength, client_lr=client_lr)
                        for s in seeds
                    ]
                )
                for a, f in cells
            ]
        )  # fmt: skip  # leaves [cells, seeds, ...]
        kernel = build(cfg, first)
        acc = _grid_jit(kernel.init_fn, kernel.step_fn, cfg, cfg.n_rounds, datasets, keys, params)
        per_cell = len(alphas) * n_seeds
        frames.append(
            pl.DataFrame(
                {
                    "rule": spec.name,
                    "f_config": np.repeat([told[f] for _, f in cells], per_cell),
                    "alpha": np.tile(np.repeat(np.asarray(alphas, np.float64), n_seeds), len(cells)),
                    "f": np.repeat([f for _, f in cells], per_cell),
                    "attack": np.repeat(np.asarray([table[a] for a, _ in cells]), per_cell).tolist(),
                    "seed": np.tile(seeds, len(cells) * len(alphas)),
                    "final_accuracy": np.asarray(acc).ravel().astype(np.float64),
                }
            )
        )  # fmt: skip
    return pl.concat(frames, how="vertical_relaxed")


def worst_case_table(runs: pl.DataFrame) -> pl.DataFrame:
    """Each (rule, alpha, f) cell's worst attack: the lowest mean accuracy over seeds.

    Returns:
        rows (rule, alpha, f, worst_attack, mean, ci_lo, ci_hi, n, clean_mean, f_config):
        the attack with the lowest seed-mean final accuracy (95 % t-interval over seeds),
        the rule's clean accuracy at that alpha and (when ``runs`` has it) the ``f`` the
        rule was told (below ``f`` past its breakdown point).
    """
    cells = group_mean_ci(
        runs.filter(pl.col("attack") != "none"), ["rule", "alpha", "f", "attack"],
        "final_accuracy",
    )  # fmt: skip
    worst = (
        cells.sort("mean")
        .group_by(["rule", "alpha", "f"], maintain_order=True)
        .first()
        .rename({"attack": "worst_attack"})
    )
    clean = group_mean_ci(runs.filter(pl.col("attack") == "none"), ["rule", "alpha"],
                          "final_accuracy").select("rule", "alpha", clean_mean="mean")  # fmt: skip
    if "f_config" in runs.columns:
        told = (
            runs.filter(pl.col("attack") != "none")
            .group_by(["rule", "f"])
            .agg(pl.col("f_config").max())
        )
        worst = worst.join(told, on=["rule", "f"], how="left")
    order = {r: i for i, r in enumerate(runs["rule"].unique(maintain_order=True))}
    return (
        worst.join(clean, on=["rule", "alpha"], how="left")
        .with_columns(pl.col("rule").replace_strict(order).alias("_o"))
        .sort(["_o", "alpha", "f"])
        .drop("_o")
    )


def _overlap(a: Mapping, b: Mapping) -> bool:
    return a["ci_lo"] <= b["ci_hi"] and b["ci_lo"] <= a["ci_hi"]


def recommend(worst: pl.DataFrame) -> pl.DataFrame:
    """Which rule for which threat, from the worst-case table and its CIs.

    A threat is a heterogeneity level (alpha) and an attacker count ``f``. For each, the rule
    with the best worst-case mean is chosen; every other rule whose 95 % interval overlaps
    the chosen one's "cannot be told apart" from it (with the seeds run).

    Returns:
        rows (alpha, f, choose, worst_case_accuracy, ci_lo, ci_hi, worst_attack,
        indistinguishable) sorted by alpha then f.
    """
    rows = []
    for (alpha, f), cell in worst.group_by(["alpha", "f"], maintain_order=True):
        cell = cell.sort("mean", descending=True)
        best = cell.row(0, named=True)
        tied = [r["rule"] for r in cell.iter_rows(named=True) if r is not best and r["rule"]
                != best["rule"] and _overlap(r, best)]  # fmt: skip
        rows.append(
            {
                "alpha": alpha,
                "f": f,
                "choose": best["rule"],
                "worst_case_accuracy": round(best["mean"], 4),
                "ci_lo": round(best["ci_lo"], 4),
                "ci_hi": round(best["ci_hi"], 4),
                "worst_attack": best["worst_attack"],
                "indistinguishable": ", ".join(tied),
            }
        )
    return pl.DataFrame(rows).sort(["alpha", "f"])


def _base(rule: str) -> str:
    return rule.split("+")[-1]


def published_findings(runs: pl.DataFrame, worst: pl.DataFrame, f_cap: int | None = None) -> dict:
    """The anchors' qualitative findings, computed on our grid (agree / differ, and by how much).

    * ``heterogeneity_vs_f``: for every robust rule without pre-aggregation, the worst-case
      drop from the most to the least IID split (at the smallest f) versus the drop from the
      smallest to the largest f up to ``f_cap`` (at the most IID split); agrees when the first
      is larger. ByzFL's grid stops at f = 4 of 14 clients (29 %), below the breakdown
      point: pass ``f_cap`` to compare in the same range (default: the largest f).
    * ``preaggregation_under_heterogeneity``: at the most non-IID split, the worst case of
      ``nnm+rule`` / ``bucketing+rule`` minus that of ``rule``, averaged over f (counts
      also per pre-aggregator: ``preaggregation_agree_by``).
    * ``alie_vs_sign_flip``: median / trimmed mean / Krum accuracy under sign flipping minus
      under ALIE at z_max (averaged over alpha, f and seeds): positive when ALIE hurts more.

    Returns:
        a JSON-ready dict with per-rule numbers and ``agree`` flags (and counts).
    """
    alphas = sorted(worst["alpha"].unique().to_list())
    fs = sorted(worst["f"].unique().to_list())
    capped = [f for f in fs if f_cap is None or f <= f_cap] or fs[:1]
    lo_a, hi_a, lo_f, hi_f = alphas[0], alphas[-1], fs[0], capped[-1]
    wc = {(r["rule"], r["alpha"], r["f"]): r["mean"] for r in worst.iter_rows(named=True)}
    rules = worst["rule"].unique(maintain_order=True).to_list()
    plain = [r for r in rules if "+" not in r and r != "mean"]
    het = {}
    for r in plain:
        d_alpha = wc[(r, hi_a, lo_f)] - wc[(r, lo_a, lo_f)]
        d_f = wc[(r, hi_a, lo_f)] - wc[(r, hi_a, hi_f)]
        het[r] = {"drop_over_alpha": round(d_alpha, 4), "drop_over_f": round(d_f, 4),
                  "agree": bool(d_alpha > d_f)}  # fmt: skip
    pre = {}
    for r in rules:
        if "+" not in r or _base(r) not in rules:
            continue
        gain = np.mean([wc[(r, lo_a, f)] - wc[(_base(r), lo_a, f)] for f in fs])
        pre[r] = {"gain_at_most_non_iid": round(float(gain), 4), "agree": bool(gain > 0)}
    alie = {}
    for r in ("median", "trimmed_mean", "krum"):
        sel = runs.filter((pl.col("rule") == r) & pl.col("attack").is_in(["alie", "sign_flip"]))
        if sel.height == 0 or sel["attack"].n_unique() < 2:
            continue
        m = sel.group_by("attack").agg(pl.col("final_accuracy").mean())
        acc = dict(zip(m["attack"], m["final_accuracy"], strict=True))
        gap = acc["sign_flip"] - acc["alie"]
        alie[r] = {"sign_flip": round(acc["sign_flip"], 4), "alie_z_max": round(acc["alie"], 4),
                   "gap": round(gap, 4), "agree": bool(gap > 0)}  # fmt: skip
    count = lambda d: f"{sum(v['agree'] for v in d.values())}/{len(d)}"
    return {
        "alpha_most_non_iid": lo_a,
        "alpha_most_iid": hi_a,
        "f_min": lo_f,
        "f_compared": hi_f,
        "heterogeneity_vs_f": het,
        "heterogeneity_vs_f_agree": count(het),
        "preaggregation_under_heterogeneity": pre,
        "preaggregation_agree": count(pre),
        "preaggregation_agree_by": {
            p: count({r: v for r, v in pre.items() if r.split("+")[0] == p})
            for p in dict.fromkeys(r.split("+")[0] for r in pre)
        },
        "alie_vs_sign_flip": alie,
        "alie_vs_sign_flip_agree": count(alie),
    }


# ------------------------------------------------------------------ report parameters


def _optional(check):
    return lambda name, value: None if value is None else check(name, value)


def _rule_name(name: str, value) -> str:
    parts = value.split("+") if isinstance(value, str) else [None]
    if parts[-1] not in AGGREGATORS or any(p not in PRE_AGGREGATORS for p in parts[:-1]):
        raise ValueError(
            f"{name} must be an aggregator name from {AGGREGATORS}, optionally prefixed by "
            f"{PRE_AGGREGATORS} joined with '+', got {value!r}"
        )
    return value


def _path(name: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty path string or None, got {value!r}")
    return value


_POS = partial(check_real, low=0.0, low_open=True)
_UNIT = partial(check_real, low=0.0, high=1.0, low_open=True)
REPORT_PARAMS: dict = {
    "out_dir": _optional(_path),
    "seed": check_seed,
    "n_clients": partial(check_int, low=2),
    "alpha": _POS,
    "model": partial(check_choice, allowed=("logistic_regression", "mlp")),
    "hidden": partial(check_int, low=1),
    "n_rounds": partial(check_int, low=1),
    "n_seeds": partial(check_int, low=1),
    "local_steps": partial(check_int, low=1),
    "batch_size": partial(check_int, low=1),
    "client_lr": _POS,
    "aggregators": partial(check_list, item=_rule_name, distinct=True),
    "attacks": partial(
        check_list, item=partial(check_choice, allowed=(*ATTACKS, *DATA_ATTACKS)), distinct=True
    ),
    "byzantine_fractions": partial(
        check_list, item=partial(check_real, low=0.0, high=1.0, high_open=True), distinct=True
    ),
    "f_max_fraction": partial(check_real, low=0.0, high=0.5, high_open=True),
    "alie_z": _optional(_POS),
    "async_k_fraction": _UNIT,
    "stream_mixing": _UNIT,
    "tta_target": partial(check_real, low=0.0, high=1.0),
    "orch_rounds": partial(check_int, low=1),
    "hier_clients": partial(check_int, low=1),
    "hier_zones": partial(check_int, low=1),
    "hier_rounds": partial(check_int, low=1),
    "wc_n_clients": partial(check_int, low=3),
    "wc_alphas": partial(check_list, item=_POS, distinct=True),
    "wc_f_values": partial(check_list, item=partial(check_int, low=1), distinct=True),
    "wc_rules": partial(check_list, item=_rule_name, distinct=True),
    "wc_attacks": partial(
        check_list, item=partial(check_choice, allowed=WORST_CASE_CHOICES), distinct=True
    ),
    "wc_rounds": partial(check_int, low=1),
    "wc_seeds": partial(check_int, low=1),
    "minmax_direction": partial(check_choice, allowed=(*DIRECTIONS, "worst")),
    "ipm_large_eps": _POS,
}


def check_report_params(values: Mapping) -> dict:
    """Validates every parameter of the ``fl_robustness`` report before any work.

    Errors name the key as in params.yaml (``fl_robustness.alie_z``), its value and what
    is allowed (``alie_z``: ``None`` for Baruch et al.'s z_max, or a number > 0).

    Args:
        values: parameter -> value (the notebook's parameters cell).

    Returns:
        parameter -> checked value.

    Raises:
        TypeError / ValueError: the first bad parameter.
    """
    p = check_section("fl_robustness", values, REPORT_PARAMS)
    for i, f in enumerate(p["wc_f_values"]):
        if f >= p["wc_n_clients"]:
            raise ValueError(
                f"fl_robustness.wc_f_values[{i}]={f} must be < fl_robustness.wc_n_clients="
                f"{p['wc_n_clients']}"
            )
    if p["hier_clients"] % p["hier_zones"]:
        raise ValueError(
            f"fl_robustness.hier_zones={p['hier_zones']} must divide "
            f"fl_robustness.hier_clients={p['hier_clients']}"
        )
    return p
