"""The PQC report's tables and metrics (meshlab.crypto.experiments), at toy sizes."""

import math

import jax
import numpy as np
import polars as pl
import pytest

from meshlab import crypto
from meshlab.crypto import experiments as cx
from meshlab.mesh import beacons, topology

REF = crypto.reference_profile("liboqs")


def test_latency_table_puts_measured_beside_reference():
    bench = crypto.benchmark(["ML-KEM-512", "Ed25519"], n_ops=10, warmup=0)
    lat = cx.latency_table(bench, [REF], ["ML-KEM-512"])
    assert lat.columns == list(cx.LATENCY_COLUMNS)
    measured = lat.filter(pl.col("profile") == "measured:pqcrypto")
    assert (
        measured["median_us"].to_list()
        == bench.filter(pl.col("implementation") == "pqcrypto")
        .sort("algorithm", "operation")["median_us"]
        .to_list()
    )
    ref = lat.filter(pl.col("profile") == REF.name)
    assert set(ref["algorithm"]) == {"ML-KEM-512"}  # only the requested reference rows
    assert ref.filter(pl.col("operation") == "encaps")["median_us"][0] == (
        REF.latency("ML-KEM-512", "encaps").median_us
    )
    assert lat.equals(lat.sort("algorithm", "operation", "profile"))


def test_sizes_table_bytes_and_ratios():
    sizes = cx.sizes_table(
        REF, ["ML-DSA-44", "Ed25519"], ["ML-KEM-768", "X25519"], {"ML-DSA-44": 4000, "Ed25519": 400}
    )
    by = {r["scheme"]: r for r in sizes.iter_rows(named=True)}
    assert by["ML-DSA-44"]["bytes"] == 58 + 2420
    assert by["ML-DSA-44"]["bytes_with_public_key"] == 58 + 2420 + 1312
    assert by["ML-DSA-44"]["bytes_with_certificate"] == 58 + 2420 + 4000
    assert by["Ed25519"]["bytes_with_certificate"] == 58 + 64 + 400
    assert by["Ed25519"]["x_classical"] == 1.0 and by["X25519"]["x_classical"] == 1.0
    assert by["ML-DSA-44"]["x_classical"] == round((58 + 2420) / (58 + 64), 1)
    assert by["ML-KEM-768"]["bytes"] == 1184 + 1088 and by["X25519"]["bytes"] == 64
    assert by["ML-KEM-768"]["handshake_ms"] > 0


def test_sla_tables_threshold_and_missing_p99():
    lat = pl.DataFrame(
        {
            "profile": ["m", "m", "r", "r"],
            "algorithm": ["A", "A", "A", "B"],
            "operation": ["sign", "verify", "sign", "sign"],
            "median_us": [1000.0, 100.0, 1000.0, 1000.0],
            "p90_us": [4999.0, 200.0, 5001.0, None],
            "p99_us": [6000.0, 300.0, None, None],
        }
    )
    sla = cx.sla_table(lat, 5.0)
    assert sla.height == 3  # the row without p90 is dropped
    assert sla["holds_p90"].to_list() == [True, True, False]
    by = {(r["profile"], r["algorithm"]): r for r in cx.sla_by_scheme(sla).iter_rows(named=True)}
    assert by[("m", "A")]["all_ops_p90"] is True and by[("m", "A")]["all_ops_p99"] is False
    assert by[("r", "A")]["all_ops_p90"] is False and by[("r", "A")]["all_ops_p99"] is None
    assert by[("r", "A")]["ops_over_p90"] == ["sign"]
    assert by[("m", "A")]["worst_p90_ms"] == pytest.approx(4.999)


def test_mesh_table_equals_a_direct_beacon_run():
    k_mesh, k_topo = jax.random.key(1), jax.random.key(2)
    kw = dict(kem="ML-KEM-768", carry="public_key", n_nodes=[40], degree=4, rounds=3)
    mesh = cx.mesh_table(k_mesh, k_topo, [REF], ["Ed25519", "ML-DSA-44", "Falcon-512"], **kw)
    assert mesh["scheme"].to_list() == ["Ed25519", "ML-DSA-44"]  # not in the profile: skipped
    row = mesh.row(1, named=True)
    # The same run through the beacon model's public API.
    cp = crypto.beacon_crypto_params(REF, "ML-DSA-44", "ML-KEM-768", carry="public_key")
    topo = topology.random_regular(jax.random.fold_in(k_topo, 40), n_nodes=40, degree=4)
    config = beacons.BeaconConfig(service_dist=cp.service_dist)
    params = crypto.apply_beacon_crypto(beacons.params(), cp)
    state, _ = beacons.rollout(beacons.build(config, topo), k_mesh, params, 3)
    summ = beacons.summarize(state, config, params)
    assert row["p99_ms"] == summ["p99_s"] * 1e3 and row["beacon_bytes"] == 3790
    assert row["cpu_util_total"] == pytest.approx(
        summ["cpu_util_mean"] + cp.sign_mean_s / float(params.interval_s)
    )
    assert row["cpu_util_sign"] > 0


