"""Tests of the report tables in meshlab.fl.experiments on hand-made frames (closed forms)."""

import math

import numpy as np
import polars as pl
import pytest

from meshlab.core.stats import mean_ci
from meshlab.fl import experiments as ex


def test_group_mean_ci_matches_core_stats():
    rng = np.random.default_rng(0)
    vals = rng.normal(size=7)
    df = pl.DataFrame({"g": ["a"] * 7 + ["b"], "v": [*vals, 3.0]})
    out = ex.group_mean_ci(df, ["g"], "v")
    ref = mean_ci(vals)
    a = out.filter(pl.col("g") == "a").row(0, named=True)
    assert a["mean"] == pytest.approx(ref["mean"], rel=1e-12)
    assert a["ci_hi"] - a["mean"] == pytest.approx(ref["ci95"], rel=1e-12)
    assert a["mean"] - a["ci_lo"] == pytest.approx(ref["ci95"], rel=1e-12)
    b = out.filter(pl.col("g") == "b").row(0, named=True)  # one value: zero-width interval
    assert (b["ci_lo"], b["mean"], b["ci_hi"], b["n"]) == (3.0, 3.0, 3.0, 1)


def _final():
    rows = []
    acc = {  # (aggregator, attack, fraction) -> mean final accuracy
        ("mean", "none", 0.0): 0.9, ("median", "none", 0.0): 0.88,
        ("mean", "none", 0.2): 0.9, ("median", "none", 0.2): 0.885,
        ("mean", "alie", 0.0): 0.9, ("median", "alie", 0.0): 0.88,
        ("mean", "alie", 0.2): 0.1, ("median", "alie", 0.2): 0.7,
    }  # fmt: skip
    for (agg, attack, frac), m in acc.items():
        rows.append({"aggregator": agg, "attack": attack, "fraction": frac, "mean": m,
                     "ci_lo": m - 0.01, "ci_hi": m + 0.01, "n": 3})  # fmt: skip
    return pl.DataFrame(rows)


def test_rule_choice_by_threat_and_worst_case():
    s = ex.rule_choice(_final(), tolerance=0.02)
    rows = {r["threat"]: r for r in s.iter_rows(named=True)}
    assert rows["none"]["choose"] == "mean" and rows["none"]["also_fine"] == "median"
    assert rows["alie"]["choose"] == "median" and rows["alie"]["also_fine"] == ""
    assert rows["alie"]["mean_accuracy"] == 0.1
    worst = rows["unknown (worst case)"]  # median's worst is 0.7, mean's 0.1
    assert worst["choose"] == "median" and worst["accuracy"] == 0.7
    assert all(r["clean_mean_accuracy"] == 0.9 and r["fraction"] == 0.2 for r in rows.values())


def test_time_to_accuracy_table_first_hit_and_never():
    # seed 0 reaches 0.8 at t = 2, seed 1 at t = 4, seed 2 never
    acc = [[0.5, 0.8, 0.9], [0.1, 0.5, 0.85], [0.1, 0.2, 0.3]]
    t = [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [1.0, 2.0, 3.0]]
    orch = pl.DataFrame({
        "orchestrator": "sync", "seed": np.repeat(np.arange(3), 3),
        "round": np.tile(np.arange(3), 3), "accuracy": np.ravel(acc), "time_s": np.ravel(t),
    })  # fmt: skip
    row = ex.time_to_accuracy_table(orch, 0.8).row(0, named=True)
    assert row["median_time_to_target_s"] == 4.0  # median of {2, 4, inf}
    assert row["reached_share"] == pytest.approx(2 / 3)
    row = ex.time_to_accuracy_table(orch, 0.95).row(0, named=True)
    assert math.isinf(row["median_time_to_target_s"]) and row["reached_share"] == 0.0


def test_detection_and_convergence_tables():
    per_run = pl.DataFrame({
        "aggregator": "median", "attack": ["none", "alie", "alie", "alie"],
        "fraction": [0.2, 0.0, 0.2, 0.2], "final_precision": [0.0, 0.0, 1.0, 0.5],
        "final_recall": [0.0, 0.0, 1.0, 1.0], "final_f1": [0.0, 0.0, 1.0, 2 / 3],
        "rounds_to_isolate": [-1, -1, 3, -1], "converged_round": [5, -1, 7, 9],
    })  # fmt: skip
    det = ex.detection_table(per_run)  # only attackers that act: alie at 0.2
    assert det.height == 1
    r = det.row(0, named=True)
    assert (r["precision"], r["recall"], r["isolated_share"]) == (0.75, 1.0, 0.5)
    assert r["median_rounds_to_isolate"] == 3
    conv = {
        (r["attack"], r["fraction"]): r for r in ex.convergence_table(per_run).iter_rows(named=True)
    }
    assert conv[("alie", 0.2)]["converged_share"] == 1.0
    assert conv[("alie", 0.2)]["median_round"] == 8.0
    assert conv[("alie", 0.0)]["converged_share"] == 0.0


