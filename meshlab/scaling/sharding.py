# ruff: noqa: F722  (jaxtyping shape strings)
"""One simulation across devices and processes, on JAX's own sharding runtime.

Two ways to split the node axis of a simulation over the devices of a mesh:

1. **Automatic** (any model, no model changes): :func:`shard_kernel` places the kernel's
   fixed data (neighbour table, mask, positions) with ``NamedSharding(mesh, P("nodes"))``
   on a mesh whose axis type is ``AxisType.Auto``; the model's own ``rollout`` then runs
   under plain ``jit`` and the compiler partitions every step. Against the unsharded run
   (tests: 2 and 4 forced devices, 2 processes x 2 devices) the whole node state, float
   fields included, bit for bit (the beacon model pins the rounding of products and the
   order of row sums that partitioning would otherwise change, see
   :mod:`meshlab.core.numerics`); global float means within 1e-5 relative::

       mesh = sharding.node_mesh()                        # all devices, every process
       topo = partition.pad(partition.reorder(topo, "hilbert").topology, mesh.size)
       kernel = sharding.shard_kernel(beacons.build(config, topo), mesh)
       state, infos = beacons.rollout(kernel, key, params, 1000)   # the model's own code
       host = sharding.gather(state)                      # numpy, also across processes

   The automatic partitioner gathers a gathered node vector (``x[neighbors]``) in full
   on every device: traffic per round is ``(S - 1) x N`` values however the nodes are
   ordered (:func:`allgather_bytes`) - unless the vector can be recomputed on every
   device. The fault-free beacon model is such a case: a sender's beacon code derives
   from draws at global node indices, so the compiled round (4 devices, checked in the
   HLO) holds no all-gather at all, only scalar all-reduces, and a halo would add
   traffic. With a fault schedule the node status and backlogs are state: the round
   all-gathers about ten node vectors.

2. **Halo exchange** (geometric and grid graphs, the gossip model): :func:`halo_plan`
   lists, for an ordering of the nodes, which of each shard's nodes every other shard
   reads; under ``shard_map`` each device then sends only those boundary values
   (``ppermute`` per shard offset that has any), :func:`halo_gather` / :func:`halo_scatter_max`.
   After a space-filling-curve ordering (:mod:`meshlab.scaling.partition`) only the
   boundary nodes move (:func:`halo_bytes`). :func:`halo_gossip_rollout` runs
   :mod:`meshlab.membership.gossip` this way: the round's random draws are made by the
   automatic partitioner (threefry is partitionable: each device computes its own slice
   from global counters, so no RNG offset is needed and the draws equal the unsharded
   ones), and the informed-state exchange - the only cross-node data flow - goes through
   the halo. ``check_vma`` stays on.

Multi-process runs (``jax.distributed.initialize`` before anything else; CPU collectives
over gloo work on 127.0.0.1): the mesh spans every process's devices, each process builds
the same topology and passes it to :func:`shard_kernel` (each keeps only its blocks);
results come back with :func:`gather` (``multihost_utils.process_allgather``) or are
reduced on device first (:func:`reduce_sum`) - ``np.asarray`` of a global array fails
there.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, Int

from meshlab.core.kernel import Kernel
from meshlab.core.validation import check_int, check_key
from meshlab.membership import gossip
from meshlab.mesh.topology import Topology
from meshlab.scaling.partition import padded_size, shard_of

__all__ = [
    "AXIS",
    "HaloData",
    "HaloSpec",
    "allgather_bytes",
    "gather",
    "halo_bytes",
    "halo_gather",
    "halo_gossip_rollout",
    "halo_plan",
    "halo_scatter_max",
    "node_mesh",
    "reduce_sum",
    "shard_array",
    "shard_kernel",
    "unpad",
]

AXIS = "nodes"
"""Name of the mesh axis the node dimension is split over."""


# ------------------------------------------------------------------------------ automatic


def node_mesh(n_devices: int | None = None) -> Mesh:
    """A 1-D ``AxisType.Auto`` mesh named :data:`AXIS` over the first ``n_devices`` devices.

    ``jax.make_mesh`` defaults to explicit axes, under which ``x[neighbors]`` raises a
    sharding-type error; an ``Auto`` axis lets the compiler partition the unchanged model.

    Args:
        n_devices: devices to use (default: all, across every process).
    """
    devices = jax.devices()
    n = len(devices) if n_devices is None else check_int("n_devices", n_devices, low=1)
    if n > len(devices):
        raise ValueError(f"n_devices={n} exceeds the {len(devices)} devices JAX sees")
    return Mesh(np.asarray(devices[:n]), (AXIS,), axis_types=(AxisType.Auto,))


def _check_mesh(mesh: Any) -> Mesh:
    if not isinstance(mesh, Mesh) or mesh.axis_names != (AXIS,):
        raise TypeError(f"mesh must be a 1-D Mesh with axis {AXIS!r} (see node_mesh), got {mesh}")
    return mesh


def shard_array(x: Any, mesh: Mesh, spec: P) -> jax.Array:
    """A global array laid out as ``spec`` from a host value every process holds in full."""
    host = np.asarray(x)
    sharding = NamedSharding(mesh, spec)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def shard_kernel(kernel: Kernel, mesh: Mesh) -> Kernel:
    """The same kernel with its node-indexed data split over ``mesh`` (others replicated).

    Every leaf of ``kernel.data`` whose leading axis is the node count goes to
    ``P("nodes")``; the rest is replicated. The model's own ``rollout`` /
    ``rollout_seeds`` then run sharded under plain ``jit``.

    Args:
        kernel: a built kernel with ``data.neighbors`` ``int[N, K]`` (beacons, gossip on a
            topology, heartbeat detection).
        mesh: from :func:`node_mesh`.

    Raises:
        ValueError: ``N`` is not a multiple of the mesh size (pad the topology with
            :func:`meshlab.scaling.partition.pad` first).
    """
    mesh = _check_mesh(mesh)
    if not isinstance(kernel, Kernel) or getattr(kernel.data, "neighbors", None) is None:
        raise TypeError("kernel must be a built Kernel whose data has a neighbors table")
    n = int(np.shape(kernel.data.neighbors)[0])
    if n % mesh.size:
        raise ValueError(
            f"the kernel's node count N={n} is not a multiple of the mesh's {mesh.size} "
            f"devices: pad the topology to {padded_size(n, mesh.size)} nodes with "
            "meshlab.scaling.partition.pad before building the kernel"
        )

    def place(x):
        if x is None:
            return None
        lead = np.ndim(x) >= 1 and np.shape(x)[0] == n
        return shard_array(x, mesh, P(AXIS) if lead else P())

    return kernel._replace(data=jax.tree.map(place, kernel.data))


def gather(tree: Any) -> Any:
    """Host numpy copies of every leaf, gathered from all processes when there are several."""
    if jax.process_count() > 1:
        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(np.asarray, jax.device_get(tree))


@jax.jit
def _sum(tree):
    return jax.tree.map(lambda x: jnp.sum(x, dtype=jnp.result_type(x)), tree)


def reduce_sum(tree: Any) -> Any:
    """Sums every leaf on device (a replicated scalar each, readable in every process)."""
    return jax.tree.map(np.asarray, _sum(tree))


def unpad(tree: Any, n_nodes: int, n_padded: int) -> Any:
    """Drops padded nodes: leaves whose leading axis has length ``n_padded`` keep ``n_nodes``.

    Use on gathered host states of a run on a :func:`meshlab.scaling.partition.pad`\\ ded
    topology (a leaf of another length, e.g. a histogram, is kept whole).
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    n_padded = check_int("n_padded", n_padded, low=n_nodes)
    if n_padded == n_nodes:
        return tree
    return jax.tree.map(
        lambda x: x[:n_nodes] if np.ndim(x) >= 1 and np.shape(x)[0] == n_padded else x, tree
    )


