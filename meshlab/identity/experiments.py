"""The identity part of the PQC report: SVID validity through outages, and X.509-SVID sizes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import polars as pl

from meshlab.core.batching import stack_params
from meshlab.identity import svid, x509

__all__ = ["identity_at", "outage_sweep", "x509_table"]

_MAX_SERIES_ROWS = 4500  # altair refuses more than 5,000 rows


def outage_sweep(
    key: jax.Array,
    config: svid.SvidConfig,
    outage_start_s: float,
    outage_minutes: Sequence[float],
    **params: Any,
) -> tuple[pl.DataFrame, pl.DataFrame, list[svid.SvidParams]]:
    """One SVID lifecycle run per outage length, all from ``key`` in one ``vmap``.

    Args:
        key: the runs' key (every scenario uses the same one).
        config: the lifecycle config (nodes, steps, step length).
        outage_start_s: when each outage starts (seconds).
        outage_minutes: outage lengths, minutes.
        **params: the other :func:`meshlab.identity.svid.params` arguments.

    Returns:
        ``(summary, series, scenarios)``: one summary row per outage
        (``outage_min``, :func:`~meshlab.identity.svid.summarize`'s keys,
        ``min_frac_with_svid``); the per-step fraction of nodes with a valid SVID
        (``outage_min``, ``t_min``, ``frac_with_svid``; every k-th step if the series
        would exceed 4,500 rows); and the params of each scenario.
    """
    scenarios = [
        svid.params(**params, outages=[(outage_start_s, outage_start_s + 60.0 * m)])
        for m in outage_minutes
    ]
    kernel = svid.build(config)
    for p in scenarios:  # under vmap the values are traced: check them here
        svid.check_params(p, config)
    finals, traces = jax.vmap(lambda p: svid.rollout(kernel, key, p, config.n_steps))(
        stack_params(scenarios)
    )
    rows, series = [], []
    for i, m in enumerate(outage_minutes):
        final, trace = jax.tree.map(lambda x, i=i: x[i], (finals, traces))
        s = svid.summarize(final, config, scenarios[i])
        rows.append(
            {"outage_min": m, **s, "min_frac_with_svid": 1.0 - s["max_frac_without_identity"]}
        )
        series.append(
            pl.DataFrame(
                {
                    "outage_min": m,
                    "t_min": (trace.t_s / 60.0).tolist(),
                    "frac_with_svid": (1.0 - trace.frac_without_identity).tolist(),
                }
            )
        )
    out = pl.concat(series)
    if out.height > _MAX_SERIES_ROWS:
        out = out.gather_every(math.ceil(out.height / _MAX_SERIES_ROWS))
    return pl.DataFrame(rows), out, scenarios


def identity_at(
    key: jax.Array, n_nodes: int, dt_s: float, t_s: float, params: svid.SvidParams
) -> jax.Array:
    """``bool[n_nodes]``: which nodes hold a valid SVID after ``t_s // dt_s`` steps from
    ``key`` (the mesh's ``ChaosInput.beacon_valid``)."""
    config = svid.SvidConfig(n_nodes=n_nodes, n_steps=int(t_s // dt_s), dt_s=dt_s)
    final, _ = svid.rollout(svid.build(config), key, params, config.n_steps)
    return svid.has_identity(final, jnp.float32(config.n_steps * dt_s))


def x509_table(
    key_algorithms: Sequence[str] = ("Ed25519", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87"),
    *,
    trust_domain: str = "mesh.example",
    ttl_s: float = 3600.0,
) -> pl.DataFrame:
    """Mints, validates and sizes one X.509-SVID per key algorithm (real certificates).

    Args:
        key_algorithms: candidates; those the ``cryptography`` backend does not offer here
            (ML-DSA needs OpenSSL >= 3.5) are skipped.
        trust_domain: the CA's trust domain; the SVID is ``spiffe://<td>/node/0``.
        ttl_s: SVID lifetime, seconds.

    Returns:
        One row per algorithm: key_algorithm, spiffe_id, der_bytes (minted) and model_bytes
        (:func:`~meshlab.identity.x509.svid_certificate_bytes` from the scheme's sizes).
    """
    from meshlab.crypto import schemes

    offered = schemes.algorithms("cryptography")["signature"]
    spiffe_id = f"spiffe://{trust_domain}/node/0"
    rows = []
    for a in (a for a in key_algorithms if a in offered):
        ca = x509.make_svid_ca(trust_domain, key_algorithm=a)
        cert = x509.mint_x509_svid(ca, spiffe_id, ttl_s=ttl_s)
        sid = x509.validate_x509_svid(cert.der, ca.certificate)
        sizes = schemes.signature_scheme(a, "cryptography").sizes
        rows.append(
            {
                "key_algorithm": a,
                "spiffe_id": str(sid),
                "der_bytes": len(cert.der),
                "model_bytes": x509.svid_certificate_bytes(sizes, spiffe_id=spiffe_id),
            }
        )
    return pl.DataFrame(rows)
