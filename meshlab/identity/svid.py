# ruff: noqa: F722  (jaxtyping shape strings)
"""The SVID rotation lifecycle of every node, in JAX: vectorized over nodes, scanned over time.

Models X509-SVID TTL (default 1 h), renewal at half of the issued lifetime with +-10 %
jitter, lognormal issuance latency with a client timeout, transient issuance failures, a
CA lifetime cap (an SVID never outlives its CA), identity-server outages (cached SVIDs keep
working until they expire, renewals fail, failed renewals are retried every
``retry_interval_s``), and identity loss at expiry (the mesh rejects the beacons of a node
without a valid SVID: :func:`has_identity` gives ``ChaosInput.beacon_valid``).

It follows the kernel convention (:mod:`meshlab.core.kernel`)::

    from meshlab.identity import svid

    config = svid.SvidConfig(n_nodes=1000, n_steps=2520, dt_s=5.0)
    kernel = svid.build(config)                           # validated once
    p = svid.params(outages=[(1800.0, 3600.0)])           # vmap over stacked params
    final, trace = svid.rollout(kernel, key, p, config.n_steps)
    svid.summarize(final, config, p)                      # rotation success, latency, ...

The scan is time-stepped with step ``dt_s`` but event times are continuous: a renewal
request happens at its exact instant, an outage is checked at that instant and an
identity loss is recorded at the exact expiry time, so only the per-step outputs
(fraction without identity) are sampled at step ends. Memory does not grow with
simulated time (issuance latencies go into a fixed log-spaced histogram).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.core.kernel import Kernel
from meshlab.core.validation import check_int, check_key, check_real

__all__ = [
    "SvidConfig",
    "SvidParams",
    "SvidState",
    "SvidStepInfo",
    "SvidTrace",
    "build",
    "check_params",
    "has_identity",
    "params",
    "rollout",
    "summarize",
]

_Z90 = 1.2815515655446004  # standard-normal 0.9 quantile


class SvidConfig(NamedTuple):
    """Static (hashable) configuration of an SVID lifecycle run.

    Attributes:
        n_nodes: number of nodes (workloads), >= 1.
        n_steps: scan steps; the run covers ``[0, n_steps * dt_s]`` seconds.
        dt_s: step in seconds (per-step outputs are sampled at step ends).
        warm_start: nodes start with SVIDs of uniformly spread age (steady state);
            otherwise all nodes request their first SVID at t = 0.
        n_latency_bins: log-spaced issuance-latency histogram bins over [1e-4, 1e3] s.
        sli_thresholds_s: issuance-latency thresholds (seconds); each step counts the
            answered issuances at or under each one (``SvidTrace.fast``), the windowed
            latency SLIs of :mod:`meshlab.slo`. Empty by default.
    """

    n_nodes: int
    n_steps: int
    dt_s: float = 1.0
    warm_start: bool = True
    n_latency_bins: int = 512
    sli_thresholds_s: tuple[float, ...] = ()


class SvidParams(NamedTuple):
    """Lifecycle parameters (a pytree of float32 arrays; build with :func:`params`).

    Attributes:
        ttl_s: X509-SVID TTL requested from the server.
        renew_fraction: renew at this fraction of the issued lifetime (0.5).
        renew_jitter: relative jitter of the renewal instant (0.1: [0.45, 0.55] x life).
        issuance_median_s, issuance_sigma: lognormal issuance latency.
        issuance_timeout_s: client timeout; slower issuances fail.
        retry_interval_s: delay before retrying a failed issuance (+-10 % jitter).
        failure_prob: probability that an issuance fails transiently while the server is up.
        ca_not_after_s: CA expiry (absolute seconds); SVIDs are capped at it.
        outages: ``f32[M, 2]`` server outage intervals ``[start, end)`` in seconds.
    """

    ttl_s: Float[Array, ""]
    renew_fraction: Float[Array, ""]
    renew_jitter: Float[Array, ""]
    issuance_median_s: Float[Array, ""]
    issuance_sigma: Float[Array, ""]
    issuance_timeout_s: Float[Array, ""]
    retry_interval_s: Float[Array, ""]
    failure_prob: Float[Array, ""]
    ca_not_after_s: Float[Array, ""]
    outages: Float[Array, "outages 2"]


def _positive(name: str, value: Any, *, allow_inf: bool = False) -> float:
    return check_real(name, value, low=0.0, low_open=True, allow_inf=allow_inf)


def params(
    *,
    ttl_s: float = 3600.0,
    renew_fraction: float = 0.5,
    renew_jitter: float = 0.1,
    issuance_median_s: float = 0.05,
    issuance_p90_s: float = 0.2,
    issuance_timeout_s: float = 10.0,
    retry_interval_s: float = 10.0,
    failure_prob: float = 0.0,
    ca_not_after_s: float = math.inf,
    outages: Any = (),
) -> SvidParams:
    """Builds and validates :class:`SvidParams` (times in seconds).

    The issuance latency is lognormal with the given median and p90
    (``sigma = ln(p90/median)/1.2816``; ``p90 == median`` gives a constant latency).

    Args:
        ttl_s: requested SVID TTL (> 0).
        renew_fraction: renew at this fraction of the issued lifetime, in (0, 1).
        renew_jitter: relative jitter of the renewal instant, in [0, 1), with
            ``renew_fraction * (1 + renew_jitter) < 1``.
        issuance_median_s, issuance_p90_s: issuance latency median and p90 (p90 >= median).
        issuance_timeout_s: client timeout (> 0); slower issuances fail.
        retry_interval_s: delay before retrying a failed issuance (> 0, +-10 % jitter).
        failure_prob: transient failure probability per issuance, in [0, 1).
        ca_not_after_s: CA expiry, absolute seconds (> 0, may be ``inf``).
        outages: sequence of ``(start_s, end_s)`` with ``start < end``; empty for none.

    Raises:
        TypeError / ValueError naming the parameter, its value and what is allowed.
    """
    ttl = _positive("ttl_s", ttl_s)
    check_real("renew_fraction", renew_fraction, 0.0, 1.0, low_open=True, high_open=True)
    check_real("renew_jitter", renew_jitter, 0.0, 1.0, high_open=True)
    if renew_fraction * (1 + renew_jitter) >= 1:
        raise ValueError(
            f"renew_jitter must keep renew_fraction*(1+renew_jitter) < 1, got "
            f"renew_fraction={renew_fraction!r}, renew_jitter={renew_jitter!r}"
        )
    med = _positive("issuance_median_s", issuance_median_s)
    p90 = _positive("issuance_p90_s", issuance_p90_s)
    if p90 < med:
        raise ValueError(f"issuance_p90_s={p90} must be >= issuance_median_s={med}")
    _positive("issuance_timeout_s", issuance_timeout_s)
    _positive("retry_interval_s", retry_interval_s)
    check_real("failure_prob", failure_prob, 0.0, 1.0, high_open=True)
    _positive("ca_not_after_s", ca_not_after_s, allow_inf=True)
    out = np.asarray(outages, dtype=np.float64).reshape(-1, 2) if len(outages) else None
    if out is None:
        out = np.array([[np.inf, np.inf]])
    elif not np.all(out[:, 0] < out[:, 1]) or np.isnan(out).any():
        raise ValueError(
            f"outages must be (start_s, end_s) pairs with start < end, got {outages!r}"
        )
    f = lambda x: jnp.asarray(x, jnp.float32)
    return SvidParams(
        ttl_s=f(ttl),
        renew_fraction=f(renew_fraction),
        renew_jitter=f(renew_jitter),
        issuance_median_s=f(med),
        issuance_sigma=f(math.log(p90 / med) / _Z90),
        issuance_timeout_s=f(issuance_timeout_s),
        retry_interval_s=f(retry_interval_s),
        failure_prob=f(failure_prob),
        ca_not_after_s=f(ca_not_after_s),
        outages=f(out),
    )


class SvidState(NamedTuple):
    """Per-node SVID state (times in absolute seconds; ``inf``/``-inf`` for none).

    A node holds its current SVID ``[valid_from, expires_at)`` and, just after a
    rotation, the previous one until ``prev_expires_at``. ``expiry_settled`` says whether
    the current SVID's expiry was already accounted for (a loss counted), so every expiry
    is settled exactly once: by an on-time rotation or as an identity loss. ``step`` counts
    the steps taken (the current time is ``step * config.dt_s``); the counters and
    ``max_frac_without_identity`` (over step ends) accumulate over the run.
    """

    valid_from: Float[Array, " nodes"]
    expires_at: Float[Array, " nodes"]
    prev_expires_at: Float[Array, " nodes"]
    lifetime: Float[Array, " nodes"]
    next_attempt_at: Float[Array, " nodes"]
    renewing: Bool[Array, " nodes"]
    expiry_settled: Bool[Array, " nodes"]
    first_loss_at: Float[Array, " nodes"]
    n_losses: Int[Array, " nodes"]
    attempts: Int[Array, ""]
    successes: Int[Array, ""]
    rotations_on_time: Int[Array, ""]
    first_outage_loss_at: Float[Array, ""]
    latency_hist: Int[Array, " bins"]
    step: Int[Array, ""]
    max_frac_without_identity: Float[Array, ""]


class SvidStepInfo(NamedTuple):
    """Per-node diagnostics of one step (not carried forward).

    ``renewal_fraction`` is ``(t_request - valid_from) / lifetime`` for scheduled renewals
    (NaN elsewhere); ``loss_at`` the exact identity-loss instant (``inf`` if none);
    ``answered`` the requests the server answered (up, no transient failure) and
    ``latency_s`` the drawn issuance latency (meaningful where answered).
    """

    attempted: Bool[Array, " nodes"]
    succeeded: Bool[Array, " nodes"]
    attempt_at: Float[Array, " nodes"]
    renewal_fraction: Float[Array, " nodes"]
    has_identity: Bool[Array, " nodes"]
    lost: Bool[Array, " nodes"]
    loss_at: Float[Array, " nodes"]
    answered: Bool[Array, " nodes"]
    latency_s: Float[Array, " nodes"]


class SvidTrace(NamedTuple):
    """Per-step series of a :func:`rollout` (one value per step, sampled at step ends).

    Attributes:
        t_s: step end times, seconds.
        frac_without_identity: fraction of nodes without a valid SVID.
        attempts, successes, losses: issuance attempts, successes and identity losses.
        answered: issuance requests the server answered (it was up and no transient
            failure occurred), whether or not the client had timed out by then.
        fast: ``int32[steps, M]`` answered requests with latency at or under each of
            ``config.sli_thresholds_s`` (``M = 0`` by default).
    """

    t_s: Float[Array, " steps"]
    frac_without_identity: Float[Array, " steps"]
    attempts: Int[Array, " steps"]
    successes: Int[Array, " steps"]
    losses: Int[Array, " steps"]
    answered: Int[Array, " steps"]
    fast: Int[Array, "steps thresholds"]


_LAT_LO, _LAT_HI = -4.0, 3.0  # log10 seconds of the histogram range


def _check_config(config: SvidConfig) -> None:
    if not isinstance(config, SvidConfig):
        raise TypeError(f"config must be an SvidConfig, got {type(config).__name__}")
    for name in ("n_nodes", "n_steps", "n_latency_bins"):
        check_int(f"config.{name}", getattr(config, name), low=1)
    _positive("config.dt_s", config.dt_s)
    if not isinstance(config.sli_thresholds_s, tuple):
        raise TypeError(
            f"config.sli_thresholds_s must be a tuple of seconds, got {config.sli_thresholds_s!r}"
        )
    for i, t in enumerate(config.sli_thresholds_s):
        _positive(f"config.sli_thresholds_s[{i}]", t)


def check_params(params: SvidParams, config: SvidConfig) -> None:
    """Checks a params pytree against a config (concrete values only; traced ones pass).

    Raises:
        TypeError: not an :class:`SvidParams`.
        ValueError: bad outage shape, or a retry interval that allows two requests per step.
    """
    if not isinstance(params, SvidParams):
        raise TypeError(
            f"params must be an SvidParams (see svid.params), got {type(params).__name__}"
        )
    if jnp.ndim(params.outages) != 2 or jnp.shape(params.outages)[1] != 2:
        raise ValueError(f"params.outages must have shape (M, 2), got {jnp.shape(params.outages)}")
    if not isinstance(params.retry_interval_s, jax.core.Tracer):
        retry = float(np.min(np.asarray(params.retry_interval_s, np.float64))) * 0.9
        if retry < config.dt_s:
            raise ValueError(
                f"retry_interval_s*0.9={retry} must be >= config.dt_s={config.dt_s} "
                "(at most one request per node per step)"
            )


def build(config: SvidConfig) -> Kernel:
    """Validates ``config`` once and returns the SVID lifecycle :class:`~meshlab.core.Kernel`.

    The kernel has no fixed data (``data=None``); ``kernel.init(key, params)`` gives the
    initial :class:`SvidState`, ``kernel.step(key, state, params)`` advances every node by
    one step of ``config.dt_s`` seconds and returns ``(state, SvidStepInfo)``.
    """
    _check_config(config)
    return Kernel(config, None, _init, _step)


def _init(key: jax.Array, data: None, config: SvidConfig, params: SvidParams) -> SvidState:
    """Initial state: spread-out SVID ages (warm start) or no SVIDs (cold start)."""
    check_params(params, config)
    n = config.n_nodes
    k_age, k_r = jax.random.split(key)
    r = params.renew_fraction * (
        1 + params.renew_jitter * jax.random.uniform(k_r, (n,), minval=-1.0, maxval=1.0)
    )
    inf = jnp.full((n,), jnp.inf, jnp.float32)
    if config.warm_start:
        valid_from = -jax.random.uniform(k_age, (n,)) * r * params.ttl_s
        expires = jnp.minimum(valid_from + params.ttl_s, params.ca_not_after_s)
        lifetime = expires - valid_from
        next_at = valid_from + r * lifetime
    else:
        valid_from, expires = inf, -inf
        next_at = jnp.zeros((n,), jnp.float32)
        lifetime = jnp.ones((n,), jnp.float32)
    return SvidState(
        valid_from=valid_from.astype(jnp.float32),
        expires_at=expires.astype(jnp.float32),
        prev_expires_at=-inf,
        lifetime=lifetime.astype(jnp.float32),
        next_attempt_at=next_at.astype(jnp.float32),
        renewing=jnp.full((n,), config.warm_start),
        expiry_settled=jnp.full((n,), not config.warm_start),
        first_loss_at=inf,
        n_losses=jnp.zeros((n,), jnp.int32),
        attempts=jnp.int32(0),
        successes=jnp.int32(0),
        rotations_on_time=jnp.int32(0),
        first_outage_loss_at=jnp.float32(jnp.inf),
        latency_hist=jnp.zeros((config.n_latency_bins,), jnp.int32),
        step=jnp.int32(0),
        max_frac_without_identity=jnp.float32(0.0),
    )


def has_identity(state: SvidState, t: Float[Array, ""]) -> Bool[Array, " nodes"]:
    """Whether each node holds a valid SVID at time ``t`` (``ChaosInput.beacon_valid``)."""
    return (t < state.prev_expires_at) | ((state.valid_from <= t) & (t < state.expires_at))


def _step(
    key: jax.Array,
    state: SvidState,
    data: None,
    config: SvidConfig,
    params: SvidParams,
    inputs: None = None,
) -> tuple[SvidState, SvidStepInfo]:
    """Advances every node over ``(t0, t0 + dt_s]`` with ``t0 = state.step * dt_s``.

    A node whose next request falls in the step sends it at that exact instant; it
    succeeds if the server is up then, no transient failure occurs, the drawn latency is
    within the timeout and the CA still has lifetime left. Success installs an SVID valid
    from ``request + latency`` for ``min(ttl, CA not-after - start)`` and schedules the
    next renewal at ``renew_fraction * (1 +- renew_jitter)`` of that lifetime; failure
    schedules a retry. An SVID that expires before its successor is valid is an identity
    loss at exactly its expiry time.
    """
    n = config.n_nodes
    t0 = state.step.astype(jnp.float32) * config.dt_s
    t1 = t0 + config.dt_s
    k_lat, k_fail, k_r, k_retry = jax.random.split(key, 4)
    t_req = state.next_attempt_at
    due = t_req <= t1
    out = params.outages
    down = jnp.any((t_req[:, None] >= out[None, :, 0]) & (t_req[:, None] < out[None, :, 1]), axis=1)
    lat = params.issuance_median_s * jnp.exp(params.issuance_sigma * jax.random.normal(k_lat, (n,)))
    transient = jax.random.uniform(k_fail, (n,)) < params.failure_prob
    timed_out = lat > params.issuance_timeout_s
    vf_new = t_req + lat
    life_new = jnp.minimum(params.ttl_s, params.ca_not_after_s - vf_new)
    success = due & ~down & ~transient & ~timed_out & (life_new > 0)
    fail = due & ~success

    # Each SVID's expiry is settled once: by a successor valid no later than it (on-time
    # rotation), or as an identity loss when it passes (or its successor starts after it).
    old_exp = state.expires_at
    open_ = ~state.expiry_settled
    lost = open_ & jnp.where(success, vf_new > old_exp, old_exp <= t1)
    loss_at = jnp.where(lost, old_exp, jnp.inf)
    on_time = success & open_ & (vf_new <= old_exp)
    settled = jnp.where(success, False, state.expiry_settled | lost)

    r = params.renew_fraction * (
        1 + params.renew_jitter * jax.random.uniform(k_r, (n,), minval=-1.0, maxval=1.0)
    )
    retry = params.retry_interval_s * (
        1 + 0.1 * jax.random.uniform(k_retry, (n,), minval=-1.0, maxval=1.0)
    )
    retry = retry + jnp.where(timed_out, params.issuance_timeout_s, 0.0)
    renewal_fraction = jnp.where(
        due & state.renewing, (t_req - state.valid_from) / state.lifetime, jnp.nan
    )

    b = config.n_latency_bins
    idx = jnp.floor((jnp.log10(lat) - _LAT_LO) / (_LAT_HI - _LAT_LO) * b).astype(jnp.int32)
    hist = state.latency_hist.at[jnp.clip(idx, 0, b - 1)].add(success.astype(jnp.int32))
    outage_start = jnp.min(out[:, 0])
    outage_losses = jnp.where(lost & (loss_at >= outage_start), loss_at, jnp.inf)

    new = SvidState(
        valid_from=jnp.where(success, vf_new, state.valid_from),
        expires_at=jnp.where(success, vf_new + life_new, old_exp),
        prev_expires_at=jnp.where(success, old_exp, state.prev_expires_at),
        lifetime=jnp.where(success, life_new, state.lifetime),
        next_attempt_at=jnp.where(
            success, vf_new + r * life_new, jnp.where(fail, t_req + retry, t_req)
        ),
        renewing=jnp.where(due, success, state.renewing),
        expiry_settled=settled,
        first_loss_at=jnp.minimum(state.first_loss_at, loss_at),
        n_losses=state.n_losses + lost.astype(jnp.int32),
        attempts=state.attempts + jnp.sum(due, dtype=jnp.int32),
        successes=state.successes + jnp.sum(success, dtype=jnp.int32),
        rotations_on_time=state.rotations_on_time + jnp.sum(on_time, dtype=jnp.int32),
        first_outage_loss_at=jnp.minimum(state.first_outage_loss_at, jnp.min(outage_losses)),
        latency_hist=hist,
        step=state.step + 1,
        max_frac_without_identity=state.max_frac_without_identity,
    )
    holds = has_identity(new, t1)
    frac_without = jnp.mean((~holds).astype(jnp.float32))
    new = new._replace(
        max_frac_without_identity=jnp.maximum(state.max_frac_without_identity, frac_without)
    )
    info = SvidStepInfo(
        attempted=due,
        succeeded=success,
        attempt_at=jnp.where(due, t_req, jnp.nan),
        renewal_fraction=renewal_fraction,
        has_identity=holds,
        lost=lost,
        loss_at=loss_at,
        answered=due & ~down & ~transient,
        latency_s=lat,
    )
    return new, info


def _scan(kernel: Kernel, key: jax.Array, params: SvidParams, n_steps: int, state):
    """Traceable body of :func:`rollout`: step ``i`` draws from ``fold_in(k_run, i)``."""
    k_init, k_run = jax.random.split(key)
    if state is None:
        state = kernel.init_fn(k_init, kernel.data, kernel.config, params)

    def body(state, _):
        k = jax.random.fold_in(k_run, state.step)
        t1 = (state.step.astype(jnp.float32) * kernel.config.dt_s) + kernel.config.dt_s
        state, info = kernel.step_fn(k, state, kernel.data, kernel.config, params, None)
        ys = (
            t1,
            jnp.mean((~info.has_identity).astype(jnp.float32)),
            jnp.sum(info.attempted, dtype=jnp.int32),
            jnp.sum(info.succeeded, dtype=jnp.int32),
            jnp.sum(info.lost, dtype=jnp.int32),
            jnp.sum(info.answered, dtype=jnp.int32),
            jnp.stack(
                [
                    jnp.sum(info.answered & (info.latency_s <= t), dtype=jnp.int32)
                    for t in kernel.config.sli_thresholds_s
                ]
            )
            if kernel.config.sli_thresholds_s
            else jnp.zeros((0,), jnp.int32),
        )
        return state, ys

    final, ys = jax.lax.scan(body, state, None, length=n_steps)
    return final, SvidTrace(*ys)


@partial(jax.jit, static_argnums=(0, 1, 2, 4))
def _rollout_jit(init_fn, step_fn, config, key, n_steps, params, state):
    return _scan(Kernel(config, None, init_fn, step_fn), key, params, n_steps, state)


def rollout(
    kernel: Kernel,
    key: jax.Array,
    params: SvidParams,
    n_steps: int,
    *,
    state: SvidState | None = None,
    inputs: None = None,
) -> tuple[SvidState, SvidTrace]:
    """Runs ``n_steps`` steps of the SVID lifecycle under ``lax.scan`` (jitted).

    The key is split into an init key and a run key; step ``i`` (counted from the start
    of the run, ``state.step``) uses ``jax.random.fold_in(run_key, i)``, so a run
    continued from its final state draws what one longer run would.

    Args:
        kernel: from :func:`build`.
        key: typed PRNG key (``jax.random.key``).
        params: from :func:`params` (vmap over a stacked params pytree for sweeps; one
            compilation per config and ``n_steps``).
        n_steps: steps to run (int >= 1; the run covers ``n_steps * config.dt_s`` s).
        state: continue from this state; default: a fresh ``kernel.init`` state.
        inputs: unused (the SVID model takes no per-step inputs); must be ``None``.

    Returns:
        ``(final_state, trace)``: the final :class:`SvidState` (counters, issuance-latency
        histogram, per-node first loss times) and the per-step :class:`SvidTrace`.
    """
    check_key(key)
    n_steps = check_int("n_steps", n_steps, low=1)
    if inputs is not None:
        raise ValueError(f"inputs must be None for the SVID model, got {type(inputs).__name__}")
    check_params(params, kernel.config)
    return _rollout_jit(kernel.init_fn, kernel.step_fn, kernel.config, key, n_steps, params, state)


def _hist_quantiles(hist: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    total = hist.sum()
    if total == 0:
        return [math.nan] * len(qs)
    b = hist.size
    edges = 10.0 ** (_LAT_LO + (_LAT_HI - _LAT_LO) * np.arange(b + 1) / b)
    cum = np.cumsum(hist) / total
    out = []
    for q in qs:
        i = int(np.searchsorted(cum, q))
        out.append(float(math.sqrt(edges[i] * edges[i + 1])))  # geometric bin centre
    return out


def summarize(state: SvidState, config: SvidConfig, params: SvidParams) -> dict:
    """Scalar outcomes of one run from its final state (host-side).

    Args:
        state: the final state of a :func:`rollout`.
        config: the run's config (unused today; part of the common signature).
        params: the run's params (the outage start is read from it).

    Returns:
        A dict: ``rotation_success_rate`` (renewals completed before the old SVID
        expired / (those + identity losses)), ``attempt_success_rate``,
        ``issuance_latency_p50_s``/``p90``/``p99`` (from the histogram: geometric bin
        centres, bins 3.2 % wide at 512 bins), ``time_to_first_loss_s`` (from the first
        outage's start to the first identity loss at or after it; ``inf`` if none),
        ``identity_losses``, ``max_frac_without_identity`` (over step ends) and
        ``attempts``.
    """
    f = state
    losses = int(np.asarray(f.n_losses).sum())
    on_time = int(f.rotations_on_time)
    attempts = int(f.attempts)
    p50, p90, p99 = _hist_quantiles(np.asarray(f.latency_hist), (0.5, 0.9, 0.99))
    start = float(np.min(np.asarray(params.outages)[:, 0]))
    first = float(f.first_outage_loss_at)
    return {
        "rotation_success_rate": on_time / (on_time + losses) if on_time + losses else math.nan,
        "attempt_success_rate": int(f.successes) / attempts if attempts else math.nan,
        "issuance_latency_p50_s": p50,
        "issuance_latency_p90_s": p90,
        "issuance_latency_p99_s": p99,
        "time_to_first_loss_s": first - start if math.isfinite(first) else math.inf,
        "identity_losses": losses,
        "max_frac_without_identity": float(f.max_frac_without_identity),
        "attempts": attempts,
    }
