"""SLO spec validation and burn-rate arithmetic against the SRE workbook's closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from meshlab import slo

GOOD_SPEC = {
    "version": 1,
    "defaults": {"window": "30d"},
    "objectives": [
        {"name": "mesh_delivery", "component": "mesh", "sli": {"source": "beacons.delivery"},
         "target": 0.9999},
        {"name": "mesh_p99", "component": "mesh",
         "sli": {"source": "beacons.latency", "threshold": "100ms"}, "target": 0.99,
         "window": "28d", "labels": {"owner": "mesh"}},
    ],
}  # fmt: skip


def test_spec_parses_with_defaults_and_units():
    spec = slo.parse_spec(GOOD_SPEC)
    d, p = spec.objectives
    assert d.window_s == 30 * 86400 and d.kind == "ratio" and d.threshold_s is None
    assert p.window_s == 28 * 86400 and p.threshold_s == pytest.approx(0.1)
    assert p.labels == (("owner", "mesh"),)
    assert d.error_budget == pytest.approx(1e-4)
    assert spec.by_name("mesh_p99") is p
    assert slo.parse_duration("1h30m") == 5400


def _with(**changes):
    raw = {**GOOD_SPEC, "objectives": [dict(o) for o in GOOD_SPEC["objectives"]]}
    raw["objectives"][1].update(changes)
    return raw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sli": {"source": "beacons.nope"}}, "objective 'mesh_p99': sli.source 'beacons.nope'"),
        ({"target": 1.0}, r"objective 'mesh_p99': target must be a number in \(0, 1\), got 1.0"),
        ({"target": 0}, "target must be a number in"),
        ({"window": "thirty days"}, "objective 'mesh_p99': window must be a duration"),
        ({"sli": {"source": "beacons.latency"}}, "needs sli.threshold"),
        ({"name": "mesh_delivery"}, "'mesh_delivery' is defined more than once"),
        ({"component": "web"}, "component must be one of"),
        ({"sli": {"source": "beacons.delivery", "threshold": "1s"}}, "latency SLIs only"),
        ({"colour": "red"}, "unknown field"),
        (
            {"alerts": [{"name": "P99High", "below": 1.5}]},
            r"objective 'mesh_p99': alerts\[0\].below must be a number in \(0, 1\], got 1.5",
        ),
        ({"alerts": [{"name": "p99_high", "below": 0.9}]}, r"alerts\[0\].name must match"),
        (
            {"alerts": [{"name": "P99High", "below": 0.9, "severity": "page"}]},
            r"alerts\[0\].severity must be one of",
        ),
        (
            {"alerts": [{"name": "P99High", "below": 0.9, "over": "soon"}]},
            r"alerts\[0\].over must be a duration",
        ),
        (
            {"alerts": [{"name": "A", "below": 0.9}, {"name": "A", "below": 0.8}]},
            "alert 'A' is already defined",
        ),
        ({"alerts": [{"name": "A", "below": 0.9, "when": "now"}]}, "unknown field"),
    ],
)
def test_bad_specs_name_the_objective_and_field(change, message):
    with pytest.raises(slo.SpecError, match=message):
        slo.parse_spec(_with(**change))


def test_windows_and_factors_equal_the_workbook_table():
    w30 = slo.alert_windows(30 * 86400)
    assert [(w.severity, w.long_s, w.short_s) for w in w30] == [
        ("page", 3600, 300), ("page", 21600, 1800), ("ticket", 86400, 7200),
        ("ticket", 259200, 21600),
    ]  # fmt: skip
    assert [w.factor for w in w30] == pytest.approx([14.4, 6.0, 3.0, 1.0])
    assert [w.factor for w in slo.alert_windows(28 * 86400)] == pytest.approx(
        [13.44, 5.6, 2.8, 0.9333333], rel=1e-6
    )


def test_a_constant_two_percent_error_ratio_burns_at_twenty():
    good, total = np.full(240, 98.0), np.full(240, 100.0)
    ratio = np.asarray(slo.window_error_ratio(good, total, 15.0, 3600.0))
    assert slo.burn_rate(ratio, 0.999) == pytest.approx(20.0, rel=1e-5)
    assert slo.budget_consumed(good, total, 0.999) == pytest.approx(20.0)


def test_an_incident_fires_the_fast_page_when_the_closed_form_says():
    # 5 % errors from minute 60 to 90 against 99.9 %: the 14.4x condition (1 h and 5 m)
    # holds while 0.05 (t - 60) / 60 > 0.0144 (t > 77.28) and 0.05 (95 - t) / 5 > 0.0144
    # (t < 93.56), evaluated at 15 s bucket ends
    bucket = 15.0
    t_end = np.arange(1, 4 * 240 + 1) * bucket / 60.0  # minutes, 4 hours
    start = t_end - bucket / 60.0
    bad = ((start >= 60) & (t_end <= 90)) * 0.05
    total = np.full(t_end.size, 1000.0)
    fire = np.asarray(slo.firing(total * (1 - bad), total, bucket, 0.999, slo.alert_windows()))
    page = t_end[fire[0]]
    assert page.min() == pytest.approx(77.5) and page.max() == pytest.approx(93.5)
    assert np.all(np.diff(page) == pytest.approx(0.25))  # one contiguous episode
    # the slow page (6x over 6 h and 30 m): before 6 h of history the long window holds
    # the t minutes so far (as Prometheus' rate over a young series): 0.05 min(t-60, 30) / t
    # > 0.006 for 68.18 < t < 250, and the 30 m window 0.05 (120 - t) / 30 > 0.006 for t < 116.4
    slow = t_end[fire[1]]
    assert slow.min() == pytest.approx(68.25) and slow.max() == pytest.approx(116.25)
    # ticket 3x (1 d and 2 h): both windows are young until t = 120, so both read
    # 0.05 (t - 60) / t > 0.003 from t > 63.83; later the 2 h window reads
    # 0.05 (210 - t) / 120 > 0.003 until t < 202.8
    ticket = t_end[fire[2]]
    assert ticket.min() == pytest.approx(64.0) and ticket.max() == pytest.approx(202.75)


def test_a_threshold_alert_fires_after_its_for_duration():
    # 2 % errors from bucket 100 on, 15 s buckets: the 5 m ratio crosses 1 % (below 0.99)
    # once more than half of the 20-bucket window is bad, at bucket 110 (11 bad of 20);
    # `for: 1m` then needs 4 more evaluations: first firing at bucket 114.
    total = np.full(300, 1000.0)
    good = total - 20.0 * (np.arange(300) >= 100)
    f = np.asarray(slo.threshold_firing(good, total, 15.0, 300.0, 0.99, 60.0))
    assert np.flatnonzero(f)[0] == 114 and f[114:].all()
    f0 = np.asarray(slo.threshold_firing(good, total, 15.0, 300.0, 0.99, 0.0))
    assert np.flatnonzero(f0)[0] == 110
    # a level the errors never reach never fires
    assert not np.asarray(slo.threshold_firing(good, total, 15.0, 300.0, 0.97, 0.0)).any()


def test_no_traffic_spends_no_budget_and_a_wrong_threshold_changes_the_answer():
    zero = np.zeros(100)
    assert not np.asarray(slo.firing(zero, zero, 15.0, 0.999, slo.alert_windows())).any()
    assert slo.budget_consumed(zero, zero, 0.999) == 0.0
    # mutation check: a factor 10x too high never fires on the incident above
    w = slo.alert_windows()[0]._replace(factor=144.0)
    total = np.full(400, 1000.0)
    good = total * (1 - 0.05 * (np.arange(400) > 200))
    assert np.asarray(slo.firing(good, total, 15.0, 0.999, (slo.alert_windows()[0],))).any()
    assert not np.asarray(slo.firing(good, total, 15.0, 0.999, (w,))).any()
