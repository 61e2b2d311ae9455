"""Tests of meshlab.fl.convergence on synthetic curves with closed-form declaration rounds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab.fl.convergence import (
    ConvergenceConfig,
    convergence_init,
    convergence_update,
    detect_convergence,
)

T = 120
t = np.arange(T, dtype=np.float64)
LOSS = 0.2 + 2.0 * np.exp(-t / 10.0)  # exponential approach to 0.2
ACC = 0.9 * (1 - np.exp(-t / 8.0))  # monotone rise to a plateau
GRAD = 5.0 * np.exp(-t / 6.0)


def _first(cond):
    idx = np.flatnonzero(cond)
    return int(idx[0]) if idx.size else -1


def _ref_loss(w, tol):
    rel = np.full(T, np.inf)
    rel[w:] = (LOSS[:-w] - LOSS[w:]) / np.abs(LOSS[:-w])
    return _first(rel < tol)


def _ref_acc(w, tol):
    # max(A[t-W+1..t]) - max(A[0..t-W]) = A[t] - A[t-W] for a monotone curve
    gain = np.full(T, np.inf)
    gain[w:] = ACC[w:] - ACC[:-w]
    return _first(gain < tol)


def _ref_grad(w, tol):
    ok = np.array([i >= w - 1 and GRAD[i - w + 1 : i + 1].max() < tol for i in range(T)])
    return _first(ok)


@pytest.mark.parametrize("w,tol", [(3, 0.05), (5, 0.01), (8, 0.002)])
def test_declares_at_the_closed_form_round(w, tol):
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    cases = {
        "loss": _ref_loss(w, tol),
        "accuracy": _ref_acc(w, tol),
        "grad_norm": _ref_grad(w, tol),
    }
    for crit, expected in cases.items():
        assert expected > w  # the curves make each case non-trivial
        cfg = ConvergenceConfig(
            window=w, loss_tol=tol, accuracy_tol=tol, grad_norm_tol=tol, criteria=(crit,)
        )
        got = int(detect_convergence(cfg, f32(LOSS), f32(ACC), f32(GRAD)))
        assert got == expected, (crit, got, expected)
    both = ConvergenceConfig(window=w, loss_tol=tol, accuracy_tol=tol, grad_norm_tol=tol,
                             criteria=("loss", "accuracy", "grad_norm"), require="all")  # fmt: skip
    assert int(detect_convergence(both, f32(LOSS), f32(ACC), f32(GRAD))) == max(cases.values())
    anyc = ConvergenceConfig(window=w, loss_tol=tol, accuracy_tol=tol, grad_norm_tol=tol,
                             criteria=("loss", "accuracy", "grad_norm"), require="any")  # fmt: skip
    assert int(detect_convergence(anyc, f32(LOSS), f32(ACC), f32(GRAD))) == min(cases.values())


def test_not_before_and_sticky_inside_scan():
    cfg = ConvergenceConfig(window=5, loss_tol=0.01, criteria=("loss",))
    expected = _ref_loss(5, 0.01)

    def body(s, x):
        s, holds = convergence_update(cfg, s, x, jnp.float32(0.0), jnp.float32(0.0))
        return s, (holds, s.converged)

    final, (holds, converged) = jax.lax.scan(
        body, convergence_init(cfg), jnp.asarray(LOSS, jnp.float32)
    )
    converged = np.asarray(converged)
    assert not converged[:expected].any() and converged[expected:].all()
    assert int(final.round) == expected and bool(np.asarray(holds)[expected])


def test_accuracy_plateau_after_a_dip_and_min_rounds():
    # a dip then recovery: the plateau test compares with the best accuracy *before* the window
    acc = np.array([0.5, 0.6, 0.7, 0.4, 0.5, 0.71, 0.711, 0.712, 0.712, 0.712, 0.712])
    cfg = ConvergenceConfig(window=3, accuracy_tol=0.02, criteria=("accuracy",))
    # t=5: window A[3..5] max .71 vs best before (A[0..2]) .7: gain .01 < .02 -> declared at 5
    assert int(detect_convergence(cfg, jnp.zeros(11), jnp.asarray(acc, jnp.float32))) == 5
    late = ConvergenceConfig(window=3, accuracy_tol=0.02, criteria=("accuracy",), min_rounds=8)
    assert int(detect_convergence(late, jnp.zeros(11), jnp.asarray(acc, jnp.float32))) == 8


def test_nan_or_too_short_never_converges():
    cfg = ConvergenceConfig(window=4, criteria=("loss", "accuracy", "grad_norm"))
    nan = jnp.full(30, jnp.nan, jnp.float32)
    assert int(detect_convergence(cfg, nan, nan, nan)) == -1
    flat = jnp.ones(4, jnp.float32)  # only W observations: the loss window needs W + 1
    assert int(detect_convergence(ConvergenceConfig(window=4, criteria=("loss",)), flat)) == -1


def test_bad_config_raises():
    with pytest.raises(ValueError, match="window"):
        ConvergenceConfig(window=0)
    with pytest.raises(ValueError, match="criteria"):
        ConvergenceConfig(criteria=("loss", "speed"))
    with pytest.raises(ValueError, match="require"):
        ConvergenceConfig(require="most")
    with pytest.raises(ValueError, match="loss_tol"):
        ConvergenceConfig(loss_tol=-0.1)
