"""Charts of the chaos report: polars frames in (from :mod:`meshlab.chaos.experiments`),
altair charts out."""

from __future__ import annotations

import altair as alt
import polars as pl

from meshlab.reporting.charts.common import check_rows

__all__ = ["availability_heatmap", "mttr_distribution", "timelines"]


def timelines(timeline: pl.DataFrame, scenarios: list[str], field: str) -> alt.FacetChart:
    """Jepsen-style timelines: ``field`` (``delivery`` or ``p99_s``) per round, one panel per
    scenario, one line per controller, the primary fault's window shaded.

    Args:
        timeline: ``CatalogueResult.timeline`` (columns ``scenario, controller, t_s,
            delivery, p99_s, fault_start, fault_end``).
        scenarios: the scenarios to draw.
        field: ``"delivery"`` or ``"p99_s"``.
    """
    data = timeline.filter(pl.col("scenario").is_in(scenarios)).select(
        "scenario", "controller", "t_s", field, "fault_start", "fault_end"
    )
    data = check_rows(data.fill_nan(None))
    title = {"delivery": "delivery (expected beacons accepted)", "p99_s": "p99 latency (s)"}
    scale = alt.Scale(type="log") if field == "p99_s" else alt.Scale(zero=False)
    window = (
        alt.Chart()
        .mark_rect(opacity=0.12, color="firebrick")
        .encode(x="fault_start:Q", x2="fault_end:Q")
    )
    lines = (
        alt.Chart()
        .mark_line()
        .encode(
            x=alt.X("t_s:Q", title="simulated time (s); primary fault window shaded"),
            y=alt.Y(f"{field}:Q", title=title.get(field, field), scale=scale),
            color=alt.Color("controller:N", title="controller"),
            tooltip=["scenario", "controller", "t_s", field],
        )
    )
    return (
        alt.layer(window, lines, data=data)
        .properties(width=260, height=140)
        .facet(facet=alt.Facet("scenario:N", title=None), columns=3)
    )


def mttr_distribution(runs: pl.DataFrame) -> alt.Chart:
    """MTTR of every seed per scenario and controller (finite values; ticks + mean)."""
    data = check_rows(
        runs.filter(pl.col("mttr_s").is_finite()).select("scenario", "controller", "mttr_s")
    )
    return (
        alt.Chart(data)
        .mark_tick(thickness=2)
        .encode(
            y=alt.Y("scenario:N", title=None, sort="ascending"),
            x=alt.X("mttr_s:Q", title="MTTR (s) per seed"),
            color=alt.Color("controller:N"),
            tooltip=["scenario", "controller", "mttr_s"],
        )
        .properties(width=420, title="Time to recover per seed")
    )


def availability_heatmap(table: pl.DataFrame) -> alt.Chart:
    """Availability (share of rounds within objective) per scenario and controller."""
    data = check_rows(
        table.filter(pl.col("verdict") != "error").select(
            "scenario", "category", "controller", "availability", "verdict"
        )
    )
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            y=alt.Y("scenario:N", title=None, sort=alt.EncodingSortField("category")),
            x=alt.X("controller:N", title="controller"),
            color=alt.Color(
                "availability:Q", scale=alt.Scale(domain=[0, 1], scheme="redyellowgreen")
            ),
            tooltip=["scenario", "category", "controller", "availability", "verdict"],
        )
        .properties(width=120, title="Availability per scenario")
    )