# ------------------------------------------------------------------------------ halo


@dataclasses.dataclass(frozen=True)
class HaloSpec:
    """The static (hashable) shape of a halo exchange.

    Attributes:
        n_shards: shards ``S`` along :data:`AXIS`.
        n_local: nodes per shard.
        shifts: shard offsets ``d`` with traffic: shard ``s`` sends to ``(s + d) % S``.
        sizes: values sent per shard for each shift (the max over shards; padded).
    """

    n_shards: int
    n_local: int
    shifts: tuple[int, ...]
    sizes: tuple[int, ...]

    @property
    def n_ext(self) -> int:
        """Length of a shard's extended vector: its own nodes + every received halo."""
        return self.n_local + sum(self.sizes)


class HaloData(NamedTuple):
    """The halo plan's arrays (global views; split over :data:`AXIS` by shard).

    Attributes:
        send: one ``int32[S, H_d]`` per shift: local ids of the nodes shard ``s`` sends.
        table: ``int32[N, K]``: each table slot as an index into its shard's extended
            vector (own nodes first, then the halos in shift order).
    """

    send: tuple[Int[Array, "shards halo"], ...]
    table: Int[Array, "nodes degree"]


def halo_plan(topology: Topology, n_shards: int) -> tuple[HaloSpec, HaloData]:
    """Which boundary values each shard must receive, for contiguous equal node blocks.

    Args:
        topology: the (reordered, padded) graph; node ``i`` reads ``neighbors[i, k]``.
        n_shards: number of shards (must divide ``N``).

    Returns:
        ``(spec, data)``; host numpy arrays in ``data`` (place them with
        :func:`shard_array` or let :func:`halo_gossip_rollout` do it).
    """
    if not isinstance(topology, Topology):
        raise TypeError(f"topology must be a meshlab Topology, got {type(topology).__name__}")
    n, k = topology.neighbors.shape
    shard = shard_of(n, n_shards)
    n_loc = n // n_shards
    nb = np.asarray(topology.neighbors, np.int64)
    mask = np.asarray(topology.mask, bool)
    src = np.where(mask, nb, np.arange(n)[:, None])  # masked slots read the node itself
    dst_shard = np.broadcast_to(shard[:, None], src.shape)
    shift = (dst_shard - shard[src]) % n_shards  # receiver = sender shard + shift
    table = (src - dst_shard * n_loc).astype(np.int64)  # local ids for shift 0
    shifts, sizes, sends = [], [], []
    base = n_loc
    for d in range(1, n_shards):
        sel = shift == d
        if not sel.any():
            continue
        # per receiving shard t: the distinct remote nodes it reads from shard t - d
        need = [np.unique(src[sel & (dst_shard == t)]) for t in range(n_shards)]
        h = max(len(x) for x in need)
        send = np.zeros((n_shards, h), np.int32)
        for t, ids in enumerate(need):
            s = (t - d) % n_shards
            send[s, : len(ids)] = ids - s * n_loc
            rows = sel & (dst_shard == t)
            table[rows] = base + np.searchsorted(ids, src[rows])
        shifts.append(d)
        sizes.append(h)
        sends.append(send)
        base += h
    spec = HaloSpec(n_shards, n_loc, tuple(shifts), tuple(sizes))
    return spec, HaloData(tuple(sends), table.astype(np.int32))