def test_report_metrics_headlines():
    final = _final()
    det = pl.DataFrame(
        {"attack": ["alie"], "fraction": [0.2], "precision": [0.75], "recall": [1.0]}
    )
    tta = pl.DataFrame({"orchestrator": ["sync"], "median_time_to_target_s": [4.0]})
    m = ex.report_metrics(final, det, tta, ex.rule_choice(final), alie_fraction=0.2,
                          extra={"n_clients": 10})  # fmt: skip
    assert m["n_clients"] == 10 and m["clean_mean_accuracy"] == 0.9
    assert m["alie_mean_accuracy"] == 0.1 and m["alie_best_robust_rule"] == "median"
    assert m["alie_best_robust_accuracy"] == 0.7 and m["alie_detection_precision"] == 0.75
    assert m["tta_sync_s"] == 4.0 and len(m["summary"]) == 3


# ------------------------------------------------------------- worst case over attacks


def _runs(acc):
    """Per-run frame from {(rule, alpha, f, attack): [accuracy per seed]}."""
    rows = [
        {"rule": r, "f_config": 3, "alpha": a, "f": f, "attack": att, "seed": s,
         "final_accuracy": v}
        for (r, a, f, att), vals in acc.items() for s, v in enumerate(vals)
    ]  # fmt: skip
    return pl.DataFrame(rows)


def _toy():
    acc = {}
    for r, base in (("median", 0.8), ("krum", 0.6), ("nnm+median", 0.82)):
        for a, het in ((0.1, 0.4), (10.0, 0.0)):
            acc[(r, a, 0, "none")] = [0.9, 0.9, 0.9]
            for f in (1, 3):
                # sign_flip harmless; alie hurts more with f and with heterogeneity
                acc[(r, a, f, "sign_flip")] = [0.85, 0.86, 0.87]
                worst = base - het - 0.05 * f
                acc[(r, a, f, "alie")] = [worst - 0.01, worst, worst + 0.01]
    return _runs(acc)


def test_worst_case_table_takes_the_lowest_attack_mean():
    w = ex.worst_case_table(_toy())
    row = w.filter((pl.col("rule") == "krum") & (pl.col("alpha") == 0.1) & (pl.col("f") == 3))
    r = row.row(0, named=True)
    assert r["worst_attack"] == "alie"
    assert r["mean"] == pytest.approx(0.6 - 0.4 - 0.15)
    half = 0.01 * 4.302652729911275 / math.sqrt(3)  # sd 0.01, t_{0.975, 2}
    assert r["ci_hi"] - r["mean"] == pytest.approx(half, rel=1e-4)
    assert r["clean_mean"] == pytest.approx(0.9)
    assert w.height == 3 * 2 * 2  # rules x alphas x f (clean runs are not a cell)
    assert (w["f_config"] == 3).all()  # the f each rule was told, carried to the table


def test_recommend_and_ci_overlap():
    w = ex.worst_case_table(_toy())
    rec = ex.recommend(w)
    assert rec.height == 4 and set(rec["choose"]) == {"nnm+median"}
    # nnm+median (0.82 - ...) and median (0.80 - ...) differ by 0.02 > both half-widths (0.0248)?
    # half-width = 0.0248 each, so the intervals overlap: the two cannot be told apart
    assert all("median" in s.split(", ") for s in rec["indistinguishable"])
    assert not any("krum" in s for s in rec["indistinguishable"])  # 0.2 lower: separated


def test_published_findings_on_a_known_table():
    runs = _toy()
    out = ex.published_findings(runs, ex.worst_case_table(runs))
    h = out["heterogeneity_vs_f"]["median"]
    assert h["drop_over_alpha"] == pytest.approx(0.4) and h["drop_over_f"] == pytest.approx(0.1)
    assert h["agree"] and out["heterogeneity_vs_f_agree"] == "2/2"
    assert out["preaggregation_under_heterogeneity"]["nnm+median"]["gain_at_most_non_iid"] == (
        pytest.approx(0.02)
    )
    assert out["preaggregation_agree_by"] == {"nnm": "1/1"}
    assert out["alie_vs_sign_flip"]["median"]["agree"]
    assert out["alie_vs_sign_flip"]["krum"]["gap"] > 0


