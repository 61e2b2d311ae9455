"""The one kernel convention every simulation domain follows.

A domain's ``build(config, ...)`` validates its static config and data once and returns
a :class:`Kernel`; the kernel's pure functions then run under ``jit`` (compiled once per
config and array shapes), ``vmap`` over params or keys, and ``lax.scan`` over time::

    kernel = beacons.build(config, topology)        # validated once
    state = kernel.init(key, params)
    state, info = kernel.step(key, state, params)   # one round
    state, infos = meshlab.core.rollout(kernel, key, params, n_steps=200)
    summary = beacons.summarize(state, config, params)

* ``config`` is a frozen dataclass (or NamedTuple) of hashable primitives: it is a
  static argument of ``jit``. Two kernels built from equal configs and equally shaped
  data share their compiled code.
* ``data`` is a pytree of arrays fixed for the kernel's life (for the beacon model: the
  neighbour table, its mask and the node positions). It is passed to the compiled
  functions as an argument, never closed over, so large tables are not baked into the
  compiled program.
* ``params`` is a pytree of arrays that may vary between runs (rates, thresholds, fault
  schedules): a sweep ``vmap``\\ s over it without recompiling.
* ``inputs`` (optional) are per-step arrays stacked along a leading time axis and fed
  to ``lax.scan`` as ``xs``.

``step(key, state, params, inputs) -> (State, Info)``: the key is always the first
argument; per-step diagnostics go in ``Info`` and are not carried forward.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import partial
from typing import Any, NamedTuple

import jax

from meshlab.core.validation import check_int, check_key

__all__ = ["Kernel", "rollout", "rollout_seeds", "scan_steps"]


class Kernel(NamedTuple):
    """A model built once: static config + fixed data + two pure functions.

    Attributes:
        config: hashable static configuration (a ``jit`` static argument).
        data: pytree of arrays fixed for the kernel's life (traced, not baked in).
        init_fn: ``init_fn(key, data, config, params) -> State`` (module-level, pure).
        step_fn: ``step_fn(key, state, data, config, params, inputs) -> (State, Info)``
            (module-level, pure; ``inputs`` is ``None`` or one step's slice of the inputs).
    """

    config: Hashable
    data: Any
    init_fn: Callable
    step_fn: Callable

    def init(self, key: jax.Array, params: Any) -> Any:
        """The initial state (jitted)."""
        check_key(key)
        return _init_jit(self.init_fn, key, self.data, self.config, params)

    def step(self, key: jax.Array, state: Any, params: Any, inputs: Any = None) -> tuple:
        """One step ``(state, info)`` (jitted; compiled once per config and shapes)."""
        check_key(key)
        return _step_jit(self.step_fn, key, state, self.data, self.config, params, inputs)


@partial(jax.jit, static_argnums=(0, 3))
def _init_jit(init_fn, key, data, config, params):
    return init_fn(key, data, config, params)


@partial(jax.jit, static_argnums=(0, 4))
def _step_jit(step_fn, key, state, data, config, params, inputs):
    return step_fn(key, state, data, config, params, inputs)


def scan_steps(kernel: Kernel, key, params, n_steps: int, state=None, inputs=None):
    """Traceable body of :func:`rollout` (use inside your own ``jit`` / ``vmap``).

    The key is split into an init key and a run key; the run key into one key per step.
    """
    k_init, k_run = jax.random.split(key)
    if state is None:
        state = kernel.init_fn(k_init, kernel.data, kernel.config, params)
    keys = jax.random.split(k_run, n_steps)

    def body(carry, xs):
        k, x = xs
        return kernel.step_fn(k, carry, kernel.data, kernel.config, params, x)

    return jax.lax.scan(body, state, (keys, inputs))


@partial(jax.jit, static_argnums=(0, 1, 2, 4))
def _rollout_jit(init_fn, step_fn, config, data, n_steps, key, params, state, inputs):
    kernel = Kernel(config, data, init_fn, step_fn)
    return scan_steps(kernel, key, params, n_steps, state, inputs)


def rollout(
    kernel: Kernel,
    key: jax.Array,
    params: Any,
    n_steps: int,
    *,
    state: Any = None,
    inputs: Any = None,
) -> tuple[Any, Any]:
    """Runs ``n_steps`` steps of ``kernel`` under ``lax.scan`` (jitted).

    Args:
        kernel: a built :class:`Kernel`.
        key: typed key, split into an init key and one key per step.
        params: the params pytree (vmap over it from outside to sweep).
        n_steps: number of steps (int >= 1; static: each value compiles once).
        state: continue from this state (e.g. chunks of a long run); default: a fresh
            ``kernel.init`` state from the init key.
        inputs: optional per-step inputs with a leading ``n_steps`` axis (scan xs).

    Returns:
        ``(final_state, infos)``, ``infos`` stacked over steps.
    """
    check_key(key)
    n_steps = check_int("n_steps", n_steps, low=1)
    return _rollout_jit(
        kernel.init_fn,
        kernel.step_fn,
        kernel.config,
        kernel.data,
        n_steps,
        key,
        params,
        state,
        inputs,
    )


@partial(jax.jit, static_argnums=(0, 1, 2, 4))
def _seeds_jit(init_fn, step_fn, config, data, n_steps, keys, params, inputs):
    kernel = Kernel(config, data, init_fn, step_fn)
    return jax.vmap(lambda k: scan_steps(kernel, k, params, n_steps, None, inputs))(keys)


def rollout_seeds(
    kernel: Kernel, key: jax.Array, params: Any, n_steps: int, n_seeds: int, *, inputs: Any = None
) -> tuple[Any, Any]:
    """:func:`rollout` for ``n_seeds`` keys split from ``key``, in one ``vmap``.

    Seed ``i`` gets ``jax.random.split(key, n_seeds)[i]``, so its run equals
    ``rollout(kernel, keys[i], params, n_steps)``.

    Returns:
        ``(final_states, infos)`` with a leading ``n_seeds`` axis on every leaf.
    """
    check_key(key)
    n_steps = check_int("n_steps", n_steps, low=1)
    keys = jax.random.split(key, check_int("n_seeds", n_seeds, low=1))
    return _seeds_jit(
        kernel.init_fn, kernel.step_fn, kernel.config, kernel.data, n_steps, keys, params, inputs
    )
