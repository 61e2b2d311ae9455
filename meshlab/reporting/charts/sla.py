"""Charts of the SLA report: polars frames in (from :mod:`meshlab.slo.experiments`),
altair charts out."""

from __future__ import annotations

import altair as alt
import polars as pl

from meshlab.reporting.charts.common import check_rows

__all__ = ["burn_chart", "budget_chart", "sli_heatmap"]


def burn_chart(burn: pl.DataFrame, page_factor: float) -> alt.LayerChart:
    """Burn rate over time per incident (columns ``run, minute, burn_rate``), log scale,
    with the fast-page factor as a dashed rule and the fault window shaded (``start``,
    ``end`` minutes in the frame's first row)."""
    data = check_rows(burn.fill_nan(None))
    start, end = float(burn["fault_start_min"][0]), float(burn["fault_end_min"][0])
    window = (
        alt.Chart(pl.DataFrame({"start": [start], "end": [end]}))
        .mark_rect(opacity=0.12, color="firebrick")
        .encode(x="start:Q", x2="end:Q")
    )
    lines = (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X("minute:Q", title="minutes since start (fault window shaded)"),
            y=alt.Y(
                "burn_rate:Q",
                scale=alt.Scale(type="symlog"),
                title="burn rate over the last hour (x budget)",
            ),
            color=alt.Color("run:N", title="incident"),
            tooltip=["run", "minute", "burn_rate"],
        )
    )
    rule = (
        alt.Chart(pl.DataFrame({"factor": [page_factor]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y="factor:Q")
    )
    return (window + lines + rule).properties(
        width=520, height=240, title="Burn rate of the availability objective per incident"
    )


def budget_chart(burn: pl.DataFrame) -> alt.Chart:
    """Share of the 30-day error budget spent over the run, per incident (burn-down)."""
    return (
        alt.Chart(check_rows(burn.fill_nan(None)))
        .mark_line()
        .encode(
            x=alt.X("minute:Q", title="minutes since start"),
            y=alt.Y(
                "budget_spent:Q",
                title="share of the 30-day budget spent",
                axis=alt.Axis(format="%"),
            ),
            color=alt.Color("run:N", title="incident"),
            tooltip=["run", "minute", "budget_spent"],
        )
        .properties(width=520, height=200, title="Error budget burn-down")
    )


def sli_heatmap(table: pl.DataFrame) -> alt.Chart:
    """Objective x incident: met (green) or missed (red), SLI in the tooltip."""
    data = check_rows(
        table.fill_nan(None).with_columns(
            pl.when(pl.col("met")).then(pl.lit("met")).otherwise(pl.lit("missed")).alias("status")
        )
    )
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("run:N", title="incident"),
            y=alt.Y("objective:N", title=None),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=["met", "missed"], range=["#4c9a5b", "#c0392b"]),
                title=None,
            ),
            tooltip=["run", "objective", "sli", "target", "budget_consumed", "detect_page_s"],
        )
        .properties(title="Objectives met under each incident")
    )
