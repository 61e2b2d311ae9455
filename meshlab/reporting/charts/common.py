"""Shared altair helpers for the report chart modules: polars frames in, altair charts out.

Every report has its own chart module (``meshlab.reporting.charts.<report>``) whose functions
take tidy polars frames and return altair charts; this module holds what they share:

* :func:`use_renderer`: deterministic SVG in pipeline runs, offline interactive in JupyterLab
  (chosen automatically from the run context when this module is imported, see
  :func:`renderer_for_context`).
* :func:`with_bounds`: ``lo``/``hi`` columns from a mean and a 95 % half-width.
* :func:`mean_ci_band`: a mean line over a shaded confidence band (curves over rounds/time).
* :func:`error_bars`: points (or lines) with vertical error bars (mean ± CI per category/x).
* :func:`reference_line`: a dashed line for a closed form, an envelope or a target.
* :func:`x_axis` / :func:`y_axis`: encodings with the shared titles of :data:`TITLES`,
  optional log/symlog scale and fixed domain.
* :func:`check_rows`: a clear error before altair's 5,000-row limit bites.

Nothing here imports a meshlab domain; charts only see frames.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import polars as pl

__all__ = [
    "MAX_ROWS",
    "TITLES",
    "check_rows",
    "error_bars",
    "mean_ci_band",
    "reference_line",
    "renderer_for_context",
    "use_renderer",
    "with_bounds",
    "x_axis",
    "y_axis",
]

MAX_ROWS = 5000
"""Altair refuses to embed more rows than this: aggregate in polars first."""

TITLES: Mapping[str, str] = {
    "n_nodes": "nodes N",
    "round": "round",
    "time_s": "simulated time (s)",
    "t_min": "time (min)",
    "loss": "beacon loss probability",
    "degree": "degree",
    "p50_ms": "beacon latency p50 (ms)",
    "p95_ms": "beacon latency p95 (ms)",
    "p99_ms": "beacon latency p99 (ms)",
    "ms": "beacon latency (ms)",
    "delivery_ratio": "delivery ratio",
    "coverage": "informed fraction",
    "accuracy": "test accuracy",
    "fraction": "Byzantine fraction",
    "median_us": "median latency (µs)",
    "bytes": "bytes on the wire",
    "cpu_util_mean": "CPU utilization",
    "mean_wait_ms": "mean queueing wait (ms)",
}
"""Axis titles shared by all reports, keyed by the tidy column name."""

_SCALES = ("linear", "log", "symlog")
_RENDERERS = ("auto", "svg", "offline", "default")


def renderer_for_context() -> str:
    """The renderer this run should use: ``"offline"`` for a person, ``"svg"`` otherwise.

    Order: ``MESHLAB_RENDERER`` (``svg``/``offline``/``default``) if set; ``"svg"`` in
    pipeline runs (``MESHLAB_PIPELINE=1``, set by the runner) and under pytest/nbval
    (``PYTEST_CURRENT_TEST`` or ``MESHLAB_PROGRESS=0`` as the test suite sets); ``"offline"``
    (interactive: tooltips, zoom, selections, no network) in a Jupyter kernel when
    ``anywidget`` is installed (the ``lab`` dependency group); ``"svg"`` otherwise.
    """
    forced = os.environ.get("MESHLAB_RENDERER", "").strip().lower()
    if forced:
        if forced not in _RENDERERS[1:]:
            raise ValueError(f"MESHLAB_RENDERER must be one of {_RENDERERS[1:]}, got {forced!r}")
        return forced
    if os.environ.get("MESHLAB_PIPELINE") == "1" or "PYTEST_CURRENT_TEST" in os.environ:
        return "svg"
    if "ipykernel" in sys.modules and importlib.util.find_spec("anywidget") is not None:
        return "offline"
    return "svg"


def use_renderer(mode: str = "auto") -> str:
    """Selects altair's notebook renderer (done automatically when this module loads).

    Args:
        mode: ``"auto"`` (:func:`renderer_for_context`), ``"svg"`` (deterministic SVG, no
            scripts: pipeline runs and nbval), ``"offline"`` (interactive in JupyterLab
            without internet; needs ``anywidget``, from the ``lab`` dependency group) or
            ``"default"`` (altair's, loads Vega from a CDN).

    Returns:
        The mode that was enabled.

    Raises:
        ValueError: for an unknown ``mode``.
    """
    if mode not in _RENDERERS:
        raise ValueError(f"mode must be one of {_RENDERERS}, got {mode!r}")
    if mode == "auto":
        mode = renderer_for_context()
    if mode == "svg":
        alt.renderers.enable("svg")
    elif mode == "offline":
        alt.renderers.enable("jupyter", offline=True)
    else:
        alt.renderers.enable("default")
    return mode


def check_rows(df: pl.DataFrame, limit: int = MAX_ROWS) -> pl.DataFrame:
    """Returns ``df`` unchanged, or raises if it has more rows than altair embeds.

    Raises:
        ValueError: naming the row count and the limit.
    """
    if df.height > limit:
        raise ValueError(
            f"chart data has {df.height} rows, more than altair's limit of {limit}: "
            "aggregate in polars first (e.g. mean over seeds, fewer x values)"
        )
    return df


def _require(df: pl.DataFrame, columns: Sequence[str | None]) -> None:
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise ValueError(f"chart data lacks column(s) {missing}; columns: {df.columns}")


def with_bounds(
    df: pl.DataFrame, mean: str, ci: str, *, lo: str = "lo", hi: str = "hi"
) -> pl.DataFrame:
    """Adds ``lo = mean - ci`` and ``hi = mean + ci`` columns (a nan/null ``ci`` gives nan/null).

    Args:
        df: tidy frame holding a mean column and a 95 % half-width column.
        mean: name of the mean column.
        ci: name of the half-width column (e.g. ``"p99_ms_ci95"``).
        lo: name of the lower-bound column to add.
        hi: name of the upper-bound column to add.
    """
    _require(df, [mean, ci])
    return df.with_columns(
        (pl.col(mean) - pl.col(ci)).alias(lo), (pl.col(mean) + pl.col(ci)).alias(hi)
    )


def _scale(scale: str, domain: Sequence[float] | None, zero: bool | None) -> alt.Scale:
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {_SCALES}, got {scale!r}")
    kw: dict[str, Any] = {}
    if scale == "log":
        kw["type"] = "log"
    elif scale == "symlog":
        kw.update(type="symlog", constant=1e-5)
    if domain is not None:
        kw["domain"] = list(domain)
    if zero is not None:
        kw["zero"] = zero
    return alt.Scale(**kw)


def _axis(scale: str) -> alt.Axis:
    """Log axes label every power and its multiples: drop labels that would collide
    (``"4001,000"``) and write them short (``1k``)."""
    if scale == "linear":
        return alt.Axis()
    return alt.Axis(labelOverlap="greedy", format="~s")


def _encoding(channel, field: str, kind: str, title, scale: str, domain, zero):
    title = TITLES.get(field, field) if title is None else title
    if kind != "Q":
        return channel(f"{field}:{kind}", title=title)
    return channel(f"{field}:Q", title=title, scale=_scale(scale, domain, zero), axis=_axis(scale))


def x_axis(
    field: str,
    kind: str = "Q",
    *,
    title: str | None = None,
    scale: str = "linear",
    domain: Sequence[float] | None = None,
    zero: bool | None = None,
) -> alt.X:
    """An x encoding titled from :data:`TITLES` (or ``title``).

    Args:
        field: column name.
        kind: altair type code: ``"Q"`` quantitative, ``"N"`` nominal, ``"O"`` ordinal.
        title: overrides the shared title (``None``: ``TITLES.get(field, field)``).
        scale: ``"linear"``, ``"log"`` or ``"symlog"`` (quantitative fields only).
        domain: fixed ``[min, max]``, e.g. ``[0, 1]`` for fractions.
        zero: whether a linear scale must include zero (altair's default: yes).
    """
    return _encoding(alt.X, field, kind, title, scale, domain, zero)


def y_axis(
    field: str,
    kind: str = "Q",
    *,
    title: str | None = None,
    scale: str = "linear",
    domain: Sequence[float] | None = None,
    zero: bool | None = None,
) -> alt.Y:
    """A y encoding titled from :data:`TITLES` (or ``title``); arguments as :func:`x_axis`."""
    return _encoding(alt.Y, field, kind, title, scale, domain, zero)


def mean_ci_band(
    df: pl.DataFrame,
    x: str,
    y: str,
    lo: str,
    hi: str,
    color: str | None = None,
    *,
    x_title: str | None = None,
    y_title: str | None = None,
    x_scale: str = "linear",
    y_domain: Sequence[float] | None = None,
    opacity: float = 0.15,
    points: bool = False,
) -> alt.LayerChart:
    """A mean line over a shaded confidence band, one per ``color`` group.

    Args:
        df: tidy frame, one row per (x, color) with the mean and the band bounds.
        x: quantitative x column (round, time, N, ...).
        y: mean column.
        lo: lower-bound column (e.g. from :func:`with_bounds`).
        hi: upper-bound column.
        color: optional nominal column that splits the lines.
        x_title: x title (default from :data:`TITLES`).
        y_title: y title (default from :data:`TITLES`).
        x_scale: ``"linear"``, ``"log"`` or ``"symlog"``.
        y_domain: fixed y range, e.g. ``[0, 1]``.
        opacity: band opacity.
        points: mark each mean with a point.

    Returns:
        A layer chart (band + line); facet or ``.properties(...)`` it as needed. With
        ``y_domain``, the band is clipped to it (a t-interval over 2 seeds is wide:
        ``t_{0.975, 1} = 12.7`` times the standard error, so it can spill far outside
        ``[0, 1]``; the clipped band says "at least this uncertain").
    """
    _require(df, [x, y, lo, hi, color])
    if y_domain is not None:
        a, b = float(y_domain[0]), float(y_domain[1])
        df = df.with_columns(pl.col(lo).clip(a, b), pl.col(hi).clip(a, b))
    base = alt.Chart(check_rows(df))
    enc: dict[str, Any] = {"color": f"{color}:N"} if color else {}
    xe = x_axis(x, title=x_title, scale=x_scale)
    band = base.mark_area(opacity=opacity, clip=y_domain is not None).encode(
        x=xe, y=y_axis(lo, title=y_title or TITLES.get(y, y), domain=y_domain), y2=f"{hi}:Q", **enc
    )
    line = base.mark_line(point=points).encode(
        x=xe, y=y_axis(y, title=y_title, domain=y_domain), **enc
    )
    return alt.layer(band, line)


def error_bars(
    df: pl.DataFrame,
    x: str,
    y: str,
    lo: str,
    hi: str,
    color: str | None = None,
    *,
    x_kind: str = "Q",
    x_title: str | None = None,
    y_title: str | None = None,
    x_scale: str = "linear",
    y_zero: bool | None = None,
    line: bool = False,
    offset: bool = False,
) -> alt.LayerChart:
    """Points (or a line with points) at the mean with vertical error bars ``[lo, hi]``.

    Args:
        df: tidy frame, one row per (x, color).
        x: x column (quantitative by default; ``x_kind="N"`` for categories).
        y: mean column.
        lo: lower-bound column.
        hi: upper-bound column.
        color: optional nominal column that splits the series.
        x_kind: altair type code of ``x``.
        x_title: x title (default from :data:`TITLES`).
        y_title: y title (default from :data:`TITLES`).
        x_scale: scale of a quantitative ``x``.
        y_zero: whether the y scale must include zero.
        line: join the means with a line.
        offset: dodge the ``color`` groups side by side (``xOffset``), for few x values.

    Returns:
        A layer chart (marks + error bars).
    """
    _require(df, [x, y, lo, hi, color])
    base = alt.Chart(check_rows(df))
    enc: dict[str, Any] = {}
    if color:
        enc["color"] = f"{color}:N"
        if offset:
            enc["xOffset"] = f"{color}:N"
    xe = x_axis(x, x_kind, title=x_title, scale=x_scale)
    marks = (base.mark_line(point=True) if line else base.mark_point(filled=True)).encode(
        x=xe, y=y_axis(y, title=y_title, zero=y_zero), **enc
    )
    bars = base.mark_errorbar().encode(
        x=xe, y=y_axis(lo, title=y_title or TITLES.get(y, y)), y2=f"{hi}:Q", **enc
    )
    return alt.layer(marks, bars)


def reference_line(
    df: pl.DataFrame,
    x: str,
    y: str,
    *,
    color: str = "gray",
    dash: Sequence[int] = (4, 4),
    x_scale: str = "linear",
    x_title: str | None = None,
    y_title: str | None = None,
) -> alt.Chart:
    """A dashed line for a closed form, an envelope or a target (layer it over data).

    Args:
        df: frame with the reference curve (one row per x).
        x: x column.
        y: reference value column.
        color: line colour.
        dash: stroke dash pattern (pixels on, off).
        x_scale: must match the scale of the chart it is layered on.
        x_title, y_title: pass the titles of the chart it is layered on (layers with
            different titles get a merged title such as "delivery ratio, expected").
    """
    _require(df, [x, y])
    return (
        alt.Chart(check_rows(df))
        .mark_line(strokeDash=list(dash), color=color)
        .encode(x=x_axis(x, title=x_title, scale=x_scale), y=y_axis(y, title=y_title))
    )


use_renderer("auto")  # interactive for a person in JupyterLab, static SVG in pipelines and tests
