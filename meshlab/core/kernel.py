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
import jax.numpy as jnp

from meshlab.core import progress as _progress
from meshlab.core.validation import check_int, check_key

__all__ = ["Kernel", "rollout", "rollout_seeds", "scan_steps"]


def _signature(kind: str, kernel: "Kernel", n: int, *trees: Any) -> tuple:
    """What XLA compiles for: function, config, static sizes, tree structure and shapes."""
    leaves, treedef = jax.tree.flatten((kernel.data, *trees))
    shapes = tuple((tuple(jnp.shape(x)), str(jnp.result_type(x))) for x in leaves)
    return (kind, kernel.step_fn, kernel.config, n, treedef, shapes)


def _name(kernel: "Kernel") -> str:
    return getattr(kernel.step_fn, "__module__", "kernel").rsplit(".", 1)[-1]


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
    chunk: int | None = None,
    progress: bool | None = None,
) -> tuple[Any, Any]:
    """Runs ``n_steps`` steps of ``kernel`` under ``lax.scan`` (jitted).

    With ``chunk``, the steps run as ``ceil(n_steps / chunk)`` compiled scans of ``chunk``
    steps (the last one shorter), with a progress bar; every step gets the same key as in
    one scan, so the result is the same run.

    Args:
        kernel: a built :class:`Kernel`.
        key: typed key, split into an init key and one key per step.
        params: the params pytree (vmap over it from outside to sweep).
        n_steps: number of steps (int >= 1; static: each value compiles once).
        state: continue from this state (e.g. chunks of a long run); default: a fresh
            ``kernel.init`` state from the init key.
        inputs: optional per-step inputs with a leading ``n_steps`` axis (scan xs).
        chunk: steps per compiled scan (int >= 1; ``None``: all in one scan).
        progress: show a progress bar over chunks (``None``: from the run context, see
            :mod:`meshlab.core.progress`).

    Returns:
        ``(final_state, infos)``, ``infos`` stacked over steps.
    """
    check_key(key)
    n_steps = check_int("n_steps", n_steps, low=1)
    if chunk is not None:
        chunk = check_int("chunk", chunk, low=1)
        return _rollout_chunks(kernel, key, params, n_steps, chunk, state, inputs, progress)
    sig = _signature("rollout", kernel, n_steps, params, state, inputs)
    _progress.announce_compile(f"{_name(kernel)} rollout, {n_steps} steps", sig, progress)
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


@partial(jax.jit, static_argnums=(0, 1, 2))
def _scan_keys_jit(init_fn, step_fn, config, data, keys, params, state, inputs):
    def body(carry, xs):
        k, x = xs
        return step_fn(k, carry, data, config, params, x)

    return jax.lax.scan(body, state, (keys, inputs))


def _rollout_chunks(kernel, key, params, n_steps, chunk, state, inputs, progress):
    k_init, k_run = jax.random.split(key)
    if state is None:
        state = _init_jit(kernel.init_fn, k_init, kernel.data, kernel.config, params)
    keys = jax.random.split(k_run, n_steps)
    sig = _signature("chunk", kernel, min(chunk, n_steps), params, state, inputs)
    _progress.announce_compile(f"{_name(kernel)} rollout, chunks of {chunk}", sig, progress)
    infos = []
    with _progress.bar(n_steps, f"{_name(kernel)} rollout", progress, unit="step") as pbar:
        for a in range(0, n_steps, chunk):
            b = min(a + chunk, n_steps)
            xs = None if inputs is None else jax.tree.map(lambda x, a=a, b=b: x[a:b], inputs)
            state, info = _scan_keys_jit(
                kernel.init_fn, kernel.step_fn, kernel.config, kernel.data, keys[a:b],
                params, state, xs,
            )  # fmt: skip
            infos.append(info)
            pbar.update(b - a)
    return state, jax.tree.map(lambda *xs: jnp.concatenate(xs), *infos)


@partial(jax.jit, static_argnums=(0, 1, 2, 4))
def _seeds_jit(init_fn, step_fn, config, data, n_steps, keys, params, inputs):
    kernel = Kernel(config, data, init_fn, step_fn)
    return jax.vmap(lambda k: scan_steps(kernel, k, params, n_steps, None, inputs))(keys)


def rollout_seeds(
    kernel: Kernel,
    key: jax.Array,
    params: Any,
    n_steps: int,
    n_seeds: int,
    *,
    inputs: Any = None,
    seed_batch: int | None = None,
    progress: bool | None = None,
) -> tuple[Any, Any]:
    """:func:`rollout` for ``n_seeds`` keys split from ``key``, in one ``vmap``.

    Seed ``i`` gets ``jax.random.split(key, n_seeds)[i]``, so its run equals
    ``rollout(kernel, keys[i], params, n_steps)``.

    Args:
        kernel, key, params, n_steps, inputs: as in :func:`rollout`.
        n_seeds: independent runs (int >= 1).
        seed_batch: seeds per compiled ``vmap`` (``None``: all at once). Smaller batches
            bound memory and show a progress bar over batches; seed ``i`` keeps its key.
        progress: show the bar (``None``: from the run context).

    Returns:
        ``(final_states, infos)`` with a leading ``n_seeds`` axis on every leaf.
    """
    check_key(key)
    n_steps = check_int("n_steps", n_steps, low=1)
    keys = jax.random.split(key, check_int("n_seeds", n_seeds, low=1))
    size = (
        n_seeds if seed_batch is None else min(check_int("seed_batch", seed_batch, low=1), n_seeds)
    )
    sig = _signature("seeds", kernel, (n_steps, size), params, inputs)
    what = f"{_name(kernel)} rollout, {n_steps} steps x {size} seeds"
    _progress.announce_compile(what, sig, progress)
    parts = []
    with _progress.bar(n_seeds, f"{_name(kernel)} seeds", progress, unit="seed") as pbar:
        for a in range(0, n_seeds, size):
            b = min(a + size, n_seeds)
            parts.append(
                _seeds_jit(
                    kernel.init_fn,
                    kernel.step_fn,
                    kernel.config,
                    kernel.data,
                    n_steps,
                    keys[a:b],
                    params,
                    inputs,
                )  # fmt: skip
            )
            pbar.update(b - a)
    if len(parts) == 1:
        return parts[0]
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
