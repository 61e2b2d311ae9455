"""Tests of meshlab.fl.schedules against closed forms and a plain-Python reduce-on-plateau."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab.fl.schedules import (
    constant,
    exponential_decay,
    reduce_on_plateau,
    staleness_weight,
    step_decay,
)

T = np.arange(40)


def test_step_and_exponential_decay_closed_forms():
    np.testing.assert_allclose(
        np.asarray(jax.vmap(step_decay(0.1, 0.5, 7))(T)), 0.1 * 0.5 ** (T // 7), rtol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(jax.vmap(exponential_decay(0.2, 0.95))(T)), 0.2 * 0.95**T, rtol=1e-5
    )
    np.testing.assert_allclose(np.asarray(jax.vmap(constant(0.3))(T)), np.full(40, 0.3), rtol=1e-7)


def _plateau_reference(losses, factor, patience, min_delta, cooldown, min_scale):
    """Plain-Python ReduceLROnPlateau (Keras semantics) returning the scale after each step."""
    scale, best, bad, cool, out = 1.0, np.inf, 0, 0, []
    for x in losses:
        if np.isfinite(x) and x < best - min_delta:
            best, bad = x, 0
        elif cool > 0:
            bad = 0
        else:
            bad += 1
        if bad >= patience:
            scale, bad, cool = max(scale * factor, min_scale), 0, cooldown
        else:
            cool = max(cool - 1, 0)
        out.append(scale)
    return np.array(out)


def test_reduce_on_plateau_matches_reference():
    rng = np.random.default_rng(0)
    losses = np.concatenate(
        [np.linspace(1, 0.5, 10), 0.5 + 0.01 * rng.random(30), [np.nan], np.linspace(0.4, 0.3, 9)]
    )
    for kw in ({"factor": 0.5, "patience": 3, "min_delta": 1e-3, "cooldown": 2, "min_scale": 0.05},
               {"factor": 0.1, "patience": 1, "min_delta": 0.0, "cooldown": 0, "min_scale": 1e-3}):  # fmt: skip
        sched = reduce_on_plateau(**kw)

        def body(s, x, sched=sched):
            s = sched.update(s, x)
            return s, s.scale

        _, scales = jax.lax.scan(body, sched.init(), jnp.asarray(losses, jnp.float32))
        ref = _plateau_reference(losses.astype(np.float32), **kw)
        np.testing.assert_allclose(np.asarray(scales), ref, rtol=1e-6)
        assert ref[-1] < 1.0  # the sequence does plateau


def test_staleness_weights_closed_forms():
    s = np.arange(12)
    np.testing.assert_allclose(
        np.asarray(staleness_weight(s, "polynomial", a=0.5)), (1 + s) ** -0.5, rtol=1e-6
    )
    hinge = np.where(s <= 4, 1.0, 1.0 / (2.0 * (s - 4) + 1))
    np.testing.assert_allclose(
        np.asarray(staleness_weight(s, "hinge", a=2.0, b=4.0)), hinge, rtol=1e-6
    )
    np.testing.assert_array_equal(np.asarray(staleness_weight(s, "constant")), np.ones(12))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="factor"):
        step_decay(0.1, 1.5, 3)
    with pytest.raises(ValueError, match="every"):
        step_decay(0.1, 0.5, 0)
    with pytest.raises(ValueError, match="lr"):
        exponential_decay(-1.0, 0.9)
    with pytest.raises(ValueError, match="patience"):
        reduce_on_plateau(patience=0)
    with pytest.raises(ValueError, match="factor"):
        reduce_on_plateau(factor=1.0)
    with pytest.raises(ValueError, match="kind"):
        staleness_weight(jnp.arange(3), "cubic")
