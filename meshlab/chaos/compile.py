"""Scenario -> fixed-capacity fault parameters (``mesh.faults.FaultParams`` + link cuts).

A compiled scenario is a pytree of arrays whose size depends on the slot capacity ``F``,
the link-cut capacity ``C`` and ``N`` only, never on the number of rounds; a batch of
scenarios padded to one ``(F, C)`` stacks along a leading axis and ``vmap`` s.

How each kind maps onto :mod:`meshlab.mesh.faults` slots (evaluated inside the beacon
step by ``faults.step``) and the link cuts:

* ``partition``: group layouts -> a partition slot; ``majorities_ring`` / ``bridge`` -> a
  link-cut window (exactly the links the layout removes).
* ``latency``: a latency slot (``extra_s``, ``jitter_s`` scale of the jitter ``X`` of law
  ``dist`` (normal, uniform, lognormal, pareto; ``shape`` its log-sd / index), drawn per
  message (``per_message: 1``, default) or once per link (``0``): netem ``delay``);
  ``loss`` (``p``), ``link_down``, ``slowdown`` (``factor``): one slot each.
* ``burst_loss``: a Gilbert–Elliott chain per selected link (netem ``loss gemodel``):
  ``p_enter`` good->bad, ``p_exit`` bad->good, ``loss_bad`` loss in the bad state.
* ``bandwidth``: the targets' uplinks capped at ``rate_bps / 8`` bytes/s (serialization
  and a backlog carried across rounds).
* ``flapping``: links up for the first ``period - down_rounds`` rounds of every
  ``period``, down for the rest.
* ``crash``: a crash slot (``restart_after``: back up after that many rounds;
  ``keep_state: 1`` keeps the link sessions, else they are dropped and re-handshaken).
* ``pause``: the targets are frozen (SIGSTOP): silent, arrivals queue and are served
  from the end of the window (the backlog).
* ``clock_skew``: the targets' clocks run ``extra_s`` ahead (+ ``drift_ppm``): their
  failure detectors read the skewed time.
* ``churn``: each target alternates Weibull(``weibull_shape``) up sessions of mean
  ``mean_session`` rounds and Weibull down periods of mean ``mean_down`` rounds (down =
  crashed; ``keep_state`` as for crash).
* ``cascade``: the targets crash at ``start``; every round an up node's load grows by
  ``growth`` per crashed neighbour (normal load 1; it slows the node down by that factor); at ``threshold`` (> 1)
  it crashes too, until the window ends.
* ``invalid`` / ``ca_compromise``: the targets' beacons fail verification.
* ``replay`` / ``equivocate``: each target beacon is a replay w.p. ``p`` (default 1):
  verified, then rejected (counted as replayed).
* ``byzantine_growth``: invalid senders growing in ``steps`` equal steps from 0 to
  ``final_fraction`` of the nodes (nested sets).
* ``verify_failure``: each beacon the targets send fails verification w.p. ``p``.
* ``kem_failure``: the targets restart (down ``restart_after`` rounds, sessions lost) and
  then each handshake on their links fails w.p. ``p`` (default 1) for
  ``handshake_rounds`` rounds (the beacon is dropped, retried next round).
* ``identity_outage``: the SVID server is down from ``start``; the targets' identities
  expire ``ttl`` rounds later and their beacons are rejected until the outage ends and
  they renew (invalid from ``start + ttl`` to the end of the window).
* ``ca_rotation``: the targets are not yet re-issued under the new CA: invalid for the
  window.
* ``endurance``: Chaos-Monkey style random faults (crash with restart, loss, bisect
  partition) with exponential gaps of mean ``mtbf`` rounds, each lasting up to
  ``mean_down`` rounds, from a generator seeded by the scenario seed; no fault acts in
  the last 20 % of the run, so its end shows whether the service came back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int

from meshlab.chaos import targets as _targets
from meshlab.chaos.scenario import LATENCY_DISTS, Fault, Scenario
from meshlab.core.validation import check_int
from meshlab.mesh import faults as mf
from meshlab.mesh.topology import Topology

__all__ = ["Compiled", "LinkCuts", "compile_batch", "compile_scenario"]


class LinkCuts(NamedTuple):
    """Link-level cut windows (layouts that are not group partitions).

    Attributes:
        mask: ``bool[C, N, K]`` links cut by window ``c``.
        start_round, end_round: ``int32[C]`` window (end exclusive).
    """

    mask: Bool[Array, "cuts nodes degree"]
    start_round: Int[Array, " cuts"]
    end_round: Int[Array, " cuts"]


class Compiled(NamedTuple):
    """A compiled scenario (a params pytree; batches stack along a leading axis).

    Attributes:
        faults: the fault slots.
        cuts: link-cut windows.
        primary_start: ``int32`` first round of the primary (first) fault.
        primary_end: ``int32`` end (exclusive) of its first window (the run's end if never).
        primary_nodes: ``bool[N]`` nodes the primary fault affects (MTTD is over them).
        invalid_nodes: ``bool[N]`` nodes ever made invalid (convicting them is correct).
    """

    faults: mf.FaultParams
    cuts: LinkCuts
    primary_start: Int[Array, ""]
    primary_end: Int[Array, ""]
    primary_nodes: Bool[Array, " nodes"]
    invalid_nodes: Bool[Array, " nodes"]


def _end(e):
    return None if e is None else int(e)


def _slots(f: Fault, topo: Topology, n_rounds: int, rng) -> tuple[list, list, np.ndarray]:
    """``(fault slots, cuts [(mask, s, e)], affected nodes)`` of one fault."""
    n = topo.n_nodes
    nb = np.asarray(topo.neighbors)
    slots, cuts = [], []
    affected = np.zeros(n, bool)
    tg = _targets.select(f.target, topo, rng) if f.kind not in ("partition",) else None
    d = f.direction
    for s, e in f.windows():
        e_run = n_rounds if e is None else e
        k = f.kind
        if k == "partition":
            if f.layout in ("majorities_ring", "bridge"):
                cut = _targets.link_cuts(f, topo, rng)
                cuts.append((cut, s, e_run))
                affected |= cut.any(axis=1)
                affected[np.unique(nb[cut])] = True
            else:
                g = _targets.groups(f, topo, rng)
                slots.append(mf.partition(g, s, _end(e), direction=d))
                cross = (g[:, None] != g[nb]) & np.asarray(topo.mask)
                affected |= cross.any(axis=1)
            continue
        affected |= tg
        if k == "latency":
            slots.append(
                mf.latency(
                    tg,
                    f.option("extra_s", 0.05),
                    s,
                    _end(e),
                    direction=d,
                    jitter_s=f.option("jitter_s", 0.0),
                    dist=LATENCY_DISTS[int(f.option("dist", 0))],
                    shape=f.option("shape", 1.0),
                    per_message=bool(f.option("per_message", 1)),
                )
            )
        elif k == "clock_skew":
            slots.append(
                mf.clock(
                    tg, f.option("extra_s", 1.0), s, _end(e), drift_ppm=f.option("drift_ppm", 0.0)
                )
            )
        elif k == "loss":
            slots.append(mf.loss(tg, f.option("p", 0.2), s, _end(e), direction=d))
        elif k == "burst_loss":
            slots.append(
                mf.burst_loss(
                    tg,
                    f.option("p_enter", 0.05),
                    f.option("p_exit", 0.25),
                    s,
                    _end(e),
                    direction=d,
                    loss_bad=f.option("loss_bad", 1.0),
                )
            )
        elif k == "bandwidth":
            slots.append(mf.bandwidth(tg, f.option("rate_bps", 1e6) / 8.0, s, _end(e)))
        elif k == "flapping":
            period, down = int(f.option("period", 10)), int(f.option("down_rounds", 3))
            duty = (period - down) / period
            slots.append(mf.flapping(tg, period, duty, s, _end(e), direction=d))
        elif k == "link_down":
            slots.append(mf.link_down(tg, s, _end(e), direction=d))
        elif k == "crash":
            ra = f.option("restart_after", 0)
            end = s + int(ra) if ra else _end(e)
            end = None if end is None else min(end, n_rounds)
            state = "kept" if f.option("keep_state", 0.0) else "lost"
            slots.append(mf.crash(tg, s, end, state=state))
        elif k == "pause":
            slots.append(mf.pause(tg, s, e_run))
        elif k == "slowdown":
            slots.append(mf.slowdown(tg, f.option("factor", 10.0), s, _end(e)))
        elif k in ("invalid", "ca_compromise", "ca_rotation"):
            slots.append(mf.invalid(tg, s, _end(e)))
        elif k in ("replay", "equivocate"):
            slots.append(mf.replay(tg, f.option("p", 1.0), s, _end(e)))
        elif k == "verify_failure":
            slots.append(mf.verify_fail(tg, f.option("p", 0.5), s, _end(e), direction="from"))
        elif k == "kem_failure":
            ra = int(f.option("restart_after", 2))
            hs = int(f.option("handshake_rounds", 3))
            up = min(s + ra, n_rounds - 1)
            slots.append(mf.crash(tg, s, up, state="lost"))
            slots.append(mf.kem_fail(tg, f.option("p", 1.0), up, min(up + hs, e_run)))
        elif k == "identity_outage":
            expire = s + int(f.option("ttl", 5))
            if expire < e_run:
                slots.append(mf.invalid(tg, expire, e_run if e is not None else None))
        elif k == "churn":
            shape = f.option("weibull_shape", 1.5)
            g = math.gamma(1 + 1 / shape)
            up_scale, down_scale = f.option("mean_session", 50) / g, f.option("mean_down", 10) / g
            state = "kept" if f.option("keep_state", 0.0) else "lost"
            slots.append(mf.churn(tg, up_scale, down_scale, s, _end(e), shape=shape, state=state))
        elif k == "cascade":
            slots.append(
                mf.cascade(tg, f.option("growth", 0.2), f.option("threshold", 2.0), s, _end(e))
            )
        else:
            raise ValueError(f"kind {k!r} has no compilation rule")
    return slots, cuts, affected


def _byzantine_growth(f: Fault, topo: Topology, n_rounds: int, rng) -> tuple[list, np.ndarray]:
    n = topo.n_nodes
    steps = int(f.option("steps", 4))
    order = rng.permutation(n)
    s0 = f.start
    e_run = n_rounds if f.duration is None else f.start + f.duration
    edges = np.linspace(s0, e_run, steps + 1).astype(int)
    slots, ever = [], np.zeros(n, bool)
    final = f.option("final_fraction", 0.4)
    for j in range(steps):
        k = int(round(final * n * (j + 1) / steps))
        mask = np.zeros(n, bool)
        mask[order[:k]] = True
        if edges[j + 1] > edges[j] and mask.any():
            slots.append(mf.invalid(mask, int(edges[j]), int(edges[j + 1])))
        ever |= mask
    return slots, ever


def _endurance(f: Fault, topo: Topology, n_rounds: int, rng) -> tuple[list, np.ndarray]:
    n = topo.n_nodes
    mtbf, mean_down = f.option("mtbf", 50), f.option("mean_down", 10)
    t = f.start + rng.exponential(mtbf)
    slots, ever = [], np.zeros(n, bool)
    quiet = int(0.8 * n_rounds)
    while t < quiet:
        s = int(t)
        e = min(s + max(int(rng.exponential(mean_down)), 1), quiet)
        what = rng.integers(3)
        if what == 0:
            mask = np.zeros(n, bool)
            mask[rng.choice(n, size=max(n // 100, 1), replace=False)] = True
            slots.append(mf.crash(mask, s, e))
            ever |= mask
        elif what == 1:
            slots.append(mf.loss(np.ones(n, bool), 0.2, s, e))
        else:
            g = np.zeros(n, np.int32)
            g[rng.choice(n, size=n // 2, replace=False)] = 1
            slots.append(mf.partition(g, s, e))
        t = e + rng.exponential(mtbf)
    return slots, ever


def compile_scenario(
    scenario: Scenario,
    topology: Topology,
    n_rounds: int,
    *,
    seed: int = 0,
    n_slots: int | None = None,
    n_cuts: int | None = None,
) -> Compiled:
    """Compiles one scenario for a topology and run length (host-side, before any jit).

    Args:
        scenario: the scenario (already validated on construction).
        topology: the mesh.
        n_rounds: rounds of the run (windows must start inside it).
        seed: seeds the random target choices (the same seed, the same nodes).
        n_slots, n_cuts: pad to these capacities (default: what the scenario needs).

    Raises:
        ValueError: a window outside the run or ids that do not fit (named), or more
            slots than ``n_slots``.
    """
    n_rounds = check_int("n_rounds", n_rounds, low=1)
    scenario.check_fits(n_rounds, topology.n_nodes)
    rng = np.random.default_rng([check_int("seed", seed, low=0), len(scenario.name)])
    n = topology.n_nodes
    k = topology.max_degree
    slots, cuts = [], []
    invalid = np.zeros(n, bool)
    primary = np.zeros(n, bool)
    for i, f in enumerate(scenario.faults):
        if f.kind == "byzantine_growth":
            sl, aff = _byzantine_growth(f, topology, n_rounds, rng)
            cu = []
        elif f.kind == "endurance":
            sl, aff = _endurance(f, topology, n_rounds, rng)
            cu = []
        else:
            sl, cu, aff = _slots(f, topology, n_rounds, rng)
        for s in sl:
            if int(s.kind[0]) in (mf.INVALID, mf.REPLAY, mf.VERIFY_FAIL):
                invalid |= np.asarray(s.targets[0])
        slots += sl
        cuts += cu
        if i == 0:
            primary = aff
    f_cap = max(len(slots), 1) if n_slots is None else n_slots
    if len(slots) > f_cap:
        raise ValueError(
            f"scenario {scenario.name!r} needs {len(slots)} fault slots, more than n_slots={f_cap}"
        )
    c_cap = max(len(cuts), 1) if n_cuts is None else n_cuts
    if len(cuts) > c_cap:
        raise ValueError(f"scenario {scenario.name!r} needs {len(cuts)} link cuts > {c_cap}")
    fp = mf.combine(slots, n_slots=f_cap) if slots else mf.none(n, f_cap)
    cm = np.zeros((c_cap, n, k), bool)
    cs = np.zeros(c_cap, np.int32)
    ce = np.zeros(c_cap, np.int32)
    for j, (m, s, e) in enumerate(cuts):
        cm[j], cs[j], ce[j] = m, s, e
    start, end = n_rounds, n_rounds
    if scenario.faults:
        f0 = scenario.faults[0]
        start = f0.start
        end = n_rounds if f0.duration is None or f0.kind == "endurance" else start + f0.duration
        if f0.kind == "crash" and f0.option("restart_after", 0):
            end = min(start + int(f0.option("restart_after", 0)), n_rounds)
    return Compiled(
        faults=fp,
        cuts=LinkCuts(jnp.asarray(cm), jnp.asarray(cs), jnp.asarray(ce)),
        primary_start=jnp.int32(start),
        primary_end=jnp.int32(end),
        primary_nodes=jnp.asarray(primary),
        invalid_nodes=jnp.asarray(invalid),
    )


def _capacity(scenario: Scenario, topology: Topology, n_rounds: int, seed: int) -> tuple[int, int]:
    c = compile_scenario(scenario, topology, n_rounds, seed=seed)
    return c.faults.n_slots, int(c.cuts.mask.shape[0])


def compile_batch(
    scenarios: Sequence[Scenario], topology: Topology, n_rounds: int, *, seed: int = 0
) -> Compiled:
    """Compiles scenarios padded to one capacity and stacks them (leading axis = scenario).

    Every scenario is validated and compiled before anything is stacked, so a bad one
    raises naming it before any jit.
    """
    scenarios = list(scenarios)
    if not scenarios:
        raise ValueError("compile_batch needs at least one scenario")
    caps = [_capacity(s, topology, n_rounds, seed) for s in scenarios]
    f_cap = max(max(c[0] for c in caps), 1)
    c_cap = max(max(c[1] for c in caps), 1)
    parts = [
        compile_scenario(s, topology, n_rounds, seed=seed, n_slots=f_cap, n_cuts=c_cap)
        for s in scenarios
    ]
    return stack(parts)


def stack(parts: Sequence[Compiled]) -> Compiled:
    """Stacks compiled scenarios of one capacity along a new leading axis."""
    import jax

    return jax.tree.map(lambda *xs: jnp.stack(xs), *parts)
