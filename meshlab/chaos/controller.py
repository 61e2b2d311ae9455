# ruff: noqa: F722  (jaxtyping shape strings)
"""A chaos run: the beacon model under a compiled scenario with a MAPE-K controller in the scan.

Kernel convention (:mod:`meshlab.core.kernel`)::

    kernel = controller.build(controller.ChaosConfig(n_rounds=200), topology)
    params = controller.params(compiled_scenario, policy=controller.policy(enabled=True))
    state, infos = meshlab.core.rollout(kernel, key, params, n_steps=200)

Each round ``r``:

1. the scenario's fault slots are evaluated into the round's ``ChaosInput`` by
   :func:`meshlab.mesh.faults.step` (every kind, with its own key stream and the fault
   state carried in ``state.beacon.faults``: burst-loss chains, uplink backlogs, churn
   and cascade processes) and its link-cut windows applied;
2. **Execute** (from the previous round's knowledge): the links from and to every node
   the controller convicted are cut (isolation; the healthy neighbours keep their other
   links, so traffic flows over healthy neighbours only);
   **shed load**: a node whose uplink backlog (bandwidth faults) exceeds
   ``policy.shed_backlog_s`` skips its beacon this round; the copies are not queued, so
   its backlog drains by one interval (fewer beacons delivered, lower latency for the
   ones sent); under a cascade, a node refuses the load that would take it past
   ``policy.shed_load`` (admission control: its cascade load is capped there, so with a
   cap below the cascade's crash threshold overload no longer crashes it and the cascade
   stops spreading through it; it keeps beaconing, heartbeats being the work it keeps,
   and the refused load is counted in ``ChaosInfo.load_refused``);
3. the beacon step runs with that input and a timeout failure detector
   (:mod:`meshlab.membership.detectors`) on the accepted beacons;
4. **Monitor**: per sender, the receivers' detector suspicions (how many of its up
   monitors suspect it) and verify failures. A receiver observes a verify failure from a
   sender when the sender is up and the link between them is open and the sender is
   marked invalid, or its beacon of the round is a replay, or the link's beacon fails
   verification this round (the per-link draw of the fault step: the rejection the
   receiver's verifier reports; channel loss of that beacon is ignored). The round's
   totals of the beacon step's own counters (``rejected``, ``replayed``,
   ``verify_failed``, ``handshake_failed``) are reported in :class:`ChaosInfo`;
5. **Analyze**: a sender is *declared down* when at least ``quorum`` of its up monitors
   suspect it (the membership view); it is *convicted* after ``convict_after``
   consecutive rounds with verify failures (the policy), when the controller is enabled;
   **Plan**: ``readmit_after`` rounds after a conviction the controller re-keys the node
   (a fresh identity after a crypto fault) and readmits it on probation: if its beacons
   still fail, it is convicted again ``convict_after`` rounds later;
6. **Knowledge**: evidence counters and convictions are carried in the state.

The ``none`` controller is the same kernel with ``policy.enabled = 0``: nobody is
convicted or isolated (suspicions and the membership view still run), so a report puts
both side by side from one compilation.

The service (defined once, used by every measure): in round ``r`` the *expected* beacons
are the real links whose receiver is up and not isolated and whose sender is neither
declared down nor isolated; the *delivery* is the share of expected links that accepted a
beacon this round; the round is **within objective** when delivery >=
``policy.delivery_objective`` and the round's p99 latency (upper bin edge of the
streaming histogram) <= ``policy.p99_objective_s``. A crashed node therefore degrades the
service until the membership view drops it; an invalid node until it is convicted and
isolated (never with the ``none`` controller) or its fault ends.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, UInt32

from meshlab.chaos.compile import Compiled
from meshlab.core.kernel import Kernel
from meshlab.core.validation import check_int, check_real
from meshlab.membership import detectors
from meshlab.mesh import beacons, histogram
from meshlab.mesh import faults as mf
from meshlab.mesh.topology import Topology

__all__ = [
    "ChaosConfig",
    "ChaosData",
    "ChaosInfo",
    "ChaosParams",
    "ChaosState",
    "PolicyParams",
    "build",
    "params",
    "policy",
]

NEVER = mf.NEVER
_FAULT_STREAM = 0x43484153  # fold_in tag of the scenario's fault draws ("CHAS")


@dataclasses.dataclass(frozen=True)
class ChaosConfig:
    """Static configuration (hashable; a ``jit`` static argument).

    Attributes:
        n_rounds: rounds of the run (fixes the time buckets).
        n_buckets: time buckets of the SLI counts and latency histograms.
        beacon: the beacon model's config (its detector is replaced by a timeout detector).
    """

    n_rounds: int = 200
    n_buckets: int = 20
    beacon: beacons.BeaconConfig = beacons.BeaconConfig()


class PolicyParams(NamedTuple):
    """The controller's policy and the service objective (float32/int32 arrays).

    Attributes:
        enabled: 1.0: the controller convicts and isolates; 0.0: the ``none`` baseline.
        convict_after: consecutive rounds with verify failures before conviction (>= 1).
        readmit_after: rounds after conviction at which the controller re-keys the node
            and readmits it on probation (evidence reset; 0: never readmit).
        quorum: share of a sender's up monitors that must suspect it to declare it down.
        timeout_s: the failure detector's timeout (seconds, > 0).
        delivery_objective: minimum per-round delivery within objective, in (0, 1].
        p99_objective_s: maximum per-round p99 latency within objective (s, > 0).
        shed_backlog_s: load shedding: a node whose uplink backlog exceeds this many
            seconds at the round's start skips its beacon that round (``inf``: never).
        shed_load: load shedding under a cascade: a node refuses the load that would take
            it past this level (normal load 1; ``inf``: never).
    """

    enabled: Float[Array, ""]
    convict_after: Int[Array, ""]
    readmit_after: Int[Array, ""]
    quorum: Float[Array, ""]
    timeout_s: Float[Array, ""]
    delivery_objective: Float[Array, ""]
    p99_objective_s: Float[Array, ""]
    shed_backlog_s: Float[Array, ""]
    shed_load: Float[Array, ""]


def policy(
    enabled: bool = True,
    convict_after: int = 3,
    readmit_after: int = 30,
    quorum: float = 0.5,
    timeout_s: float = 2.5,
    delivery_objective: float = 0.95,
    p99_objective_s: float = 0.2,
    shed_backlog_s: float = float("inf"),
    shed_load: float = float("inf"),
    *,
    where: str = "policy",
) -> PolicyParams:
    """Validated :class:`PolicyParams` (errors name ``where.<field>``)."""
    ca = check_int(f"{where}.convict_after", convict_after, low=1)
    ra = check_int(f"{where}.readmit_after", readmit_after, low=0)
    q = check_real(f"{where}.quorum", quorum, 0.0, 1.0, low_open=True)
    t = check_real(f"{where}.timeout_s", timeout_s, 0.0, low_open=True)
    d = check_real(f"{where}.delivery_objective", delivery_objective, 0.0, 1.0, low_open=True)
    p = check_real(f"{where}.p99_objective_s", p99_objective_s, 0.0, low_open=True)
    sb = check_real(f"{where}.shed_backlog_s", shed_backlog_s, 0.0, low_open=True, allow_inf=True)
    sl = check_real(f"{where}.shed_load", shed_load, 1.0, low_open=True, allow_inf=True)
    return PolicyParams(
        jnp.float32(1.0 if enabled else 0.0),
        jnp.int32(ca),
        jnp.int32(ra),
        jnp.float32(q),
        jnp.float32(t),
        jnp.float32(d),
        jnp.float32(p),
        jnp.float32(sb),
        jnp.float32(sl),
    )


class ChaosParams(NamedTuple):
    """Everything that varies between runs (a params pytree; batches ``vmap``).

    Attributes:
        beacon: beacon params (``faults`` None: the scenario's slots are applied by the
            controller's step, which carries their state in ``state.beacon.faults``;
            ``detector`` the timeout params).
        scenario: the compiled scenario.
        policy: the controller's policy and the objective.
    """

    beacon: beacons.BeaconParams
    scenario: Compiled
    policy: PolicyParams


def params(
    scenario: Compiled, policy: PolicyParams | None = None, beacon: Any = None
) -> ChaosParams:
    """:class:`ChaosParams` from a compiled scenario, a policy and beacon params."""
    pol = globals()["policy"]() if policy is None else policy
    b = beacons.params() if beacon is None else beacon
    b = b._replace(faults=None, detector=detectors.timeout_params(pol.timeout_s))
    return ChaosParams(b, scenario, pol)


class ChaosData(NamedTuple):
    """Fixed data: the beacon mesh, the histogram's bin edges (f32[B + 1]) and the
    reverse link table ``out_links int32[N, D]``: the flat indices ``i * K + k`` of the
    links node ``j`` sends on (padding: ``N * K``, a zero slot), so per-sender sums are
    gathers (fast under ``vmap``) rather than scatters."""

    mesh: beacons.MeshData
    edges: Float[Array, " edges"]
    out_links: Int[Array, "nodes out_degree"]


class ChaosState(NamedTuple):
    """Beacon state + the controller's knowledge + streaming measures (flat in rounds).

    Attributes:
        beacon: the beacon model's state (with the detector's).
        evidence: ``int32[N]`` consecutive rounds each sender showed verify failures.
        convicted: ``bool[N]`` convicted (isolated while the controller is enabled).
        convict_round: ``int32[N]`` round of conviction (:data:`NEVER` if none).
        first_detect: ``int32[N]`` first round >= the primary fault's start in which some
            up monitor suspected the node or it was convicted (:data:`NEVER` if none).
        all_detect: ``int32[N]`` same, with every up monitor suspecting it.
        last_bad: ``int32`` last round out of objective (-1 if none).
        bad_rounds: ``int32`` rounds out of objective.
        bucket_hist: ``uint32[Bk, H + 2]`` accepted-latency histogram per time bucket.
        bucket_good: ``int32[Bk]`` expected beacons accepted, per bucket.
        bucket_total: ``int32[Bk]`` expected beacons, per bucket.
        recv_good, recv_expected: ``int32[N]`` per receiver, from the primary fault's start.
        ever_isolated: ``bool[N]`` nodes the controller ever isolated.
    """

    beacon: beacons.BeaconState
    evidence: Int[Array, " nodes"]
    convicted: Bool[Array, " nodes"]
    convict_round: Int[Array, " nodes"]
    first_detect: Int[Array, " nodes"]
    all_detect: Int[Array, " nodes"]
    last_bad: Int[Array, ""]
    bad_rounds: Int[Array, ""]
    bucket_hist: UInt32[Array, "buckets bins"]
    bucket_good: Int[Array, " buckets"]
    bucket_total: Int[Array, " buckets"]
    recv_good: Int[Array, " nodes"]
    recv_expected: Int[Array, " nodes"]
    ever_isolated: Bool[Array, " nodes"]


class ChaosInfo(NamedTuple):
    """Per-round scalars (stacked by the scan: O(rounds) scalars).

    Attributes:
        delivery: accepted / expected beacons (the service's delivery).
        p50_s, p99_s: the round's latency quantiles (upper bin edges; nan if none).
        ok: the round is within objective.
        expected: expected beacons.
        accepted: accepted beacons (all links).
        rejected: beacons rejected by verification.
        replayed, verify_failed: of them, replays / verification-failure faults.
        handshake_failed: beacons dropped by a failed KEM handshake.
        suspected, false_suspected: suspected links / of them live (beacon model's count).
        isolated: nodes isolated this round.
        nodes_up: nodes up.
        shed: nodes that shed load this round (skipped their beacon over the backlog
            threshold, or refused cascade load).
        load_refused: cascade load refused this round, summed over nodes (load units:
            1 = one node's normal load for one round).
        fast: ``int32[M]`` accepted beacons at or under each of the beacon config's
            ``sli_thresholds_s`` (``M = 0`` by default); sli_accepted: their denominator.
    """

    delivery: Float[Array, ""]
    p50_s: Float[Array, ""]
    p99_s: Float[Array, ""]
    ok: Bool[Array, ""]
    expected: Int[Array, ""]
    accepted: Int[Array, ""]
    rejected: Int[Array, ""]
    replayed: Int[Array, ""]
    verify_failed: Int[Array, ""]
    handshake_failed: Int[Array, ""]
    suspected: Int[Array, ""]
    false_suspected: Int[Array, ""]
    isolated: Int[Array, ""]
    nodes_up: Int[Array, ""]
    shed: Int[Array, ""]
    load_refused: Float[Array, ""]
    fast: Int[Array, " thresholds"]
    sli_accepted: Int[Array, ""]


def build(config: ChaosConfig, topology: Topology) -> Kernel:
    """Validates ``config`` and the topology once and returns the chaos :class:`Kernel`.

    Raises:
        TypeError / ValueError: bad config or topology (named).
    """
    if not isinstance(config, ChaosConfig):
        raise TypeError(f"config must be a ChaosConfig, got {type(config).__name__}")
    check_int("config.n_rounds", config.n_rounds, low=1)
    check_int("config.n_buckets", config.n_buckets, low=1, high=config.n_rounds)
    bcfg = dataclasses.replace(config.beacon, detector=detectors.Timeout())
    config = dataclasses.replace(config, beacon=bcfg)
    mesh = beacons.build(bcfg, topology).data
    edges = jnp.asarray(histogram.edges(bcfg), jnp.float32)
    return Kernel(config, ChaosData(mesh, edges, _out_links(topology)), _init_fn, _step_fn)


def _out_links(topology: Topology) -> Int[Array, "nodes out_degree"]:
    nb = np.asarray(topology.neighbors).ravel()
    real = np.asarray(topology.mask).ravel()
    n, k = np.shape(topology.neighbors)
    flat = np.flatnonzero(real)
    senders = nb[flat]
    order = np.argsort(senders, kind="stable")
    flat, senders = flat[order], senders[order]
    counts = np.bincount(senders, minlength=n)
    width = max(int(counts.max()) if counts.size else 1, 1)
    out = np.full((n, width), n * k, np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    col = np.arange(flat.size) - np.repeat(starts, counts)
    out[senders, col] = flat
    return jnp.asarray(out, jnp.int32)


def _init_fn(key, data: ChaosData, config: ChaosConfig, params: ChaosParams) -> ChaosState:
    b = beacons.init_fn(key, data.mesh, config.beacon, params.beacon)
    k_f = jax.random.fold_in(key, _FAULT_STREAM)
    b = b._replace(faults=mf.init(k_f, data.mesh.neighbors, data.mesh.mask, config.beacon.rng))
    n = data.mesh.neighbors.shape[0]
    h = config.beacon.hist_bins + 2
    nb_ = config.n_buckets
    never = jnp.full((n,), NEVER, jnp.int32)
    zi = jnp.zeros((n,), jnp.int32)
    return ChaosState(
        beacon=b,
        evidence=zi,
        convicted=jnp.zeros((n,), bool),
        convict_round=never,
        first_detect=never,
        all_detect=never,
        last_bad=jnp.int32(-1),
        bad_rounds=jnp.int32(0),
        bucket_hist=jnp.zeros((nb_, h), jnp.uint32),
        bucket_good=jnp.zeros((nb_,), jnp.int32),
        bucket_total=jnp.zeros((nb_,), jnp.int32),
        recv_good=zi,
        recv_expected=zi,
        ever_isolated=jnp.zeros((n,), bool),
    )


def _quantile(counts, q, edges, lo, hi):
    """Upper bin edge of the ``q`` quantile of ``counts[H + 2]`` (nan if empty)."""
    cdf = jnp.cumsum(counts.astype(jnp.float32))
    total = cdf[-1]
    idx = jnp.searchsorted(cdf, jnp.maximum(q * total, 1.0), side="left")
    bins = counts.shape[0] - 2
    val = jnp.where(idx == 0, lo, jnp.where(idx > bins, hi, edges[jnp.clip(idx, 0, bins)]))
    return jnp.where(total > 0, val, jnp.nan)


def _per_sender(x, out_links):
    """Sums ``x[i, k]`` (int32) over the real links each node sends on: ``int32[N]``."""
    flat = jnp.concatenate([x.ravel().astype(jnp.int32), jnp.zeros((1,), jnp.int32)])
    return flat[out_links].sum(axis=1, dtype=jnp.int32)


def _step_fn(key, state: ChaosState, data: ChaosData, config: ChaosConfig, params, inputs):
    del inputs
    mesh = data.mesh
    nb, mask = mesh.neighbors, mesh.mask
    n, k = nb.shape
    sc, pol = params.scenario, params.policy
    r = state.beacon.round
    period = params.beacon.interval_s

    # plan the round's faults: slots + link cuts
    chaos, fstate = mf.step(
        jax.random.fold_in(key, _FAULT_STREAM),
        sc.faults,
        state.beacon.faults,
        r,
        nb,
        mask,
        beacons.neutral_chaos(n, k),
        interval_s=period,
        beacon_bytes=params.beacon.beacon_bytes,
        rng_method=config.beacon.rng,
        load_cap=jnp.where(pol.enabled > 0, pol.shed_load, jnp.inf),
    )
    on = (sc.cuts.start_round <= r) & (r < sc.cuts.end_round)
    cut = jnp.sum(on[:, None, None] & sc.cuts.mask, axis=0, dtype=jnp.int32) > 0
    # execute: isolate convicted nodes (both directions); shed load: a node whose uplink
    # backlog is over the policy's threshold skips this round's beacon (its copies are
    # not queued, so the backlog drains by one interval)
    iso = state.convicted & (pol.enabled > 0)
    backlog = state.beacon.faults.tx_backlog_s
    shed = (pol.enabled > 0) & (backlog > pol.shed_backlog_s) & chaos.node_up
    refused = fstate.cascade_refused
    fstate = fstate._replace(
        tx_backlog_s=jnp.where(shed, jnp.maximum(backlog - period, 0.0), fstate.tx_backlog_s)
    )
    link_up = chaos.link_up & ~cut & ~iso[nb] & ~iso[:, None] & ~shed[nb]
    chaos = chaos._replace(link_up=link_up)

    b_old = state.beacon
    b, binfo = beacons.step_fn(key, b_old, mesh, config.beacon, params.beacon, chaos)
    b = b._replace(faults=fstate)

    # monitor
    accepted = b.last_heard_s != b_old.last_heard_s
    t_now = (r + 1).astype(jnp.float32) * period
    det_p = params.beacon.detector
    recv_up = chaos.node_up[:, None] & mask
    t_local = t_now + chaos.clock_offset_s[:, None]  # each receiver's (skewed) clock
    suspect = config.beacon.detector.suspect(det_p, b.detector, t_local) & recv_up
    monitors = b.detector.monitored & recv_up
    n_susp = _per_sender(suspect, data.out_links)
    n_mon = _per_sender(monitors, data.out_links)
    sender_bad = chaos.node_up & (~chaos.beacon_valid | chaos.replay)
    saw_invalid = link_up & recv_up & chaos.node_up[nb] & (sender_bad[nb] | chaos.verify_fail)
    failures = _per_sender(saw_invalid, data.out_links) > 0

    # analyze
    declared_down = (n_susp > 0) & (
        n_susp.astype(jnp.float32) >= pol.quorum * n_mon.astype(jnp.float32)
    )
    readmit = (
        state.convicted & (pol.readmit_after > 0) & (r >= state.convict_round + pol.readmit_after)
    )
    evidence = jnp.where(failures & ~readmit, state.evidence + 1, 0)
    held = state.convicted & ~readmit
    newly = (pol.enabled > 0) & (evidence >= pol.convict_after) & ~held
    convicted = held | newly
    convict_round = jnp.where(newly, r, jnp.where(readmit, NEVER, state.convict_round))

    # measures: detection times of the primary fault
    after = r >= sc.primary_start
    detected = after & ((n_susp > 0) | convicted)
    all_det = after & (((n_susp == n_mon) & (n_mon > 0)) | convicted)
    first_detect = jnp.where(detected, jnp.minimum(state.first_detect, r), state.first_detect)
    all_detect = jnp.where(all_det, jnp.minimum(state.all_detect, r), state.all_detect)

    # measures: the service (see the module docstring)
    gone = declared_down | iso
    expected = mask & chaos.node_up[:, None] & ~iso[:, None] & ~gone[nb]
    good = accepted & expected
    n_exp = expected.sum(dtype=jnp.int32)
    n_good = good.sum(dtype=jnp.int32)
    delivery = n_good.astype(jnp.float32) / jnp.maximum(n_exp, 1).astype(jnp.float32)
    h_lo = (b.hist_lo - b_old.hist_lo).astype(jnp.uint32)
    bc = config.beacon
    p50 = _quantile(h_lo, 0.5, data.edges, bc.hist_min_s, bc.hist_max_s)
    p99 = _quantile(h_lo, 0.99, data.edges, bc.hist_min_s, bc.hist_max_s)
    ok = (delivery >= pol.delivery_objective) & ~(p99 > pol.p99_objective_s)
    bucket = (r * config.n_buckets) // config.n_rounds
    bucket = jnp.clip(bucket, 0, config.n_buckets - 1)
    recv_good = state.recv_good + jnp.where(after, good.sum(axis=1, dtype=jnp.int32), 0)
    recv_exp = state.recv_expected + jnp.where(after, expected.sum(axis=1, dtype=jnp.int32), 0)

    new = ChaosState(
        beacon=b,
        evidence=evidence,
        convicted=convicted,
        convict_round=convict_round,
        first_detect=first_detect,
        all_detect=all_detect,
        last_bad=jnp.where(ok, state.last_bad, r),
        bad_rounds=state.bad_rounds + (~ok).astype(jnp.int32),
        bucket_hist=state.bucket_hist.at[bucket].add(h_lo),
        bucket_good=state.bucket_good.at[bucket].add(n_good),
        bucket_total=state.bucket_total.at[bucket].add(n_exp),
        recv_good=recv_good,
        recv_expected=recv_exp,
        ever_isolated=state.ever_isolated | iso,
    )
    info = ChaosInfo(
        delivery=delivery,
        p50_s=p50,
        p99_s=p99,
        ok=ok,
        expected=n_exp,
        accepted=binfo.accepted,
        rejected=binfo.rejected,
        replayed=binfo.replayed,
        verify_failed=binfo.verify_failed,
        handshake_failed=binfo.handshake_failed,
        suspected=binfo.suspected,
        false_suspected=binfo.false_suspected,
        isolated=iso.sum(dtype=jnp.int32),
        nodes_up=binfo.nodes_up,
        shed=(shed | (refused > 0)).sum(dtype=jnp.int32),
        load_refused=refused.sum(),
        fast=binfo.fast,
        sli_accepted=binfo.sli_accepted,
    )
    return new, info


def check_fits(kernel: Kernel, chaos_params: ChaosParams) -> None:
    """Raises if the compiled scenario's node count differs from the kernel's mesh."""
    n = int(np.shape(kernel.data.mesh.neighbors)[0])
    m = int(np.shape(chaos_params.scenario.primary_nodes)[-1])
    if m != n:
        raise ValueError(f"scenario compiled for {m} nodes, the kernel's mesh has {n}")
