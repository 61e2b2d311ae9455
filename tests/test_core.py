"""The shared foundations: kernel convention, rollouts over seeds, checks, registry."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab import core
from meshlab.core import registry, validation

TRACES = {"step": 0}


class WalkParams(NamedTuple):
    drift: jax.Array  # per step
    scale: jax.Array


def _init(key, data, config, params):
    return jnp.zeros((config,), jnp.float32) + data


def _step(key, state, data, config, params, inputs):
    TRACES["step"] += 1  # Python side effect: runs once per trace, not per call
    noise = params.scale * jax.random.normal(key, state.shape)
    extra = 0.0 if inputs is None else inputs
    new = state + params.drift + noise + extra
    return new, new.mean()


def _walk(n=4, offset=1.0):
    return core.Kernel(n, jnp.full((n,), offset, jnp.float32), _init, _step)


def _params(drift=0.5, scale=1.0):
    return WalkParams(jnp.float32(drift), jnp.float32(scale))


def test_rollout_equals_stepping_by_hand():
    kernel, key, params = _walk(), jax.random.key(3), _params()
    final, infos = core.rollout(kernel, key, params, 5)
    k_init, k_run = jax.random.split(key)
    state = kernel.init(k_init, params)
    means = []
    for k in jax.random.split(k_run, 5):
        state, info = kernel.step(k, state, params)
        means.append(info)
    np.testing.assert_array_equal(np.asarray(final), np.asarray(state))
    np.testing.assert_array_equal(np.asarray(infos), np.asarray(means))
    assert infos.shape == (5,)


def test_rollout_matches_the_closed_form_of_a_driftless_walk():
    # scale 0: x_T = offset + T * drift exactly; inputs add their sum
    kernel = _walk(n=3, offset=2.0)
    final, _ = core.rollout(kernel, jax.random.key(0), _params(0.25, 0.0), 8)
    np.testing.assert_allclose(np.asarray(final), 2.0 + 8 * 0.25)
    xs = jnp.arange(8, dtype=jnp.float32)
    final, _ = core.rollout(kernel, jax.random.key(0), _params(0.0, 0.0), 8, inputs=xs)
    np.testing.assert_allclose(np.asarray(final), 2.0 + xs.sum())


def test_rollout_continues_from_a_state():
    kernel, params = _walk(), _params(1.0, 0.0)
    first, _ = core.rollout(kernel, jax.random.key(1), params, 3)
    second, _ = core.rollout(kernel, jax.random.key(2), params, 4, state=first)
    np.testing.assert_allclose(np.asarray(second), 1.0 + 7.0)


def test_a_params_sweep_compiles_once():
    kernel = _walk()
    core.rollout(kernel, jax.random.key(0), _params(0.1), 6)  # warm the cache
    before = TRACES["step"]
    for drift in (0.2, 0.3, 0.4):
        core.rollout(kernel, jax.random.key(0), _params(drift), 6)
    # a fresh kernel with equal config and equally shaped data reuses the compiled code
    core.rollout(_walk(offset=5.0), jax.random.key(0), _params(0.9), 6)
    assert TRACES["step"] == before
    # and a vmap over a stacked sweep traces once more in total, not once per point
    sweep = core.stack_params([_params(d) for d in (0.1, 0.2, 0.3)])
    run = jax.vmap(lambda p: core.kernel.scan_steps(kernel, jax.random.key(0), p, 6)[0])
    out = run(sweep)
    assert TRACES["step"] == before + 1
    assert out.shape == (3, 4)
    # a different static config does recompile (the counter can move)
    core.rollout(_walk(n=5), jax.random.key(0), _params(), 6)
    assert TRACES["step"] == before + 2


def test_rollout_seeds_equals_one_rollout_per_split_key():
    kernel, key, params = _walk(), jax.random.key(7), _params()
    finals, infos = core.rollout_seeds(kernel, key, params, 4, 3)
    assert finals.shape == (3, 4) and infos.shape == (3, 4)
    for i, k in enumerate(jax.random.split(key, 3)):
        one, _ = core.rollout(kernel, k, params, 4)
        np.testing.assert_allclose(np.asarray(finals[i]), np.asarray(one), rtol=1e-6)
    assert not np.allclose(np.asarray(finals[0]), np.asarray(finals[1]))


def test_over_seeds_uses_the_same_keys_as_seed_keys():
    key = jax.random.key(11)
    got = core.over_seeds(lambda k: jax.random.uniform(k), key, 4)
    want = jnp.stack([jax.random.uniform(k) for k in core.seed_keys(key, 4)])
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_stack_params_refuses_empty_and_mixed_structures():
    with pytest.raises(ValueError, match="at least one"):
        core.stack_params([])
    with pytest.raises(ValueError, match="structure"):
        core.stack_params([_params(), (jnp.float32(1.0),)])


@pytest.mark.parametrize(
    "bad",
    [0, np.uint32([0, 1]), jax.random.PRNGKey(0), "seed"],
    ids=["int", "uint32-array", "legacy-key", "str"],
)
def test_every_entry_point_refuses_non_typed_keys_the_same_way(bad):
    kernel = _walk()
    for call in (
        lambda: core.rollout(kernel, bad, _params(), 2),
        lambda: core.rollout_seeds(kernel, bad, _params(), 2, 2),
        lambda: kernel.init(bad, _params()),
        lambda: core.seed_keys(bad, 2),
    ):
        with pytest.raises(TypeError, match=r"key must be a typed jax\.random\.key"):
            call()


def test_check_int_and_real_name_the_parameter_and_the_allowed_range():
    assert validation.check_int("beacons.seeds", np.int64(3), low=1) == 3
    with pytest.raises(TypeError, match="beacons.seeds must be an integer, got True"):
        validation.check_int("beacons.seeds", True, low=1)
    with pytest.raises(ValueError, match="n_steps must be >= 1, got 0"):
        core.rollout(_walk(), jax.random.key(0), _params(), 0)
    assert validation.check_real("x", 0.5, 0.0, 1.0) == 0.5
    with pytest.raises(ValueError, match=r"gossip_loss must be in \[0, 1\], got 1.2"):
        validation.check_real("gossip_loss", 1.2, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"rate must be in \(0, inf\), got 0.0"):
        validation.check_real("rate", 0.0, 0.0, low_open=True)
    with pytest.raises(ValueError, match="must be finite"):
        validation.check_real("rate", float("nan"))
    assert validation.check_real("bw", float("inf"), 0.0, allow_inf=True) == float("inf")
    with pytest.raises(ValueError, match="probability"):
        validation.check_prob("loss", [0.1, 1.5])
    with pytest.raises(ValueError, match="one of"):
        validation.check_choice("mode", "both-ways", ("push", "pull"))


def test_registry_collects_providers_and_survives_a_failing_one(monkeypatch):
    monkeypatch.setattr(registry, "_PROVIDERS", {})
    registry.register_provenance("answer", lambda: 42)
    registry.register_provenance("broken", lambda: 1 / 0)
    got = registry.collect_provenance()
    assert got["answer"] == 42
    assert got["broken"].startswith("unavailable: ZeroDivisionError")
    with pytest.raises(TypeError):
        registry.register_provenance("x", 3)


def test_chunked_rollout_is_the_same_run_as_one_scan():
    kernel, key, params = _walk(), jax.random.key(5), _params(scale=0.7)
    inputs = jnp.arange(7, dtype=jnp.float32)
    final, infos = core.rollout(kernel, key, params, 7, inputs=inputs)
    final_c, infos_c = core.rollout(kernel, key, params, 7, inputs=inputs, chunk=3)
    np.testing.assert_allclose(np.asarray(final_c), np.asarray(final), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(infos_c), np.asarray(infos), rtol=1e-6)
    assert infos_c.shape == (7,)


def test_seed_batches_give_every_seed_its_own_key():
    kernel, key, params = _walk(), jax.random.key(6), _params()
    finals, infos = core.rollout_seeds(kernel, key, params, 4, 5)
    finals_b, infos_b = core.rollout_seeds(kernel, key, params, 4, 5, seed_batch=2)
    np.testing.assert_allclose(np.asarray(finals_b), np.asarray(finals), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(infos_b), np.asarray(infos), rtol=1e-6)
    assert infos_b.shape == (5, 4)


def test_progress_is_off_under_pytest_and_forced_by_the_environment(monkeypatch):
    from meshlab.core import progress

    assert not progress.enabled()  # PYTEST_CURRENT_TEST is set
    monkeypatch.setenv("MESHLAB_PROGRESS", "1")
    assert progress.enabled()
    monkeypatch.setenv("MESHLAB_PROGRESS", "0")
    assert not progress.enabled()
    assert progress.enabled(True)


def test_a_disabled_bar_never_imports_tqdm_auto():
    # tqdm.auto warns on import in a kernel without ipywidgets (a pipeline run), and the
    # runner carries every warning into the report
    import subprocess
    import sys

    code = (
        "import sys; from meshlab.core import progress\n"
        "with progress.bar(3, 'x', progress=False) as b: b.update(3)\n"
        "assert 'tqdm.auto' not in sys.modules, 'tqdm.auto imported'\n"
        "with progress.bar(3, 'x', progress=True) as b: b.update(3)\n"
        "assert 'tqdm.auto' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_first_compile_is_announced_once_per_shape(capsys, caplog):
    import logging

    kernel, key, params = _walk(n=9), jax.random.key(0), _params()
    with caplog.at_level(logging.INFO, logger="meshlab"):
        core.rollout(kernel, key, params, 3, progress=True)
        core.rollout(kernel, key, params, 3, progress=True)
        core.rollout(kernel, key, params, 4, progress=True)
    err = capsys.readouterr().err
    assert err.count("compiling") == 2 and "(one-off" in err
    assert sum("compiling" in r.getMessage() for r in caplog.records) == 2


def test_round_product_rounds_before_the_add_and_is_the_identity():
    from meshlab.core.numerics import round_product

    # a*a = 1 + 2**-11 + 2**-24 is not a float32: rounded first it is 1 + 2**-11 and the
    # sum is exactly 0; a fused multiply-add would keep the 2**-24
    a = jnp.full((1024,), 1 + 2**-12, jnp.float32)
    c = jnp.full((1024,), -(1 + 2**-11), jnp.float32)
    got = jax.jit(lambda a, c: round_product(a * a) + c)(a, c)
    np.testing.assert_array_equal(np.asarray(got), np.zeros(1024, np.float32))
    x = jnp.asarray([0.5, -np.inf, np.inf, np.nan, -0.0, 3e38], jnp.float32)
    np.testing.assert_array_equal(np.asarray(jax.jit(round_product)(x)), np.asarray(x))


def test_sum_last_adds_left_to_right():
    from meshlab.core.numerics import sum_last

    # in float32 left to right: 1 + 2**24 rounds to 2**24, + 1 rounds to 2**24 again, and
    # - 2**24 leaves 0; pairwise it is (1 + 2**24) + (1 - 2**24) = 1, right to left 2
    x = jnp.asarray([[1.0, 2.0**24, 1.0, -(2.0**24)]] * 3, jnp.float32)
    want = np.float32(0.0)
    for v in np.asarray(x)[0]:
        want = np.float32(want + v)
    assert want == 0.0
    row = np.asarray(x)[0]
    assert np.float32(np.float32(row[0] + row[1]) + np.float32(row[2] + row[3])) == 1.0
    np.testing.assert_array_equal(np.asarray(jax.jit(sum_last)(x)), np.full(3, want))
    one = jnp.asarray([[2.5], [-1.0]], jnp.float32)
    np.testing.assert_array_equal(np.asarray(sum_last(one)), [2.5, -1.0])
