"""Beacon simulation throughput: meshlab (JAX) vs hand-vectorised numpy vs event-driven.

One JSON line per case on stdout; the rows, the settings and a summary are saved with
provenance to ``benchmarks/results/beacons.json`` (``beacons_million.json`` for
``--million``) by :func:`meshlab.reporting.evidence.save_benchmark`. A *link-event* is one directed link carrying (or not)
one beacon in one round, so a run does ``N * K * rounds`` link-events.

    uv run python benchmarks/bench_beacons.py                  # throughput + RSS cases
    uv run python benchmarks/bench_beacons.py --sizes 1000 10000 --rounds 50 --repeats 3
    uv run python benchmarks/bench_beacons.py --million        # N=1e6, K=8, 1,000 rounds alone

Cases:
* ``throughput``: per size, the same model (random regular degree 8, default
  ``BeaconConfig``/``beacons.params``) run by ``meshlab.mesh.beacons.rollout`` (timed after
  a warm-up call that compiles) and by ``meshlab.reference.beacons.numpy_beacons``, each
  ``--repeats`` times (fresh seeds), interleaved so a load spike hits both; the median
  wall time gives the rate, and the process CPU time is recorded beside it. At N = 1,000
  also by the heapq event-driven reference (fewer rounds: it is slow). Ratios side by side.
  At ``--target-n`` the summary gives a verdict on ``--target`` link-events/s: "met" when
  the median wall-clock rate and the CPU-time rate (events per CPU-second x cores) both
  reach it, "not met" when both fall short, "inconclusive" when they disagree (a busy
  machine stretches wall time, not CPU time); with the spread of the repeats and the load.
  The roofline row divides that rate by the bound from this machine's measured memory
  bandwidth (``meshlab.scaling.experiments.roofline``).
* ``rss``: peak RSS of a fresh process running 1,000 vs 10,000 rounds at fixed N.
* ``million``: N = 1,000,000, K = 8, 1,000 rounds in chunks of ``--chunk`` rounds (state
  carried between chunks, fresh keys), wall time and peak RSS of that process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import jax

from meshlab.mesh import beacons, topology
from meshlab.reference.beacons import event_driven_beacons, numpy_beacons
from meshlab.reporting import calibration
from meshlab.reporting.evidence import save_benchmark
from meshlab.scaling import experiments

DEGREE = 8
ROWS: list[dict] = []


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _emit(record: dict) -> None:
    record.setdefault("cpu_count", os.cpu_count())
    record.setdefault("machine", platform.machine())
    ROWS.append(record)
    print(json.dumps(record), flush=True)


def _jax_run(kernel, params, rounds, seed, impl):
    key = jax.random.key(seed, impl=impl)
    state, _ = beacons.rollout(kernel, key, params, rounds)
    jax.block_until_ready(state)
    return state


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def _median(xs):
    return float(statistics.median(xs))


def _spread(xs) -> float:
    """(max - min) / median of the repeats: 0 on a quiet machine."""
    return float((max(xs) - min(xs)) / statistics.median(xs))


def throughput(sizes, rounds, ed_rounds, impl, repeats):
    config = beacons.BeaconConfig()
    params = beacons.params()
    for n in sizes:
        topo = topology.random_regular(jax.random.key(n), n, DEGREE)
        kernel = beacons.build(config, topo)
        t0 = time.perf_counter()
        _jax_run(kernel, params, rounds, 0, impl)  # compile + first run
        compile_s = time.perf_counter() - t0
        load_before = os.getloadavg()[0]
        jax_w, jax_c, np_w, np_c = [], [], [], []
        for r in range(repeats):  # interleaved: a load spike hits both sides
            w, c = _timed(lambda r=r, k=kernel: _jax_run(k, params, rounds, 1 + r, impl))
            jax_w.append(w)
            jax_c.append(c)
            w, c = _timed(lambda r=r, t=topo: numpy_beacons(1 + r, t, config, params, rounds))
            np_w.append(w)
            np_c.append(c)
        jax_s, np_s = _median(jax_w), _median(np_w)
        events = n * DEGREE * rounds
        cores = os.cpu_count() or 1
        rec = {
            "case": "throughput",
            "n_nodes": n,
            "degree": DEGREE,
            "rounds": rounds,
            "repeats": repeats,
            "key_impl": impl,
            "jax_s": round(jax_s, 4),
            "jax_s_repeats": [round(x, 4) for x in jax_w],
            "jax_cpu_s": round(_median(jax_c), 4),
            "jax_spread": round(_spread(jax_w), 3),
            "jax_compile_and_first_run_s": round(compile_s, 3),
            "numpy_s": round(np_s, 4),
            "numpy_s_repeats": [round(x, 4) for x in np_w],
            "numpy_cpu_s": round(_median(np_c), 4),
            "jax_link_events_per_s": events / jax_s,
            "jax_link_events_per_cpu_s_x_cores": events / _median(jax_c) * cores,
            "numpy_link_events_per_s": events / np_s,
            "speedup_vs_numpy": np_s / jax_s,
            "load_avg_1m_before": round(load_before, 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
        }
        if n == 1000 and ed_rounds > 0:
            t0 = time.perf_counter()
            out = event_driven_beacons(1, topo, config, params, ed_rounds)
            ed_s = time.perf_counter() - t0
            ed_rate = n * DEGREE * ed_rounds / ed_s
            rec.update(
                event_driven_rounds=ed_rounds,
                event_driven_s=round(ed_s, 3),
                event_driven_events=out["events"],
                event_driven_link_events_per_s=ed_rate,
                speedup_vs_event_driven=rec["jax_link_events_per_s"] / ed_rate,
            )
        _emit(rec)


def rss_child(n, rounds, impl):
    """Runs one simulation in this (fresh) process and prints its peak RSS."""
    topo = topology.random_regular(jax.random.key(n), n, DEGREE)
    config, params = beacons.BeaconConfig(), beacons.params()
    t0 = time.perf_counter()
    _jax_run(beacons.build(config, topo), params, rounds, 0, impl)
    print(
        json.dumps(
            {"rounds": rounds, "wall_s": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_mb()}
        ),
        flush=True,
    )


def rss(n, impl):
    out = {}
    for rounds in (1000, 10000):
        res = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(n), str(rounds), "--key-impl", impl],
            check=True,
            capture_output=True,
            text=True,
        )
        out[rounds] = json.loads(res.stdout.strip().splitlines()[-1])
    _emit(
        {
            "case": "rss",
            "n_nodes": n,
            "degree": DEGREE,
            "peak_rss_mb_1000_rounds": round(out[1000]["peak_rss_mb"], 1),
            "peak_rss_mb_10000_rounds": round(out[10000]["peak_rss_mb"], 1),
            "rss_ratio_10000_over_1000": out[10000]["peak_rss_mb"] / out[1000]["peak_rss_mb"],
            "wall_s_1000": round(out[1000]["wall_s"], 2),
            "wall_s_10000": round(out[10000]["wall_s"], 2),
        }
    )


def million(n, rounds, chunk, impl):
    config, params = beacons.BeaconConfig(), beacons.params()
    t0 = time.perf_counter()
    topo = topology.random_regular(jax.random.key(7), n, DEGREE)
    topo_s = time.perf_counter() - t0
    key = jax.random.key(0, impl=impl)
    k_init, key = jax.random.split(key)
    kernel = beacons.build(config, topo)
    state = kernel.init(k_init, params)
    t0 = time.perf_counter()
    done = 0
    first_chunk_s = None
    while done < rounds:
        step = min(chunk, rounds - done)
        key, k = jax.random.split(key)
        state, _ = beacons.rollout(kernel, k, params, step, state=state)
        jax.block_until_ready(state)
        done += step
        if first_chunk_s is None:
            first_chunk_s = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "progress_rounds": done,
                    "elapsed_s": round(time.perf_counter() - t0, 1),
                    "peak_rss_mb": round(_peak_rss_mb(), 1),
                }
            ),
            file=sys.stderr,
            flush=True,
        )
    wall = time.perf_counter() - t0
    s = beacons.summarize(state, config, params)
    _emit(
        {
            "case": "million",
            "n_nodes": n,
            "degree": DEGREE,
            "rounds": rounds,
            "chunk_rounds": chunk,
            "key_impl": impl,
            "topology_build_s": round(topo_s, 2),
            "wall_s": round(wall, 1),
            "first_chunk_incl_compile_s": round(first_chunk_s, 1),
            "link_events_per_s": n * DEGREE * rounds / wall,
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "p50_ms": s["p50_s"] * 1e3,
            "p99_ms": s["p99_s"] * 1e3,
            "delivery_ratio": s["delivery_ratio"],
        }
    )


def verdict(row: dict, target: float) -> dict:
    """The target verdict at one size from the wall-clock and the CPU-time rates."""
    wall = row["jax_link_events_per_s"]
    cpu = row["jax_link_events_per_cpu_s_x_cores"]
    if wall >= target and cpu >= target:
        word = "met"
    elif wall < target and cpu < target:
        word = "not met"
    else:
        word = "inconclusive"
    return {
        "n_nodes": row["n_nodes"],
        "link_events_per_s_target": target,
        "link_events_per_s_wall": round(wall),
        "link_events_per_s_cpu_x_cores": round(cpu),
        "seconds_per_1000_rounds": round(row["jax_s"] / row["rounds"] * 1000, 1),
        "repeats": row["repeats"],
        "spread": row["jax_spread"],
        "load_avg_1m": [row["load_avg_1m_before"], row["load_avg_1m_after"]],
        "verdict": word,
    }


def roofline_row(row: dict, membw_mb: int) -> dict:
    """How far the measured rate is from the memory-bandwidth bound of this machine."""
    cal = calibration.calibrate(jax.random.key(0), membw_mb=membw_mb, repeats=3)
    roof = experiments.roofline(
        row["n_nodes"], DEGREE, row["jax_link_events_per_s"], cal.membw_gb_per_s
    )
    return {"case": "roofline", "n_nodes": row["n_nodes"], "degree": DEGREE, **roof}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000, 1000000])
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--target", type=float, default=50e6, help="link-events/s at --target-n")
    ap.add_argument("--target-n", type=int, default=1_000_000)
    ap.add_argument("--membw-mb", type=int, default=512, help="buffer for the bandwidth probe")
    ap.add_argument("--event-driven-rounds", type=int, default=10)
    ap.add_argument("--rss-n", type=int, default=1000)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--million", action="store_true", help="run only the N = 1e6 case")
    ap.add_argument("--million-n", type=int, default=1_000_000)
    ap.add_argument("--million-rounds", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--key-impl", default="threefry2x32", choices=["threefry2x32", "rbg"])
    ap.add_argument("--rss-child", type=int, nargs=2, metavar=("N", "ROUNDS"))
    args = ap.parse_args(argv)
    if args.rss_child:
        rss_child(*args.rss_child, args.key_impl)
        return
    settings = {k: v for k, v in vars(args).items() if k != "rss_child"}
    if args.million:
        million(args.million_n, args.million_rounds, args.chunk, args.key_impl)
        summary = {k: ROWS[-1][k] for k in ("link_events_per_s", "peak_rss_mb", "wall_s")}
        path = save_benchmark("beacons_million", ROWS, config=settings, summary=summary)
    else:
        throughput(args.sizes, args.rounds, args.event_driven_rounds, args.key_impl, args.repeats)
        if not args.skip_rss:
            rss(args.rss_n, args.key_impl)
        thr = [r for r in ROWS if r["case"] == "throughput"]
        summary = {
            f"speedup_vs_numpy_n{r['n_nodes']}": round(r["speedup_vs_numpy"], 2) for r in thr
        }
        summary |= {
            f"jax_link_events_per_s_n{r['n_nodes']}": round(r["jax_link_events_per_s"]) for r in thr
        }
        for r in thr:
            if "speedup_vs_event_driven" in r:
                summary["speedup_vs_event_driven_n1000"] = round(r["speedup_vs_event_driven"], 1)
        for r in ROWS:
            if r["case"] == "rss":
                summary["rss_ratio_10000_over_1000_rounds"] = round(
                    r["rss_ratio_10000_over_1000"], 3
                )
        at = [r for r in thr if r["n_nodes"] == args.target_n]
        if at:
            summary["target"] = verdict(at[0], args.target)
            _emit(roofline_row(at[0], args.membw_mb))
            summary["target"]["fraction_of_memory_bound"] = round(ROWS[-1]["fraction_of_bound"], 4)
        path = save_benchmark("beacons", ROWS, config=settings, summary=summary)
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
