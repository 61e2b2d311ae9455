"""The identity part of the PQC report (meshlab.identity.experiments), at toy sizes."""

import jax
import numpy as np
import pytest

from meshlab.identity import experiments as ix
from meshlab.identity import svid


def test_outage_sweep_equals_separate_runs():
    config = svid.SvidConfig(n_nodes=40, n_steps=500, dt_s=5.0)
    kw = dict(ttl_s=1200.0, failure_prob=0.01)
    key = jax.random.key(7)
    summary, series, scenarios = ix.outage_sweep(key, config, 600.0, [5, 30], **kw)
    assert summary["outage_min"].to_list() == [5, 30] and len(scenarios) == 2
    assert series.height == 2 * config.n_steps
    for i, m in enumerate((5, 30)):
        p = svid.params(**kw, outages=[(600.0, 600.0 + 60.0 * m)])
        final, trace = svid.rollout(svid.build(config), key, p, config.n_steps)
        want = svid.summarize(final, config, p)
        got = summary.row(i, named=True)
        assert {k: got[k] for k in want} == want
        assert got["min_frac_with_svid"] == 1.0 - want["max_frac_without_identity"]
        s = series.filter(series["outage_min"] == m)
        np.testing.assert_array_equal(
            s["frac_with_svid"].to_numpy(), 1.0 - np.asarray(trace.frac_without_identity)
        )
    # A 30-minute outage exceeds every remaining lifetime of a 20-minute TTL: all lose it.
    assert summary["min_frac_with_svid"].to_list()[1] == 0.0


def test_outage_sweep_checks_every_scenario_before_the_vmap():
    config = svid.SvidConfig(n_nodes=5, n_steps=10, dt_s=10.0)
    with pytest.raises(ValueError, match=r"retry_interval_s\*0.9=9.0 must be >= config.dt_s"):
        ix.outage_sweep(jax.random.key(0), config, 10.0, [1])


def test_series_is_thinned_below_altairs_limit():
    config = svid.SvidConfig(n_nodes=5, n_steps=2500, dt_s=1.0)
    _, series, _ = ix.outage_sweep(jax.random.key(0), config, 100.0, [1, 2], retry_interval_s=2.0)
    assert series.height <= 4500 and series.height >= 2500


def test_identity_at_is_has_identity_after_the_run():
    p = svid.params(ttl_s=600.0, outages=[(0.0, 5000.0)])
    valid = ix.identity_at(jax.random.key(2), 30, 5.0, 400.0, p)
    config = svid.SvidConfig(n_nodes=30, n_steps=80, dt_s=5.0)
    final, _ = svid.rollout(svid.build(config), jax.random.key(2), p, 80)
    np.testing.assert_array_equal(np.asarray(valid), np.asarray(final.expires_at) > 400.0)
    assert 0 < int(valid.sum()) < 30  # some, not all, lost their identity by then


def test_x509_table_mints_real_svids_of_the_modelled_size():
    t = ix.x509_table(["Ed25519", "RSA-2048"], trust_domain="t.example", ttl_s=60.0)
    assert t["key_algorithm"].to_list() == ["Ed25519"]  # unknown to the backend: skipped
    r = t.row(0, named=True)
    assert r["spiffe_id"] == "spiffe://t.example/node/0"
    assert abs(r["der_bytes"] - r["model_bytes"]) <= 2
    with pytest.raises(ValueError, match="trust domain"):
        ix.x509_table(["Ed25519"], trust_domain="Bad Domain")
