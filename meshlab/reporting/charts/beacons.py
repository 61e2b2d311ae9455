"""Charts of the beacons report: tidy polars frames in, altair charts out.

The frames come from :mod:`meshlab.mesh.experiments` (latency, delivery, CPU) and
:mod:`meshlab.membership.experiments` (detection, gossip); this module imports neither.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from meshlab.reporting.charts.common import (
    TITLES,
    check_rows,
    error_bars,
    reference_line,
    with_bounds,
    x_axis,
    y_axis,
)

__all__ = [
    "cpu_vs_degree",
    "delivery",
    "detection_times",
    "false_suspicion",
    "gossip_curves",
    "gossip_rounds",
    "latency_by_topology",
]


def latency_by_topology(latency: pl.DataFrame) -> alt.FacetChart:
    """p50/p95/p99 (mean ± CI over seeds) vs N, one panel per topology family.

    Args:
        latency: ``topology, n_nodes, p50_ms, p95_ms, p99_ms`` and their ``*_ci95``.
    """
    q = ["p50_ms", "p95_ms", "p99_ms"]
    long = latency.unpivot(
        index=["topology", "n_nodes"], on=q, variable_name="quantile", value_name="ms"
    )
    ci = latency.unpivot(
        index=["topology", "n_nodes"],
        on=[f"{m}_ci95" for m in q],
        variable_name="q",
        value_name="ci",
    ).with_columns(pl.col("q").str.replace("_ci95", "").alias("quantile"))
    long = with_bounds(long.join(ci.drop("q"), on=["topology", "n_nodes", "quantile"]), "ms", "ci")
    chart = error_bars(long, "n_nodes", "ms", "lo", "hi", "quantile", x_scale="log", line=True)
    return chart.properties(width=170, height=140).facet(facet="topology:N", columns=3)


def delivery(delivery: pl.DataFrame) -> alt.LayerChart:
    """Delivery ratio (mean ± CI) under iid vs Gilbert–Elliott loss, with ``1 - loss`` dashed.

    Args:
        delivery: ``loss, model, delivery_ratio, ci95, expected``.
    """
    df = with_bounds(delivery, "delivery_ratio", "ci95")
    # side by side: each model's points moved 3 % of the loss range off the true loss (a
    # quantitative x has no dodge), so neither hides the other nor the dashed 1 - loss line
    models = sorted(df["model"].unique().to_list())
    span = max(float(df["loss"].max() - df["loss"].min()), float(df["loss"].max()), 1e-9)
    shift = {m: 0.03 * span * (i - (len(models) - 1) / 2) for i, m in enumerate(models)}
    df = df.with_columns(
        (pl.col("loss") + pl.col("model").replace_strict(shift, return_dtype=pl.Float64)).alias(
            "loss_at"
        )
    )
    title = "long-run loss (models drawn side by side)"
    points = error_bars(
        df, "loss_at", "delivery_ratio", "lo", "hi", "model", y_zero=False, x_title=title
    )
    ref = reference_line(
        delivery, "loss", "expected", x_title=title, y_title=TITLES["delivery_ratio"]
    )
    return alt.layer(points, ref).properties(width=360, height=220)


def cpu_vs_degree(cpu: pl.DataFrame) -> alt.HConcatChart:
    """CPU utilization and mean queueing wait vs degree, side by side.

    Args:
        cpu: ``degree, cpu_util_mean, mean_wait_ms``.
    """
    base = alt.Chart(check_rows(cpu))
    u = base.mark_line(point=True).encode(x=x_axis("degree"), y=y_axis("cpu_util_mean"))
    w = base.mark_line(point=True, color="firebrick").encode(
        x=x_axis("degree"), y=y_axis("mean_wait_ms")
    )
    return alt.hconcat(u.properties(width=260, height=200), w.properties(width=260, height=200))


def detection_times(times: pl.DataFrame) -> alt.FacetChart:
    """Box plots of crash-detection times per detector and loss (first / all neighbours).

    Args:
        times: ``detector, loss, which, detect_s`` (undetected rows, inf, are dropped).
    """
    finite = check_rows(times.filter(pl.col("detect_s").is_finite()))
    return (
        alt.Chart(finite)
        # a box of identical times (no loss) has no width: a bold median tick keeps it visible
        .mark_boxplot(extent="min-max", size=12, median={"color": "black", "strokeWidth": 2})
        .encode(
            x=alt.X("detect_s:Q", title="seconds from crash to suspicion"),
            y=alt.Y("detector:N", title=None),
            color=alt.Color("loss:O", title="beacon loss"),
            yOffset="loss:O",
            row=alt.Row("which:N", title=None),
        )
        .properties(width=460, height=160, title="Crash detection time in the beacon simulation")
    )


def false_suspicion(summary: pl.DataFrame) -> alt.Chart:
    """Fraction of live-link time suspected vs loss, one line per detector (symlog).

    Args:
        summary: ``detector, loss, false_suspicion_rate``.
    """
    df = check_rows(summary.select("detector", "loss", "false_suspicion_rate"))
    return (
        alt.Chart(df)
        .mark_line(point=True)
        .encode(
            x=x_axis("loss"),
            y=y_axis(
                "false_suspicion_rate",
                title="fraction of live-link time suspected (symlog)",
                scale="symlog",
            ),
            color=alt.Color("detector:N"),
        )
        .properties(width=420, height=260, title="False suspicion of live nodes")
    )


def gossip_curves(curves: pl.DataFrame, title: str = "") -> alt.FacetChart:
    """Mean coverage per round and mode, the Serf envelope dashed, one panel per graph.

    Args:
        curves: ``graph, mode, round, coverage, serf_envelope`` for one N.
        title: chart title.
    """
    base = alt.Chart(check_rows(curves))
    lines = base.mark_line(point=True).encode(
        x=x_axis("round", title="gossip round"),
        y=y_axis("coverage", title="informed fraction (mean over seeds)"),
        color=alt.Color("mode:N"),
    )
    envelope = (
        base.transform_filter(alt.datum.mode == "push")
        .mark_line(strokeDash=[6, 4], color="black")
        .encode(x="round:Q", y="serf_envelope:Q")
    )
    return (
        alt.layer(lines, envelope)
        .properties(width=330, height=240)
        .facet(column=alt.Column("graph:N", title=None))
        .properties(title=title)
    )


def gossip_rounds(crossings: pl.DataFrame, level: float = 0.999) -> alt.LayerChart:
    """Rounds to ``level`` coverage vs N per mode and graph, the Serf envelope dotted.

    Args:
        crossings: ``n_nodes, graph, mode, level, rounds_mean, serf_rounds``.
        level: the coverage level shown.
    """
    df = crossings.filter(pl.col("level") == level).select(
        "n_nodes", "graph", "mode", "rounds_mean", "serf_rounds"
    )
    points = (
        alt.Chart(check_rows(df))
        .mark_line(point=True)
        .encode(
            x=x_axis("n_nodes", scale="log"),
            y=y_axis("rounds_mean", title=f"rounds to {100 * level:g} % coverage"),
            color="mode:N",
            strokeDash="graph:N",
        )
    )
    serf = reference_line(
        df.unique(["n_nodes"]), "n_nodes", "serf_rounds", color="black", dash=(2, 2),
        x_scale="log", y_title=f"rounds to {100 * level:g} % coverage",
    )  # fmt: skip
    return alt.layer(points, serf).properties(
        width=420, height=260, title=f"Rounds to {100 * level:g} % vs N (dotted: Serf envelope)"
    )
