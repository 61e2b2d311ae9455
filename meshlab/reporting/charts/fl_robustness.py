"""Worst-case charts of the ``fl_robustness`` report: polars frames in, altair charts out.

The frames come from :func:`meshlab.fl.experiments.worst_case_table` (rows rule, alpha, f,
worst_attack, mean, ci_lo, ci_hi) and the per-run rows of
:func:`meshlab.fl.experiments.worst_case_sweep`; nothing here imports the FL domain.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from meshlab.reporting.charts.common import check_rows

__all__ = ["attack_heatmap", "worst_case_heatmaps"]

_ACC = alt.Scale(domain=[0, 1], scheme="viridis")


def worst_case_heatmaps(worst: pl.DataFrame, *, columns: int = 4) -> alt.FacetChart:
    """Worst case over the attack set: f (x) x Dirichlet alpha (y), one panel per rule.

    Each cell shows the seed-mean final accuracy under the cell's worst attack, its label
    the accuracy and the 95 % interval half-width.

    Args:
        worst: rows (rule, alpha, f, worst_attack, mean, ci_lo, ci_hi).
        columns: panels per row.
    """
    df = check_rows(worst).with_columns(
        alpha_label=pl.col("alpha").cast(pl.Utf8),
        label=pl.format(
            "{}±{}",
            (pl.col("mean") * 100).round(0).cast(pl.Int64),
            ((pl.col("ci_hi") - pl.col("mean")) * 100).round(0).cast(pl.Int64),
        ),
    )
    n_f = max(df["f"].n_unique(), 1)
    base = alt.Chart(df).encode(
        x=alt.X("f:O", title="Byzantine clients f"),
        y=alt.Y("alpha_label:O", title="Dirichlet alpha (small = non-IID)", sort="descending"),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("mean:Q", title="worst-case accuracy", scale=_ACC),
        tooltip=["rule", "alpha", "f", "worst_attack", "mean", "ci_lo", "ci_hi"],
    )
    text = base.mark_text(fontSize=8).encode(
        text="label:N",
        color=alt.condition(alt.datum.mean > 0.5, alt.value("black"), alt.value("white")),
    )
    return (
        (rect + text)
        .properties(width=36 * n_f, height=90)
        .facet(
            # panels in the frame's order (Vega-Lite sorts facets by name unless told)
            facet=alt.Facet("rule:N", sort=df["rule"].unique(maintain_order=True).to_list()),
            columns=columns,
            title="worst case over the attacks (accuracy %, ± 95 % CI half-width)",
        )
    )


def attack_heatmap(cells: pl.DataFrame, title: str) -> alt.Chart:
    """Mean final accuracy per rule (y) x attack (x) at one (alpha, f).

    Args:
        cells: rows (rule, attack, mean) (e.g. ``group_mean_ci`` by rule and attack).
        title: chart title (say which alpha and f).
    """
    df = check_rows(cells)
    base = alt.Chart(df).encode(
        x=alt.X("attack:N", sort=None), y=alt.Y("rule:N", sort=None, title=None)
    )
    rect = base.mark_rect().encode(color=alt.Color("mean:Q", title="accuracy", scale=_ACC))
    text = base.mark_text(fontSize=9).encode(
        text=alt.Text("mean:Q", format=".2f"),
        color=alt.condition(alt.datum.mean > 0.5, alt.value("black"), alt.value("white")),
    )
    return (rect + text).properties(title=title, width=40 * df["attack"].n_unique())
