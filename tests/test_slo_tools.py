"""The generated monitoring files, checked by the real Prometheus and Alertmanager tools.

promtool and amtool come from Debian's ``prometheus`` and ``prometheus-alertmanager``
packages (``.ci/run`` installs them). Without them these tests skip locally; with
``MESHLAB_REQUIRE_MONITORING_TOOLS=1`` (set by CI) a missing tool is a failure.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import yaml
from conftest import monitoring_tool

from meshlab import slo
from meshlab.slo import alertmanager as am
from meshlab.slo import prometheus as prom
from meshlab.slo import promtool

SPEC = slo.parse_spec(
    {
        "version": 1,
        "objectives": [
            {"name": "mesh_delivery", "component": "mesh",
             "sli": {"source": "beacons.delivery"}, "target": 0.999,
             "alerts": [
                 {"name": "MeshDeliveryLow", "below": 0.99, "over": "5m", "for": "5m",
                  "severity": "warning"},
                 {"name": "MeshDeliveryCollapsed", "below": 0.97, "over": "5m", "for": "2m",
                  "severity": "critical"},
             ]},
            {"name": "pqc_sign_latency", "component": "pqc",
             "sli": {"source": "pqc.op_latency", "threshold": "5ms",
                     "select": {"algorithm": "ML-DSA-65", "operation": "sign"}}, "target": 0.99,
             "window": "28d"},
        ],
    }
)  # fmt: skip


def _run(*cmd, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def rules_dir(tmp_path):
    (tmp_path / "rules").mkdir()
    for name, body in prom.rule_files(SPEC).items():
        (tmp_path / "rules" / name).write_text(yaml.safe_dump(body, sort_keys=False))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom.prometheus_config(SPEC)))
    return tmp_path


def test_expanding_notation_round_trips():
    c = np.array([0, 5, 10, 15, 16, 17, 27])
    assert promtool.expanding_series(c) == "0+5x3 16+1x1 27+10x0"
    values = []
    for tok in promtool.expanding_series(c).split():
        a, rest = tok.split("+")
        b, n = rest.split("x")
        values += [int(a) + i * int(b) for i in range(int(n) + 1)]
    assert values == c.tolist()
    with pytest.raises(ValueError, match="must not decrease"):
        promtool.expanding_series(np.array([3, 2]))


def test_promtool_accepts_the_rules_and_the_config(rules_dir):
    tool = monitoring_tool("promtool")
    res = _run(tool, "check", "rules", *sorted(str(p) for p in (rules_dir / "rules").iterdir()))
    assert res.returncode == 0, res.stdout + res.stderr
    # 7 recording windows + 4 burn-rate alerts each, + 2 threshold alerts on mesh_delivery
    assert "SUCCESS: 13 rules found" in res.stdout and "SUCCESS: 11 rules found" in res.stdout
    res = _run(tool, "check", "config", "prometheus.yml", cwd=rules_dir)
    assert res.returncode == 0, res.stdout + res.stderr


def _incident(minutes, start, end, error, per_bucket=1000, bucket_s=15.0):
    step = bucket_s / 60.0
    t_end = np.arange(1, round(minutes / step) + 1) * step
    bad = (((t_end - step) >= start) & (t_end <= end)) * round(error * per_bucket)
    total = np.full(t_end.size, per_bucket)
    return total - bad, total


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("fast_burn", "page"),  # 5 % errors for 30 min against 99.9 %
        ("slow_burn", "ticket"),  # 0.4 % errors for 10 h: 4x burn, no page
        ("no_fault", None),
    ],
)
def test_alerts_fire_in_prometheus_exactly_where_meshlab_predicts(rules_dir, case, expect):
    tool = monitoring_tool("promtool")
    objective = SPEC.by_name("mesh_delivery")
    bucket = 60.0 if case == "slow_burn" else 15.0
    good, total = {
        "fast_burn": lambda: _incident(240, 60, 90, 0.05),
        "slow_burn": lambda: _incident(16 * 60, 60, 660, 0.004, bucket_s=bucket),
        "no_fault": lambda: _incident(240, 0, 0, 0.0),
    }[case]()
    doc = promtool.rule_test(objective, good, total, bucket, "rules/mesh.yml")
    cases = doc["tests"][0]["alert_rule_test"]
    fired = {c["alertname"] for c in cases if c["exp_alerts"]}
    severities = {
        c["exp_alerts"][0]["exp_labels"].get("sloth_severity") for c in cases if c["exp_alerts"]
    }
    if expect is None:
        assert not fired
    else:
        assert expect in severities
    if case == "slow_burn":  # 0.4 % errors: a ticket, but no page and no threshold alert
        assert "page" not in severities
        assert not fired & {"MeshDeliveryLow", "MeshDeliveryCollapsed"}
    if case == "fast_burn":  # 5 % errors for 30 min: both threshold alerts as well
        assert {"MeshDeliveryLow", "MeshDeliveryCollapsed"} <= fired
    (rules_dir / "test.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    res = _run(tool, "test", "rules", "test.yml", cwd=rules_dir)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_a_wrong_threshold_is_caught_by_the_generated_rule_test(rules_dir):
    tool = monitoring_tool("promtool")
    objective = SPEC.by_name("mesh_delivery")
    good, total = _incident(240, 60, 90, 0.05)
    doc = promtool.rule_test(objective, good, total, 15.0, "rules/mesh.yml")
    path = rules_dir / "rules" / "mesh.yml"
    path.write_text(path.read_text().replace("> 0.0144)", "> 0.02)"))  # page factor 20, not 14.4
    (rules_dir / "test.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    res = _run(tool, "test", "rules", "test.yml", cwd=rules_dir)
    assert res.returncode != 0 and "MeshDeliveryBurnRate1h" in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("> 0.01\n    for: 5m", "> 0.02\n    for: 5m"),  # MeshDeliveryLow level off
        ("> 0.03\n    for: 2m", "> 0.03\n    for: 20m"),  # MeshDeliveryCollapsed `for` off
    ],
)
def test_a_wrong_threshold_alert_is_caught_by_the_generated_rule_test(rules_dir, old, new):
    tool = monitoring_tool("promtool")
    objective = SPEC.by_name("mesh_delivery")
    good, total = _incident(240, 60, 90, 0.015)  # 1.5 % errors: only the warning fires
    doc = promtool.rule_test(objective, good, total, 15.0, "rules/mesh.yml")
    fired = {c["alertname"] for c in doc["tests"][0]["alert_rule_test"] if c["exp_alerts"]}
    assert "MeshDeliveryLow" in fired and "MeshDeliveryCollapsed" not in fired
    if "0.03" in old:
        good, total = _incident(240, 60, 90, 0.05)
        doc = promtool.rule_test(objective, good, total, 15.0, "rules/mesh.yml")
    (rules_dir / "test.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert _run(tool, "test", "rules", "test.yml", cwd=rules_dir).returncode == 0
    path = rules_dir / "rules" / "mesh.yml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    res = _run(tool, "test", "rules", "test.yml", cwd=rules_dir)
    assert res.returncode != 0, res.stdout


def test_alertmanager_config_is_valid_and_routes_each_severity(tmp_path):
    tool = monitoring_tool("amtool")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(am.alertmanager_config(SPEC, {}), sort_keys=False))
    res = _run(tool, "check-config", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
    for comp in ("mesh", "pqc"):
        for sev in ("critical", "warning", "info"):
            res = _run(
                tool, "config", "routes", "test", f"--config.file={path}",
                f"--verify.receivers={comp}-{sev}", f"severity={sev}", f"component={comp}",
            )  # fmt: skip
            assert res.returncode == 0, (comp, sev, res.stdout + res.stderr)
    res = _run(
        tool, "config", "routes", "test", f"--config.file={path}",
        "--verify.receivers=mesh-critical", "severity=warning", "component=mesh",
    )  # fmt: skip
    assert res.returncode != 0  # a warning never reaches the pager


def test_webhook_urls_come_from_the_environment_never_the_repo():
    cfg = am.alertmanager_config(SPEC, {am.webhook_env_var("pqc-critical"): "https://x.test/h"})
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in cfg["receivers"]}
    assert urls["pqc-critical"] == "https://x.test/h"
    assert urls["mesh-critical"].startswith("http://127.0.0.1:")
    assert am.webhook_env_var("pqc-critical") == "MESHLAB_ALERT_WEBHOOK_PQC_CRITICAL"


def test_committed_monitoring_files_equal_the_generator_output():
    from pathlib import Path

    from meshlab.slo import generate

    root = Path(__file__).resolve().parents[1] / "monitoring"
    spec = slo.load_spec(root / "sla.yaml")
    assert len(spec.objectives) >= 50
    files = generate.render(spec)
    for rel, text in files.items():
        path = root / rel
        assert path.exists(), f"{rel} is missing: run `dvc repro monitoring`"
        assert path.read_text() == text, f"{rel} differs from the generator: `dvc repro monitoring`"
    on_disk = {str(p.relative_to(root)) for p in (root / "prometheus" / "rules").glob("*.yml")}
    assert on_disk == {r for r in files if r.startswith("prometheus/rules/")}
    alerts = sum(len(g["rules"]) for body in prom.rule_files(spec).values()
                 for g in body["groups"] if g["name"].endswith("-alerts"))  # fmt: skip
    thresholds = sum(len(o.alerts) for o in spec.objectives)
    assert alerts == 4 * len(spec.objectives) + thresholds
    assert thresholds >= 30  # the threshold alert conditions, each on one spec entry


def test_promtool_and_amtool_accept_the_committed_stack():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "monitoring"
    res = _run(
        monitoring_tool("promtool"), "check", "config", "prometheus/prometheus.yml", cwd=root
    )
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr
    res = _run(monitoring_tool("amtool"), "check-config", "alertmanager/alertmanager.yml", cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr


def test_generation_is_atomic_and_removes_stale_rule_files(tmp_path):
    from meshlab.slo import generate

    (tmp_path / "prometheus" / "rules").mkdir(parents=True)
    stale = tmp_path / "prometheus" / "rules" / "web.yml"
    stale.write_text("groups: []\n")
    generate.write(SPEC, tmp_path)
    assert not stale.exists()
    assert sorted(p.name for p in (tmp_path / "prometheus" / "rules").iterdir()) == [
        "mesh.yml",
        "pqc.yml",
    ]
    # a spec that fails to render writes nothing
    before = {p: p.read_text() for p in tmp_path.rglob("*.yml")}
    with pytest.raises(AttributeError):
        generate.write(object(), tmp_path)
    assert {p: p.read_text() for p in tmp_path.rglob("*.yml")} == before


def test_openslo_export_has_one_slo_per_objective_with_its_target_and_window():
    import yaml as _yaml

    from meshlab.slo import openslo

    docs = list(_yaml.safe_load_all(openslo.openslo_yaml(SPEC)))
    slos = [d for d in docs if d["kind"] == "SLO"]
    services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    assert {d["apiVersion"] for d in docs} == {"openslo/v1"}
    assert [d["metadata"]["displayName"] for d in slos] == [o.name for o in SPEC.objectives]
    for d, o in zip(slos, SPEC.objectives, strict=True):
        assert d["spec"]["objectives"][0]["target"] == o.target
        assert d["spec"]["timeWindow"][0] == {"duration": o.window, "isRolling": True}
        assert d["spec"]["service"] in services
        ratio = d["spec"]["indicator"]["spec"]["ratioMetric"]
        assert f'slo="{o.name}"' in ratio["good"]["metricSource"]["spec"]["query"]
