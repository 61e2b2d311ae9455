"""A real Prometheus over a simulated history: PromQL agrees with meshlab's own numbers.

The test backfills a TSDB from meshlab's OpenMetrics export
(``promtool tsdb create-blocks-from openmetrics``), starts ``prometheus`` on 127.0.0.1
with the generated configuration, and compares ``query_range`` answers with
:func:`meshlab.slo.window_error_ratio` and :func:`meshlab.slo.firing`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import monitoring_tool

from meshlab import slo
from meshlab.slo import openmetrics
from meshlab.slo import prometheus as prom

SPEC = slo.parse_spec(
    {
        "version": 1,
        "objectives": [
            {"name": "mesh_delivery", "component": "mesh",
             "sli": {"source": "beacons.delivery"}, "target": 0.999},
        ],
    }
)  # fmt: skip
BUCKET = 15.0
COMMITTED = slo.load_spec(Path(__file__).resolve().parents[1] / "monitoring" / "sla.yaml")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port, path, **query):
    url = f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (loopback only)
        return json.loads(r.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    promtool, prometheus = monitoring_tool("promtool"), monitoring_tool("prometheus")
    d = tmp_path_factory.mktemp("prom")
    # 4 hours of 15 s buckets; 5 % errors from minute 60 to 90; 1,000 events per bucket
    n = 4 * 240
    total = np.full(n, 1000)
    t_end_min = np.arange(1, n + 1) * BUCKET / 60
    bad = (((t_end_min - 0.25) >= 60) & (t_end_min <= 90)) * 50
    good = total - bad
    start = (int(time.time()) // 3600 - 6) * 3600  # whole hour, 6 h ago
    objective = SPEC.objectives[0]
    series = {objective.name: (objective, good, total)}
    # every objective of the committed spec, so each dashboard panel has data to show
    for o in COMMITTED.objectives:
        series[o.name] = (o, total - (bad // 10), total)
    text = openmetrics.openmetrics_text(series, start, BUCKET)
    (d / "data.om").write_text(text)
    res = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "data.om", "tsdb"],
        cwd=d, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    (d / "rules").mkdir()
    for name, body in prom.rule_files(SPEC).items():
        (d / "rules" / name).write_text(yaml.safe_dump(body, sort_keys=False))
    (d / "prometheus.yml").write_text(yaml.safe_dump(prom.prometheus_config(SPEC)))
    port = _free_port()
    proc = subprocess.Popen(
        [prometheus, "--config.file=prometheus.yml", "--storage.tsdb.path=tsdb",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d"],
        cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                if _get(port, "/api/v1/status/buildinfo")["status"] == "success":
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("prometheus did not start on 127.0.0.1 within 20 s")
        yield {"port": port, "start": start, "good": good, "total": total, "n": n}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _range(server, expr):
    s = server["start"]
    out = _get(
        server["port"], "/api/v1/query_range", query=expr,
        start=s + BUCKET, end=s + server["n"] * BUCKET, step=BUCKET,
    )  # fmt: skip
    assert out["status"] == "success", out
    (res,) = out["data"]["result"]
    t = np.array([float(v[0]) for v in res["values"]])
    return np.rint((t - s) / BUCKET).astype(int) - 1, np.array([float(v[1]) for v in res["values"]])


def test_recording_rule_expressions_equal_meshlab_window_ratios(server):
    rules = {r["record"]: r["expr"] for r in prom.recording_rules(SPEC.objectives[0])}
    for window, seconds in (("5m", 300), ("1h", 3600), ("6h", 21600)):
        idx, got = _range(server, rules[f"slo:sli_error:ratio_rate{window}"])
        want = np.asarray(
            slo.window_error_ratio(server["good"], server["total"], BUCKET, seconds), np.float64
        )[idx]
        # rate() reads the samples inside (t - w, t]: away from the incident's edges the
        # ratio is exact; at the edges one bucket of w/15 s differs
        edge = 1.0 / (seconds / BUCKET)
        assert np.max(np.abs(got - want)) <= 0.05 * edge + 1e-9, window
        assert idx.size > 0.9 * server["n"] and got.max() > 0.01  # the incident is visible
        steady = np.abs(np.diff(want, prepend=want[0])) < 1e-12
        assert np.allclose(got[steady], want[steady], atol=1e-9), window


def test_the_page_alert_expression_is_true_when_meshlab_predicts(server):
    objective = SPEC.objectives[0]
    rules = {r["record"]: r["expr"] for r in prom.recording_rules(objective)}
    page = prom.alert_rules(objective)[0]["expr"]
    for record, expr in rules.items():
        page = page.replace(f'{record}{{slo="{objective.name}"}}', f"({expr})")
    # the alert expression returns a sample only while it holds
    out = _get(
        server["port"], "/api/v1/query_range", query=page,
        start=server["start"] + BUCKET, end=server["start"] + server["n"] * BUCKET, step=BUCKET,
    )  # fmt: skip
    (res,) = out["data"]["result"]
    minutes = np.array([(float(v[0]) - server["start"]) / 60 for v in res["values"]])
    fire = np.asarray(
        slo.firing(server["good"], server["total"], BUCKET, 0.999, slo.alert_windows()[:1])
    )[0]
    predicted = np.flatnonzero(fire) * BUCKET / 60 + BUCKET / 60
    # closed form: from 77.3 to 93.6 minutes (both windows > 14.4 x 0.1 %)
    assert predicted.min() == pytest.approx(77.5) and predicted.max() == pytest.approx(93.5)
    assert abs(minutes.min() - predicted.min()) <= 0.25
    assert abs(minutes.max() - predicted.max()) <= 0.25


def test_every_dashboard_panel_query_returns_data(server):
    from meshlab.slo import grafana

    boards = grafana.dashboards(COMMITTED)
    assert len(boards) == 5
    checked = 0
    for stem, board in boards.items():
        doc = json.loads(grafana.dashboard_json(board))
        panels = [p for p in doc["panels"] if p.get("type") != "row"]
        assert panels, stem
        for panel in panels:
            for target in panel["targets"]:
                out = _get(
                    server["port"], "/api/v1/query", query=target["expr"],
                    time=server["start"] + 3 * 3600,
                )  # fmt: skip
                assert out["status"] == "success", (stem, panel["title"], out)
                result = out["data"]["result"]
                assert result, (stem, panel["title"], target["expr"])
                value = float(result[0]["value"][1])
                assert np.isfinite(value), (stem, panel["title"])
                checked += 1
    assert checked == 5 * len(COMMITTED.objectives)  # per row: 2 SLI, 2 burn-rate, 1 budget


def test_a_real_prometheus_scrapes_the_live_exporter(tmp_path):
    from meshlab.slo import exporter

    prometheus = monitoring_tool("prometheus")
    objective = SPEC.objectives[0]
    good, total = np.full(1000, 990), np.full(1000, 1000)
    # 15 s buckets at 60x: one bucket every 0.25 s of wall time
    live = exporter.serve({objective.name: (objective, good, total)}, 15.0, speed=60.0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{live.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert 'meshlab_slo_events_total{component="mesh",slo="mesh_delivery"}' in text
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": "meshlab-simulation",
                 "static_configs": [{"targets": [f"127.0.0.1:{live.port}"]}]}
            ],
        }  # fmt: skip
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        port = _free_port()
        proc = subprocess.Popen(
            [prometheus, "--config.file=prometheus.yml", "--storage.tsdb.path=tsdb",
             f"--web.listen-address=127.0.0.1:{port}"],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            ratio = None
            for _ in range(60):  # bounded: at most ~30 s
                time.sleep(0.5)
                try:
                    out = _get(port, "/api/v1/query", query=(
                        'sum(increase(meshlab_slo_good_total{slo="mesh_delivery"}[10s]))'
                        ' / sum(increase(meshlab_slo_events_total{slo="mesh_delivery"}[10s]))'
                    ))  # fmt: skip
                except OSError:
                    continue
                if out["status"] == "success" and out["data"]["result"]:
                    ratio = float(out["data"]["result"][0]["value"][1])
                    break
            assert ratio is not None, "prometheus never scraped the exporter"
            assert ratio == pytest.approx(0.99, abs=1e-9)
            up = _get(port, "/api/v1/query", query='up{job="meshlab-simulation"}')
            assert up["data"]["result"][0]["value"][1] == "1"
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    finally:
        live.close()


def test_the_replay_follows_its_clock():
    from meshlab.slo import exporter

    now = [0.0]
    objective = SPEC.objectives[0]
    c = exporter.ReplayCollector(
        {objective.name: (objective, [5, 6, 7], [10, 10, 10])},
        15.0,
        speed=3.0,
        clock=lambda: now[0],
    )
    values = lambda: {s.name: s.value for fam in c.collect() for s in fam.samples}  # noqa: E731
    assert values()["meshlab_slo_events_total"] == 0.0
    now[0] = 10.0  # 30 simulated seconds: two buckets
    assert values() == {"meshlab_slo_events_total": 20.0, "meshlab_slo_good_total": 11.0}
    now[0] = 1e6  # past the end: the totals
    assert values() == {"meshlab_slo_events_total": 30.0, "meshlab_slo_good_total": 18.0}
