# ruff: noqa: F722  (jaxtyping shape strings)
"""FL updates under a chaos scenario: the update ledger, and quarantine by the Byzantine
detector (the MAPE-K loop's Monitor / Plan for federated learning).

Mesh node ``c`` hosts FL client ``c``; the server sits at node ``config.server_node``. One
FL round runs per beacon round, with the scenario's fault slots evaluated by
:func:`meshlab.mesh.faults.step` (the same kinds, windows and targets as the beacon run;
its own key stream). Each round ``r``, every client with data trains locally
(:func:`meshlab.fl.models.local_updates`) and sends its update; the round's faults decide
what reaches the server:

* **crashed**: the client's node is down (crash, churn, cascade, KEM restart);
* **partition**: the client -> server pair is closed (partition, link down, flapping:
  :func:`meshlab.mesh.faults.pair_status`; the link-cut layouts ``majorities_ring`` /
  ``bridge`` cut mesh links, not client -> server paths, and are not applied);
* **stale**: the client is paused (its update arrives after the round closed);
* **rejected**: the server refused it: the client's identity is invalid (crypto kinds:
  ``invalid`` slots of a scenario without Byzantine faults), the controller quarantined
  the client, or the robust rule did not select it (``AggregateInfo.selected``).

In a scenario with Byzantine faults (``invalid`` / ``replay`` / ``equivocate`` /
``byzantine_growth``) the targets of the active ``invalid`` / ``replay`` slots are
attackers that round: their rows are replaced by ``config.attack``
(:func:`meshlab.fl.attacks.attack_rows`); outside their windows they are honest clients.
Message loss is not applied to updates (they travel over a reliable transport). The
server itself is not subject to the faults (a fault on its host node hits that node's
client only).

**Controller** (``params.quarantine = 1``): the Byzantine detector
(:func:`meshlab.fl.detector.detector_update`) scores the received updates every round
(Monitor); a client it flags is quarantined from the next round on (Analyze / Plan) and
its updates are no longer passed to the rule (Execute); the flags are carried in the
state (Knowledge) and a quarantine is never lifted (a client that stops attacking stays
out: its honest updates are then ``rejected``). A client that is an outlier every round is flagged after
``k = ceil(log(flag_threshold) / log(decay))`` rounds (2 with the defaults), so it is
quarantined ``k`` rounds after its first bad update. With ``quarantine = 0`` (the ``none``
baseline, same compilation) the detector still scores but nothing is excluded.

**Ledger** (:func:`ledger`): ``sent`` = the honest clients' updates of each round (the
attackers' are not counted); ``aggregated`` = the honest rows the rule actually used (its
``selected`` output, not derived from the reasons); the reasons are the conditions above,
routed by :func:`meshlab.fl.ledger.route`'s precedence. :func:`meshlab.fl.ledger.check`
then proves ``aggregated + accounted == sent`` with nothing missing, counted twice or
counted without being sent. ``params.drop`` plants a silent server-side drop (clients
whose updates the server discards with no reason): the check must catch it.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from meshlab.chaos.compile import Compiled
from meshlab.chaos.scenario import Scenario
from meshlab.core.kernel import Kernel, scan_steps
from meshlab.core.validation import check_choice, check_int, check_real
from meshlab.fl import ledger as fl_ledger
from meshlab.fl.aggregators import aggregator_for
from meshlab.fl.attacks import ATTACK_STRENGTHS, ATTACKS, attack_rows
from meshlab.fl.data import FederatedData
from meshlab.fl.detector import (
    ByzantineDetectorConfig,
    ByzantineDetectorState,
    detector_init,
    detector_update,
)
from meshlab.fl.models import ModelSpec, accuracy, local_updates
from meshlab.mesh import faults as mf
from meshlab.mesh.topology import Topology

__all__ = [
    "BYZANTINE_KINDS",
    "FL_KINDS",
    "FedConfig",
    "FedData",
    "FedInfo",
    "FedParams",
    "FedState",
    "build",
    "ledger",
    "params",
    "quarantine_bound",
    "relevant",
    "run",
]

BYZANTINE_KINDS = ("invalid", "replay", "equivocate", "byzantine_growth")
"""Scenario kinds whose targets send the FL attack (otherwise ``invalid`` = identity fault)."""
FL_KINDS = (
    *BYZANTINE_KINDS,
    "partition",
    "link_down",
    "flapping",
    "crash",
    "pause",
    "churn",
    "cascade",
    "kem_failure",
    "identity_outage",
    "ca_rotation",
    "ca_compromise",
)
"""Scenario kinds that change which FL updates reach the server."""


@dataclasses.dataclass(frozen=True)
class FedConfig:
    """Static configuration (hashable; a ``jit`` static argument).

    Attributes:
        model: the model spec (over the data's features and classes).
        aggregator: the server's robust rule (a name of :data:`meshlab.fl.AGGREGATORS`).
        f_max: Byzantine clients the rule is built to tolerate (largest it accepts).
        attack: the attackers' update attack (a name of :data:`meshlab.fl.ATTACKS`).
        attack_strength: the attack's strength option (``sign_flip``'s ``scale``, ...).
        local_steps, batch_size: local SGD steps and minibatch size per update.
        lr: client learning rate; server step 1.
        server_node: the mesh node the server sits at.
        detector: the Byzantine detector's configuration.
    """

    model: ModelSpec
    aggregator: str = "median"
    f_max: int = 4
    attack: str = "gaussian"
    attack_strength: float = 1.0
    local_steps: int = 2
    batch_size: int = 8
    lr: float = 0.1
    server_node: int = 0
    detector: ByzantineDetectorConfig = ByzantineDetectorConfig(z_threshold=6.0, cos_threshold=-0.2)


class FedParams(NamedTuple):
    """What varies between runs (a params pytree; batches ``vmap``).

    Attributes:
        faults: the scenario's fault slots (``Compiled.faults``).
        attack_role: ``bool[]`` True: ``invalid`` / ``replay`` targets are attackers; False:
            ``invalid`` targets are honest clients whose identity fails (rejected).
        quarantine: ``bool[]`` the controller quarantines flagged clients (False: ``none``).
        drop: ``bool[n]`` planted bug: the server silently discards these clients' updates.
    """

    faults: mf.FaultParams
    attack_role: Bool[Array, ""]
    quarantine: Bool[Array, ""]
    drop: Bool[Array, " n"]


class FedData(NamedTuple):
    """Fixed data: the federated data set and the mesh's ``[N, K]`` neighbour table/mask."""

    fl: FederatedData
    neighbors: Int[Array, "n k"]
    mask: Bool[Array, "n k"]


