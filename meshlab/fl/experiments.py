"""Sweeps behind the ``fl_robustness`` report, returning tidy polars tables.

* :func:`robustness_sweep`: every aggregator x attack x Byzantine fraction x seed with the
  synchronous orchestrator; one compilation per aggregator (attacks, fractions and seeds
  are vmapped through :class:`~meshlab.fl.orchestrators.FLParams`). The same keys and
  attacker sets are used for every aggregator (common random numbers), and attacker sets
  are nested across fractions for a given seed.
* :func:`orchestrator_comparison`: synchronous vs batch-async vs streaming on the same
  data and keys, with the simulated clock (for time-to-accuracy).
* :func:`mean_ci`: mean and a two-sided Student-t confidence interval over seeds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from meshlab.core.stats import t_quantile_975
from meshlab.fl.data import FederatedData, choose_byzantine
from meshlab.fl.orchestrators import (
    FLConfig,
    FLParams,
    aggregator_for,
    batch_async_orchestrator,
    run_batch,
    streaming_orchestrator,
    sync_orchestrator,
)

__all__ = ["mean_ci", "orchestrator_comparison", "robustness_sweep", "t_quantile_975"]


def mean_ci(df: pl.DataFrame, by: Sequence[str], value: str) -> pl.DataFrame:
    """Mean of ``value`` over the rows of each ``by`` group with a 95 % t-interval.

    Returns columns ``*by, mean, ci_lo, ci_hi, n`` (``ci`` = mean +- t sd / sqrt(n); equal
    to the mean when n = 1). Non-finite values are dropped before averaging.
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
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Runs every aggregator x attack (``config.attacks``) x fraction x seed.

    Args:
        key: typed PRNG key.
        data: federated data (``config.n_clients`` clients).
        config: template configuration; its ``aggregator`` is replaced by each rule built
            with :func:`~meshlab.fl.orchestrators.aggregator_for` (``f <= f_max``).
        aggregators: rule names (pre-aggregators allowed, e.g. ``"nnm+krum"``).
        fractions: Byzantine fractions; ``round(fraction * n)`` attackers.
        n_seeds: seeds per cell.
        f_max: the ``f`` the defender configures (rules with a lower breakdown point get
            their largest admissible ``f``).

    Returns:
        ``(per_round, per_run)``: per-round rows (aggregator, f, attack, fraction, seed,
        round, accuracy, loss, grad_norm, precision, recall, f1) and per-run rows
        (final accuracy, convergence round, rounds to isolate the attackers).
    """
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1, got {n_seeds}")
    n = config.n_clients
    counts = [int(round(f * n)) for f in fractions]
    if any(not 0 <= c < n for c in counts):
        raise ValueError(f"fractions must lie in [0, 1), got {list(fractions)}")
    n_att, n_fr = len(config.attacks), len(fractions)
    k_byz, k_run = jax.random.split(key)
    seed_keys = jax.random.split(k_byz, n_seeds)
    byz = jnp.stack(
        [jnp.stack([choose_byzantine(k, n, c) for k in seed_keys]) for c in counts]
    )  # [F, S, n]
    shape = (n_att, n_fr, n_seeds)
    params = FLParams(
        jnp.broadcast_to(byz, (*shape, n)),
        jnp.broadcast_to(jnp.arange(n_att, dtype=jnp.int32)[:, None, None], shape),
    )
    keys = jax.random.split(k_run, n_att * n_fr * n_seeds).reshape(shape)
    rounds, runs = [], []
    grid = np.stack(
        np.meshgrid(np.arange(n_att), np.arange(n_fr), np.arange(n_seeds), indexing="ij"), -1
    )
    grid = grid.reshape(-1, 3)
    for name in aggregators:
        agg = aggregator_for(name, n=n, f_max=f_max)
        cfg = dataclasses.replace(config, aggregator=agg)
        state, info = run_batch(sync_orchestrator(cfg), keys, data, params)
        t_len = info.accuracy.shape[-1]
        flat = {k: np.asarray(v).reshape(-1, t_len) for k, v in info._asdict().items()}
        label = {
            "aggregator": agg.name,
            "f": agg.f,
            "attack": [config.attacks[i] for i in grid[:, 0]],
            "fraction": [float(fractions[j]) for j in grid[:, 1]],
            "seed": grid[:, 2],
        }
        rounds.append(
            pl.DataFrame(
                {
                    **{
                        k: np.repeat(np.asarray(v), t_len)
                        if not np.isscalar(v) and not isinstance(v, str)
                        else v
                        for k, v in label.items()
                    },  # fmt: skip
                    "round": np.tile(np.arange(t_len), len(grid)),
                    **{
                        m: flat[m].ravel()
                        for m in ("accuracy", "loss", "grad_norm", "precision", "recall", "f1")
                    },
                }
            )
        )
        exact = flat["f1"] >= 1.0
        isolate = np.where(exact.any(1), exact.argmax(1) + 1, -1)
        runs.append(
            pl.DataFrame(
                {
                    **label,
                    "final_accuracy": flat["accuracy"][:, -1],
                    "final_precision": flat["precision"][:, -1],
                    "final_recall": flat["recall"][:, -1],
                    "final_f1": flat["f1"][:, -1],
                    "converged_round": np.asarray(state.convergence.round).reshape(-1),
                    "rounds_to_isolate": isolate,
                }
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
) -> pl.DataFrame:
    """Synchronous vs batch-async (first ``k`` arrivals) vs streaming, clean runs.

    Streaming reports every ``k`` events. Returns per-round rows (orchestrator, seed,
    round, time_s, accuracy, bytes_server, staleness).
    """
    n = config.n_clients
    keys = jax.random.split(key, n_seeds)
    params = FLParams(jnp.zeros((n_seeds, n), bool), jnp.zeros(n_seeds, jnp.int32))
    orchs = {
        "sync": sync_orchestrator(dataclasses.replace(config, n_rounds=sync_rounds)),
        "batch_async": batch_async_orchestrator(
            dataclasses.replace(config, n_rounds=async_rounds, clients_per_round=k)
        ),
        "streaming": streaming_orchestrator(
            dataclasses.replace(config, n_rounds=stream_rounds, server_lr=stream_mixing),
            events_per_round=k,
        ),
    }
    frames = []
    for name, orch in orchs.items():
        _, info = run_batch(orch, keys, data, params)
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
