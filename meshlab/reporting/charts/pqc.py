"""Charts of the PQC report: polars frames in (from :mod:`meshlab.crypto.experiments` and
:mod:`meshlab.identity.experiments`), altair charts out."""

from __future__ import annotations

import altair as alt
import polars as pl

from meshlab.reporting.charts.common import check_rows

__all__ = ["conformance_chart", "latency_chart", "mesh_chart", "sizes_chart", "svid_chart"]


def latency_chart(latency: pl.DataFrame) -> alt.Chart:
    """Per-operation median latency (log µs) per algorithm, one row per operation, coloured
    by profile (columns of ``experiments.latency_table``)."""
    data = check_rows(latency.drop_nulls("median_us"))
    return (
        alt.Chart(data)
        .mark_point(filled=True)
        .encode(
            x=alt.X(
                "median_us:Q",
                scale=alt.Scale(type="log"),
                title="median latency (µs, log)",
                axis=alt.Axis(values=[1, 10, 100, 1000, 10000, 100000], format="~s"),
            ),
            y=alt.Y("algorithm:N", title=None),
            color=alt.Color("profile:N"),
            shape=alt.Shape("profile:N"),
            row=alt.Row("operation:N", title=None),
            tooltip=list(latency.columns),
        )
        .resolve_scale(y="independent")
        .properties(width=420, height=110, title="Per-operation median latency by profile")
    )


def sizes_chart(sizes: pl.DataFrame) -> alt.Chart:
    """Bytes per beacon and per KEM handshake (log), per scheme (``experiments.sizes_table``)."""
    return (
        alt.Chart(check_rows(sizes))
        .mark_bar()
        .encode(
            x=alt.X(
                "bytes:Q",
                scale=alt.Scale(type="log"),
                axis=alt.Axis(labelOverlap="greedy", format="~s"),
                title="bytes on the wire (log)",
            ),
            y=alt.Y("scheme:N", sort="x", title=None),
            color="kind:N",
            row=alt.Row("kind:N", title=None),
            tooltip=["scheme", "kind", "bytes", "x_classical"],
        )
        .resolve_scale(y="independent")
        .properties(width=420, height=120, title="Bytes per beacon (no key) and per KEM handshake")
    )


def mesh_chart(mesh: pl.DataFrame) -> alt.Chart:
    """Beacon p99 (ms) and total node CPU utilisation per scheme, profile and N
    (``experiments.mesh_table``)."""
    long = mesh.unpivot(
        index=["n_nodes", "profile", "scheme"],
        on=["p99_ms", "cpu_util_total"],
        variable_name="metric",
        value_name="value",
    )
    return (
        alt.Chart(check_rows(long))
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=None),
            y=alt.Y("scheme:N", title=None),
            color="profile:N",
            yOffset="profile:N",
            column=alt.Column("metric:N", title=None),
            row=alt.Row("n_nodes:N", title="N"),
            tooltip=["n_nodes", "profile", "scheme", "metric", "value"],
        )
        .resolve_scale(x="independent")
        .properties(
            width=260, height=140, title="Beacon p99 (ms) and node CPU utilisation per scheme"
        )
    )


def svid_chart(series: pl.DataFrame, *, outage_start_s: float, ttl_s: float) -> alt.Chart:
    """Fraction of nodes with a valid SVID over time, one line per outage length
    (``identity.experiments.outage_sweep``'s series)."""
    return (
        alt.Chart(check_rows(series))
        .mark_line()
        .encode(
            x=alt.X("t_min:Q", title="time (min)"),
            y=alt.Y(
                "frac_with_svid:Q",
                title="fraction of nodes with a valid SVID",
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("outage_min:N", title="outage (min)"),
        )
        .properties(
            width=520,
            height=260,
            title=(
                f"SVID validity through outages starting at {outage_start_s / 60:.0f} min "
                f"(TTL {ttl_s / 60:.0f} min)"
            ),
        )
    )


def conformance_chart(conformance: pl.DataFrame) -> alt.Chart:
    """Wycheproof conformance matrix: family x parameter set, one column per backend,
    coloured by the share of vectors passed, failed or not supported (labels: counts)
    (``meshlab.crypto.conformance.run``'s columns)."""
    data = check_rows(
        conformance.with_columns(
            pl.format(
                "{}/{}/{}", pl.col("passed"), pl.col("failed"), pl.col("not_supported")
            ).alias("p/f/ns"),
            pl.when(pl.col("failed") > 0)
            .then(pl.lit("failed"))
            .when(pl.col("passed") == 0)
            .then(pl.lit("not supported"))
            .when(pl.col("not_supported") > 0)
            .then(pl.lit("partly supported, all passed"))
            .otherwise(pl.lit("all passed"))
            .alias("outcome"),
        )
    )
    base = alt.Chart(data).encode(
        x=alt.X("parameter_set:N", title=None),
        y=alt.Y("family:N", title=None),
    )
    scale = alt.Scale(
        domain=["all passed", "partly supported, all passed", "not supported", "failed"],
        range=["#1a9850", "#91cf60", "#d9d9d9", "#d73027"],
    )
    cells = base.mark_rect().encode(
        color=alt.Color("outcome:N", scale=scale), tooltip=list(data.columns)
    )
    text = base.mark_text(fontSize=7).encode(text="p/f/ns:N")
    return (
        (cells + text)
        .properties(width=360, height=200)
        .facet(column=alt.Column("backend:N", title=None))
        .properties(title="Wycheproof conformance (passed / failed / not supported)")
    )
