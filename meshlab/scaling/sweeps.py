"""Sweeps of seeds x sizes x scenarios fanned out over machines with Dask distributed.

Each sweep point (one scenario at one size) is one task; inside a task every seed runs in
one ``vmap`` (:func:`meshlab.mesh.beacons.rollout_seeds`), so a worker compiles once per
shape and uses its cores for the seed batch. The same points run in-process without a
cluster (``client=None``) and give identical numbers::

    from meshlab.scaling import sweeps

    points = sweeps.grid(sizes=[200, 1000], scenarios={"base": {}, "lossy": {"loss_p": 0.1}},
                         n_seeds=8, n_rounds=50)
    local = sweeps.run(points)                             # in this process
    with sweeps.local_cluster(n_workers=2) as client:      # or Client("tcp://scheduler:8786")
        remote = sweeps.run(points, client=client)
    remote.records == local.records                        # identical

Why Dask distributed rather than Ray: it is a small pure-Python wheel already in the
project's ``sweeps`` extra (Ray is a large binary wheel with its own object store and
raylet daemons), its scheduler and workers start as two plain commands
(``dask scheduler``, ``dask worker tcp://HOST:8786``) on any machine with this
environment, and it reschedules a lost worker's tasks by itself. DVC's experiment queue
stays the tool for sweeps on one machine.

Failures: a worker that dies mid-task has its tasks moved to the remaining workers by the
scheduler (up to ``distributed.scheduler.allowed-failures`` deaths per task); ``retries``
re-runs a task that raised. A point that still fails is *recorded* in
:attr:`SweepResult.failures` with its error - the other points' results are always
returned.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from meshlab.core.validation import check_int, check_seed

__all__ = [
    "SweepPoint",
    "SweepResult",
    "beacon_point",
    "grid",
    "local_cluster",
    "run",
]


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One task of a sweep: a scenario at one size, all its seeds (hashable, picklable).

    Attributes:
        scenario: the scenario's name.
        overrides: ``(field, value)`` pairs for :func:`meshlab.mesh.beacons.params`.
        n_nodes: mesh size.
        degree: random-regular degree.
        n_rounds: rounds per run.
        n_seeds: seeds run in one ``vmap`` inside the task.
        seed: base seed (the topology uses ``seed``, the runs ``seed + 1``).
    """

    scenario: str
    overrides: tuple[tuple[str, float], ...]
    n_nodes: int
    degree: int
    n_rounds: int
    n_seeds: int
    seed: int


class SweepResult(NamedTuple):
    """Outcome of :func:`run`.

    Attributes:
        records: one dict per successful point, in the order of the points.
        failures: ``{"point": SweepPoint, "error": str}`` per point that failed for good.
    """

    records: list[dict]
    failures: list[dict]


def grid(
    sizes: Sequence[int],
    scenarios: Mapping[str, Mapping[str, float]],
    *,
    n_seeds: int = 4,
    n_rounds: int = 50,
    degree: int = 8,
    seed: int = 0,
) -> list[SweepPoint]:
    """The points of a sizes x scenarios sweep (seeds stay inside each point).

    Args:
        sizes: mesh sizes (each an int > ``degree``).
        scenarios: name -> beacon params overrides (e.g. ``{"lossy": {"loss_p": 0.1}}``).
        n_seeds, n_rounds, degree, seed: as in :class:`SweepPoint`.

    Raises:
        ValueError / TypeError: bad sizes (named ``sizes[i]``), empty scenarios, bad values.
    """
    degree = check_int("degree", degree, low=1)
    if isinstance(sizes, int | str) or not len(sizes):
        raise ValueError(f"sizes must be a non-empty list of node counts, got {sizes!r}")
    sizes = [check_int(f"sizes[{i}]", n, low=degree + 1) for i, n in enumerate(sizes)]
    if not isinstance(scenarios, Mapping) or not scenarios:
        raise ValueError(
            f"scenarios must be a non-empty mapping name -> overrides, got {scenarios!r}"
        )
    from meshlab.mesh import beacons  # validate every scenario before anything runs

    for name, over in scenarios.items():
        try:
            beacons.params(**dict(over))
        except (TypeError, ValueError) as err:
            raise type(err)(f"scenarios[{name!r}]: {err}") from None
    n_seeds = check_int("n_seeds", n_seeds, low=1)
    n_rounds = check_int("n_rounds", n_rounds, low=1)
    seed = check_seed("seed", seed)
    return [
        SweepPoint(
            name,
            tuple(sorted((k, float(v)) for k, v in over.items())),
            n,
            degree,
            n_rounds,
            n_seeds,
            seed,
        )
        for name, over in scenarios.items()
        for n in sizes
    ]


