"""Sweeps on Dask distributed: a scheduler and two workers on 127.0.0.1 give the in-process
results exactly, and killing a worker mid-sweep loses no result."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from meshlab.scaling import sweeps

POINTS = sweeps.grid(
    sizes=[60, 120], scenarios={"base": {}, "lossy": {"loss_p": 0.2}}, n_seeds=3, n_rounds=15
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def in_process():
    return sweeps.run(POINTS)


@pytest.fixture(scope="module")
def cluster():
    """``dask scheduler`` + two ``dask worker`` processes (no nanny: a killed one stays dead)."""
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cli = [sys.executable, "-m"]
    procs = [
        subprocess.Popen(
            [*cli, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
             str(port), "--dashboard-address", ":0", "--no-show"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    procs += [
        subprocess.Popen(
            [*cli, "distributed.cli.dask_worker", addr, "--nthreads", "1", "--no-nanny",
             "--host", "127.0.0.1", "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]  # fmt: skip
    from distributed import Client

    client = Client(addr, timeout=60)
    client.wait_for_workers(2, timeout=120)
    try:
        yield client, procs
    finally:
        client.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_in_process_sweep_is_sane(in_process):
    assert not in_process.failures
    recs = in_process.records
    assert [(r["scenario"], r["n_nodes"]) for r in recs] == [
        ("base", 60), ("base", 120), ("lossy", 60), ("lossy", 120)
    ]  # fmt: skip
    for r in recs:
        assert 0.0 < r["delivery_ratio_mean"] <= 1.0 and r["n_seeds"] == 3
    # loss 20 % -> delivery ratio near 0.8 (each of 3 seeds x 15 rounds x ~500 links)
    assert abs(recs[2]["delivery_ratio_mean"] - 0.8) < 0.02
    assert abs(recs[0]["delivery_ratio_mean"] - 0.99) < 0.01


@pytest.mark.slow
def test_cluster_equals_in_process_and_survives_a_killed_worker(in_process, cluster):
    client, procs = cluster
    remote = sweeps.run(POINTS, client=client)
    assert not remote.failures
    assert remote.records == in_process.records  # bit-identical floats

    # a second sweep (one shape: each worker compiles once): kill a worker holding work
    points = sweeps.grid(
        sizes=[100], scenarios={f"loss{i}": {"loss_p": 0.02 * i} for i in range(10)},
        n_seeds=3, n_rounds=15, seed=5,
    )  # fmt: skip
    pids = client.run(os.getpid)  # worker address -> pid
    futures_done = []

    def kill_busy_worker():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            busy = sorted(w for w, ks in client.processing().items() if ks)
            if len(busy) == 2:
                os.kill(pids[busy[0]], signal.SIGKILL)
                futures_done.append(busy[0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_busy_worker)
    killer.start()
    result = sweeps.run(points, client=client)
    killer.join()
    assert futures_done, "no moment with both workers busy: the kill did not happen"
    assert not result.failures, result.failures
    assert len(result.records) == len(points)
    assert len(client.scheduler_info()["workers"]) == 1  # the killed worker stayed dead
    assert result.records == sweeps.run(points).records


def test_failed_point_is_recorded_and_the_others_kept():
    bad = sweeps.SweepPoint("bad", (("loss_p", 2.0),), 60, 8, 5, 2, 0)  # invalid on purpose
    res = sweeps.run([POINTS[0], bad])
    assert len(res.records) == 1 and res.records[0]["scenario"] == "base"
    assert len(res.failures) == 1 and "loss_p" in res.failures[0]["error"]


def test_bad_sweep_inputs_are_named():
    with pytest.raises(ValueError, match=r"sizes\[1\]"):
        sweeps.grid(sizes=[100, 3], scenarios={"a": {}})
    with pytest.raises(ValueError, match=r"scenarios\['x'\].*loss_p"):
        sweeps.grid(sizes=[100], scenarios={"x": {"loss_p": -1}})
    with pytest.raises(TypeError, match=r"scenarios\['y'\].*unknown"):
        sweeps.grid(sizes=[100], scenarios={"y": {"not_a_field": 1}})
    with pytest.raises(ValueError, match="scenarios must be a non-empty"):
        sweeps.grid(sizes=[100], scenarios={})
    with pytest.raises(TypeError, match=r"points\[0\]"):
        sweeps.run(["p"])
