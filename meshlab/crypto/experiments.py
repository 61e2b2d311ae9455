"""The PQC report's analyses: tidy tables (polars) and the metrics dict, from library calls.

Each function takes what the report's parameters name and returns a frame whose columns the
report saves as CSV and charts (:mod:`meshlab.reporting.charts.pqc`). Which profile produced
a number is always in a ``profile`` column (``measured:<backend>`` or
``reference:<implementation>``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import polars as pl

from meshlab.crypto import wire
from meshlab.crypto.mesh import apply_beacon_crypto, beacon_crypto_params
from meshlab.crypto.profiles import CostProfile
from meshlab.crypto.schemes import signature_scheme

__all__ = [
    "LATENCY_COLUMNS",
    "audit_metrics",
    "checked_summary",
    "identity_mesh_table",
    "latency_table",
    "mesh_table",
    "report_metrics",
    "sizes_table",
    "sla_by_scheme",
    "sla_table",
    "wire_sample",
]

LATENCY_COLUMNS = (
    "profile",
    "implementation",
    "algorithm",
    "operation",
    "ops_per_run",
    "p10_us",
    "median_us",
    "p90_us",
    "p99_us",
)
"""Columns of :func:`latency_table` (latencies in microseconds)."""


def latency_table(
    bench: pl.DataFrame, references: Sequence[CostProfile], algorithms: Sequence[str]
) -> pl.DataFrame:
    """Per-operation latency, measured here (a benchmark frame) beside reference profiles.

    Args:
        bench: a :func:`meshlab.crypto.bench.benchmark` result.
        references: reference profiles to show beside it.
        algorithms: keep the reference rows of these algorithms.

    Returns:
        :data:`LATENCY_COLUMNS`, sorted by algorithm, operation and profile; ``profile`` is
        ``measured:<implementation>`` or the reference profile's name.
    """
    cols = list(LATENCY_COLUMNS)
    meas = bench.with_columns(("measured:" + pl.col("implementation")).alias("profile"))
    ref = (
        pl.concat(
            [p.table.with_columns(pl.lit(p.name).alias("profile")) for p in references],
            how="diagonal_relaxed",
        )
        .filter(pl.col("algorithm").is_in(list(algorithms)))
        .select(cols)
    )
    return pl.concat([meas.select(cols), ref], how="vertical_relaxed").sort(
        "algorithm", "operation", "profile"
    )


def sizes_table(
    profile: CostProfile,
    signatures: Sequence[str],
    kems: Sequence[str],
    certificate_bytes: Mapping[str, int],
) -> pl.DataFrame:
    """Bytes per beacon (per signature scheme) and per handshake (per KEM).

    Beacon rows: the wire payload + signature (``bytes``), + the public key, + an X.509-SVID
    of ``certificate_bytes[scheme]`` (one entry per scheme, e.g. from
    :func:`meshlab.identity.x509.svid_certificate_bytes`). Handshake rows: KEM public key + ciphertext and the
    unauthenticated handshake time. ``x_classical`` is the ratio to Ed25519 (beacons) or
    X25519 (handshakes), which must be among ``signatures`` / ``kems``.
    """
    rows = []
    for s in signatures:
        p = {
            c: beacon_crypto_params(
                profile, s, "X25519", carry=c, certificate_bytes=certificate_bytes[s]
            )
            for c in ("none", "public_key", "certificate")
        }
        rows.append(
            {
                "scheme": s,
                "kind": "beacon",
                "signature_bytes": profile.sizes(s).signature,
                "public_key_bytes": profile.sizes(s).public_key,
                "bytes": p["none"].beacon_bytes,
                "bytes_with_public_key": p["public_key"].beacon_bytes,
                "bytes_with_certificate": p["certificate"].beacon_bytes,
            }
        )
    for k in kems:
        p = beacon_crypto_params(profile, "Ed25519", k, authenticated_handshake=False)
        rows.append(
            {
                "scheme": k,
                "kind": "handshake",
                "public_key_bytes": profile.sizes(k).public_key,
                "bytes": p.handshake_bytes,
                "handshake_ms": round(p.handshake_s * 1e3, 4),
            }
        )
    sizes = pl.DataFrame(rows, infer_schema_length=None)
    base = {
        "beacon": sizes.filter(pl.col("scheme") == "Ed25519")["bytes"][0],
        "handshake": sizes.filter(pl.col("scheme") == "X25519")["bytes"][0],
    }
    return sizes.with_columns(
        (pl.col("bytes") / pl.col("kind").replace_strict(base)).round(1).alias("x_classical")
    )


def sla_table(latency: pl.DataFrame, sla_op_ms: float) -> pl.DataFrame:
    """Per (profile, algorithm, operation): p50/p90/p99 in ms and whether p90 / p99 < SLA.

    Rows without a p90 (the classical reference rows) are dropped; ``holds_p99`` is null
    where no p99 was recorded (reference profiles).
    """
    return (
        latency.drop_nulls("p90_us")
        .select(
            "profile",
            "algorithm",
            "operation",
            (pl.col("median_us") / 1e3).alias("p50_ms"),
            (pl.col("p90_us") / 1e3).alias("p90_ms"),
            (pl.col("p99_us") / 1e3).alias("p99_ms"),
        )
        .with_columns(
            (pl.col("p90_ms") < sla_op_ms).alias("holds_p90"),
            (pl.col("p99_ms") < sla_op_ms).alias("holds_p99"),
        )
    )


def sla_by_scheme(sla: pl.DataFrame) -> pl.DataFrame:
    """Per (profile, algorithm): all operations within the SLA at p90 / p99, the worst p90
    and the operations over it (from :func:`sla_table`)."""
    return (
        sla.group_by("profile", "algorithm")
        .agg(
            pl.col("holds_p90").all().alias("all_ops_p90"),
            pl.when(pl.col("p99_ms").is_null().all())
            .then(None)
            .otherwise(pl.col("holds_p99").all())
            .alias("all_ops_p99"),
            pl.col("p90_ms").max().alias("worst_p90_ms"),
            pl.col("operation").filter(~pl.col("holds_p90")).alias("ops_over_p90"),
        )
        .sort("algorithm", "profile")
    )


def mesh_table(
    key: jax.Array,
    topology_key: jax.Array,
    profiles: Sequence[CostProfile],
    schemes: Sequence[str],
    *,
    kem: str,
    carry: str,
    n_nodes: Sequence[int],
    degree: int,
    rounds: int,
) -> pl.DataFrame:
    """What each signature scheme does to the beacon model, per profile and mesh size.

    For each N a random-regular mesh (``fold_in(topology_key, N)``); for each profile and
    scheme (Ed25519 pairs with X25519, the others with ``kem``) the scheme's beacon costs
    (:func:`~meshlab.crypto.mesh.beacon_crypto_params` with ``carry``) run ``rounds``
    rounds from ``key``. ``cpu_util_sign`` adds one signature per node per beacon interval
    (the beacon model simulates verification only).

    Returns:
        One row per run: n_nodes, profile, scheme, beacon_bytes, verify_mean_us,
        handshake_ms, p50_ms, p99_ms, delivery_ratio, cpu_util_verify, cpu_util_sign,
        cpu_util_total.
    """
    from meshlab.mesh import beacons, topology

    rows = []
    for n in n_nodes:
        topo = topology.random_regular(
            jax.random.fold_in(topology_key, n), n_nodes=n, degree=degree
        )
        kernels: dict[str, Any] = {}
        for prof in profiles:
            for s in schemes:
                if s not in prof.algorithms:
                    continue
                crypto = beacon_crypto_params(
                    prof, s, "X25519" if s == "Ed25519" else kem, carry=carry
                )
                config = beacons.BeaconConfig(service_dist=crypto.service_dist)
                if crypto.service_dist not in kernels:
                    kernels[crypto.service_dist] = beacons.build(config, topo)
                params = apply_beacon_crypto(beacons.params(), crypto)
                state, _ = beacons.rollout(kernels[crypto.service_dist], key, params, rounds)
                summ = beacons.summarize(state, config, params)
                sign_util = crypto.sign_mean_s / float(params.interval_s)
                rows.append(
                    {
                        "n_nodes": n,
                        "profile": prof.name,
                        "scheme": s,
                        "beacon_bytes": crypto.beacon_bytes,
                        "verify_mean_us": crypto.verify_mean_s * 1e6,
                        "handshake_ms": crypto.handshake_s * 1e3,
                        "p50_ms": summ["p50_s"] * 1e3,
                        "p99_ms": summ["p99_s"] * 1e3,
                        "delivery_ratio": summ["delivery_ratio"],
                        "cpu_util_verify": summ["cpu_util_mean"],
                        "cpu_util_sign": sign_util,
                        "cpu_util_total": summ["cpu_util_mean"] + sign_util,
                    }
                )
    return pl.DataFrame(rows)


def identity_mesh_table(
    key: jax.Array,
    topology_key: jax.Array,
    valid: jax.Array,
    profile: CostProfile,
    *,
    degree: int,
    rounds: int,
    carry: str,
    t_min: float,
    signature: str = "ML-DSA-44",
) -> pl.DataFrame:
    """Beacons of nodes without a valid identity are rejected: the beacon model with
    ``ChaosInput.beacon_valid = valid`` for ``rounds`` rounds.

    Args:
        key: the beacon run's key.
        topology_key: the mesh is ``random_regular(fold_in(topology_key, N), N, degree)``.
        valid: ``bool[N]``, e.g. :func:`meshlab.identity.svid.has_identity` at ``t_min``.
        profile, signature, carry: the beacon's crypto costs.
        t_min: when ``valid`` was sampled (minutes; reported only).

    Returns:
        One row: t_min, n_nodes, frac_with_svid, delivery_ratio, expected_delivery
        (``(1 - loss_p) x frac_with_svid``) and rejected.
    """
    from meshlab.mesh import beacons, topology

    n = int(valid.shape[0])
    topo = topology.random_regular(jax.random.fold_in(topology_key, n), n_nodes=n, degree=degree)
    chaos1 = beacons.neutral_chaos(n, degree)._replace(beacon_valid=valid)
    chaos = jax.tree.map(lambda x: jnp.broadcast_to(x, (rounds, *x.shape)), chaos1)
    crypto = beacon_crypto_params(profile, signature, carry=carry)
    config = beacons.BeaconConfig(service_dist=crypto.service_dist)
    params = apply_beacon_crypto(beacons.params(), crypto)
    state, _ = beacons.rollout(beacons.build(config, topo), key, params, rounds, inputs=chaos)
    summ = beacons.summarize(state, config, params)
    frac_valid = float(jnp.mean(valid.astype(jnp.float32)))
    return pl.DataFrame(
        [
            {
                "t_min": t_min,
                "n_nodes": n,
                "frac_with_svid": frac_valid,
                "delivery_ratio": summ["delivery_ratio"],
                "expected_delivery": (1.0 - float(params.loss_p)) * frac_valid,
                "rejected": summ["rejected"],
            }
        ]
    )


def wire_sample(schemes: Sequence[str], n_beacons: int) -> pl.DataFrame:
    """Really signs ``n_beacons`` beacons per scheme and counts what the verifier does.

    Per beacon: the genuine one is accepted once (``ok``), then rejected as a replay; a
    tampered payload, another node's signature and a truncated signature are rejected.

    Returns:
        One row per scheme: scheme, backend, wire_bytes, ok, tampered, wrong_key, replay,
        truncated (counts; each equals ``n_beacons`` when the verifier is right).
    """
    rows = []
    for s in schemes:
        scheme = signature_scheme(s)
        (pk1, sk1), (pk2, sk2) = scheme.keygen(), scheme.keygen()
        verifier = wire.BeaconVerifier(scheme, {1: pk1, 2: pk2})
        counts = {"ok": 0, "tampered": 0, "wrong_key": 0, "replay": 0, "truncated": 0}
        for i in range(n_beacons):
            b = wire.Beacon(1, i + 1, 1_700_000_000_000_000_000 + i, wire.state_digest(bytes([i])))
            signed = wire.sign_beacon(scheme, sk1, b)
            bad = bytearray(signed)
            bad[30] ^= 1
            counts["tampered"] += not verifier.verify(bytes(bad)).ok
            counts["wrong_key"] += not verifier.verify(wire.sign_beacon(scheme, sk2, b)).ok
            counts["truncated"] += not verifier.verify(signed[:-1]).ok
            counts["ok"] += verifier.verify(signed).ok
            counts["replay"] += not verifier.verify(signed).ok
        rows.append({"scheme": s, "backend": scheme.backend, "wire_bytes": len(signed), **counts})
    return pl.DataFrame(rows)


def _rows(df: pl.DataFrame) -> list[dict]:
    return list(df.iter_rows(named=True))


def report_metrics(
    *,
    measured: CostProfile,
    reference: CostProfile,
    backends: Sequence[str],
    bench: pl.DataFrame,
    bench_n_ops: int,
    sla_op_ms: float,
    latency: pl.DataFrame,
    sla_schemes: pl.DataFrame,
    sizes: pl.DataFrame,
    mesh: pl.DataFrame,
    svid: pl.DataFrame,
    x509: pl.DataFrame,
    identity_mesh: pl.DataFrame,
) -> dict:
    """The PQC report's ``metrics.json`` scalars, from its tables.

    Keys: ``measured_profile``, ``measured_source``, ``reference_profile``,
    ``pqc_backends``, ``bench_n_ops``, ``ml_dsa_44_sign_median_us`` (per profile),
    ``sign_median_ms`` (``"<profile>/<algorithm>"``), ``sla_op_ms``, ``sla_worst_p90_ms``
    (worst p90 over a scheme's operations), ``sla_holds_p90`` (``"<profile>/<algorithm>"``: every operation's p90
    under the SLA), ``sla_holds_p99_measured``, ``bench_load_avg_1m``, ``beacon_bytes``,
    ``handshake_bytes`` (per scheme), ``mesh_p99_ms``, ``mesh_cpu_util_total``
    (``"<N>/<profile>/<scheme>"``), ``svid_time_to_first_loss_s``,
    ``svid_min_frac_with_svid``, ``svid_rotation_success_rate`` (per outage minutes),
    ``svid_issuance_latency_p99_s``, ``x509_svid_bytes`` (per key algorithm),
    ``identity_mesh_delivery_ratio`` and ``identity_mesh_frac_with_svid``.
    """

    def sla(profile: str, alg: str, col: str) -> bool | None:
        r = sla_schemes.filter((pl.col("profile") == profile) & (pl.col("algorithm") == alg))
        v = r[col][0] if r.height else None
        return None if v is None else bool(v)

    sign = latency.filter((pl.col("algorithm") == "ML-DSA-44") & (pl.col("operation") == "sign"))
    pairs = list(sla_schemes.select("profile", "algorithm").iter_rows())
    mesh_rows = _rows(mesh)
    svid_rows = _rows(svid)
    ident = _rows(identity_mesh)[0]
    return {
        "measured_profile": measured.name,
        "measured_source": measured.source,
        "reference_profile": reference.name,
        "pqc_backends": list(backends),
        "bench_n_ops": bench_n_ops,
        "ml_dsa_44_sign_median_us": {
            r["profile"]: float(r["median_us"]) for r in _rows(sign.sort("profile"))
        },
        "sign_median_ms": {
            f"{r['profile']}/{r['algorithm']}": float(r["median_us"]) / 1e3
            for r in _rows(latency.filter(pl.col("operation") == "sign").drop_nulls("median_us"))
        },
        "sla_op_ms": sla_op_ms,
        "sla_worst_p90_ms": {
            f"{r['profile']}/{r['algorithm']}": float(r["worst_p90_ms"]) for r in _rows(sla_schemes)
        },
        "sla_holds_p90": {f"{p}/{a}": sla(p, a, "all_ops_p90") for p, a in pairs},
        "sla_holds_p99_measured": {
            f"{p}/{a}": sla(p, a, "all_ops_p99") for p, a in pairs if p.startswith("measured")
        },
        "bench_load_avg_1m": float(bench["load_avg_1m"][0]),
        "beacon_bytes": {
            r["scheme"]: r["bytes"] for r in _rows(sizes.filter(pl.col("kind") == "beacon"))
        },
        "handshake_bytes": {
            r["scheme"]: r["bytes"] for r in _rows(sizes.filter(pl.col("kind") == "handshake"))
        },
        "mesh_p99_ms": {
            f"{r['n_nodes']}/{r['profile']}/{r['scheme']}": round(r["p99_ms"], 4) for r in mesh_rows
        },
        "mesh_cpu_util_total": {
            f"{r['n_nodes']}/{r['profile']}/{r['scheme']}": round(r["cpu_util_total"], 6)
            for r in mesh_rows
        },
        "svid_time_to_first_loss_s": {
            str(r["outage_min"]): r["time_to_first_loss_s"] for r in svid_rows
        },
        "svid_min_frac_with_svid": {
            str(r["outage_min"]): r["min_frac_with_svid"] for r in svid_rows
        },
        "svid_rotation_success_rate": {
            str(r["outage_min"]): r["rotation_success_rate"] for r in svid_rows
        },
        "svid_issuance_latency_p99_s": svid_rows[0]["issuance_latency_p99_s"],
        "x509_svid_bytes": {r["key_algorithm"]: r["der_bytes"] for r in _rows(x509)},
        "identity_mesh_delivery_ratio": ident["delivery_ratio"],
        "identity_mesh_frac_with_svid": ident["frac_with_svid"],
    }


def checked_summary(metrics: dict) -> dict:
    """The seeded, simulated figures of :func:`report_metrics` that do not depend on this
    machine's timings: beacon p99 per scheme under the reference profile, the minimum
    fraction of nodes with an SVID per outage, the identity-loss delivery ratio, and the
    ML-DSA-44 beacon size. (Measured latencies, and the mesh runs fed by them, vary from
    run to run and are left out.)
    """
    ref = f"/{metrics['reference_profile']}/"
    return {
        **{
            f"mesh_p99_ms/{k.split('/')[0]}/{k.split('/')[-1]}": v
            for k, v in metrics["mesh_p99_ms"].items()
            if ref in k
        },
        **{f"svid_min_frac/{k}": v for k, v in metrics["svid_min_frac_with_svid"].items()},
        "identity_mesh_delivery_ratio": metrics["identity_mesh_delivery_ratio"],
        "beacon_bytes/ML-DSA-44": int(metrics["beacon_bytes"]["ML-DSA-44"]),
    }


def audit_metrics(
    *,
    conformance: pl.DataFrame,
    interop: pl.DataFrame,
    rejection: pl.DataFrame,
    robust_sla: pl.DataFrame,
) -> dict:
    """The audit section's ``metrics.json`` scalars.

    Keys: ``conformance_counts`` (``"<backend>"`` -> passed / failed / not_supported
    vector counts), ``conformance_failed_ids`` (``"<backend>/<family>/<parameter set>"``
    -> failed tcIds, only where some failed), ``interop_agreed_fraction`` (over every
    ordered backend pair and check), ``implicit_rejection_correct``
    (``"<backend>/<algorithm>"``), ``sla_robust_verdict`` and ``sla_robust_stability``
    (``"<backend>/<algorithm>/<op>"``), ``sla_robust_load_avg_1m``.
    """
    counts = conformance.group_by("backend", maintain_order=True).agg(
        pl.col("passed").sum(), pl.col("failed").sum(), pl.col("not_supported").sum()
    )
    failed = conformance.filter(pl.col("failed") > 0)
    trials = int(interop["trials"].sum())
    return {
        "conformance_counts": {
            r["backend"]: {k: int(r[k]) for k in ("passed", "failed", "not_supported")}
            for r in counts.iter_rows(named=True)
        },
        "conformance_failed_ids": {
            f"{r['backend']}/{r['family']}/{r['parameter_set']}": r["failed_ids"]
            for r in failed.iter_rows(named=True)
        },
        "interop_agreed_fraction": (int(interop["agreed"].sum()) / trials) if trials else None,
        "implicit_rejection_correct": {
            f"{r['backend']}/{r['algorithm']}": bool(r["correct"])
            for r in rejection.iter_rows(named=True)
        },
        "sla_robust_verdict": dict(
            zip(robust_sla["operation"].to_list(), robust_sla["verdict"].to_list(), strict=True)
        ),
        "sla_robust_stability": {
            op: round(float(v), 3)
            for op, v in zip(robust_sla["operation"], robust_sla["stability"], strict=True)
        },
        "sla_robust_load_avg_1m": float(robust_sla["load_avg_1m"].mean()),
    }
