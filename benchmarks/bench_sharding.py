"""One simulation split over forced host devices: throughput and the traffic of each layout.

For each forced device count (1, 2, 4; each in a fresh subprocess, ``XLA_FLAGS`` set
before JAX starts) and each size N (random geometric graph, mean degree 8, table width
16, Hilbert-ordered, padded to the device count):

* the beacon model (``meshlab.mesh.beacons``) sharded automatically
  (:func:`meshlab.scaling.sharding.shard_kernel`): link-events/s = real links x rounds /
  seconds of a timed rollout after a compile run of the same length;
* the gossip model (push-pull, fanout 2) sharded automatically and with the explicit halo
  exchange (:func:`meshlab.scaling.sharding.halo_gossip_rollout`): contacts/s;
* the unsharded run (1 device) of the same code is the baseline, measured in the same
  invocation; ``benchmarks/bench_beacons.py`` compares that against the numpy twin.

And, without running anything, the bytes received per round per gathered float32 node
vector: an all-gather ((S - 1) x N values) vs the halo plan of the Hilbert and of a random
numbering, at N = 10^6 for S = 2, 4, 8, with the cut-link fractions.

Forced host devices share this machine's cores: on 2 physical cores they cannot run much
faster than one device, the point of the throughput rows is that sharding costs little
and that the results are the same (the tests check equality); the traffic figure is what
carries over to real devices.

    uv run python benchmarks/bench_sharding.py               # N = 1e5 and 1e6, 10 rounds
    uv run python benchmarks/bench_sharding.py --quick       # N = 1e5 only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def _topology(n: int, shards: int):
    import jax

    from meshlab.mesh import topology
    from meshlab.scaling import partition

    topo = topology.random_geometric(
        jax.random.key(0), n, topology.radius_for_degree(n, 8), max_degree=16,
        allow_disconnected=True,
    )  # fmt: skip
    return partition.pad(partition.reorder(topo, "hilbert").topology, shards)


def _timed(fn):
    import jax

    jax.block_until_ready(fn())  # compile + warm
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def worker(devices: int, n: int, rounds: int) -> list[dict]:
    """Runs in a subprocess with ``devices`` forced host devices."""
    import jax

    from meshlab.membership import gossip
    from meshlab.mesh import beacons
    from meshlab.scaling import sharding

    mesh = sharding.node_mesh(devices)
    topo = _topology(n, devices)
    links = int(np.asarray(topo.mask).sum())
    rows = []
    kernel = beacons.build(beacons.BeaconConfig(), topo)
    prm = beacons.params()
    if devices > 1:
        kernel = sharding.shard_kernel(kernel, mesh)
    sec = _timed(lambda: beacons.rollout(kernel, jax.random.key(1), prm, rounds)[0].accepted)
    rows.append(
        {"model": "beacons", "layout": "auto" if devices > 1 else "unsharded", "devices": devices,
         "n_nodes": n, "links": links, "rounds": rounds, "seconds": sec,
         "events_per_s": links * rounds / sec}
    )  # fmt: skip
    cfg = gossip.GossipConfig(n_nodes=topo.n_nodes, mode="pushpull", fanout=2)
    gk = gossip.build(cfg, topo)
    gp = gossip.params(loss=0.1)
    contacts = 2 * topo.n_nodes * rounds
    layouts = {"unsharded": lambda: gossip.rollout(gk, jax.random.key(2), gp, rounds)[0].when}
    if devices > 1:
        sk = sharding.shard_kernel(gk, mesh)
        layouts = {
            "auto": lambda: gossip.rollout(sk, jax.random.key(2), gp, rounds)[0].when,
            "halo": lambda: (
                sharding.halo_gossip_rollout(gk, jax.random.key(2), gp, rounds, mesh, topo)[0].when
            ),
        }
    for layout, fn in layouts.items():
        sec = _timed(fn)
        rows.append(
            {"model": "gossip", "layout": layout, "devices": devices, "n_nodes": n,
             "links": links, "rounds": rounds, "seconds": sec,
             "events_per_s": contacts / sec}
        )  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    for r in rows:
        r["peak_rss_gib"] = rss
    return rows


def traffic(n: int) -> list[dict]:
    """Bytes per gathered float32 node vector per round: all-gather vs halo."""
    import jax

    from meshlab.mesh import topology
    from meshlab.scaling import partition, sharding

    base = topology.random_geometric(
        jax.random.key(0), n, topology.radius_for_degree(n, 8), max_degree=16,
        allow_disconnected=True,
    )  # fmt: skip
    grid = topology.grid_2d(1000, n // 1000, periodic=True)
    rows = []
    for name, topo in (("random_geometric", base), ("grid_2d_torus", grid)):
        for ordering in ("hilbert", "morton", "identity"):
            t = partition.reorder(topo, ordering).topology
            for s in (2, 4, 8):
                tp = partition.pad(t, s)
                spec, _ = sharding.halo_plan(tp, s)
                rows.append(
                    {"topology": name, "ordering": ordering, "shards": s, "n_nodes": tp.n_nodes,
                     "cut_fraction": partition.cut_fraction(tp, s),
                     "allgather_bytes": sharding.allgather_bytes(tp.n_nodes, s),
                     "halo_bytes": sharding.halo_bytes(spec),
                     "ratio": sharding.allgather_bytes(tp.n_nodes, s) / max(sharding.halo_bytes(spec), 1)}
                )  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--n-nodes", type=int, default=100_000)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.devices, a.n_nodes, a.rounds)))
        return
    sizes = [100_000] if a.quick else [100_000, 1_000_000]
    rows = []
    for n in sizes:
        for d in (1, 2, 4):
            env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={d}",
                       JAX_PLATFORMS="cpu")  # fmt: skip
            out = subprocess.run(
                [sys.executable, __file__, "--worker", "--devices", str(d), "--n-nodes", str(n),
                 "--rounds", str(a.rounds)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            got = json.loads(out.stdout.strip().splitlines()[-1])
            for r in got:
                print(json.dumps(r), flush=True)
            rows += got
    tr = traffic(sizes[-1])
    from meshlab.reporting.evidence import save_benchmark

    def rate(model, layout, d, n):
        return next(
            r["events_per_s"] for r in rows
            if (r["model"], r["layout"], r["devices"], r["n_nodes"]) == (model, layout, d, n)
        )  # fmt: skip

    n = sizes[-1]
    summary = {
        "n_nodes": n,
        "beacons_events_per_s": {
            str(d): rate("beacons", "auto" if d > 1 else "unsharded", d, n) for d in (1, 2, 4)
        },
        "gossip_contacts_per_s": {
            "1_unsharded": rate("gossip", "unsharded", 1, n),
            **{f"{d}_{lay}": rate("gossip", lay, d, n) for d in (2, 4) for lay in ("auto", "halo")},
        },
        "traffic_ratio_allgather_over_halo_hilbert": {
            f"{r['topology']}_S{r['shards']}": r["ratio"] for r in tr if r["ordering"] == "hilbert"
        },
        "cut_fraction": {
            f"{r['topology']}_{r['ordering']}_S{r['shards']}": r["cut_fraction"] for r in tr
        },
        "note": "forced host devices share 2 physical cores: no speed-up is expected",
    }
    path = save_benchmark(
        "sharding",
        rows + [{"kind": "traffic", **r} for r in tr],
        config={"sizes": sizes, "rounds": a.rounds, "degree": 8, "max_degree": 16},
        summary=summary,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