class FedState(NamedTuple):
    """Carried state: model ``f32[d]``, round, fault state, detector, flags (Knowledge).

    ``flagged``: ``bool[n]`` clients the detector has flagged (quarantined from the next
    round when ``params.quarantine``; never released); ``flagged_at``: ``int32[n]`` the
    round at whose end that happened (-1: never).
    """

    model: Float[Array, " d"]
    round: Int[Array, ""]
    faults: mf.FaultState
    detector: ByzantineDetectorState
    flagged: Bool[Array, " n"]
    flagged_at: Int[Array, " n"]


class FedInfo(NamedTuple):
    """Per-round masks ``bool[n]`` (stacked to ``[R, n]`` by the scan) and the accuracy.

    Attributes:
        sent: honest updates sent. attacker: clients sending the attack this round.
        crashed, partition, stale, rejected: the conditions of the reasons (unrouted).
        aggregated: honest rows the rule selected. attacker_aggregated: attack rows selected.
        quarantined: clients excluded by the controller this round.
        accuracy: test accuracy after the round.
    """

    sent: Bool[Array, " n"]
    attacker: Bool[Array, " n"]
    crashed: Bool[Array, " n"]
    partition: Bool[Array, " n"]
    stale: Bool[Array, " n"]
    rejected: Bool[Array, " n"]
    aggregated: Bool[Array, " n"]
    attacker_aggregated: Bool[Array, " n"]
    quarantined: Bool[Array, " n"]
    accuracy: Float[Array, ""]


