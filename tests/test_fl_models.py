"""Tests of meshlab.fl.models against plain-numpy gradients and a numpy SGD loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab.fl.models import (
    accuracy,
    cross_entropy,
    local_update,
    local_updates,
    logistic_regression,
    mlp,
)


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _np_mlp_loss_grad(w1, b1, w2, b2, x, y):
    """Plain-numpy float64 forward + backprop of mean CE for tanh(x W1 + b1) W2 + b2."""
    h = np.tanh(x @ w1 + b1)
    p = _softmax(h @ w2 + b2)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean()
    dz = p.copy()
    dz[np.arange(n), y] -= 1
    dz /= n
    dh = dz @ w2.T * (1 - h**2)
    return loss, [x.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]


def _data(seed, n=40, f=6, k=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, f)).astype(np.float32), rng.integers(0, k, n).astype(np.int32)


def test_logistic_regression_gradient_matches_closed_form():
    x, y = _data(0)
    model = logistic_regression(6, 4)
    params = jax.random.normal(jax.random.key(0), (model.n_params,)) * 0.3
    g = np.asarray(
        jax.grad(lambda p: cross_entropy(model, p, jnp.asarray(x), jnp.asarray(y)))(params)
    )
    p = model.unravel(np.asarray(params, np.float64))
    probs = _softmax(x @ p["w"] + p["b"])
    onehot = np.eye(4)[y]
    gw, gb = x.T @ (probs - onehot) / len(y), (probs - onehot).mean(0)  # closed form
    np.testing.assert_allclose(g, np.concatenate([gw.ravel(), gb]), rtol=1e-4, atol=1e-6)
    assert model.n_params == 6 * 4 + 4


def test_mlp_gradient_matches_numpy_backprop_and_finite_differences():
    x, y = _data(1)
    model = mlp(6, 4, hidden=5)
    params = model.init(jax.random.key(1))
    p = {k: np.asarray(v, np.float64) for k, v in model.unravel(params).items()}
    loss_np, grads_np = _np_mlp_loss_grad(p["w1"], p["b1"], p["w2"], p["b2"], x, y)
    loss, g = jax.value_and_grad(lambda q: cross_entropy(model, q, jnp.asarray(x), jnp.asarray(y)))(
        params
    )
    ref = np.concatenate([gr.ravel() for gr in grads_np])
    # float32 forward vs float64 reference: relative error ~ 1e-6 per op
    np.testing.assert_allclose(float(loss), loss_np, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-4, atol=1e-6)
    # the numpy backprop itself against central differences in float64 (h = 1e-6: error ~ h^2)
    flat = np.asarray(params, np.float64)
    for j in (0, 7, 33, len(flat) - 1):
        e = np.zeros_like(flat)
        e[j] = 1e-6

        def f(v):
            q = model.unravel(v)
            return _np_mlp_loss_grad(q["w1"], q["b1"], q["w2"], q["b2"], x, y)[0]

        np.testing.assert_allclose((f(flat + e) - f(flat - e)) / 2e-6, ref[j], rtol=1e-5, atol=1e-8)


def test_local_update_equals_numpy_gradient_descent_on_one_sample():
    # a client holding a single sample: every minibatch is that sample, so E local SGD steps
    # are E gradient-descent steps on it, reproducible in numpy
    model = logistic_regression(3, 3)
    x = np.zeros((8, 3), np.float32)
    x[0] = [1.0, -2.0, 0.5]
    y = np.zeros(8, np.int32)
    y[0] = 2
    mask = np.arange(8) < 1
    params = np.asarray(model.init(jax.random.key(0)))
    train = jax.jit(
        lambda k, p, xs, ys, ms: local_update(
            k, model, p, xs, ys, ms, steps=4, batch_size=5, lr=0.5
        )
    )
    delta, info = train(
        jax.random.key(1), jnp.asarray(params), jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask)
    )
    w = params.astype(np.float64).copy()
    for _ in range(4):
        q = model.unravel(w)
        pr = _softmax(x[0] @ q["w"] + q["b"])
        pr[2] -= 1
        w = w - 0.5 * np.concatenate([np.outer(x[0], pr).ravel(), pr])
    np.testing.assert_allclose(np.asarray(delta), w - params, rtol=1e-4, atol=1e-6)
    assert int(info.n_samples) == 1


def test_local_updates_vmap_matches_loop_and_empty_client_is_zero():
    model = mlp(4, 3, hidden=4)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 6, 4)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 3, (3, 6)), jnp.int32)
    mask = jnp.asarray(np.arange(6)[None, :] < np.array([[6], [2], [0]]))
    params = model.init(jax.random.key(0))
    key = jax.random.key(3)
    deltas, info = local_updates(key, model, params, x, y, mask, steps=3, batch_size=4, lr=0.1)
    keys = jax.random.split(key, 3)
    one = jax.jit(
        lambda k, xc, yc, mc: local_update(
            k, model, params, xc, yc, mc, steps=3, batch_size=4, lr=0.1
        )
    )
    for c in range(3):
        d, _ = one(keys[c], x[c], y[c], mask[c])
        np.testing.assert_allclose(np.asarray(deltas[c]), np.asarray(d), rtol=1e-5, atol=1e-7)
    assert not np.asarray(deltas[2]).any() and np.asarray(deltas[0]).any()
    np.testing.assert_array_equal(np.asarray(info.n_samples), [6, 2, 0])


def test_accuracy_and_masked_loss():
    model = logistic_regression(2, 2)
    params = jnp.array([1.0, -1.0, -1.0, 1.0, 0.0, 0.0])  # class = argmax(x0 - x1, x1 - x0)
    x = jnp.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [5.0, 0.0]])
    y = jnp.array([0, 1, 1, 1])
    assert float(accuracy(model, params, x, y)) == pytest.approx(0.5)
    assert float(accuracy(model, params, x, y, jnp.array([True, True, False, False]))) == 1.0
    # masked CE: only the first sample, logits (1, -1): log(1 + e^-2)
    loss = cross_entropy(model, params, x, y, jnp.array([True, False, False, False]))
    assert float(loss) == pytest.approx(np.log1p(np.exp(-2.0)), rel=1e-6)


def test_bad_dimensions_raise():
    with pytest.raises(ValueError, match="n_features"):
        logistic_regression(0, 3)
    with pytest.raises(ValueError, match="hidden"):
        mlp(4, 3, hidden=-1)


@pytest.mark.parametrize("lead", [(), (3,)])
def test_linear_layer_derivatives_match_the_plain_product(lead):
    """The models' ``x @ w`` carries a custom JVP (its weight derivative is a multiply-and-sum,
    which XLA:CPU runs faster under vmap than a batched tiny matrix product). Forward mode,
    reverse mode in both arguments and vmapped gradients must equal those of ``x @ w``."""
    from meshlab.fl.models import _matmul

    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(*lead, 7, 5)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    dx = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
    dw = jnp.asarray(rng.normal(size=w.shape), jnp.float32)
    plain = lambda a, b: a @ b  # noqa: E731
    for fn_args in [(x, w), (dx, dw)]:
        want = jax.jvp(plain, (x, w), fn_args)[1]
        got = jax.jvp(_matmul, (x, w), fn_args)[1]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # one tangent absent (a symbolic zero inside the rule)
    np.testing.assert_allclose(
        jax.jvp(lambda b: _matmul(x, b), (w,), (dw,))[1], x @ dw, rtol=1e-5, atol=1e-5
    )
    loss = lambda f: lambda a, b: jnp.sum(jnp.sin(f(a, b)))  # noqa: E731
    for got, want in zip(
        jax.grad(loss(_matmul), argnums=(0, 1))(x, w),
        jax.grad(loss(plain), argnums=(0, 1))(x, w),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    ws = jnp.stack([w, 2 * w])
    got = jax.vmap(jax.grad(loss(_matmul), argnums=1), in_axes=(None, 0))(x, ws)
    want = jax.vmap(jax.grad(loss(plain), argnums=1), in_axes=(None, 0))(x, ws)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert jax.hessian(lambda b: jnp.sum(_matmul(x, b) ** 3))(w).shape == (5, 3, 5, 3)