@pytest.fixture(scope="module")
def small_sweep():
    import jax

    from meshlab import fl

    alphas = [0.3, 5.0]
    data = ex.alpha_datasets(jax.random.key(0), 8, alphas)
    cfg = fl.FLConfig(model=fl.ModelSpec("logistic_regression", 64, 10), n_clients=8,
                      n_rounds=3, local_steps=2, batch_size=8)  # fmt: skip
    args = (data, alphas, cfg, ["median"], [1, 3], 2)
    kw = {"attacks": ("sign_flip", "opt_alie", "min_max"), "client_lr": 0.3}
    runs = ex.worst_case_sweep(jax.random.key(1), *args, **kw)
    again = ex.worst_case_sweep(jax.random.key(1), *args, **kw)
    return data, alphas, cfg, runs, again


def test_worst_case_sweep_same_seed_same_table(small_sweep):
    *_, runs, again = small_sweep
    assert runs.equals(again)
    assert runs.height == 2 * 2 + 3 * 2 * 2 * 2  # clean (alpha x seed) + attacks x alpha x f x seed
    assert runs["final_accuracy"].is_between(0, 1).all()


def test_worst_case_sweep_equals_cells_one_by_one(small_sweep):
    import dataclasses

    import jax

    from meshlab import fl

    data, alphas, cfg, runs, _ = small_sweep
    table = ("none", "sign_flip", "opt_alie", "min_max")
    cfg = dataclasses.replace(cfg, attacks=table, detector=None)
    k_byz, k_run = jax.random.split(jax.random.key(1))
    for ai, a, f, s in [(1, 0.3, 1, 0), (2, 5.0, 3, 1), (3, 0.3, 3, 1), (0, 5.0, 0, 0)]:
        i = alphas.index(a)
        d = jax.tree.map(lambda x, i=i: x[i], data)
        # the rule is configured for the cell's f (the clean run: for the first f)
        c = dataclasses.replace(cfg, aggregator=fl.aggregator_for("median", n=8, f_max=max(f, 1)))
        byz = fl.choose_byzantine(jax.random.split(k_byz, 2)[s], 8, f)
        p = fl.make_params(c, np.asarray(byz), attack=ai, client_lr=0.3)
        _, info = fl.rollout(fl.build(c, d), jax.random.split(k_run, 2)[s], p)
        cell = runs.filter((pl.col("alpha") == a) & (pl.col("f") == f)
                           & (pl.col("attack") == table[ai]) & (pl.col("seed") == s))  # fmt: skip
        assert cell.height == 1
        assert cell["final_accuracy"][0] == float(info.accuracy[-1])  # bit for bit


@pytest.fixture(scope="module")
def krum_sweep_and_cells():
    """nnm+krum grid run both ways: one ``worst_case_sweep`` and every cell by ``rollout``.

    At this size (8 clients, f = 2, Min-Max) the runs batched by ``vmap`` had picked other
    rows than the unbatched ones (Krum scores within a few ulps) and ended with other
    final accuracies. The sweep compiles the rule once, for f = 2, and tells each cell its
    f; the cells here are run with that rule and the same f.
    """
    import dataclasses

    import jax

    from meshlab import fl

    alphas, n, f_values, n_seeds = [0.1, 10.0], 8, [1, 2], 2
    data = ex.alpha_datasets(jax.random.key(0), n, alphas)
    cfg = fl.FLConfig(model=fl.ModelSpec("logistic_regression", 64, 10), n_clients=n,
                      n_rounds=5, local_steps=5, batch_size=16)  # fmt: skip
    runs = ex.worst_case_sweep(jax.random.key(1), data, alphas, cfg, ["nnm+krum"], f_values,
                               n_seeds, attacks=("min_max",), client_lr=0.3)  # fmt: skip
    table = ("none", "min_max")
    c = dataclasses.replace(cfg, attacks=table, detector=None,
                            aggregator=fl.aggregator_for("nnm+krum", n=n, f_max=2))  # fmt: skip
    k_byz, k_run = jax.random.split(jax.random.key(1))
    byz_keys, run_keys = jax.random.split(k_byz, n_seeds), jax.random.split(k_run, n_seeds)
    cells = {}
    for ai, f in [(0, 0), (1, 1), (1, 2)]:
        for i, alpha in enumerate(alphas):
            kernel = fl.build(c, jax.tree.map(lambda x, i=i: x[i], data))
            for s in range(n_seeds):
                byz = fl.choose_byzantine(byz_keys[s], n, f) if ai else np.zeros(n, bool)
                p = fl.make_params(c, np.asarray(byz), attack=ai, client_lr=0.3, f=max(f, 1))
                acc = fl.rollout(kernel, run_keys[s], p)[1].accuracy[-1]
                cells[(table[ai], alpha, f, s)] = float(acc)
    return runs, cells


