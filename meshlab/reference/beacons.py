"""Independent references for the beacon model: an event-driven simulator and a numpy twin.

* :func:`event_driven_beacons` -- plain Python + ``heapq`` discrete-event simulation (meant
  for N <= ~1,000) of the scenario of :mod:`meshlab.mesh.beacons`, in continuous time: one
  global event list (round ticks, sends, arrivals, departures) and a true FIFO server per
  node, so beacons of consecutive rounds interleave exactly as their arrival times say.
  The synchronous-round JAX model queues each round behind the previous ones; comparing
  the two measures that approximation.
* :func:`round_model_error` -- the error of the round model against the event-driven
  reference as a tidy frame, with the documented tolerance (the beacons report's table).
* :func:`numpy_beacons` -- the synchronous-round model hand-vectorised in numpy (one loop
  over rounds, arrays over links), the baseline of ``benchmarks/bench_beacons.py``.

Both take the same ``Topology``, ``BeaconConfig`` and ``BeaconParams`` as the JAX model,
draw from ``numpy.random.Generator(seed)`` (statistically, not bitwise, equal to JAX), and
support every latency / jitter / loss / service / load model; faults and detectors are
JAX-only (a ``ValueError`` says so).
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import jax
import numpy as np
import polars as pl

from meshlab.mesh import beacons
from meshlab.mesh.beacons import BeaconConfig, BeaconParams
from meshlab.mesh.histogram import edges as hist_edges
from meshlab.mesh.topology import Topology, random_regular

__all__ = ["event_driven_beacons", "numpy_beacons", "round_model_error"]


def _floats(params: BeaconParams) -> dict:
    if params.faults is not None:
        raise ValueError("the references model no faults: params.faults must be None")
    return {
        k: float(np.asarray(v))
        for k, v in params._asdict().items()
        if k not in ("faults", "detector")
    }


def _check(topology: Topology, config: BeaconConfig) -> None:
    if config.detector is not None:
        raise ValueError("the references do not support a detector (JAX model only)")
    if not isinstance(topology, Topology):
        raise TypeError(f"topology must be a Topology, got {type(topology).__name__}")


def _load(pattern: str, t: float, p: dict) -> float:
    peak, start, dur = p["load_peak"], p["load_start_s"], p["load_duration_s"]
    if pattern == "steady":
        return 1.0
    if pattern == "burst":
        return peak if start <= t < start + dur else 1.0
    if pattern == "ramp":
        frac = min(max((t - start) / dur, 0.0), 1.0) if dur > 0 else float(t >= start)
        return 1.0 + (peak - 1.0) * frac
    return 1.0 + (peak - 1.0) * 0.5 * (1.0 - math.cos(2.0 * math.pi * t / p["load_period_s"]))


def _base_latency(rng, config, p, topology) -> np.ndarray:
    nb, mask = topology.neighbors, topology.mask
    if config.latency_model == "constant":
        lat = np.full(nb.shape, p["base_latency_s"])
    elif config.latency_model == "lognormal":
        lat = p["base_latency_s"] * np.exp(p["base_latency_sigma"] * rng.standard_normal(nb.shape))
    else:
        pos = np.asarray(topology.positions, np.float64)
        d = np.sqrt(((pos[:, None, :] - pos[nb]) ** 2).sum(-1))
        lat = p["base_latency_s"] + p["propagation_s_per_unit"] * d
    return np.where(mask, lat, 0.0)


def _jitter(rng, dist: str, p: dict, size):
    s, shape = p["jitter_scale_s"], p["jitter_shape"]
    if dist == "none":
        return np.zeros(size)
    if dist == "lognormal":
        return s * np.exp(shape * rng.standard_normal(size))
    if dist == "normal":
        return s * rng.standard_normal(size)
    if dist == "pareto":
        return s * (rng.random(size) ** (-1.0 / shape) - 1.0)
    return s * rng.exponential(1.0, size) + np.where(
        rng.random(size) < p["slow_prob"], p["slow_s"], 0.0
    )


def _service(rng, dist: str, p: dict, size):
    mean, sigma = p["verify_mean_s"], p["verify_sigma"]
    if dist == "deterministic":
        return np.full(size, mean)
    if dist == "exponential":
        return rng.exponential(mean, size)
    return mean * np.exp(sigma * rng.standard_normal(size) - 0.5 * sigma * sigma)


def _ser(p: dict) -> float:
    return 0.0 if math.isinf(p["bandwidth_bps"]) else 8.0 * p["beacon_bytes"] / p["bandwidth_bps"]


def _loss(rng, config, p, bad):
    """One round of the loss channel for all links (numpy); returns (lost, new_bad)."""
    if config.loss_model == "iid":
        return rng.random(bad.shape) < p["loss_p"], bad
    u = rng.random(bad.shape)
    new_bad = np.where(bad, u >= p["ge_r"], u < p["ge_p"])
    prob = np.where(new_bad, p["ge_loss_bad"], p["ge_loss_good"])
    return rng.random(bad.shape) < prob, new_bad


def _ge_init(rng, config, p, shape):
    if config.loss_model != "gilbert_elliott" or p["ge_p"] + p["ge_r"] == 0:
        return np.zeros(shape, bool)
    return rng.random(shape) < p["ge_p"] / (p["ge_p"] + p["ge_r"])


def _setup(seed: int, topology: Topology, config: BeaconConfig, params: BeaconParams):
    """Checks the inputs and draws the static link state (same RNG order in both references).

    Returns:
        ``(p, rng, neighbors, mask, base_latency, ge_bad)``.
    """
    _check(topology, config)
    p = _floats(params)
    rng = np.random.default_rng(seed)
    nb = np.asarray(topology.neighbors)
    mask = np.asarray(topology.mask)
    base = _base_latency(rng, config, p, topology)
    bad = _ge_init(rng, config, p, nb.shape) & mask
    return p, rng, nb, mask, base, bad


def event_driven_beacons(
    seed: int, topology: Topology, config: BeaconConfig, params: BeaconParams, n_rounds: int
) -> dict:
    """Continuous-time discrete-event reference (heapq), exact FIFO across rounds.

    Args:
        seed: numpy seed.
        topology, config, params: as for :func:`meshlab.mesh.beacons.build`.
        n_rounds: rounds of beacons sent (the simulation runs until every beacon is served).

    Returns:
        dict with ``latency_s`` (float64 array of accepted beacons' latencies, in
        departure order), ``wait_s`` (queue waits), ``sent``, ``accepted``, ``lost``,
        ``busy_s`` (per node), ``events`` (events processed).
    """
    p, rng, nb, mask, base, bad = _setup(seed, topology, config, params)
    n, k = nb.shape
    ser = _ser(p)
    period = p["interval_s"]
    extra_per_msg = p["verify_mean_s"]
    # listeners of each sender: (receiver, slot)
    listeners = [[] for _ in range(n)]
    for i in range(n):
        for s in range(k):
            if mask[i, s]:
                listeners[nb[i, s]].append((i, s))
    queue = [deque() for _ in range(n)]
    busy = [False] * n
    busy_s = np.zeros(n)
    lat, waits = [], []
    sent = accepted = lost = 0
    events = []  # (time, seq, kind, a, b, c, d)
    seq = 0
    TICK, SEND, ARRIVE, DEPART = 0, 1, 2, 3
    heapq.heappush(events, (0.0, seq, TICK, 0, 0, 0.0, 0.0))
    n_events = 0
    while events:
        t, _, kind, a, b, c, d = heapq.heappop(events)
        n_events += 1
        if kind == TICK:  # round a starts: schedule sends, advance the loss channel
            r = a
            m = _load(config.load_pattern, t + 0.5 * period, p)
            lost_now, bad = _loss(rng, config, p, bad)
            bad &= mask
            offsets = rng.random(n) * p["send_jitter_s"]
            sends = rng.random(n) < m
            for j in range(n):
                if sends[j]:
                    seq += 1
                    heapq.heappush(events, (t + offsets[j], seq, SEND, j, 0, m, 0.0))
            pending_loss = lost_now
            if r + 1 < n_rounds:
                seq += 1
                heapq.heappush(events, (t + period, seq, TICK, r + 1, 0, 0.0, 0.0))
        elif kind == SEND:
            j, m = a, c
            for i, s in listeners[j]:
                sent += 1
                if pending_loss[i, s]:
                    lost += 1
                    continue
                delay = max(
                    0.0, base[i, s] + ser + float(_jitter(rng, config.jitter_dist, p, 1)[0])
                )
                svc = float(_service(rng, config.service_dist, p, 1)[0])
                svc += max(m - 1.0, 0.0) * extra_per_msg
                seq += 1
                heapq.heappush(events, (t + delay, seq, ARRIVE, i, 0, t, svc))
        elif kind == ARRIVE:
            i, t_send, svc = a, c, d
            if busy[i]:
                queue[i].append((t, t_send, svc))
            else:
                busy[i] = True
                busy_s[i] += svc
                waits.append(0.0)
                seq += 1
                heapq.heappush(events, (t + svc, seq, DEPART, i, 0, t_send, 0.0))
        else:  # DEPART
            i, t_send = a, c
            accepted += 1
            lat.append(t - t_send)
            if queue[i]:
                t_arr, t_send2, svc = queue[i].popleft()
                busy_s[i] += svc
                waits.append(t - t_arr)
                seq += 1
                heapq.heappush(events, (t + svc, seq, DEPART, i, 0, t_send2, 0.0))
            else:
                busy[i] = False
    return {
        "latency_s": np.asarray(lat),
        "wait_s": np.asarray(waits),
        "sent": sent,
        "accepted": accepted,
        "lost": lost,
        "busy_s": busy_s,
        "events": n_events,
    }


def numpy_beacons(
    seed: int, topology: Topology, config: BeaconConfig, params: BeaconParams, n_rounds: int
) -> dict:
    """The synchronous-round model of :mod:`meshlab.mesh.beacons`, hand-vectorised in numpy.

    Same streaming metrics as the JAX model (memory independent of ``n_rounds``).

    Returns:
        dict with ``hist`` (int64[B + 2], same bins as the JAX model), ``sent``,
        ``accepted``, ``lost``, ``busy_s`` (per node), ``wait_sum_s``, ``latency_sum_s``,
        ``max_backlog_s`` (per node).
    """
    p, rng, nb, mask, base, bad = _setup(seed, topology, config, params)
    n, k = nb.shape
    ser = _ser(p)
    period = p["interval_s"]
    edges_log = np.log(hist_edges(config))
    width = edges_log[1] - edges_log[0]
    hist = np.zeros(config.hist_bins + 2, np.int64)
    free = np.zeros(n)
    sent = accepted = lost = 0
    busy = np.zeros(n)
    max_backlog = np.zeros(n)
    wait_sum = lat_sum = 0.0
    rows = np.arange(n)[:, None]
    for r in range(n_rounds):
        m = _load(config.load_pattern, r * period + 0.5 * period, p)
        offsets = rng.random(n) * p["send_jitter_s"]
        sends = rng.random(n) < m
        emitted = mask & sends[nb]
        lost_now, bad = _loss(rng, config, p, bad)
        bad &= mask
        arrive = emitted & ~lost_now
        o_l = offsets[nb]
        delay = base + ser + _jitter(rng, config.jitter_dist, p, (n, k))
        arrival = o_l + np.maximum(delay, 0.0)
        svc = _service(rng, config.service_dist, p, (n, k)) + max(m - 1.0, 0.0) * p["verify_mean_s"]
        key = np.where(arrive, arrival, np.inf)
        order = np.argsort(key, axis=1, kind="stable")
        a_s = key[rows, order]
        s_s = np.where(np.isfinite(a_s), svc[rows, order], 0.0)
        c = np.cumsum(s_s, axis=1)
        term = np.where(np.isfinite(a_s), a_s - (c - s_s), -np.inf)
        d_s = c + np.maximum.accumulate(np.maximum(term, free[:, None]), axis=1)
        ok = np.isfinite(a_s)
        lat = (d_s - o_l[rows, order])[ok]
        idx = np.clip(
            np.floor((np.log(np.maximum(lat, 1e-300)) - edges_log[0]) / width) + 1,
            0,
            config.hist_bins + 1,
        )
        hist += np.bincount(idx.astype(np.int64), minlength=config.hist_bins + 2)
        wait_sum += float((d_s - s_s - a_s)[ok].sum())
        lat_sum += float(lat.sum())
        busy += s_s.sum(axis=1)
        free = np.maximum(d_s[:, -1] - period, 0.0)
        max_backlog = np.maximum(max_backlog, free)
        sent += int(emitted.sum())
        lost += int((emitted & lost_now).sum())
        accepted += int(ok.sum())
    return {
        "hist": hist,
        "sent": sent,
        "accepted": accepted,
        "lost": lost,
        "busy_s": busy,
        "wait_sum_s": wait_sum,
        "latency_sum_s": lat_sum,
        "max_backlog_s": max_backlog,
    }


def round_model_error(
    key: jax.Array, n_nodes: int, degree: int, n_rounds: int, n_seeds: int
) -> pl.DataFrame:
    """Error of the synchronous-round model against the event-driven reference.

    The synchronous-round model (:mod:`meshlab.mesh.beacons`, ``n_seeds`` seeds from
    ``key``) against :func:`event_driven_beacons` (numpy seeds ``0 .. n_seeds - 1``).
    Scenario: ``random_regular(key, n_nodes, degree)``, 1 s interval with sends spread over
    the interval, exponential verify at utilization 0.5 (the regime of
    :data:`meshlab.mesh.beacons.ROUND_MODEL_TOLERANCE`).

    Returns:
        One row per quantile (p50, p95, p99): ``rounds_ms``, ``event_driven_ms`` (means over
        seeds), ``rel_error`` (rounds / event-driven - 1), ``allowance`` (4 standard errors
        of the difference of the two means, relative, + the histogram bin error; nan for
        one seed) and ``tolerance`` (``ROUND_MODEL_TOLERANCE + allowance``).
    """
    topo = random_regular(key, n_nodes, degree)
    prm = beacons.params(send_jitter_s=1.0, verify_mean_s=0.5 / degree)
    cfg = beacons.BeaconConfig(service_dist="exponential")
    ours = beacons.summarize_seeds(
        beacons.rollout_seeds(beacons.build(cfg, topo), key, prm, n_rounds, n_seeds)[0], cfg, prm
    )
    ev = np.asarray(
        [
            np.quantile(
                event_driven_beacons(s, topo, cfg, prm, n_rounds)["latency_s"], [0.5, 0.95, 0.99]
            )
            for s in range(n_seeds)
        ]
    )
    rows = []
    for j, m in enumerate(("p50_s", "p95_s", "p99_s")):
        a, b = np.asarray(ours[m]["values"]), ev[:, j]
        if n_seeds > 1:
            spread = np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(n_seeds)
            allowance = 4 * spread / b.mean() + cfg.bin_rel_error
        else:
            allowance = float("nan")
        rows.append(
            {
                "quantile": m.replace("_s", ""),
                "rounds_ms": 1e3 * ours[m]["mean"],
                "event_driven_ms": 1e3 * float(b.mean()),
                "rel_error": ours[m]["mean"] / float(b.mean()) - 1,
                "allowance": float(allowance),
                "tolerance": beacons.ROUND_MODEL_TOLERANCE + float(allowance),
            }
        )
    return pl.DataFrame(rows)