def beacon_point(point: SweepPoint) -> dict:
    """Runs one point: a random-regular mesh, ``n_seeds`` beacon runs in one ``vmap``.

    Returns:
        a flat dict: the point's fields, and mean / ci95 over seeds of p50, p99, delivery
        ratio and max CPU utilisation (Python floats).
    """
    import jax

    from meshlab.mesh import beacons, topology

    topo = topology.random_regular(jax.random.key(point.seed), point.n_nodes, point.degree)
    config = beacons.BeaconConfig()
    prm = beacons.params(**dict(point.overrides))
    kernel = beacons.build(config, topo)
    states, _ = beacons.rollout_seeds(
        kernel, jax.random.key(point.seed + 1), prm, point.n_rounds, point.n_seeds
    )
    stats = beacons.summarize_seeds(states, config, prm)
    out: dict[str, Any] = {
        "scenario": point.scenario,
        "n_nodes": point.n_nodes,
        "n_seeds": point.n_seeds,
        "n_rounds": point.n_rounds,
    }
    for m in ("p50_s", "p99_s", "delivery_ratio", "cpu_util_max"):
        out[f"{m}_mean"] = float(stats[m]["mean"])
        out[f"{m}_ci95"] = float(np.asarray(stats[m]["ci95"]).max())
    return out


def run(
    points: Sequence[SweepPoint],
    *,
    fn: Callable[[SweepPoint], dict] = beacon_point,
    client: Any = None,
    retries: int = 1,
) -> SweepResult:
    """Runs every point in this process (``client=None``) or as tasks on a Dask cluster.

    Args:
        points: from :func:`grid`.
        fn: a module-level (picklable, importable on the workers) function of one point.
        client: a ``distributed.Client`` or ``None``.
        retries: re-runs of a task that raised (worker deaths are rescheduled anyway).

    Returns:
        :class:`SweepResult`; a point that failed for good is recorded, never dropped
        silently, and never takes the other results with it.
    """
    points = list(points)
    if not points:
        raise ValueError("points must be a non-empty list of SweepPoint (see grid)")
    for i, p in enumerate(points):
        if not isinstance(p, SweepPoint):
            raise TypeError(f"points[{i}] must be a SweepPoint, got {type(p).__name__}")
    retries = check_int("retries", retries, low=0)
    done: dict[int, dict] = {}
    failures: list[dict] = []
    if client is None:
        for i, p in enumerate(points):
            try:
                done[i] = fn(p)
            except Exception as err:  # noqa: BLE001 - recorded, the sweep goes on
                failures.append({"point": p, "error": f"{type(err).__name__}: {err}"})
    else:
        from distributed import as_completed

        futures = {
            client.submit(
                fn, p, key=f"sweep-{i}-{p.scenario}-{p.n_nodes}", retries=retries, pure=False
            ): i
            for i, p in enumerate(points)
        }
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                done[i] = fut.result()
            except Exception as err:  # noqa: BLE001 - KilledWorker, task errors: recorded
                failures.append({"point": points[i], "error": f"{type(err).__name__}: {err}"})
    return SweepResult([done[i] for i in sorted(done)], failures)


@contextlib.contextmanager
def local_cluster(n_workers: int = 2, threads_per_worker: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` on a fresh local cluster on 127.0.0.1 (worker processes).

    For a real cluster start ``dask scheduler`` on one machine and ``dask worker
    tcp://HOST:8786`` on each of the others, then pass ``distributed.Client("tcp://HOST:8786")``
    to :func:`run`.
    """
    from distributed import Client, LocalCluster

    n_workers = check_int("n_workers", n_workers, low=1)
    threads_per_worker = check_int("threads_per_worker", threads_per_worker, low=1)
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()
