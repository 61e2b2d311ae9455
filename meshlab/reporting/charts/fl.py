"""Charts of the ``fl_robustness`` report: polars frames in, altair charts out.

The frames come from :mod:`meshlab.fl.experiments` (``group_mean_ci`` tables with
``mean``, ``ci_lo``, ``ci_hi``); nothing here imports the FL domain.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from meshlab.reporting.charts.common import check_rows

__all__ = ["accuracy_curves", "final_accuracy_heatmap", "time_to_accuracy"]


def accuracy_curves(curves: pl.DataFrame, fraction: float, *, columns: int = 5) -> alt.FacetChart:
    """Test accuracy vs round (mean and 95 % band) per aggregator, one panel per attack.

    Args:
        curves: rows (aggregator, attack, fraction, round, mean, ci_lo, ci_hi).
        fraction: the Byzantine fraction shown.
        columns: panels per row.
    """
    sel = check_rows(curves.filter(pl.col("fraction") == fraction))
    band = (
        alt.Chart(sel)
        .mark_area(opacity=0.15)
        .encode(
            x=alt.X("round:Q", title="round"),
            y=alt.Y("ci_lo:Q", title="test accuracy", scale=alt.Scale(domain=[0, 1])),
            y2="ci_hi:Q",
            color="aggregator:N",
        )
    )
    line = alt.Chart(sel).mark_line().encode(x="round:Q", y="mean:Q", color="aggregator:N")
    return (
        (band + line)
        .properties(width=160, height=120)
        .facet(
            facet=alt.Facet("attack:N"),
            columns=columns,
            title=f"accuracy vs round, Byzantine fraction {fraction}",
        )
    )


def final_accuracy_heatmap(final: pl.DataFrame) -> alt.FacetChart:
    """Mean final accuracy per aggregator x attack, one panel per Byzantine fraction.

    Args:
        final: rows (aggregator, attack, fraction, mean, ci_lo, ci_hi).
    """
    return (
        alt.Chart(check_rows(final))
        .mark_rect()
        .encode(
            x=alt.X("attack:N"),
            y=alt.Y("aggregator:N"),
            color=alt.Color(
                "mean:Q", title="final accuracy", scale=alt.Scale(domain=[0, 1], scheme="viridis")
            ),
            tooltip=["aggregator", "attack", "fraction", "mean", "ci_lo", "ci_hi"],
        )
        .properties(width=260, height=180)
        .facet(column=alt.Column("fraction:Q", title="Byzantine fraction"))
    )


def time_to_accuracy(curves: pl.DataFrame, title: str) -> alt.Chart:
    """Mean test accuracy vs mean simulated time, one line per orchestrator.

    Args:
        curves: rows (orchestrator, round, mean (accuracy), time_s (mean clock)).
        title: chart title.
    """
    return (
        alt.Chart(check_rows(curves))
        .mark_line(point=True)
        .encode(
            x=alt.X("time_s:Q", title="simulated time (s)"),
            y=alt.Y("mean:Q", title="test accuracy"),
            color="orchestrator:N",
        )
        .properties(width=420, height=220, title=title)
    )
