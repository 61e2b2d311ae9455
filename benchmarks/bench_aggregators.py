"""Robust aggregators: meshlab against a competent float32 numpy and the peer libraries.

Every rule at n in {100, 1000}, d in {1e4, 1e5}, f = n // 5, float32 updates (honest rows
N(0, 1), the f Byzantine rows shifted by +1 in every coordinate), side by side in one
process:

* ``meshlab numpy``: ``aggregate`` on the plain numpy array a user has (numpy's default
  16-byte alignment: one aligned host copy per call), ``meshlab numpy aligned``: on a
  buffer from ``allocate_updates`` (adopted without a copy), ``meshlab jax``: on a jax array;
* ``numpy f32``: ``benchmarks/baselines_numpy.py`` (partition not sort, no upcast,
  incremental Bulyan);
* the peers importable in this interpreter (``benchmarks/peers.py``: ByzFL numpy and torch,
  Flower), with each row's semantics stated.

Rules whose definitions differ between libraries are run with matching options: geometric
median = Weiszfeld from 0 with absolute smoothing nu = 0.1, 3 iterations, no snap (ByzFL's
definition; meshlab ``start="zero", smoothing="absolute", snap=False``); centered clipping
= from 0, tau = 10, 3 iterations (Blades / ByzFL's first call; meshlab ``centre="zero"``).
Times are medians over repeats after a first call (compilation excluded); ``max_abs_diff``
is against meshlab's output. ``rss_after_gb`` is the process's peak RSS after the row (a
running maximum: meshlab runs first at each size). The NaN/Inf table (which
implementations return a finite output with 1 or f rows of NaN / +Inf / -Inf / mixed) goes
to ``aggregators_nonfinite.json``. Results: ``benchmarks/results/aggregators.json``
(:func:`meshlab.reporting.evidence.save_benchmark`, with load and provenance).

    uv run python benchmarks/bench_aggregators.py                  # full grid, no peers
    /tmp/peers/bin/python benchmarks/bench_aggregators.py          # with the peers
    uv run python benchmarks/bench_aggregators.py --quick          # n = 100, d = 1e4
    uv run python benchmarks/bench_aggregators.py --rules krum median --n 1000 --d 100000
    /tmp/peers/bin/python benchmarks/bench_aggregators.py --n 1000 --d 100000 --repeats 1 \
        --no-nonfinite --name aggregators_n1000_d100000   # one size, its own file
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import baselines_numpy  # noqa: E402
import peers  # noqa: E402

from meshlab.fl.aggregators import allocate_updates, make_aggregator  # noqa: E402
from meshlab.reporting.evidence import save_benchmark  # noqa: E402

RULES = list(baselines_numpy.RULES)
MATCHED = {
    "geometric_median": {
        "start": "zero",
        "smoothing": "absolute",
        "nu": 0.1,
        "max_iter": 3,
        "tol": 0.0,
        "snap": False,
    },
    "centered_clipping": {"centre": "zero", "tau": 10.0, "n_iters": 3},
}
_NNM_BYTES = 2 * 2**30  # ByzFL's NNM materializes n x n x d: skipped above this
_CDIST_PAIRS = 10**10  # ByzFL's Krum: cdist of all n^2 pairs (no Gram trick)
_FLOWER_PAIRS = 10**9  # Flower's distances are a Python double loop over n^2 pairs of
# d-vectors (its Bulyan repeats them per selection): skipped when n^2 d exceeds this


def _f_for(rule: str, n: int) -> int:
    f = n // 5
    return min(f, (n - 3) // 4) if rule == "bulyan" else f


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _time(fn, repeats: int) -> tuple[float, np.ndarray]:
    out = np.asarray(jax.block_until_ready(fn()))  # first call: compile / warm caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _meshlab(rule: str, n: int, f: int):
    agg = make_aggregator(rule, n=n, f=f, **MATCHED.get(rule, {}))
    key = jax.random.key(0)
    mask = np.ones(n, bool)
    return lambda x: agg.aggregate(key, x, mask)[0]


def bench_size(n, d, rules, repeats, seed, with_peers, rows, save=lambda: None):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x[: n // 5] += np.float32(1.0)
    xa = allocate_updates(n, d)
    xa[...] = x
    xj = jnp.asarray(x)
    for rule in rules:
        f = _f_for(rule, n)
        agg = _meshlab(rule, n, f)
        cases = [
            ("meshlab numpy", lambda a=agg: a(x), ""),
            ("meshlab numpy aligned", lambda a=agg: a(xa), ""),
            ("meshlab jax", lambda a=agg: a(xj), ""),
            ("numpy f32", lambda r=rule, f=f: baselines_numpy.aggregate(r, x, f), ""),
        ]
        if with_peers:
            for label, prep, call, sem in peers.available(f, n).get(rule, []):
                if rule == "nnm+mean" and label.startswith("byzfl") and n * n * d * 4 > _NNM_BYTES:
                    rows.append(_row(rule, n, d, f, label, None, None, "skipped: n*n*d memory"))
                    continue
                pairs = rule in ("krum", "multi_krum", "bulyan") and n * n * d
                if label == "flower" and pairs > _FLOWER_PAIRS:
                    note = "not measured: Python loop over n^2 pairs (bulyan: per selection)"
                    rows.append(_row(rule, n, d, f, label, None, None, note))
                    continue
                if label.startswith("byzfl") and pairs > _CDIST_PAIRS:
                    note = "not measured: cdist over n^2 pairs took > 5 min here (loaded)"
                    rows.append(_row(rule, n, d, f, label, None, None, note))
                    continue
                inp = prep(x)
                cases.append((label, lambda c=call, i=inp: c(i), sem))
        ref = None
        for label, fn, sem in cases:
            t, out = _time(fn, repeats)
            ref = out if ref is None else ref
            row = _row(rule, n, d, f, label, t, float(np.max(np.abs(out - ref))), sem)
            rows.append(row)
            print(json.dumps(row), flush=True)
        save()  # after every rule: a long run keeps what it measured


def _row(rule, n, d, f, impl, t, diff, semantics):
    return {
        "bench": "aggregators",
        "rule": rule,
        "n": n,
        "d": d,
        "f": f,
        "impl": impl,
        "seconds": None if t is None else round(t, 5),
        "max_abs_diff": diff,
        "semantics": semantics or baselines_numpy.SEMANTICS[rule],
        "rss_after_gb": round(_rss_gb(), 2),
    }


def summarize(rows):
    """Per (n, d, rule, input): meshlab's time over the best other implementation's."""
    out = []
    keys = sorted({(r["n"], r["d"]) for r in rows})
    for n, d in keys:
        per = [r for r in rows if r["n"] == n and r["d"] == d and r["seconds"] is not None]
        ratios = {"numpy": [], "jax": []}
        for rule in dict.fromkeys(r["rule"] for r in per):
            rr = [r for r in per if r["rule"] == rule]
            others = [r for r in rr if not r["impl"].startswith("meshlab")]
            if not others:
                continue
            best = min(others, key=lambda r: r["seconds"])
            for inp, impl in (("numpy", "meshlab numpy"), ("jax", "meshlab jax")):
                m = next(r for r in rr if r["impl"] == impl)
                ratio = best["seconds"] / m["seconds"]
                ratios[inp].append(ratio)
                out.append(
                    {
                        "bench": "aggregators_vs_best",
                        "n": n,
                        "d": d,
                        "rule": rule,
                        "input": inp,
                        "meshlab_s": m["seconds"],
                        "best_other": best["impl"],
                        "best_other_s": best["seconds"],
                        "best_over_meshlab": round(ratio, 2),
                    }
                )
        for inp, r in ratios.items():
            if r:
                geo = math.exp(sum(math.log(v) for v in r) / len(r))
                out.append(
                    {
                        "bench": "aggregators_geomean",
                        "n": n,
                        "d": d,
                        "input": inp,
                        "geomean_best_over_meshlab": round(geo, 2),
                        "min": round(min(r), 2),
                        "rules": len(r),
                    }
                )
    return out


KINDS = {"nan": np.nan, "+inf": np.inf, "-inf": -np.inf}


def nonfinite_table(rules, with_peers, n=50, d=1000, seed=1):
    """Which implementations return a finite output with 1 or f non-finite rows."""
    rows = []
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, d), dtype=np.float32)
    for rule in rules:
        f = _f_for(rule, n)
        impls = [("meshlab", _meshlab(rule, n, f)), ("numpy f32", None)]
        if with_peers:
            impls += [
                (lab, (prep, call)) for lab, prep, call, _ in peers.available(f, n).get(rule, [])
            ]
        for count in (1, f):
            for kind in (*KINDS, "mixed"):
                x = base.copy()
                for i in range(count):
                    v = list(KINDS.values())[i % 3] if kind == "mixed" else KINDS[kind]
                    x[i, (7 * i) % d] = v
                for label, impl in impls:
                    try:
                        if label == "meshlab":
                            out = np.asarray(impl(x))
                        elif label == "numpy f32":
                            with np.errstate(all="ignore"):
                                out = baselines_numpy.aggregate(rule, x, f)
                        else:
                            prep, call = impl
                            with np.errstate(all="ignore"):
                                out = np.asarray(call(prep(x.copy())))
                        finite = bool(np.all(np.isfinite(out)))
                        note = ""
                    except Exception as e:  # a peer that raises counts as not finite
                        finite, note = False, f"raised {type(e).__name__}"
                    rows.append(
                        {
                            "bench": "aggregators_nonfinite",
                            "rule": rule,
                            "impl": label,
                            "bad_rows": "1" if count == 1 else "f",
                            "n_bad": count,
                            "kind": kind,
                            "finite": finite,
                            "note": note,
                        }
                    )
    return rows


def _save(rows, args):
    peer_names = sorted({r["impl"] for r in rows if not r["impl"].startswith(("meshlab", "numpy"))})
    vs_best = summarize(rows)
    return save_benchmark(
        args.name,
        rows + vs_best,  # the comparison rows too, for the README tables (filter on bench)
        config={**vars(args), "peers": peer_names, "matched_options": MATCHED},
        summary={"vs_best": vs_best, "peak_rss_gb": round(_rss_gb(), 2)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--d", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rules", nargs="+", default=RULES, choices=RULES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-peers", action="store_true", help="meshlab and numpy only")
    parser.add_argument("--no-nonfinite", action="store_true", help="skip the NaN/Inf table")
    parser.add_argument("--quick", action="store_true", help="n = 100, d = 1e4, 3 repeats")
    parser.add_argument(
        "--name", default="aggregators", help="results file stem (aggregators*.json)"
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.d = [100], [10_000]
    with_peers = not args.no_peers
    if not args.no_nonfinite:
        nf = nonfinite_table(args.rules, with_peers)
        per = {}
        for r in nf:
            per.setdefault((r["rule"], r["impl"]), []).append(r["finite"])
        counts = [
            {
                "bench": "aggregators_nonfinite_count",
                "rule": rule,
                "impl": impl,
                "finite": f"{sum(v)}/{len(v)}",
            }
            for (rule, impl), v in per.items()
        ]
        path = save_benchmark(
            "aggregators_nonfinite",
            nf + counts,
            config={
                "n": 50,
                "d": 1000,
                "f": "n // 5 (Bulyan: (n - 3) // 4)",
                "peers": sorted({r["impl"] for r in nf}),
            },
            summary={
                "finite_fraction": {
                    impl: round(
                        sum(r["finite"] for r in nf if r["impl"] == impl)
                        / max(1, sum(r["impl"] == impl for r in nf)),
                        3,
                    )
                    for impl in dict.fromkeys(r["impl"] for r in nf)
                }
            },
        )
        print(f"wrote {path}", flush=True)
    rows: list[dict] = []
    for n in args.n:
        for d in args.d:
            reps = args.repeats or (3 if args.quick or n * d >= 10**8 else 5)
            bench_size(
                n, d, args.rules, reps, args.seed, with_peers, rows, lambda: _save(rows, args)
            )
            path = _save(rows, args)
    for s in summarize(rows):
        print(json.dumps(s), flush=True)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
