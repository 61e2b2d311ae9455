"""Charts of the scaling report (functions take polars frames, return altair charts)."""

from __future__ import annotations

import altair as alt
import polars as pl

from meshlab.reporting.charts import common

__all__ = [
    "prediction_vs_simulation",
    "seed_extrapolation",
    "simulator_throughput",
]


def prediction_vs_simulation(errors: pl.DataFrame, fit: pl.DataFrame) -> alt.FacetChart:
    """Per quantity: small-N runs (fit), the predicted mean with its band and the
    simulated mean ± CI at the large sizes, on a log N axis.

    Args:
        errors: rows of :func:`meshlab.scaling.experiments.prediction_errors`.
        fit: the small runs' per-size means, columns ``quantity``, ``n_nodes``, ``value``.
    """
    pred = common.with_bounds(errors, "predicted", "predicted_ci95").select(
        "quantity", "n_nodes", pl.col("predicted").alias("value"), "lo", "hi",
        pl.lit("predicted").alias("series"),
    )  # fmt: skip
    sim = common.with_bounds(
        errors.with_columns(pl.col("simulated_ci95").fill_nan(0.0)), "simulated", "simulated_ci95"
    ).select(
        "quantity", "n_nodes", pl.col("simulated").alias("value"), "lo", "hi",
        pl.lit("simulated").alias("series"),
    )  # fmt: skip
    small = fit.select(
        "quantity", "n_nodes", "value", pl.col("value").alias("lo"), pl.col("value").alias("hi"),
        pl.lit("fit runs").alias("series"),
    )  # fmt: skip
    df = pl.concat([small, pred, sim]).with_columns(pl.col("n_nodes").cast(pl.Float64))
    base = alt.Chart(common.check_rows(df))
    x = common.x_axis("n_nodes", title="nodes N", scale="log")
    points = base.mark_point(filled=True).encode(
        x=x, y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)), color="series:N"
    )
    bars = base.mark_rule().encode(x=x, y="lo:Q", y2="hi:Q", color="series:N")
    return (
        alt.layer(bars, points, data=common.check_rows(df))
        .properties(width=220, height=160)
        .facet(facet=alt.Facet("quantity:N", title=None), columns=3)
        .resolve_scale(y="independent")
    )


def seed_extrapolation(table: pl.DataFrame) -> alt.LayerChart:
    """The seed's claims, two naive extrapolations and the model's p99, on log-log axes."""
    long = table.unpivot(
        index="n_nodes",
        on=["claimed_ms", "naive_linear_ms", "naive_quadratic_ms", "model_ms"],
        variable_name="series",
        value_name="p99_ms",
    ).filter(pl.col("p99_ms").is_not_nan() & (pl.col("p99_ms") > 0))
    base = alt.Chart(common.check_rows(long))
    return (
        base.mark_line(point=True)
        .encode(
            x=common.x_axis("n_nodes", title="nodes N", scale="log"),
            y=common.y_axis("p99_ms", title="p99 latency (ms)", scale="log"),
            color="series:N",
        )
        .properties(width=380, height=240)
    )


def simulator_throughput(throughput: pl.DataFrame, usl_curve: pl.DataFrame) -> alt.LayerChart:
    """Measured link-events per second vs N with the USL fit of the simulator itself.

    Args:
        throughput: rows of :func:`meshlab.scaling.experiments.simulator_throughput`.
        usl_curve: ``n_nodes``, ``link_events_per_s`` of the fitted USL on a grid.
    """
    x = common.x_axis("n_nodes", title="nodes N", scale="log")
    y = common.y_axis("link_events_per_s", title="link-events per second", scale="log")
    pts = alt.Chart(common.check_rows(throughput)).mark_point(filled=True).encode(x=x, y=y)
    line = alt.Chart(common.check_rows(usl_curve)).mark_line(strokeDash=[4, 3]).encode(x=x, y=y)
    return alt.layer(line, pts).properties(width=380, height=240)