@pytest.mark.slow  # long (about 30 s to compile): CI runs it with the slow cases
def test_worst_case_sweep_equals_cells_bitwise_for_krum(krum_sweep_and_cells):
    runs, cells = krum_sweep_and_cells
    got = {(r["attack"], r["alpha"], r["f"], r["seed"]): r["final_accuracy"]
           for r in runs.iter_rows(named=True)}  # fmt: skip
    assert got.keys() == cells.keys()
    assert got == cells  # bit for bit, whichever way the grid is run


@pytest.mark.slow  # long: CI runs it with the slow cases
def test_worst_case_sweep_tells_each_rule_the_true_f():
    import jax
    import jax.numpy as jnp

    from meshlab import fl

    # on a fixed column the rules must differ at f = 1: trimmed mean (1 per side) 0.5, median 0
    col = jnp.asarray([0, 0, 0, 0, 0, 1, 2, 10], jnp.float32)[:, None]
    valid = jnp.ones(8, bool)
    agg = lambda r, f: float(
        fl.aggregator_for(r, n=8, f_max=f).build(8).aggregate(jax.random.key(0), col, valid)[0][0]
    )
    assert (agg("trimmed_mean", 1), agg("median", 1)) == (pytest.approx(0.5), 0.0)
    # the sweep configures each f cell for that f: at f = 1 trimmed mean and median train
    # differently; at f = 3 of 8 trimmed mean keeps the middle two rows, i.e. the median
    alphas = [0.5]
    data = ex.alpha_datasets(jax.random.key(0), 8, alphas)
    cfg = fl.FLConfig(model=fl.ModelSpec("logistic_regression", 64, 10), n_clients=8,
                      n_rounds=2, local_steps=2, batch_size=8)  # fmt: skip
    runs = ex.worst_case_sweep(jax.random.key(2), data, alphas, cfg, ["median", "trimmed_mean"],
                               [1, 3], 1, attacks=("ipm",), client_lr=0.3)  # fmt: skip
    att = runs.filter(pl.col("attack") == "ipm")
    assert (att["f_config"] == att["f"]).all()
    acc = {(r["rule"], r["f"]): r["final_accuracy"] for r in att.iter_rows(named=True)}
    assert acc[("trimmed_mean", 1)] != acc[("median", 1)]
    assert acc[("trimmed_mean", 3)] == pytest.approx(acc[("median", 3)], abs=1e-6)


def _yaml_section():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parent.parent
    return {"out_dir": None, **yaml.safe_load((root / "params.yaml").read_text())["fl_robustness"]}


def test_report_params_accept_params_yaml_and_name_bad_keys():
    good = _yaml_section()
    assert ex.check_report_params(good)["alie_z"] is None  # z_max by default
    assert ex.check_report_params({**good, "alie_z": 0.43})["alie_z"] == 0.43
    for key, value, match in [
        ("alie_z", -1, r"fl_robustness\.alie_z must be in \(0, inf\), got -1"),
        ("wc_alphas", [0.1, 0.0], r"fl_robustness\.wc_alphas\[1\]"),
        ("wc_rules", ["median", "nnm+kmeans"], r"fl_robustness\.wc_rules\[1\].*'nnm\+kmeans'"),
        ("wc_attacks", ["alie", "nonfinite"], r"fl_robustness\.wc_attacks\[1\]"),
        ("minmax_direction", "up", r"fl_robustness\.minmax_direction"),
        ("wc_f_values", [1, 15], r"fl_robustness\.wc_f_values\[1\]=15 must be < "),
    ]:
        with pytest.raises(ValueError, match=match):
            ex.check_report_params({**good, key: value})


def test_every_experiments_name_resolves_through_meshlab_fl():
    import meshlab.fl
    import meshlab.fl.experiments

    for name in meshlab.fl.experiments.__all__:
        assert getattr(meshlab.fl, name) is getattr(meshlab.fl.experiments, name)
        assert name in meshlab.fl.__all__, name
    with pytest.raises(AttributeError, match="no_such_table"):
        meshlab.fl.no_such_table  # noqa: B018


def test_worst_case_heatmaps_keep_the_rule_order():
    from meshlab.reporting.charts.fl_robustness import worst_case_heatmaps

    w = ex.worst_case_table(_toy())  # rules in run order: median, krum, nnm+median
    spec = worst_case_heatmaps(w, columns=3).to_dict()
    assert spec["facet"]["sort"] == ["median", "krum", "nnm+median"]  # not alphabetical
    assert spec["spec"]["width"] == 36 * 2  # a readable cell per f
