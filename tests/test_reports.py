"""Report writers, calibration input checks, checked summaries and shared chart helpers."""

import json
import math

import jax
import numpy as np
import polars as pl
import pytest

from meshlab import reporting
from meshlab.reporting.charts import common as charts


def test_save_metrics_is_strict_json_with_provenance(tmp_path):
    path = reporting.save_metrics(
        {"a": np.float32(1.5), "arr": np.arange(3), "nan": math.nan, "inf": -math.inf},
        tmp_path,
        seed=3,
    )
    body = json.loads(path.read_text())
    assert body["a"] == 1.5 and body["arr"] == [0, 1, 2]
    assert body["nan"] is None and body["inf"] == "-inf"
    assert body["provenance"]["seed"] == 3
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.csv"
    target.write_text("old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        reporting.atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_save_table_round_trips(tmp_path):
    df = pl.DataFrame({"n": [1, 2], "p99_ms": [0.5, 1.25]})
    path = reporting.save_table(df, tmp_path, "t", parquet=True)
    assert pl.read_csv(path).equals(df)
    assert pl.read_parquet(tmp_path / "t.parquet").equals(df)


@pytest.mark.parametrize(
    ("kw", "name"),
    [({"matmul_n": 0}, "matmul_n"), ({"repeats": -1}, "repeats"), ({"membw_mb": 1.5}, "membw_mb")],
)
def test_calibrate_rejects_bad_sizes(kw, name):
    with pytest.raises(ValueError, match=name):
        reporting.calibrate(jax.random.key(0), **kw)


def test_calibrate_reports_one_sample_per_repeat():
    cal = reporting.calibrate(
        jax.random.key(0), matmul_n=64, rng_samples=1000, membw_mb=1, repeats=4
    )
    assert all(len(v) == 4 for v in cal.samples.values())
    assert cal.matmul_gflops == pytest.approx(float(np.median(cal.samples["matmul_gflops"])))


def test_summary_text_is_sorted_and_rounded():
    text = reporting.summary_text(
        {"b": np.float32(1.23456), "a": 7, "c": [0.5, np.int64(2)], "d": "x", "e": math.inf},
        digits=3,
    )
    assert text == "a: 7\nb: 1.23\nc: [0.5, 2]\nd: x\ne: inf"
    assert reporting.summary_text({"x": -1e-12}, digits=2) == "x: -1e-12"
    assert reporting.summary_text({"x": jax.numpy.float32(2.5)}) == "x: 2.5"


@pytest.mark.parametrize(
    ("values", "kw", "err", "match"),
    [
        ({"x": 1}, {"digits": 0}, ValueError, "digits"),
        ({"x": 1}, {"digits": True}, ValueError, "digits"),
        ({}, {}, ValueError, "empty"),
        ({"x": {"nested": 1}}, {}, TypeError, "dict"),
    ],
)
def test_summary_text_rejects_bad_input(values, kw, err, match):
    with pytest.raises(err, match=match):
        reporting.summary_text(values, **kw)


def _frame():
    df = pl.DataFrame(
        {
            "round": [0, 1, 2] * 2,
            "accuracy": [0.1, 0.5, 0.7, 0.2, 0.4, 0.6],
            "ci": [0.05, 0.04, 0.03, None, 0.02, 0.01],
            "rule": ["mean"] * 3 + ["median"] * 3,
        }
    )
    return charts.with_bounds(df, "accuracy", "ci")


def test_with_bounds_adds_lo_hi():
    df = _frame()
    assert df["lo"].to_list()[:3] == pytest.approx([0.05, 0.46, 0.67])
    assert df["hi"][1] == pytest.approx(0.54) and df["lo"][3] is None
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['nope'\]"):
        charts.with_bounds(df, "accuracy", "nope")


def _layers(chart) -> list[dict]:
    return chart.to_dict()["layer"]


def test_mean_ci_band_layers_band_under_line():
    band, line = _layers(charts.mean_ci_band(_frame(), "round", "accuracy", "lo", "hi", "rule"))
    assert band["mark"]["type"] == "area" and line["mark"]["type"] == "line"
    assert band["encoding"]["y"]["field"] == "lo" and band["encoding"]["y2"]["field"] == "hi"
    assert line["encoding"]["y"]["title"] == charts.TITLES["accuracy"]
    assert line["encoding"]["color"]["field"] == "rule"


def test_error_bars_and_reference_line():
    chart = charts.error_bars(_frame(), "round", "accuracy", "lo", "hi", "rule", offset=True)
    marks, bars = _layers(chart)
    assert marks["mark"]["type"] == "point" and bars["mark"]["type"] == "errorbar"
    assert bars["encoding"]["xOffset"]["field"] == "rule"
    ref = charts.reference_line(_frame(), "round", "accuracy", x_scale="log").to_dict()
    assert ref["mark"]["strokeDash"] == [4, 4]
    assert ref["encoding"]["x"]["scale"]["type"] == "log"


def test_axes_titles_and_scales():
    x = charts.x_axis("n_nodes", scale="log").to_dict()
    assert x["title"] == "nodes N" and x["scale"]["type"] == "log"
    y = charts.y_axis("custom", title="my title", domain=[0, 1], zero=False).to_dict()
    assert y["title"] == "my title" and y["scale"] == {"domain": [0, 1], "zero": False}
    assert charts.x_axis("rule", "N").to_dict() == {
        "field": "rule",
        "type": "nominal",
        "title": "rule",
    }
    with pytest.raises(ValueError, match="scale must be one of"):
        charts.x_axis("n_nodes", scale="log2")


def test_chart_helpers_refuse_too_many_rows_and_unknown_renderer():
    big = pl.DataFrame({"x": range(charts.MAX_ROWS + 1), "y": 0.0, "lo": 0.0, "hi": 0.0})
    with pytest.raises(ValueError, match="5001 rows"):
        charts.mean_ci_band(big, "x", "y", "lo", "hi")
    with pytest.raises(ValueError, match="mode must be one of"):
        charts.use_renderer("browser")
    assert charts.use_renderer("svg") == "svg"


def test_chart_renders_offline(tmp_path):
    chart = charts.mean_ci_band(_frame(), "round", "accuracy", "lo", "hi", "rule")
    svg = reporting.save_chart(chart, tmp_path, "band", png=False)
    assert svg.read_text().startswith("<svg") and not (tmp_path / "band.png").exists()


def _svg_titles(chart) -> list[str]:
    import re

    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(chart.to_json())
    return re.findall(r"(?:X|Y)-axis titled '([^']*)'", svg)


def test_the_renderer_follows_the_run_context(monkeypatch):
    import sys

    monkeypatch.delenv("MESHLAB_RENDERER", raising=False)
    monkeypatch.delenv("MESHLAB_PIPELINE", raising=False)
    assert charts.renderer_for_context() == "svg"  # under pytest
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # a person's Jupyter kernel
    import importlib.util

    has_anywidget = importlib.util.find_spec("anywidget") is not None  # the lab group
    assert charts.renderer_for_context() == ("offline" if has_anywidget else "svg")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert charts.renderer_for_context() == "offline"
    monkeypatch.setenv("MESHLAB_PIPELINE", "1")
    assert charts.renderer_for_context() == "svg"
    monkeypatch.setenv("MESHLAB_RENDERER", "default")
    assert charts.renderer_for_context() == "default"
    monkeypatch.setenv("MESHLAB_RENDERER", "browser")
    with pytest.raises(ValueError, match="MESHLAB_RENDERER must be one of"):
        charts.renderer_for_context()


def test_interactive_runs_write_into_the_project_scratch_folder(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params.yaml").write_text("{}")
    monkeypatch.chdir(tmp_path / "notebooks")  # Jupyter starts kernels in the notebook's folder
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert reporting.report_dir(None, "beacons") == tmp_path / "scratch" / "beacons"
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "notebooks" / "pqc.ipynb"))
    assert reporting.report_dir(None) == tmp_path / "scratch" / "pqc"
    assert reporting.report_dir(tmp_path / "given") == tmp_path / "given"