def build(config: FedConfig, topology: Topology, data: FederatedData) -> Kernel:
    """The FL-under-chaos kernel (validated once, before any compilation).

    Raises:
        ValueError: the data's clients differ from the mesh's nodes, a bad server node,
            attack or rule (named).
    """
    if not isinstance(config, FedConfig):
        raise TypeError(f"config must be a FedConfig, got {type(config).__name__}")
    n = topology.n_nodes
    if data.n_clients != n:
        raise ValueError(f"data has {data.n_clients} clients, the mesh {n} nodes (one per node)")
    check_int("server_node", config.server_node, 0, n - 1)
    check_choice("attack", config.attack, ATTACKS)
    check_real("attack_strength", config.attack_strength)
    check_real("lr", config.lr, 0.0, low_open=True)
    spec = aggregator_for(config.aggregator, n=n, f_max=config.f_max)
    spec.build(n)
    fd = FedData(data, jnp.asarray(topology.neighbors), jnp.asarray(topology.mask))
    return Kernel(config, fd, _init_fn, _step_fn)


def relevant(scenario: Scenario) -> bool:
    """Whether any fault of ``scenario`` changes which FL updates reach the server."""
    return any(f.kind in FL_KINDS for f in scenario.faults)


def params(
    scenario: Scenario, compiled: Compiled, *, quarantine: bool = True, drop: Any = None
) -> FedParams:
    """:class:`FedParams` for a scenario and its compilation (host-side).

    Args:
        scenario: the scenario (its kinds decide the role of ``invalid`` targets).
        compiled: ``compile.compile_scenario(scenario, ...)`` (one, unbatched).
        quarantine: the controller on (True) or the ``none`` baseline.
        drop: planted bug, ``bool[n]`` clients whose updates the server silently drops.
    """
    n = compiled.faults.n_nodes
    d = np.zeros(n, bool) if drop is None else np.asarray(drop, bool)
    if d.shape != (n,):
        raise ValueError(f"drop must be bool[{n}], got shape {d.shape}")
    role = any(f.kind in BYZANTINE_KINDS for f in scenario.faults)
    return FedParams(
        compiled.faults, jnp.asarray(role), jnp.asarray(bool(quarantine)), jnp.asarray(d)
    )


def quarantine_bound(detector: ByzantineDetectorConfig) -> int:
    """Rounds ``k`` from a client's first bad update to its flagging (closed form)."""
    return math.ceil(math.log(detector.flag_threshold) / math.log(detector.decay))


def _init_fn(key, data: FedData, config: FedConfig, params: FedParams) -> FedState:
    k_model, k_faults = jax.random.split(key)
    n = data.neighbors.shape[0]
    return FedState(
        model=config.model.build().init(k_model),
        round=jnp.int32(0),
        faults=mf.init(k_faults, data.neighbors, data.mask),
        detector=detector_init(n),
        flagged=jnp.zeros(n, bool),
        flagged_at=jnp.full(n, -1, jnp.int32),
    )


def _active(faults: mf.FaultParams, r, kinds: tuple[int, ...]) -> Bool[Array, " n"]:
    on = faults.active & (faults.start_round <= r) & (r < faults.end_round)
    on = on & jnp.isin(faults.kind, jnp.asarray(kinds))
    return jnp.any(on[:, None] & faults.targets, axis=0)


