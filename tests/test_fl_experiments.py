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
