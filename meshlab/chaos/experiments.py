"""The chaos report's experiments: the catalogue x seeds x controllers in a few compiled calls.

::

    from meshlab import chaos
    scenarios = chaos.scenario.load_catalogue()
    topo = meshlab.mesh.topology.random_regular(jax.random.key(0), 1000, 8)
    result = chaos.experiments.run_catalogue(scenarios, topo, n_rounds=100, n_seeds=5)
    result.table        # polars: one row per (scenario, controller), measures mean + CI
    result.timeline     # polars: per round delivery / p99 (seed mean), per scenario
    chaos.experiments.claims(result.table, n_nodes=1000)

Every (scenario, controller) pair is one entry of the params batch; seeds are a second
``vmap`` axis (seed ``i`` uses ``jax.random.split(key, n_seeds)[i]`` in every scenario:
common random numbers). A batch is one compiled call; equal shapes share the compilation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from meshlab.chaos import controller as ctl
from meshlab.chaos import measures
from meshlab.chaos.compile import Compiled, compile_scenario
from meshlab.chaos.scenario import Scenario
from meshlab.core.kernel import Kernel, scan_steps
from meshlab.core.validation import check_int, check_key
from meshlab.mesh import beacons
from meshlab.mesh import faults as mf
from meshlab.mesh.topology import Topology

__all__ = [
    "CONTROLLERS",
    "CatalogueResult",
    "claims",
    "compile_all",
    "fl_ledger",
    "report_metrics",
    "run_batch",
    "run_catalogue",
    "run_one",
    "select",
    "sli_buckets",
    "update_ledger",
]

CONTROLLERS = ("isolate", "none")


def _outcome(state: ctl.ChaosState):
    d = state._asdict()
    d.pop("beacon")
    return d


def _scan(kernel: Kernel, key, params, n_rounds: int):
    final, infos = scan_steps(kernel, key, params, n_rounds)
    return _outcome(final), infos._asdict()


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _batch_jit(init_fn, step_fn, config, n_rounds, data, keys, params):
    kernel = Kernel(config, data, init_fn, step_fn)
    per_seed = jax.vmap(lambda k, p: _scan(kernel, k, p, n_rounds), in_axes=(0, None))
    return jax.vmap(per_seed, in_axes=(None, 0))(keys, params)


def run_batch(kernel: Kernel, key: jax.Array, params: ctl.ChaosParams, n_seeds: int):
    """Runs a batch of chaos params (leading axis ``B``) x ``n_seeds`` seeds in one call.

    Returns:
        ``(state, infos)`` dicts of numpy arrays with leading axes ``[B, n_seeds]`` (the
        beacon state is dropped; infos have a trailing round axis).
    """
    check_key(key)
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    keys = jax.random.split(key, n_seeds)
    cfg = kernel.config
    st, info = _batch_jit(
        kernel.init_fn, kernel.step_fn, cfg, cfg.n_rounds, kernel.data, keys, params
    )
    return jax.tree.map(np.asarray, st), jax.tree.map(np.asarray, info)


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _one_jit(init_fn, step_fn, config, n_rounds, data, key, params):
    kernel = Kernel(config, data, init_fn, step_fn)
    return _scan(kernel, key, params, n_rounds)


def run_one(kernel: Kernel, key: jax.Array, params: ctl.ChaosParams):
    """One scenario, one seed (the Python-loop baseline; equals one entry of a batch)."""
    check_key(key)
    cfg = kernel.config
    st, info = _one_jit(kernel.init_fn, kernel.step_fn, cfg, cfg.n_rounds, kernel.data, key, params)
    return jax.tree.map(np.asarray, st), jax.tree.map(np.asarray, info)


def compile_all(
    scenarios: Sequence[Scenario], topology: Topology, n_rounds: int, *, seed: int = 0
) -> tuple[list[Compiled | None], dict[str, str]]:
    """Compiles every scenario to one capacity; a scenario that cannot compile is reported.

    Returns:
        ``(compiled, errors)``: ``compiled[i]`` is None for a scenario in ``errors``
        (name -> message); the others share one ``(F, C)`` capacity.
    """
    errors: dict[str, str] = {}
    raw: list[Compiled | None] = []
    for s in scenarios:
        try:
            raw.append(compile_scenario(s, topology, n_rounds, seed=seed))
        except (ValueError, TypeError) as e:
            errors[s.name] = str(e)
            raw.append(None)
    ok = [c for c in raw if c is not None]
    f_cap = max([c.faults.n_slots for c in ok] + [1])
    c_cap = max([int(c.cuts.mask.shape[0]) for c in ok] + [1])
    out = [
        None
        if c is None
        else compile_scenario(s, topology, n_rounds, seed=seed, n_slots=f_cap, n_cuts=c_cap)
        for s, c in zip(scenarios, raw, strict=True)
    ]
    return out, errors


class CatalogueResult(NamedTuple):
    """The catalogue run.

    Attributes:
        table: one row per (scenario, controller): measures (mean, CI), verdict, expected.
        timeline: per (scenario, controller, round): seed-mean delivery, p50, p99, ok share.
        runs: per (scenario, controller, seed) measures (for distributions).
        buckets: per (scenario, controller, bucket): good / total beacons, p99 (SLI counts).
    """

    table: pl.DataFrame
    timeline: pl.DataFrame
    runs: pl.DataFrame
    buckets: pl.DataFrame


def _stack_params(items: list[ctl.ChaosParams]) -> ctl.ChaosParams:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *items)


def run_catalogue(
    scenarios: Sequence[Scenario],
    topology: Topology,
    *,
    n_rounds: int = 100,
    n_seeds: int = 3,
    seed: int = 0,
    policy: ctl.PolicyParams | None = None,
    beacon: beacons.BeaconParams | None = None,
    controllers: Sequence[str] = CONTROLLERS,
    batch_size: int = 64,
    n_buckets: int = 10,
    config: beacons.BeaconConfig | None = None,
) -> CatalogueResult:
    """Runs scenarios x controllers x seeds as batched compiled calls.

    Args:
        scenarios: the scenarios (e.g. :func:`meshlab.chaos.scenario.load_catalogue`).
        topology: the mesh.
        n_rounds: rounds per run.
        n_seeds: seeds per scenario (>= 1).
        seed: seeds the keys and the scenarios' random targets.
        policy: the controller policy (``enabled`` is set per controller).
        beacon: beacon params (default ``beacons.params()``).
        controllers: subset of :data:`CONTROLLERS`.
        batch_size: (scenario, controller) pairs per compiled call (memory bound).
        n_buckets: time buckets of the SLI counts.
        config: beacon model config.

    Returns:
        A :class:`CatalogueResult`. A scenario that fails to compile gets a row with
        verdict ``error`` and its message; it never stops the others.
    """
    n_rounds = check_int("n_rounds", n_rounds, low=2)
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    for c in controllers:
        if c not in CONTROLLERS:
            raise ValueError(f"controllers must be drawn from {CONTROLLERS}, got {c!r}")
    pol = ctl.policy() if policy is None else policy
    bp = beacons.params() if beacon is None else beacon
    cfg = ctl.ChaosConfig(
        n_rounds=n_rounds,
        n_buckets=min(n_buckets, n_rounds),
        beacon=config or beacons.BeaconConfig(),
    )
    kernel = ctl.build(cfg, topology)
    compiled, errors = compile_all(scenarios, topology, n_rounds, seed=seed)
    jobs = [
        (s, c, comp)
        for s, comp in zip(scenarios, compiled, strict=True)
        if comp is not None
        for c in controllers
    ]
    interval = float(bp.interval_s)
    verify = float(bp.verify_mean_s)
    key = jax.random.key(seed)
    rows, run_rows, tl_rows, bk_rows = [], [], [], []
    edges = np.asarray(kernel.data.edges, np.float64)
    # per-round infos summed over seeds, then over the rounds of each time bucket
    of = (np.arange(n_rounds) * cfg.n_buckets) // n_rounds  # round -> bucket
    first = np.searchsorted(of, np.arange(cfg.n_buckets))
    rounds = np.diff(np.append(first, n_rounds))

    def per_bucket(x):
        return np.add.reduceat(x.sum(axis=0), first, axis=0)

    for i in range(0, len(jobs), batch_size):
        chunk = jobs[i : i + batch_size]
        plist = [
            ctl.params(comp, pol._replace(enabled=jnp.float32(c == "isolate")), bp)
            for _, c, comp in chunk
        ]
        st, info = run_batch(kernel, key, _stack_params(plist), n_seeds)
        sc = {
            k: np.stack([np.asarray(getattr(comp, k)) for _, _, comp in chunk])
            for k in ("primary_start", "primary_end", "primary_nodes", "invalid_nodes")
        }
        obj = np.full(len(chunk), float(pol.delivery_objective))
        per = measures.summarize((st, info, sc, obj), interval_s=interval, verify_s=verify)
        for j, (s, c, _) in enumerate(chunk):
            agg = measures.summarize_seeds(per[j])
            verdicts = agg.pop("verdicts")
            rows.append(
                {
                    "scenario": s.name,
                    "category": s.category,
                    "controller": c,
                    "description": s.description,
                    "claim": s.claim,
                    "expected": s.expected,
                    **agg,
                    "verdict_held": agg["verdict"] == s.expected if c == "isolate" else None,
                    "verdicts_agree": len(set(verdicts)) == 1,
                    "error": "",
                }
            )
            for k, r in enumerate(per[j]):
                run_rows.append({"scenario": s.name, "controller": c, "seed": k, **r})
            tl_rows.append(
                pl.DataFrame(
                    {
                        "scenario": s.name,
                        "controller": c,
                        "round": np.arange(n_rounds),
                        "t_s": (np.arange(n_rounds) + 1) * interval,
                        "delivery": info["delivery"][j].mean(axis=0),
                        "p50_s": _seed_mean(info["p50_s"][j]),
                        "p99_s": _seed_mean(info["p99_s"][j]),
                        "ok_share": info["ok"][j].mean(axis=0),
                        "isolated": info["isolated"][j].mean(axis=0),
                        "fault_start": int(sc["primary_start"][j]),
                        "fault_end": int(sc["primary_end"][j]),
                    }
                )
            )
            good = st["bucket_good"][j].sum(axis=0)
            total = st["bucket_total"][j].sum(axis=0)
            hist = st["bucket_hist"][j].sum(axis=0).astype(np.float64)
            acc, rej = per_bucket(info["accepted"][j]), per_bucket(info["rejected"][j])
            up = per_bucket(info["nodes_up"][j])
            counted = per_bucket(info["sli_accepted"][j])
            fast = per_bucket(info["fast"][j])  # [Bk, M]
            for b in range(cfg.n_buckets):
                bk_rows.append(
                    {
                        "scenario": s.name,
                        "controller": c,
                        "bucket": b,
                        "t_start_s": b * n_rounds // cfg.n_buckets * interval,
                        "good": int(good[b]),
                        "total": int(total[b]),
                        "p99_s": _p99(hist[b], edges, cfg.beacon),
                        "accepted": int(acc[b]),
                        "rejected": int(rej[b]),
                        "nodes_up": int(up[b]),
                        "node_rounds": int(n_seeds * rounds[b] * topology.neighbors.shape[0]),
                        "sli_accepted": int(counted[b]),
                        **{
                            f"fast_{t:g}": int(fast[b, m])
                            for m, t in enumerate(cfg.beacon.sli_thresholds_s)
                        },
                    }
                )
    for name, msg in errors.items():
        s = next(x for x in scenarios if x.name == name)
        rows.append(
            {
                "scenario": name,
                "category": s.category,
                "controller": "isolate",
                "description": s.description,
                "claim": s.claim,
                "expected": s.expected,
                "verdict": "error",
                "verdict_held": False,
                "verdicts_agree": True,
                "error": msg,
            }
        )
    table = pl.DataFrame(rows, infer_schema_length=None)
    timeline = pl.concat(tl_rows) if tl_rows else pl.DataFrame()
    return CatalogueResult(
        table, timeline, pl.DataFrame(run_rows, infer_schema_length=None), pl.DataFrame(bk_rows)
    )


def _seed_mean(x: np.ndarray) -> np.ndarray:
    """Mean over seeds (axis 0) ignoring nan (rounds with no accepted beacon)."""
    fin = np.isfinite(x)
    n = fin.sum(axis=0)
    return np.where(n > 0, np.where(fin, x, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)


def _p99(counts: np.ndarray, edges: np.ndarray, spec: Any) -> float:
    total = counts.sum()
    if total <= 0:
        return float("nan")
    idx = int(np.searchsorted(np.cumsum(counts), max(0.99 * total, 1.0), side="left"))
    if idx == 0:
        return float(spec.hist_min_s)
    if idx > spec.hist_bins:
        return float(spec.hist_max_s)
    return float(edges[idx])


def sli_buckets(result: CatalogueResult, controller: str = "isolate") -> pl.DataFrame:
    """SLI-ready counts per scenario and time bucket (for the SLA report).

    Returns:
        polars frame ``scenario, bucket, t_start_s, good, total, p99_s`` (good = expected
        beacons accepted, summed over seeds; p99 from the bucket's latency histogram),
        ``accepted, rejected`` (all beacons verified), ``nodes_up, node_rounds`` (up
        node-rounds of ``node_rounds``), ``sli_accepted`` and ``fast_<threshold>``
        (accepted beacons at or under each of the beacon config's ``sli_thresholds_s``),
        all summed over seeds and the bucket's rounds.
    """
    return result.buckets.filter(pl.col("controller") == controller).drop("controller")


def claims(
    table: pl.DataFrame,
    *,
    n_nodes: int,
    recovery_s: float = 5.0,
    ledger: pl.DataFrame | None = None,
    large_n_nodes: int = 0,
    large_scenarios: Sequence[str] = (),
    fl: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The system's claims as measured rows: held / not held with the margin.

    * ``recovery < 5 s``: the largest MTTR mean + 95 % CI (controller on) over the
      scenarios tagged ``claim: recovery_5s`` (single node / Byzantine / CA faults),
      against ``recovery_s``; any unrecovered seed fails it.
    * ``30 % Byzantine tolerated``: the ``claim: byzantine_30`` scenario recovers with the
      controller and convicts no healthy node.
    * ``1,000+-node runs``: the largest node count run, naming which scenarios ran at it
      (the table's at ``n_nodes``; ``large_scenarios`` at ``large_n_nodes`` when > 0).
    * ``zero FL update loss`` (when ``fl``, :func:`fl_ledger`, is given): honest FL updates
      neither aggregated nor given a reason, over every scenario, controller and seed.
    * ``zero data loss``: the gossip update ledger (:func:`update_ledger`) shows no lost
      and no stale update in any scenario and balances everywhere (FL updates are not
      accounted for here).
    """
    on = table.filter((pl.col("controller") == "isolate") & (pl.col("verdict") != "error"))
    rows = []
    tagged = on.filter(pl.col("claim") == "recovery_5s")
    if tagged.height:
        hi = tagged.with_columns(
            upper=pl.col("mttr_s") + pl.col("mttr_s_ci95").fill_nan(0.0).fill_null(0.0)
        ).sort("upper", descending=True)
        worst = hi.row(0, named=True)
        rec = on.filter(pl.col("verdict") == "recovers")
        slowest = rec.sort("mttr_s", descending=True).row(0, named=True) if rec.height else None
        lost = int((tagged["mttr_s_censored"] > 0).sum())
        rows.append(
            {
                "claim": f"recovery < {recovery_s:g} s",
                "measured": worst["upper"],
                "held": bool(worst["upper"] < recovery_s and lost == 0),
                "margin": recovery_s - worst["upper"],
                "detail": f"largest MTTR mean + 95 % CI over the {tagged.height} recovery "
                f"scenarios: {worst['scenario']}; slowest recovery in the catalogue: "
                + (f"{slowest['scenario']} {slowest['mttr_s']:.3g} s" if slowest else "none"),
            }
        )
    byz = on.filter(pl.col("claim") == "byzantine_30")
    for r in byz.iter_rows(named=True):
        held = r["verdict"] in ("recovers", "degrades") and r["false_convictions"] == 0
        rows.append(
            {
                "claim": "30 % Byzantine tolerated",
                "measured": r["mttr_s"],
                "held": bool(held),
                "margin": recovery_s - r["mttr_s"] if np.isfinite(r["mttr_s"]) else -np.inf,
                "detail": f"{r['scenario']}: verdict {r['verdict']}, "
                f"false convictions {r['false_convictions']:.0f}",
            }
        )
    rows.append(
        {
            "claim": "1,000+-node chaos runs",
            "measured": float(max(n_nodes, large_n_nodes)),
            "held": bool(max(n_nodes, large_n_nodes) >= 1000),
            "margin": float(max(n_nodes, large_n_nodes) - 1000),
            "detail": f"{on.height} scenarios at N = {n_nodes}"
            + (
                f"; only {len(large_scenarios)} ({', '.join(large_scenarios)}) at N = "
                f"{large_n_nodes}"
                if large_n_nodes
                else ""
            ),
        }
    )
    if ledger is None or not ledger.height:
        rows.append(
            {
                "claim": "zero data loss",
                "measured": float("nan"),
                "held": None,
                "margin": float("nan"),
                "detail": "not measured: no update ledger was run",
            }
        )
    else:
        ran = ledger.filter(pl.col("balanced").is_not_null())
        missing = int(ran["lost"].sum() + ran["stale"].sum())
        balanced = bool(ran["balanced"].all())
        rows.append(
            {
                "claim": "zero data loss",
                "measured": float(missing),
                "held": bool(missing == 0 and balanced),
                "margin": float(-missing),
                "detail": f"gossiped updates: {missing} lost or stale of "
                f"{int(ran['expected'].sum())} expected deliveries over {ran.height} "
                f"scenarios (late: {int(ran['late'].sum())}); ledgers balance: {balanced}; "
                + ("FL updates: the next row" if fl is not None else "FL updates not run"),
            }
        )
    if fl is not None and fl.height:
        ran = fl.filter(pl.col("balanced").is_not_null())
        missing = int((ran["sent"] - ran["aggregated"] - ran["accounted"]).abs().sum())
        balanced = bool(ran["balanced"].all())
        rows.append(
            {
                "claim": "zero FL update loss",
                "measured": float(missing),
                "held": bool(missing == 0 and balanced),
                "margin": float(-missing),
                "detail": f"honest FL updates: {int(ran['aggregated'].sum())} aggregated + "
                f"{int(ran['accounted'].sum())} accounted of {int(ran['sent'].sum())} sent "
                f"over {ran['scenario'].n_unique()} scenarios x controllers x seeds; every "
                f"ledger balances exactly: {balanced}",
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None)


def select(catalogue: Sequence[Scenario], names: Any, where: str = "chaos.scenarios") -> list:
    """The scenarios named in ``names`` (``"all"``: the whole catalogue), in catalogue order.

    Raises:
        ValueError: unknown names (naming ``where``) or an empty selection.
    """
    if names == "all":
        return list(catalogue)
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ValueError(f"{where} must be 'all' or a non-empty list of names, got {names!r}")
    known = {s.name for s in catalogue}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{where} names unknown scenarios {unknown}; known: {sorted(known)}")
    return [s for s in catalogue if s.name in set(names)]


def report_metrics(table: pl.DataFrame, claim_rows: pl.DataFrame, *, n_nodes: int) -> dict:
    """``metrics.json`` content: counts, verdicts held, claims, per-scenario key measures
    (the isolating controller's, with the ``none`` baseline's MTTR and availability beside
    them when it ran)."""
    on = table.filter(pl.col("controller") == "isolate")
    ran = on.filter(pl.col("verdict") != "error")

    def _f(x):
        return None if x is None or not np.isfinite(x) else float(x)

    none = {
        r["scenario"]: r for r in table.filter(pl.col("controller") == "none").iter_rows(named=True)
    }
    per = {
        r["scenario"]: {
            "verdict": r["verdict"],
            "expected": r["expected"],
            "mttd_first_s": _f(r.get("mttd_first_s")),
            "mttr_s": _f(r.get("mttr_s")),
            "availability": _f(r.get("availability")),
            "load_refused": _f(r.get("load_refused")),
            **(
                {
                    "none_mttr_s": _f(none[r["scenario"]].get("mttr_s")),
                    "none_availability": _f(none[r["scenario"]].get("availability")),
                }
                if r["scenario"] in none
                else {}
            ),
        }
        for r in on.iter_rows(named=True)
    }
    return {
        "n_nodes": int(n_nodes),
        "n_scenarios": int(on.height),
        "n_errors": int(on.height - ran.height),
        "verdicts_held": int(ran["verdict_held"].sum()) if ran.height else 0,
        "not_recovered": int((ran["verdict"] == "not_recovered").sum()) if ran.height else 0,
        "claims": {
            r["claim"]: {
                "held": r["held"],
                "measured": _f(r["measured"]),
                "margin": _f(r["margin"]),
            }
            for r in claim_rows.iter_rows(named=True)
        },
        "scenarios": per,
    }


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _gossip_jit(init_fn, step_fn, config, n_rounds, data, keys, params):
    kernel = Kernel(config, data, init_fn, step_fn)
    per_seed = jax.vmap(lambda k, p: scan_steps(kernel, k, p, n_rounds)[0], in_axes=(0, None))
    return jax.vmap(per_seed, in_axes=(None, 0))(keys, params)


def update_ledger(
    scenarios: Sequence[Scenario],
    topology: Topology,
    *,
    n_rounds: int = 100,
    n_seeds: int = 3,
    seed: int = 0,
    n_updates: int = 8,
    deadline_rounds: int = 10,
    fanout: int = 3,
) -> pl.DataFrame:
    """Jepsen set-full for gossiped state updates under each scenario's faults.

    Push-pull gossip (:mod:`meshlab.membership.gossip`, one gossip round per beacon round)
    runs under the scenario's fault slots of the kinds gossip models (crash, partition,
    loss, link down, flapping, pause; the others, churn and cascade crashes and burst loss
    among them, are switched off: gossip does not model them); ``n_updates`` updates originate at random nodes in the first 60 % of the
    run. After the run, every acknowledged update must be held by every node alive at the
    end: the gossip ledger counts delivered / lost / stale / late pairs (and checks that
    they balance: delivered + lost + stale = expected).

    Returns:
        polars frame, one row per scenario: ``expected, delivered, lost, stale, late``
        summed over seeds, ``stable_p99_rounds`` (seed mean), ``balanced``.
    """
    from meshlab.membership import gossip

    n = topology.n_nodes
    n_rounds = check_int("n_rounds", n_rounds, low=2)
    compiled, errors = compile_all(scenarios, topology, n_rounds, seed=seed)
    cfg = gossip.GossipConfig(n_nodes=n, mode="pushpull", fanout=fanout, round_interval_s=1.0)
    kernel = gossip.build(cfg, topology)
    rng = np.random.default_rng(seed)
    upd = gossip.updates(
        rng.choice(n, size=n_updates), np.linspace(0, 0.6 * n_rounds, n_updates).astype(int)
    )
    gk = jnp.asarray([mf.KINDS.index(k) for k in mf.GOSSIP_KINDS if k in mf.KINDS])
    jobs, plist = [], []
    for s, c in zip(scenarios, compiled, strict=True):
        if c is None:
            continue
        f = c.faults._replace(active=c.faults.active & jnp.isin(c.faults.kind, gk))
        plist.append(gossip.params(loss=0.0, source=0, faults=f, updates=upd))
        jobs.append(s)
    keys = jax.random.split(jax.random.key(seed + 7), n_seeds)
    rows = []
    if plist:
        stacked = _stack_params(plist)
        states = _gossip_jit(
            kernel.init_fn, kernel.step_fn, cfg, n_rounds, kernel.data, keys, stacked
        )
        states = jax.tree.map(np.asarray, states)
        for b, s in enumerate(jobs):
            tot = dict.fromkeys(("expected", "delivered", "lost", "stale", "late"), 0)
            p99 = []
            for k in range(n_seeds):
                st = jax.tree.map(lambda x, b=b, k=k: x[b, k], states)
                book = gossip.ledger(st, cfg, plist[b], deadline_rounds)
                for name in tot:
                    tot[name] += book[name]
                p99.append(book["stable_latency_rounds"]["p99"])
            rows.append(
                {
                    "scenario": s.name,
                    **tot,
                    "stable_p99_rounds": float(np.nanmean(p99)) if np.isfinite(p99).any() else None,
                    "balanced": tot["delivered"] + tot["lost"] + tot["stale"] == tot["expected"],
                }
            )
    for name in errors:
        rows.append({"scenario": name, "balanced": None})
    return pl.DataFrame(rows, infer_schema_length=None)


def fl_ledger(
    scenarios: Sequence[Scenario],
    topology: Topology,
    *,
    n_rounds: int = 100,
    n_seeds: int = 3,
    seed: int = 0,
    config: Any = None,
    samples_per_client: int = 16,
    n_features: int = 10,
    n_classes: int = 4,
) -> pl.DataFrame:
    """FL updates under each scenario's faults, with and without quarantine: the ledger.

    Runs :mod:`meshlab.chaos.federated` (one client per mesh node, synthetic i.i.d. data)
    for every scenario with a fault of :data:`meshlab.chaos.federated.FL_KINDS`, for the
    ``quarantine`` and ``none`` controllers, as one compiled call (scenarios x
    controllers stacked, seeds ``vmap``\\ ed). Every run's ledger is checked
    (:func:`meshlab.fl.ledger.check`); a failing check is reported in ``balanced``.

    Returns:
        polars frame, one row per (scenario, controller): the ledger counts summed over
        seeds (``sent, aggregated, accounted, crashed, partition, stale, rejected``),
        ``balanced`` (every seed's books balance exactly), ``attacker_updates`` /
        ``attacker_aggregated`` (attack rows sent / used by the rule),
        ``attackers_flagged`` / ``attackers`` (over seeds; with the ``quarantine``
        controller a flagged client is quarantined from the next round), ``honest_flagged``
        (clients flagged that never attacked, over seeds), ``flag_rounds`` (mean rounds from
        an attacker's first bad update to the end of the round it is flagged in), ``accuracy``
        (seed mean of the final test accuracy).
    """
    from meshlab.chaos import federated as fed
    from meshlab.fl import data as fl_data
    from meshlab.fl import ledger as ledger_mod
    from meshlab.fl.models import ModelSpec

    n = topology.n_nodes
    n_rounds = check_int("n_rounds", n_rounds, low=2)
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    jobs = [s for s in scenarios if fed.relevant(s)]
    cols = ("sent", "aggregated", "accounted", *ledger_mod.REASONS)
    if not jobs:
        return pl.DataFrame(schema={"scenario": pl.Utf8, "controller": pl.Utf8})
    cfg = config or fed.FedConfig(model=ModelSpec("logistic_regression", n_features, n_classes))
    data = fl_data.synthetic_federated(
        jax.random.key(seed + 11), n, samples_per_client=samples_per_client,
        n_features=n_features, n_classes=n_classes, n_test=500,
        model_heterogeneity=0.0, feature_heterogeneity=0.0,
    )  # fmt: skip
    kernel = fed.build(cfg, topology, data)
    compiled, errors = compile_all(jobs, topology, n_rounds, seed=seed)
    plist, names = [], []
    for s, c in zip(jobs, compiled, strict=True):
        if c is None:
            continue
        for ctl_name in ("quarantine", "none"):
            plist.append(fed.params(s, c, quarantine=ctl_name == "quarantine"))
            names.append((s.name, ctl_name))
    rows = []
    if plist:
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *plist)
        keys = jax.random.split(jax.random.key(seed + 13), n_seeds)
        state, info = fed.run(kernel, keys, stacked, n_rounds)
        for b, (name, ctl_name) in enumerate(names):
            inf = jax.tree.map(lambda x, b=b: x[b], info)
            book = fed.ledger(inf)
            balanced = True
            for k in range(n_seeds):
                try:
                    ledger_mod.check(fed.ledger(jax.tree.map(lambda x, k=k: x[k], inf)))
                except AssertionError:
                    balanced = False
            byz = inf.attacker.any(axis=1)  # [S, n]
            first = np.where(byz, np.argmax(inf.attacker, axis=1), -1)
            qa = state.flagged_at[b]
            caught = byz & (qa >= 0)
            delay = np.where(caught, qa - first + 1, np.nan)
            rows.append(
                {
                    "scenario": name,
                    "controller": ctl_name,
                    **{c: book.counts[c] for c in cols},
                    "balanced": balanced,
                    "attacker_updates": int(inf.attacker.sum()),
                    "attacker_aggregated": int(inf.attacker_aggregated.sum()),
                    "attackers": int(byz.sum()),
                    "attackers_flagged": int(caught.sum()),
                    "honest_flagged": int(((qa >= 0) & ~byz).sum()),
                    "flag_rounds": float(np.nanmean(delay)) if caught.any() else None,
                    "accuracy": float(inf.accuracy[:, -1].mean()),
                }
            )
    for name in errors:
        rows.append({"scenario": name, "controller": None, "balanced": None})
    return pl.DataFrame(rows, infer_schema_length=None)
