"""SLIs from simulated runs: bucketing, evaluation and the lognormal share."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest

from meshlab import slo
from meshlab.slo import sli as S

OBJ = slo.parse_spec(
    {"version": 1, "objectives": [{"name": "d", "component": "mesh",
     "sli": {"source": "beacons.delivery"}, "target": 0.999}]}
).objectives[0]  # fmt: skip


class FakeInfos(NamedTuple):
    sent: np.ndarray
    accepted: np.ndarray
    rejected: np.ndarray
    live_links: np.ndarray
    false_suspected: np.ndarray


def test_bucket_sum_groups_whole_buckets():
    np.testing.assert_array_equal(S.bucket_sum(np.arange(10), 3), [3, 12, 21])
    with pytest.raises(ValueError, match="fewer than one bucket"):
        S.bucket_sum(np.arange(2), 3)


def test_beacon_slis_from_round_infos():
    r = 60
    infos = FakeInfos(
        sent=np.full(r, 100), accepted=np.full(r, 95), rejected=np.full(r, 1),
        live_links=np.full(r, 100), false_suspected=np.full(r, 2),
    )  # fmt: skip
    slis = S.beacon_slis(infos, 1.0, 15.0)
    assert slis["beacons.delivery"].good.tolist() == [1425.0] * 4
    assert slis["beacons.delivery"].ratio == pytest.approx(0.95)
    assert slis["beacons.valid"].ratio == pytest.approx(95 / 96)
    assert slis["membership.false_suspicion"].ratio == pytest.approx(0.98)
    with pytest.raises(ValueError, match="whole multiple"):
        S.beacon_slis(infos, 1.0, 15.5)


def test_evaluate_budget_and_monitoring_detection_time():
    # one day of 15 s buckets, 5 % errors from minute 60 to 90
    t_end = np.arange(1, 5761) * 0.25
    total = np.full(t_end.size, 1000.0)
    good = total - (((t_end - 0.25) >= 60) & (t_end <= 90)) * 50
    out = S.evaluate(S.SliSeries(good, total, 15.0), OBJ, fault_start_s=3600.0)
    errors = 0.05 * 30 / 1440  # error ratio over the day
    assert out["sli"] == pytest.approx(1 - errors)
    assert out["budget_consumed"] == pytest.approx(errors / 0.001 / 30)
    page = out["alerts"]["page_3600s"]
    assert page["first_alert_s"] == pytest.approx(77.5 * 60)
    assert page["detect_s"] == pytest.approx(17.5 * 60)
    assert not out["met"]
    clean = S.evaluate(S.SliSeries(total, total, 15.0), OBJ)
    assert clean["met"] and clean["budget_consumed"] == 0
    assert all(math.isnan(a["first_alert_s"]) for a in clean["alerts"].values())


def test_lognormal_fraction_below_matches_sampling():
    rng = np.random.default_rng(0)
    median, p90 = 0.002, 0.004
    sigma = math.log(p90 / median) / 1.2815515655446004
    x = median * np.exp(sigma * rng.standard_normal(200_000))
    got = S.lognormal_fraction_below(0.005, median, p90)
    assert got == pytest.approx(np.mean(x < 0.005), abs=4 * math.sqrt(got * (1 - got) / x.size))
    assert S.lognormal_fraction_below(0.004, median, p90) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        S.lognormal_fraction_below(0.005, 0.002, 0.001)


class FakeRounds(NamedTuple):
    time_s: np.ndarray
    n_flagged: np.ndarray
    precision: np.ndarray
    grad_norm: np.ndarray
    n_aggregated: np.ndarray
    accuracy: np.ndarray


def test_fl_slis_count_false_alarms_failed_rounds_and_convergence():
    rounds = FakeRounds(
        time_s=np.array([1.0, 2.0, 3.0, 4.0]),
        n_flagged=np.array([0, 4, 5, 5]),
        precision=np.array([1.0, 0.75, 0.8, 1.0]),  # 0, 1, 1, 0 honest clients flagged
        grad_norm=np.array([1.0, np.nan, 2.0, 3.0]),
        n_aggregated=np.array([10, 10, 0, 10]),
        accuracy=np.array([0.5, 0.6, 0.7, 0.81]),
    )
    s = S.fl_slis(rounds, n_honest=16, target_accuracy=0.8)
    assert s["fl.honest_kept"].good.tolist() == [16, 15, 15, 16]
    assert s["fl.honest_kept"].bucket_s == 1.0
    assert s["fl.round_success"].good.tolist() == [1, 0, 0, 1]
    assert s["fl.convergence"].ratio == 1.0
    assert S.fl_slis(rounds, 16, 0.9)["fl.convergence"].ratio == 0.0