def test_layered_reference_lines_keep_the_axis_titles_clean():
    from meshlab.reporting.charts import beacons

    df = pl.DataFrame(
        {
            "loss": [0.01, 0.1] * 2,
            "model": ["iid", "iid", "gilbert_elliott", "gilbert_elliott"],
            "delivery_ratio": [0.99, 0.9, 0.98, 0.91],
            "ci95": [0.01] * 4,
            "expected": [0.99, 0.9] * 2,
        }
    )
    chart = beacons.delivery(df)
    assert _svg_titles(chart) == ["long-run loss (models drawn side by side)", "delivery ratio"]
    # the two models are drawn apart, neither on top of the other
    spec = chart.to_dict()
    xs = pl.DataFrame(spec["datasets"][next(iter(spec["datasets"]))])["loss_at"].to_list()
    assert len(set(xs)) == 4


def test_bands_are_clipped_to_the_y_domain_and_log_axes_drop_colliding_labels():
    df = pl.DataFrame(
        {"round": [0, 1], "accuracy": [0.5, 0.9], "lo": [-3.0, 0.2], "hi": [4.0, 1.6]}
    )
    chart = charts.mean_ci_band(df, "round", "accuracy", "lo", "hi", y_domain=[0, 1])
    data = next(iter(chart.to_dict()["datasets"].values()))
    assert min(r["lo"] for r in data) == 0.0 and max(r["hi"] for r in data) == 1.0
    axis = charts.x_axis("n_nodes", scale="log").to_dict()["axis"]
    assert axis["labelOverlap"] == "greedy"


