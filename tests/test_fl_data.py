"""Tests of meshlab.fl.data: Dirichlet partition, padding, synthetic data, label flipping."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.datasets import load_digits

from meshlab.fl.data import (
    choose_byzantine,
    client_label_counts,
    dirichlet_partition,
    flip_labels,
    label_skew,
    load_digits_federated,
    pad_clients,
    synthetic_federated,
)


def test_digits_every_sample_assigned_exactly_once():
    data = load_digits_federated(jax.random.key(0), 20, 0.5)
    digits = load_digits()
    mask = np.asarray(data.mask)
    idx = np.asarray(data.index)[mask]
    # train slots hold distinct samples; together with the test split they cover all 1,797
    assert len(idx) == len(set(idx.tolist()))
    assert len(idx) + data.x_test.shape[0] == len(digits.target)
    np.testing.assert_array_equal(np.asarray(data.x)[mask], digits.data[idx] / 16.0)
    np.testing.assert_array_equal(np.asarray(data.y)[mask], digits.target[idx])
    # padding is zero and packed at the back of every client
    assert not np.asarray(data.x)[~mask].any()
    counts = mask.sum(1)
    np.testing.assert_array_equal(mask, np.arange(data.capacity)[None, :] < counts[:, None])
    assert data.capacity == counts.max()


def test_partition_shares_match_dirichlet_variance():
    # Share of class k held by client c is p_kc ~ Dirichlet(alpha 1_C) marginal: mean 1/C,
    # variance (C-1) / (C^2 (C alpha + 1)). With n_k = 2000 rounding adds < 1/(12 n_k^2).
    n_clients, n_classes, n_per = 10, 10, 2000
    labels = jnp.repeat(jnp.arange(n_classes), n_per)
    for alpha in (0.3, 3.0):
        shares = []
        for s in range(30):
            c = np.asarray(
                dirichlet_partition(jax.random.key(s), labels, n_clients, alpha, n_classes)
            )
            assert c.min() >= 0 and c.max() < n_clients
            counts = np.zeros((n_classes, n_clients))
            np.add.at(counts, (np.asarray(labels), c), 1)
            assert (counts.sum(1) == n_per).all()  # every sample assigned once
            shares.append(counts / n_per)
        x = np.concatenate(shares).ravel()
        v, m4 = x.var(), np.mean((x - x.mean()) ** 4)
        se = np.sqrt((m4 - v**2) / x.size)  # standard error of a sample variance
        theory = (n_clients - 1) / (n_clients**2 * (n_clients * alpha + 1))
        assert abs(x.mean() - 1 / n_clients) < 1e-9
        assert abs(v - theory) < 4 * se, (alpha, v, theory, se)


def _tv_skew(labels, client_of, n_clients, n_classes):
    """Plain-numpy mean total-variation distance of client label mixes to the global mix."""
    counts = np.zeros((n_clients, n_classes))
    np.add.at(counts, (client_of, labels), 1)
    has = counts.sum(1) > 0
    p = counts[has] / counts[has].sum(1, keepdims=True)
    return 0.5 * np.abs(p - counts.sum(0) / counts.sum()).sum(1).mean()


def test_smaller_alpha_is_more_skewed():
    labels = load_digits().target
    skew = {
        a: np.mean(
            [
                _tv_skew(
                    labels,
                    np.asarray(
                        dirichlet_partition(jax.random.key(s), jnp.asarray(labels), 20, a, 10)
                    ),
                    20,
                    10,
                )
                for s in range(3)
            ]
        )  # fmt: skip
        for a in (0.05, 1.0, 100.0)
    }
    # total-variation skew: near 1 - 1/K = 0.9 for one class per client, ~0 for IID
    assert skew[0.05] > 0.6 > skew[1.0] > 0.15 > skew[100.0]
    # label_skew on the padded data agrees with the numpy statistic
    data = load_digits_federated(jax.random.key(0), 20, 0.5)
    m = np.asarray(data.mask)
    client_of = np.repeat(np.arange(20), m.sum(1))
    ref = _tv_skew(np.asarray(data.y)[m], client_of, 20, 10)
    assert float(label_skew(data, 10)) == pytest.approx(ref, rel=1e-5)


def test_pad_clients_capacity_drops_surplus():
    x = jnp.arange(12, dtype=jnp.float32).reshape(6, 2)
    y = jnp.arange(6, dtype=jnp.int32)
    client_of = jnp.array([1, 1, 1, 0, 1, 0])
    xp, yp, mask, index = pad_clients(x, y, client_of, 3, capacity=2)
    np.testing.assert_array_equal(np.asarray(mask), [[True, True], [True, True], [False, False]])
    np.testing.assert_array_equal(np.asarray(index), [[3, 5], [0, 1], [-1, -1]])
    np.testing.assert_array_equal(np.asarray(yp), [[3, 5], [0, 1], [0, 0]])


def test_synthetic_scales_and_matches_size_distribution():
    spc = 32
    data = synthetic_federated(jax.random.key(0), 10_000, samples_per_client=spc, n_features=20)
    assert data.x.shape == (10_000, 2 * spc, 20) and data.y_test.shape == (2000,)
    counts = np.asarray(data.counts)
    assert counts.min() >= 1 and counts.max() <= 2 * spc
    # E[clip(spc exp(0.5 Z - 0.125), 1, 2 spc)] by numerical integration (rounding is symmetric)
    f = lambda z: np.clip(spc * np.exp(0.5 * z - 0.125), 1, 2 * spc) * stats.norm.pdf(z)
    expected = integrate.quad(f, -12, 12)[0]
    se = counts.std() / np.sqrt(counts.size)
    assert abs(counts.mean() - expected) < 4 * se + 0.05
    assert set(np.unique(np.asarray(data.y))) <= set(range(10))
    assert not np.asarray(data.x)[~np.asarray(data.mask)].any()


@pytest.mark.slow
def test_synthetic_without_heterogeneity_is_linearly_separable():
    # With model_heterogeneity = 0 every label is argmax(W x + b) of one global linear model,
    # so a multinomial logistic regression fit on train+test reaches (near) 100 % accuracy.
    from sklearn.linear_model import LogisticRegression

    d = synthetic_federated(
        jax.random.key(1), 20, model_heterogeneity=0.0, n_classes=3, n_features=5, n_test=200
    )
    x = np.concatenate([np.asarray(d.x)[np.asarray(d.mask)], np.asarray(d.x_test)])
    y = np.concatenate([np.asarray(d.y)[np.asarray(d.mask)], np.asarray(d.y_test)])
    acc = LogisticRegression(C=1e3, max_iter=1000).fit(x, y).score(x, y)
    assert acc > 0.97


def test_flip_labels_and_choose_byzantine():
    y = jnp.array([[0, 1, 2], [3, 4, 5]], jnp.int32)
    out = flip_labels(y, jnp.array([False, True]), 10)
    np.testing.assert_array_equal(np.asarray(out), [[0, 1, 2], [6, 5, 4]])
    for k in range(0, 21, 5):
        assert int(choose_byzantine(jax.random.key(k), 20, k).sum()) == k
    data = load_digits_federated(jax.random.key(0), 5, 1.0)
    counts = np.asarray(client_label_counts(data, 10))
    ref = np.zeros((5, 10), int)
    np.add.at(
        ref,
        (
            np.repeat(np.arange(5), np.asarray(data.counts)),
            np.asarray(data.y)[np.asarray(data.mask)],
        ),
        1,
    )
    np.testing.assert_array_equal(counts, ref)


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_alpha_raises(alpha):
    with pytest.raises(ValueError, match="alpha"):
        load_digits_federated(jax.random.key(0), 10, alpha)
    with pytest.raises(ValueError, match="alpha"):
        dirichlet_partition(jax.random.key(0), jnp.zeros(5, jnp.int32), 2, alpha, 1)


def test_other_bad_input_raises():
    with pytest.raises(ValueError, match="n_clients"):
        load_digits_federated(jax.random.key(0), 0, 1.0)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_federated(jax.random.key(0), 5, 1.0, test_fraction=1.0)
    with pytest.raises(TypeError, match="key"):
        load_digits_federated(0, 5, 1.0)
    with pytest.raises(ValueError, match="model_heterogeneity"):
        synthetic_federated(jax.random.key(0), 5, model_heterogeneity=-1.0)
    with pytest.raises(ValueError, match="n_byzantine"):
        choose_byzantine(jax.random.key(0), 5, 6)
    with pytest.raises(ValueError, match="byzantine"):
        flip_labels(jnp.zeros((3, 2), jnp.int32), jnp.zeros(2, bool), 10)