def _forward(s: int, d: int) -> list[tuple[int, int]]:
    return [(i, (i + d) % s) for i in range(s)]


def _backward(s: int, d: int) -> list[tuple[int, int]]:
    return [((i + d) % s, i) for i in range(s)]


def halo_gather(values: Array, send: tuple, table: Array, spec: HaloSpec) -> Array:
    """``values_global[neighbors]`` for this shard's rows, moving only boundary values.

    Call inside ``shard_map`` over :data:`AXIS`.

    Args:
        values: ``[n_local, ...]`` this shard's node values.
        send: this shard's ``send`` arrays (``int32[1, H_d]`` each).
        table: ``int32[n_local, K]`` this shard's slice of ``HaloData.table``.
        spec: the plan's :class:`HaloSpec`.

    Returns:
        ``[n_local, K, ...]``.
    """
    parts = [values]
    for d, idx in zip(spec.shifts, send, strict=True):
        buf = values[idx[0]]
        parts.append(jax.lax.ppermute(buf, AXIS, _forward(spec.n_shards, d)))
    ext = jnp.concatenate(parts, axis=0)
    return ext[table]


def halo_scatter_max(contrib: Array, send: tuple, table: Array, spec: HaloSpec) -> Array:
    """For each of this shard's nodes, the max of ``contrib`` over all table slots naming it.

    The transpose of :func:`halo_gather` (a push): slot ``(i, k)`` contributes to node
    ``neighbors[i, k]`` wherever it lives; contributions to remote nodes travel back
    along the halo. Call inside ``shard_map`` over :data:`AXIS`.

    Args:
        contrib: ``[n_local, K]`` per-slot values (an integer or float dtype; the
            identity is 0, so use non-negative values).

    Returns:
        ``[n_local]``.
    """
    acc = jnp.zeros((spec.n_ext,), contrib.dtype).at[table.ravel()].max(contrib.ravel())
    local = acc[: spec.n_local]
    base = spec.n_local
    for d, h, idx in zip(spec.shifts, spec.sizes, send, strict=True):
        back = jax.lax.ppermute(acc[base : base + h], AXIS, _backward(spec.n_shards, d))
        local = local.at[idx[0]].max(back)
        base += h
    return local


