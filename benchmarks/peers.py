"""Adapters to the peer libraries a user would otherwise pick, for the aggregator benchmark.

Each adapter maps a meshlab rule name to ``(label, prepare, call, semantics)``: ``prepare``
turns the float32 ``[n, d]`` numpy rows into the peer's input once (outside the timing),
``call`` runs the rule on it and returns a numpy ``[d]``. ``semantics`` says how the peer's
definition differs from meshlab's (empty: the same definition). Peers are optional: only
those importable here are returned (:func:`available`), so the default suite never depends
on them. Run with an interpreter that has them, e.g. a separate venv::

    uv venv /tmp/peers --python 3.11
    VIRTUAL_ENV=/tmp/peers uv pip install byzfl flwr 'jax[cpu]' -e .
    /tmp/peers/bin/python benchmarks/bench_aggregators.py --peers

ByzFL (numpy and torch paths of the same classes), Flower (the legacy
``flwr.server.strategy.aggregate`` functions its strategies call). Blades is not on PyPI
for current Python and is not adapted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Peer", "available"]

Peer = tuple[str, Callable[[np.ndarray], Any], Callable[[Any], np.ndarray], str]


def _byzfl(kind: str, f: int) -> dict[str, Peer]:
    import byzfl

    if kind == "torch":
        import torch

        torch.set_num_threads(max(1, torch.get_num_threads()))

        def prep(x):
            return torch.from_numpy(x)

        def out(v):
            return v.numpy()
    else:

        def prep(x):
            return x

        def out(v):
            return np.asarray(v)

    label = f"byzfl {kind}"

    def wrap(make, sem=""):
        return (label, prep, lambda v: out(make()(v)), sem)

    def nnm_mean(v):
        return byzfl.Average()(byzfl.NNM(f=f)(v))

    return {
        "mean": wrap(byzfl.Average),
        "median": wrap(byzfl.Median),
        "trimmed_mean": wrap(lambda: byzfl.TrMean(f=f), "full sort"),
        "geometric_median": wrap(lambda: byzfl.GeometricMedian(nu=0.1, T=3)),
        "krum": wrap(lambda: byzfl.Krum(f=f), "n - f - 1 neighbours (meshlab: n - f - 2)"),
        "multi_krum": wrap(
            lambda: byzfl.MultiKrum(f=f), "n - f - 1 neighbours (meshlab: n - f - 2)"
        ),
        "centered_clipping": wrap(lambda: byzfl.CenteredClipping(tau=10.0, L=3)),
        "nnm+mean": (label, prep, lambda v: out(nnm_mean(v)), ""),
    }


def _flower(f: int, n: int) -> dict[str, Peer]:
    from flwr.server.strategy import aggregate as fa

    label = "flower"

    def prep(x):
        return [([row], 1) for row in x]  # one layer per client, equal weights

    return {
        "mean": (label, prep, lambda r: fa.aggregate(r)[0], "example-weighted, weights equal"),
        "median": (label, prep, lambda r: fa.aggregate_median(r)[0], ""),
        "trimmed_mean": (
            label,
            prep,
            lambda r: fa.aggregate_trimmed_avg(r, f / n)[0],
            "proportiontocut = f / n",
        ),
        "krum": (label, prep, lambda r: fa.aggregate_krum(r, f, 0)[0], ""),
        "multi_krum": (label, prep, lambda r: fa.aggregate_krum(r, f, n - f)[0], ""),
        "bulyan": (
            label,
            prep,
            # it pops from the list it is given: pass a fresh one each call
            lambda r: fa.aggregate_bulyan(list(r), f, fa.aggregate_krum, to_keep=0)[0],
            "Krum recomputed from scratch per selection",
        ),
    }


def available(f: int, n: int) -> dict[str, list[Peer]]:
    """``{rule: [peer, ...]}`` for the peer libraries importable in this interpreter."""
    found: dict[str, list[Peer]] = {}
    makers = [lambda: _byzfl("numpy", f), lambda: _byzfl("torch", f), lambda: _flower(f, n)]
    for make in makers:
        try:
            table = make()
        except ImportError:
            continue
        for rule, peer in table.items():
            found.setdefault(rule, []).append(peer)
    return found