def test_identity_mesh_rejects_the_beacons_of_nodes_without_identity():
    kw = dict(degree=4, rounds=4, carry="public_key", t_min=1.0)
    keys = jax.random.key(3), jax.random.key(4)
    everyone = cx.identity_mesh_table(*keys, jax.numpy.ones(60, bool), REF, **kw).row(0, named=True)
    assert everyone["rejected"] == 0 and everyone["frac_with_svid"] == 1.0
    half = cx.identity_mesh_table(*keys, jax.numpy.arange(60) < 30, REF, **kw).row(0, named=True)
    assert half["frac_with_svid"] == 0.5 and half["rejected"] > 0
    assert half["delivery_ratio"] < everyone["delivery_ratio"]
    assert half["expected_delivery"] == pytest.approx(everyone["expected_delivery"] / 2)


def test_wire_sample_counts_every_rejection():
    w = cx.wire_sample(["Ed25519", "ML-DSA-44"], 3)
    assert (w.select("ok", "tampered", "wrong_key", "replay", "truncated").to_numpy() == 3).all()
    assert w["wire_bytes"].to_list() == [58 + 64, 58 + 2420]


def test_report_metrics_and_checked_summary():
    ref_name = REF.name
    mesh = pl.DataFrame(
        {
            "n_nodes": [10, 10],
            "profile": ["measured:pqcrypto", ref_name],
            "scheme": ["ML-DSA-44", "ML-DSA-44"],
            "p99_ms": [1.23456, 2.5],
            "cpu_util_total": [0.1, 0.2],
        }
    )
    latency = pl.DataFrame(
        {
            "profile": [ref_name, ref_name],
            "algorithm": ["ML-DSA-44", "ML-DSA-44"],
            "operation": ["sign", "verify"],
            "median_us": [50.0, 20.0],
        }
    )
    sla_schemes = pl.DataFrame(
        {
            "profile": ["measured:pqcrypto", ref_name],
            "algorithm": ["ML-DSA-44"] * 2,
            "all_ops_p90": [True, False],
            "all_ops_p99": [False, None],
            "worst_p90_ms": [4.5, 6.0],
        }
    )
    sizes = pl.DataFrame(
        {
            "scheme": ["ML-DSA-44", "X25519"],
            "kind": ["beacon", "handshake"],
            "bytes": [2478.0, 64.0],
        }
    )
    svid = pl.DataFrame(
        {
            "outage_min": [30, 90],
            "time_to_first_loss_s": [math.inf, 1700.0],
            "min_frac_with_svid": [1.0, 0.0],
            "rotation_success_rate": [1.0, 0.5],
            "issuance_latency_p99_s": [0.7, 0.8],
        }
    )
    x509 = pl.DataFrame({"key_algorithm": ["Ed25519"], "der_bytes": [400]})
    ident = pl.DataFrame({"delivery_ratio": [0.4], "frac_with_svid": [0.45]})
    bench = pl.DataFrame({"load_avg_1m": [0.5]})
    m = cx.report_metrics(
        measured=crypto.reference_profile("pqcrypto"),
        reference=REF,
        backends=("pqcrypto",),
        bench=bench,
        bench_n_ops=10,
        sla_op_ms=5.0,
        latency=latency,
        sla_schemes=sla_schemes,
        sizes=sizes,
        mesh=mesh,
        svid=svid,
        x509=x509,
        identity_mesh=ident,
    )
    assert m["ml_dsa_44_sign_median_us"] == {ref_name: 50.0}
    assert m["sign_median_ms"] == {f"{ref_name}/ML-DSA-44": 0.05}
    assert m["sla_worst_p90_ms"] == {
        "measured:pqcrypto/ML-DSA-44": 4.5,
        f"{ref_name}/ML-DSA-44": 6.0,
    }
    assert m["sla_holds_p90"] == {
        "measured:pqcrypto/ML-DSA-44": True,
        f"{ref_name}/ML-DSA-44": False,
    }
    assert m["sla_holds_p99_measured"] == {"measured:pqcrypto/ML-DSA-44": False}
    assert m["mesh_p99_ms"]["10/measured:pqcrypto/ML-DSA-44"] == 1.2346
    assert m["beacon_bytes"] == {"ML-DSA-44": 2478.0} and m["handshake_bytes"] == {"X25519": 64.0}
    assert m["svid_time_to_first_loss_s"] == {"30": math.inf, "90": 1700.0}
    assert m["svid_issuance_latency_p99_s"] == 0.7 and m["x509_svid_bytes"] == {"Ed25519": 400}
    assert m["identity_mesh_delivery_ratio"] == 0.4 and m["bench_load_avg_1m"] == 0.5
    checked = cx.checked_summary(m)
    # Only the reference profile's (deterministic) mesh figures are checked.
    assert checked == {
        "mesh_p99_ms/10/ML-DSA-44": 2.5,
        "svid_min_frac/30": 1.0,
        "svid_min_frac/90": 0.0,
        "identity_mesh_delivery_ratio": 0.4,
        "beacon_bytes/ML-DSA-44": 2478,
    }
    assert np.isfinite(list(checked.values())).all()