def test_report_readme_lists_figures_charts_and_changes():
    from meshlab.reporting import readme

    metrics = {"p99_ms": 11.5, "verdicts": {"krum": "pass"}, "provenance": {"seed": 0}}
    text = readme.render("demo", metrics, ["latency.svg", "latency.csv", "metrics.json"],
                         {"p99_ms": 10.0, "gone": 1}, "commit abc1234")  # fmt: skip
    assert "| p99_ms | 11.5 |" in text and "| verdicts / krum | pass |" in text
    assert "![latency](latency.svg)" in text and "- [latency.csv](latency.csv)" in text
    assert "## What changed vs commit abc1234" in text
    assert "- `p99_ms`: 10 → 11.5 (+15.0%)" in text and "- removed `gone`" in text
    assert "- added `verdicts / krum` = pass" in text


def test_report_readme_states_the_warnings_before_the_figures():
    from meshlab.reporting import readme

    warned = [
        {"cell": 3, "category": "UserWarning", "source": "topology.py:378", "count": 2,
         "message": "random_geometric(n_nodes=100, radius=0.01) is DISCONNECTED: 97 components"},
        {"cell": 5, "category": "UserWarning", "source": "data.py:295", "count": 1,
         "message": "216 of 1000 clients got no sample | a pipe"},
    ]  # fmt: skip
    metrics = {"p99_ms": 1.0, "run_warnings": 2, "provenance": {"seed": 0, "warnings": warned}}
    text = readme.render("demo", metrics, ["metrics.json"])
    head, figures = text.split("## Headline figures", 1)
    section = head.split("## Warnings", 1)[1]
    assert "**2 warning(s) raised" in section
    assert (
        "- cell 3: `UserWarning` (x2): random_geometric(n_nodes=100, radius=0.01) is "
        "DISCONNECTED: 97 components (topology.py:378)" in section
    )
    assert "- cell 5: `UserWarning`: 216 of 1000 clients got no sample \\| a pipe" in section
    assert "| run_warnings | 2 |" in figures
    # the details are in the Warnings section, not dumped into the provenance table
    assert "| warnings |" not in figures and "| seed | 0 |" in figures
    clean = {"p99_ms": 1.0, "run_warnings": 0, "provenance": {"seed": 0, "warnings": []}}
    assert "## Warnings\n\n- none: the run raised no warnings\n" in readme.render("d", clean, [])
    legacy = {"p99_ms": 1.0, "provenance": {"seed": 0}}
    assert "- not recorded" in readme.render("d", legacy, [])
