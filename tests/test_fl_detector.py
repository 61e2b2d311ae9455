"""Tests of meshlab.fl.detector: easy-case detection, closed-form isolation time, metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab.fl.detector import (
    ByzantineDetectorConfig,
    detection_metrics,
    detector_init,
    detector_update,
    outlier_scores,
    rounds_to_isolate,
)

N, D, F = 40, 64, 8


def _round(key, byz, kind):
    k1, k2 = jax.random.split(key)
    mu = jnp.linspace(-1.0, 1.0, D)
    honest = mu + 0.3 * jax.random.normal(k1, (N, D))
    if kind == "sign_flip":
        bad = -3.0 * honest
    elif kind == "noise":
        bad = mu + 3.0 * jax.random.normal(k2, (N, D))
    else:
        bad = jnp.full((N, D), jnp.nan)
    return jnp.where(byz[:, None], bad, honest)


@pytest.mark.parametrize("kind", ["sign_flip", "noise", "nan"])
def test_finds_attackers_in_easy_case(kind):
    cfg = ByzantineDetectorConfig()
    byz = jnp.arange(N) < F
    mask = jnp.ones(N, bool)

    def body(state, key):
        state, _ = detector_update(cfg, state, _round(key, byz, kind), mask)
        return state, state.flagged

    state, flagged = jax.lax.scan(body, detector_init(N), jax.random.split(jax.random.key(0), 8))
    m = detection_metrics(state.flagged, byz)
    # honest distances are ~ chi_64 * 0.3 (relative spread ~9 %), attackers are >= 3x farther:
    # each attacker is an outlier every round, an honest client on average < 1 % of rounds
    assert float(m.recall) == 1.0 and float(m.precision) >= 0.9
    # always-outlier attackers reach reputation 0.7^t < 0.5 at t = ceil(log 0.5 / log 0.7) = 2
    assert int(rounds_to_isolate(flagged, byz)) == int(np.ceil(np.log(0.5) / np.log(0.7)))


def test_absent_clients_keep_reputation_and_scores_are_masked():
    byz = jnp.arange(N) < F
    u = _round(jax.random.key(1), byz, "sign_flip")
    mask = jnp.arange(N) >= 4  # attackers 0..3 absent this round
    state, outlier = detector_update(ByzantineDetectorConfig(), detector_init(N), u, mask)
    rep = np.asarray(state.reputation)
    np.testing.assert_array_equal(rep[:4], 1.0)
    np.testing.assert_allclose(rep[4:F], 0.7, rtol=1e-6)  # 0.7 * 1 + 0.3 * 0
    assert not np.asarray(outlier)[:4].any() and np.asarray(outlier)[4:F].all()
    z, cos = outlier_scores(u, mask)
    assert np.asarray(cos)[4:F].max() < 0 and np.isfinite(np.asarray(z)).all()


def test_detection_metrics_match_numpy():
    rng = np.random.default_rng(0)
    flagged, truth = rng.random((50, 30)) < 0.3, rng.random((50, 30)) < 0.2
    m = detection_metrics(jnp.asarray(flagged), jnp.asarray(truth))
    for i in range(50):
        tp = (flagged[i] & truth[i]).sum()
        p = tp / flagged[i].sum() if flagged[i].any() else 1.0
        r = tp / truth[i].sum() if truth[i].any() else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        np.testing.assert_allclose([m.precision[i], m.recall[i], m.f1[i]], [p, r, f1], rtol=1e-6)
    clean = detection_metrics(jnp.zeros(5, bool), jnp.zeros(5, bool))
    assert float(clean.f1) == 1.0


def test_bad_config_raises():
    with pytest.raises(ValueError, match="decay"):
        ByzantineDetectorConfig(decay=1.0)
    with pytest.raises(ValueError, match="flag_threshold"):
        ByzantineDetectorConfig(flag_threshold=0.0)
    with pytest.raises(ValueError, match="n_clients"):
        detector_init(0)
