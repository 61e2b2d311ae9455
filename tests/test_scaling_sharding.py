"""One simulation across devices and processes: sharded == unsharded.

Each case runs in a fresh subprocess (``XLA_FLAGS`` and ``jax.distributed`` must be set
before JAX starts); this file is also the worker script (``python
tests/test_scaling_sharding.py --devices N [--process I --port P]``). In one process the
worker runs every model unsharded and sharded and compares:

* beacons, two topology / link-model combinations (Hilbert-ordered random geometric graph,
  padded to a multiple of the shard count, lognormal latency + iid loss + exponential
  service; random regular graph, distance latency + Gilbert-Elliott loss + lognormal
  service + a crash fault): integer and boolean state (counts, histogram, flags) and
  integer infos bit for bit, float state within :data:`FLOAT_MAX_ULPS`, the per-round
  global float mean within :data:`FLOAT_RTOL` (a different summation tree);
* gossip (push-pull, geometric graph): automatic sharding and the explicit halo exchange,
  both bit for bit;
* heartbeat detection (phi accrual, a crash): state and infos bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from meshlab.mesh import topology
from meshlab.scaling import partition, sharding

FLOAT_RTOL = 1e-5  # global float32 means over ~10^4 terms: a different summation order
"""Node state, float fields included, equals the unsharded run bit for bit: the beacon model
pins the rounding of products and the order of row sums that a partitioned program would
otherwise fuse or vectorise differently (``meshlab.core.numerics``). Without that, floats
differed by up to 38 ulp (``wait_sum_s``, a difference of nearly equal times). Only global
float means, summed across devices in another order, carry a tolerance."""


def _worker(
    n_local_devices: int, process: int | None, n_processes: int, port: int, light: bool = False
) -> dict:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_local_devices}"
    import jax

    if process is not None:
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}",
            num_processes=n_processes,
            process_id=process,
            local_device_ids=list(range(n_local_devices)),
        )
    from meshlab.membership import detection, detectors, gossip
    from meshlab.mesh import beacons, faults

    mesh = sharding.node_mesh()
    s = mesh.size
    out: dict = {"devices": s, "processes": jax.process_count()}

    def local(tree):  # the unsharded reference runs on this process's first device
        return jax.tree.map(np.asarray, jax.device_get(tree))

    def same(a, b):
        return all(
            np.array_equal(x, y, equal_nan=True)
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        )

    def mismatch(a, b) -> dict:  # state fields that differ: max distance in float32 ulps
        out = {}
        for f in type(b)._fields:  # a field may be a pytree (fault state, detector state)
            pairs = zip(jax.tree.leaves(getattr(a, f)), jax.tree.leaves(getattr(b, f)), strict=True)
            for x, y in pairs:
                x, y = np.asarray(x), np.asarray(y)
                if np.array_equal(x, y, equal_nan=True):
                    continue
                if x.dtype != np.float32:
                    out[f] = -1  # a non-float difference: never allowed
                    continue
                ix, iy = x.view(np.int32).astype(np.int64), y.view(np.int32).astype(np.int64)
                out[f] = max(out.get(f, 0), int(np.abs(ix - iy).max()))
        return out

    n = 1001  # not a multiple of 2 or 4: padded
    geo = topology.random_geometric(
        jax.random.key(1), n, topology.radius_for_degree(n, 10), 16, allow_disconnected=True
    )
    geo = partition.pad(partition.reorder(geo, "hilbert").topology, s)
    rr = topology.random_regular(jax.random.key(2), 1000, 8)
    cases = {
        "geometric_iid": (geo, beacons.BeaconConfig(), beacons.params(loss_p=0.05)),
        "regular_ge_distance": (
            rr,
            beacons.BeaconConfig(
                latency_model="distance", loss_model="gilbert_elliott", service_dist="lognormal"
            ),
            beacons.params(verify_mean_s=2e-3, faults=faults.crash([3, 500], 5, 15, n_nodes=1000)),
        ),
    }
    if light:
        cases.pop("regular_ge_distance")
    with jax.default_device(jax.local_devices()[0]):
        for name, (topo, config, prm) in cases.items():
            kernel = beacons.build(config, topo)
            ref = local(beacons.rollout(kernel, jax.random.key(7), prm, 20))
            got = beacons.rollout(sharding.shard_kernel(kernel, mesh), jax.random.key(7), prm, 20)
            host = sharding.gather(got)
            st, info = host
            ints = [f for f in beacons.BeaconInfo._fields if f not in ("mean_latency_s",)]
            rel = np.abs(info.mean_latency_s / ref[1].mean_latency_s - 1.0).max()
            total = sharding.reduce_sum(got[0].accepted)
            out[name] = {
                "state_mismatch_ulps": mismatch(st, ref[0]),
                "int_infos": all(
                    np.array_equal(getattr(info, f), getattr(ref[1], f)) for f in ints
                ),
                "float_rel": float(rel),
                "reduce_sum": int(total) == int(ref[0].accepted.sum()),
                "accepted": int(ref[0].accepted.sum()),
                "sharded_on": str(got[0].accepted.sharding.spec),
            }

        tg = partition.reorder(
            topology.random_geometric(jax.random.key(3), 1000, 0.07, 24, allow_disconnected=True),
            "morton",
        ).topology
        cfg = gossip.GossipConfig(n_nodes=1000, mode="pushpull", fanout=2)
        kernel = gossip.build(cfg, tg)
        prm = gossip.params(loss=0.1)
        ref = local(gossip.rollout(kernel, jax.random.key(4), prm, 25))
        halo = sharding.gather(
            sharding.halo_gossip_rollout(kernel, jax.random.key(4), prm, 25, mesh, tg)
        )
        out["gossip"] = {"halo": same(halo, ref), "coverage": float(ref[1].coverage[-1])}
        if light:
            return out
        auto = sharding.gather(
            gossip.rollout(sharding.shard_kernel(kernel, mesh), jax.random.key(4), prm, 25)
        )
        out["gossip"]["auto"] = same(auto, ref)

        spec, det = detectors.phi_accrual()
        hcfg = detection.HeartbeatConfig(detector=spec)
        hprm = detection.params(det, [5, 600], [3.0, 6.0], loss=0.05)
        kernel = detection.build(hcfg, rr)
        ref = local(detection.rollout(kernel, jax.random.key(5), hprm, 15))
        got = sharding.gather(
            detection.rollout(sharding.shard_kernel(kernel, mesh), jax.random.key(5), hprm, 15)
        )
        out["detection"] = {"state": same(got, ref), "suspected": int(ref[1].suspected.sum())}
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args[args.index('--devices') + 1]}"
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def _result(proc: subprocess.Popen, timeout: float = 900) -> dict:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, stderr.decode()[-3000:]
    return json.loads(stdout.decode().strip().splitlines()[-1])


def _check(res: dict, devices: int, processes: int, light: bool = False) -> None:
    assert res["devices"] == devices and res["processes"] == processes
    for name in ("geometric_iid",) if light else ("geometric_iid", "regular_ge_distance"):
        case = res[name]
        # every state leaf bit for bit; on failure, the distance per field (-1: not a float)
        assert case["state_mismatch_ulps"] == {}, (name, case)
        assert case["int_infos"] and case["reduce_sum"], (name, case)
        assert case["float_rel"] <= FLOAT_RTOL, (name, case)
        assert case["accepted"] > 10_000 and case["sharded_on"] == "P('nodes',)", case
    assert res["gossip"]["halo"] and res["gossip"].get("auto", True), res["gossip"]
    assert 0.01 < res["gossip"]["coverage"] <= 1.0
    if not light:
        assert res["detection"]["state"] and res["detection"]["suspected"] > 0, res["detection"]


def test_four_forced_devices_equal_unsharded():
    _check(_result(_spawn(["--devices", "4", "--light"])), 4, 1, light=True)


@pytest.mark.slow
def test_four_forced_devices_every_model_equal_unsharded():
    _check(_result(_spawn(["--devices", "4"])), 4, 1)


@pytest.mark.slow
def test_two_forced_devices_equal_unsharded():
    _check(_result(_spawn(["--devices", "2"])), 2, 1)


@pytest.mark.slow
def test_two_processes_two_devices_each_equal_unsharded():
    port = str(_free_port())
    procs = [
        _spawn(["--devices", "2", "--process", str(i), "--processes", "2", "--port", port])
        for i in range(2)
    ]
    results = [_result(p) for p in procs]
    for res in results:
        _check(res, 4, 2)


def test_shard_kernel_refuses_a_node_count_the_mesh_does_not_divide():
    import jax

    from meshlab.mesh import beacons

    topo = topology.random_regular(jax.random.key(0), 21, 4)
    kernel = beacons.build(beacons.BeaconConfig(), topo)
    mesh = sharding.node_mesh(1)
    assert sharding.shard_kernel(kernel, mesh).data.neighbors.shape == (21, 4)
    fake = kernel._replace(data=kernel.data._replace(neighbors=np.zeros((21, 4), np.int32)))
    with pytest.raises(TypeError, match="mesh must be a 1-D Mesh"):
        sharding.shard_kernel(fake, "nodes")
    with pytest.raises(ValueError, match="n_devices=9 exceeds"):
        sharding.node_mesh(9)


def test_halo_gossip_refuses_what_it_cannot_run():
    import jax

    from meshlab.membership import gossip

    mesh = sharding.node_mesh(1)
    complete = gossip.build(gossip.GossipConfig(n_nodes=8))
    with pytest.raises(ValueError, match="needs a topology"):
        sharding.halo_gossip_rollout(complete, jax.random.key(0), gossip.params(), 3, mesh, None)
    topo = topology.grid_2d(4, 4)
    kernel = gossip.build(gossip.GossipConfig(n_nodes=16), topo)
    other = partition.reorder(topo, "hilbert").topology
    with pytest.raises(ValueError, match="the one the kernel was built from"):
        sharding.halo_gossip_rollout(kernel, jax.random.key(0), gossip.params(), 3, mesh, other)
    with pytest.raises(ValueError, match="n_steps"):
        sharding.halo_gossip_rollout(kernel, jax.random.key(0), gossip.params(), 0, mesh, topo)


def test_halo_plan_moves_only_boundary_nodes():
    import jax

    n, s = 4096, 4
    geo = topology.random_geometric(
        jax.random.key(8), n, topology.radius_for_degree(n, 8), 16, allow_disconnected=True
    )
    for ordering in ("hilbert", "identity"):
        topo = partition.reorder(geo, ordering).topology
        spec, plan = sharding.halo_plan(topo, s)
        nb, mask = np.asarray(topo.neighbors), np.asarray(topo.mask)
        owner = np.arange(n) // (n // s)
        # independent count: distinct (receiving shard, remote node) pairs over real links
        recv = np.repeat(np.arange(n), nb.shape[1])[mask.ravel()]
        send = nb.ravel()[mask.ravel()]
        remote = owner[recv] != owner[send]
        pairs = np.unique(np.stack([owner[recv][remote], send[remote]]), axis=1).shape[1]
        assert pairs <= s * sum(spec.sizes)
        # the table reproduces the global gather for every shard (numpy emulation)
        values = np.arange(n) * 3 + 1
        for t in range(s):
            ext = [values[t * spec.n_local : (t + 1) * spec.n_local]]
            for d, idx in zip(spec.shifts, plan.send, strict=True):
                src = (t - d) % s
                ext.append(values[src * spec.n_local + idx[src]])
            ext = np.concatenate(ext)
            rows = slice(t * spec.n_local, (t + 1) * spec.n_local)
            got = ext[plan.table[rows]]
            want = np.where(mask[rows], values[nb[rows]], values[np.arange(n)[rows]][:, None])
            np.testing.assert_array_equal(got, want)
        if ordering == "hilbert":
            assert sharding.halo_bytes(spec) * 20 < sharding.allgather_bytes(n, s)
            hilbert_bytes = sharding.halo_bytes(spec)
    assert sharding.halo_bytes(spec) > 5 * hilbert_bytes  # identity order: much more traffic
    with pytest.raises(ValueError, match="n_shards=3 does not divide n_nodes=4096"):
        sharding.halo_plan(topo, 3)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--process", type=int, default=None)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--light", action="store_true")
    a = parser.parse_args()
    print(json.dumps(_worker(a.devices, a.process, a.processes, a.port, a.light)))