def _step_fn(key, state: FedState, data: FedData, config: FedConfig, params: FedParams, inputs):
    del inputs
    k_faults, k_train, k_att, k_agg = jax.random.split(key, 4)
    n, k = data.neighbors.shape
    r = state.round
    view, fstate = mf.step(
        k_faults, params.faults, state.faults, r, data.neighbors, data.mask,
        mf.neutral_chaos(n, k), interval_s=1.0, beacon_bytes=0.0,
    )  # fmt: skip
    clients = jnp.arange(n, dtype=jnp.int32)
    server = jnp.full((n,), config.server_node, jnp.int32)
    open_, _ = mf.pair_status(params.faults, r, clients, server)
    marked = _active(params.faults, r, (mf.KINDS.index("invalid"), mf.KINDS.index("replay")))
    has_data = data.fl.mask.any(axis=1)
    attacker = marked & params.attack_role & has_data
    auth_fail = marked & ~params.attack_role
    crashed = ~view.node_up
    paused = view.hold_s > 0
    reach = ~crashed & open_ & ~paused & ~auth_fail & has_data
    model = config.model.build()
    deltas, _ = local_updates(
        k_train, model, state.model, data.fl.x, data.fl.y, data.fl.mask,
        steps=config.local_steps, batch_size=config.batch_size, lr=config.lr,
    )  # fmt: skip
    opts = {}
    if config.attack in ATTACK_STRENGTHS:
        opts[ATTACK_STRENGTHS[config.attack]] = config.attack_strength
    rows = attack_rows(k_att, config.attack, deltas, attacker, **opts)
    det, _ = detector_update(config.detector, state.detector, rows, reach)
    excluded = state.flagged & params.quarantine
    to_rule = reach & ~excluded & ~params.drop
    rule = aggregator_for(config.aggregator, n=n, f_max=config.f_max).build(n)
    agg, info = rule.aggregate(k_agg, rows, to_rule)
    selected = info.selected
    new_model = state.model + jnp.where(to_rule.any(), agg, 0.0)
    flagged = state.flagged | det.flagged
    at = jnp.where(det.flagged & (state.flagged_at < 0), r, state.flagged_at)
    honest = has_data & ~attacker
    fi = FedInfo(
        sent=honest,
        attacker=attacker,
        crashed=crashed,
        partition=~open_,
        stale=paused,
        rejected=auth_fail | (reach & excluded) | (to_rule & ~selected),
        aggregated=honest & selected,
        attacker_aggregated=attacker & selected,
        quarantined=excluded,
        accuracy=accuracy(model, new_model, data.fl.x_test, data.fl.y_test),
    )
    new = FedState(new_model, r + 1, fstate, det, flagged, at)
    return new, fi


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _run_jit(init_fn, step_fn, config, n_rounds, data, keys, params):
    kernel = Kernel(config, data, init_fn, step_fn)
    per_seed = jax.vmap(lambda kk, p: scan_steps(kernel, kk, p, n_rounds), in_axes=(0, None))
    return jax.vmap(per_seed, in_axes=(None, 0))(keys, params)


def run(kernel: Kernel, keys: jax.Array, params: FedParams, n_rounds: int):
    """A batch of scenarios (leading axis of ``params``) x seeds in one compiled call.

    Args:
        kernel: from :func:`build`.
        keys: ``[S]`` typed keys (one per seed).
        params: stacked :class:`FedParams` ``[B, ...]`` (one shape: pad fault slots).
        n_rounds: rounds per run.

    Returns:
        ``(FedState [B, S], FedInfo [B, S, R, ...])`` as numpy arrays.
    """
    n_rounds = check_int("n_rounds", n_rounds, low=1)
    out = _run_jit(kernel.init_fn, kernel.step_fn, kernel.config, n_rounds, kernel.data, keys,
                   params)  # fmt: skip
    return jax.tree.map(np.asarray, out)


def ledger(info: FedInfo) -> fl_ledger.Ledger:
    """The update ledger of runs (any leading batch axes): reasons routed by precedence,
    ``aggregated`` taken from the rule's selection (independent of the reasons)."""
    _, reasons = fl_ledger.route(
        np.asarray(info.sent),
        crashed=np.asarray(info.crashed),
        partition=np.asarray(info.partition),
        stale=np.asarray(info.stale),
        rejected=np.asarray(info.rejected),
    )
    return fl_ledger.account(info.sent, np.asarray(info.aggregated), reasons)
