"""The SLA report's experiments at fixed parameters, against closed forms."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import numpy as np
import pytest

from meshlab import slo
from meshlab.slo import experiments as E

ROOT = Path(__file__).resolve().parents[1]

SPEC = slo.load_spec("monitoring/sla.yaml")
N, HOURS, START, DUR = 120, 1.0, 1200, 600


@pytest.fixture(scope="module")
def runs():
    return E.beacon_incidents(
        jax.random.key(0), ["none", "crash_5pct", "invalid_2pct", "partition_bisect"],
        n_nodes=N, degree=6, hours=HOURS, start_s=START, duration_s=DUR,
        latency_thresholds_s=(0.01, 0.1), bucket_s=15.0,
    )  # fmt: skip


def test_availability_under_a_crash_equals_the_closed_form(runs):
    crashed = round(0.05 * N)
    want = 1 - crashed / N * DUR / (HOURS * 3600)
    assert runs["crash_5pct"]["mesh.node_availability"].ratio == pytest.approx(want, abs=1e-12)
    assert runs["none"]["mesh.node_availability"].ratio == 1.0


def test_invalid_beacons_lower_the_validity_sli_by_their_share(runs):
    # invalid senders' beacons arrive and are rejected: the rejected share of arrivals is
    # the invalid nodes' share of beacons during the window (degree-regular graph)
    invalid = max(1, round(0.02 * N))
    want = 1 - invalid / N * DUR / (HOURS * 3600)
    got = runs["invalid_2pct"]["beacons.valid"].ratio
    assert got == pytest.approx(want, abs=3e-4)
    assert runs["none"]["beacons.valid"].ratio == 1.0


def test_delivery_without_faults_is_one_minus_loss(runs):
    s = runs["none"]["beacons.delivery"]
    n = s.total.sum()
    assert s.ratio == pytest.approx(0.99, abs=5 * math.sqrt(0.01 * 0.99 / n))


def test_partition_is_seen_by_delivery_and_alerts_after_the_fault(runs):
    table = E.objective_table(
        SPEC, runs, {"none": None, "crash_5pct": START, "invalid_2pct": START,
                     "partition_bisect": START},
    )  # fmt: skip
    row = table.filter((table["run"] == "partition_bisect")
                       & (table["objective"] == "mesh_availability")).row(0, named=True)  # fmt: skip
    assert row["sli"] == 1.0 and row["met"]
    crash = table.filter((table["run"] == "crash_5pct")
                         & (table["objective"] == "mesh_availability")).row(0, named=True)  # fmt: skip
    # 5 % of nodes down burns the 99.99 % budget at 500x: the fast page fires within the
    # first 5-minute window after the crash (first bucket end after the start)
    assert 0 < crash["detect_page_s"] <= 300
    none = table.filter(table["run"] == "none")
    assert none.filter(none["objective"] == "mesh_availability")["page_s"].is_nan().all()


def test_incident_catalogue_validation():
    sched = E.incident_schedules(["none", "crash_5pct", "loss_20pct"], 50, 10, 5)
    assert sched.kind.shape[0] == 3
    with pytest.raises(ValueError, match="unknown incident"):
        E.incident_schedules(["meteor"], 50, 10, 5)


@pytest.mark.parametrize(
    ("wall", "cpu", "verdict"),
    [
        ([0.10, 0.11, 0.10], [0.10, 0.10, 0.10], "pass"),
        ([0.90, 0.95, 0.92], [0.90, 0.91, 0.90], "fail"),
        ([0.60, 0.62, 0.61], [0.30, 0.31, 0.30], "inconclusive"),  # wall saw a busy machine
        ([0.30, 0.70, 0.35], [0.30, 0.32, 0.31], "inconclusive"),  # rounds straddle the line
        ([0.10, 0.40, 0.12], [0.10, 0.10, 0.10], "pass"),  # unstable, but all under the line
    ],
)
def test_timing_verdicts_do_not_flip_with_load(wall, cpu, verdict):
    assert E.timing_verdict(wall, cpu, 0.5)[3] == verdict


def test_burn_series_spends_the_budget_at_the_burn_rate():
    good, total = np.full(240, 990.0), np.full(240, 1000.0)  # 1 % errors, 1 h
    t, burn, spent = E.burn_series(slo.sli.SliSeries(good, total, 15.0), 0.999, 3600.0)
    assert burn[-1] == pytest.approx(10.0)
    # 10x burn for 1 h of a 30-day period spends 10 / 720 of the budget
    assert spent[-1] == pytest.approx(10 / 720)


def test_pqc_success_series_fail_exactly_the_corrupted_operations():
    spec = slo.load_spec(ROOT / "monitoring" / "sla.yaml")
    slis, summary = E.pqc_series(
        jax.random.key(3), kem_algorithm="ML-KEM-512", signature_algorithm="ML-DSA-44",
        n_buckets=12, ops_per_bucket=5, bucket_s=15.0, corrupt_p=0.5, corrupt_buckets=(4, 8),
    )  # fmt: skip
    for family in ("kem", "signature"):
        s = summary[family]
        # real ML-KEM implicit rejection / ML-DSA verification: every flipped bit fails,
        # nothing else does
        assert s["corrupted"] > 0 and s["failed"] == s["corrupted"]
        assert s["failed_uncorrupted"] == 0
        series = slis[f"pqc.success[family={family}]"]
        bad = series.total - series.good
        assert bad.sum() == s["failed"] and bad[:4].sum() == 0 and bad[8:].sum() == 0
    table = E.objective_table(spec, {"corrupt": slis}, {"corrupt": 60.0})
    assert set(table["objective"]) == {"pqc_kem_success", "pqc_signature_success"}
    assert not table["met"].any()
    with pytest.raises(ValueError, match="corrupt_buckets"):
        E.pqc_series(jax.random.key(0), kem_algorithm="ML-KEM-512", signature_algorithm="ML-DSA-44",
                     n_buckets=4, ops_per_bucket=1, bucket_s=15.0, corrupt_buckets=(2, 9))  # fmt: skip