def allgather_bytes(n_nodes: int, n_shards: int, itemsize: int = 4) -> int:
    """Bytes received per gathered node vector when every shard gathers it in full."""
    n_loc = n_nodes // n_shards
    return int(n_shards * (n_shards - 1) * n_loc * itemsize)


def halo_bytes(spec: HaloSpec, itemsize: int = 4) -> int:
    """Bytes received per gathered node vector by all shards under the halo plan."""
    return int(spec.n_shards * sum(spec.sizes) * itemsize)


# ------------------------------------------------------------------------------ gossip


def _gossip_round(spec, mesh, key, state, data, config, params, halo_send, halo_table):
    peers, valid, u_loss = gossip._round_draws(key, config, data.neighbors, data.mask)
    ok = valid & (u_loss >= params.loss)
    # column of each chosen peer in the row's table (row-local: no traffic)
    hit = (data.neighbors[:, None, :] == peers[:, :, None]) & data.mask[:, None, :]
    col = jnp.argmax(hit, axis=2).astype(jnp.int32)

    def local(informed, ok, col, send, table):
        new = informed
        if config.mode in ("push", "pushpull"):
            slot = jnp.zeros(table.shape, jnp.int8)
            rows = jnp.arange(table.shape[0])[:, None]
            slot = slot.at[rows, col].max((ok & informed[:, None]).astype(jnp.int8))
            new = new | halo_scatter_max(slot, send, table, spec).astype(bool)
        if config.mode in ("pull", "pushpull"):
            seen = jnp.take_along_axis(halo_gather(informed, send, table, spec), col, axis=1)
            new = new | jnp.any(ok & seen, axis=1)
        return new

    node = P(AXIS)
    new = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(node, node, node, tuple(node for _ in halo_send), node),
        out_specs=node,
    )(state.informed, ok, col, halo_send, halo_table)
    r = state.round + 1
    when = jnp.where(new & ~state.informed, r, state.when)
    info = gossip.GossipInfo(jnp.mean(new.astype(jnp.float32)))
    return gossip.GossipState(r, new, when, state.source), info


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _halo_gossip_jit(spec, mesh, config, n_steps, key, data, params, halo_send, halo_table):
    k_init, k_run = jax.random.split(key)
    state = gossip._init_fn(k_init, data, config, params)

    def body(carry, k):
        return _gossip_round(spec, mesh, k, carry, data, config, params, halo_send, halo_table)

    return jax.lax.scan(body, state, jax.random.split(k_run, n_steps))


def halo_gossip_rollout(
    kernel: Kernel,
    key: jax.Array,
    params: gossip.GossipParams,
    n_steps: int,
    mesh: Mesh,
    topology: Topology,
) -> tuple[gossip.GossipState, gossip.GossipInfo]:
    """:func:`meshlab.membership.gossip.rollout` with the state exchange as a halo.

    Same keys, same draws, same result as the unsharded rollout (bit for bit); only the
    informed flags of boundary nodes cross devices.

    Args:
        kernel: from ``gossip.build(config, topology)`` (a topology, not complete-graph).
        key, params, n_steps: as for ``gossip.rollout``.
        mesh: from :func:`node_mesh` (its size must divide ``N``).
        topology: the topology the kernel was built from (for the halo plan).

    Returns:
        ``(final_state, infos)`` as global arrays (see :func:`gather`).
    """
    check_key(key)
    n_steps = check_int("n_steps", n_steps, low=1)
    mesh = _check_mesh(mesh)
    if not isinstance(kernel, Kernel) or not isinstance(kernel.config, gossip.GossipConfig):
        raise TypeError(f"kernel must come from gossip.build, got {type(kernel).__name__}")
    if kernel.data.neighbors is None:
        raise ValueError("halo_gossip_rollout needs a topology (complete-graph gossip has none)")
    if not np.array_equal(np.asarray(topology.neighbors), np.asarray(kernel.data.neighbors)):
        raise ValueError("topology must be the one the kernel was built from")
    spec, plan = halo_plan(topology, mesh.size)  # raises naming n_shards if it does not divide
    sharded = shard_kernel(kernel, mesh)
    send = tuple(shard_array(s, mesh, P(AXIS)) for s in plan.send)
    table = shard_array(plan.table, mesh, P(AXIS))
    gossip._check_params(kernel, params)
    return _halo_gossip_jit(
        spec, mesh, kernel.config, n_steps, key, sharded.data, params, send, table
    )
