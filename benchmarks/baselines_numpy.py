"""Competent float32 numpy implementations of every robust rule: the benchmark's baseline.

What a careful numpy user would write: float32 throughout (no float64 upcast), selection by
``np.partition`` / ``np.argpartition`` instead of full sorts, pairwise distances by one
float32 Gram product (``||x_i||^2 + ||x_j||^2 - 2 x_i . x_j``), no per-call copies beyond
what the algorithm needs, the first distances of the iterative rules from 0 taken from
the row norms (no product with a zero vector), Bulyan's recursive Krum updated incrementally from one argsort of
the distance rows. All rows participate and are finite (no masks, no NaN handling: the
benchmark's NaN/Inf table shows what that costs). Semantics match
:mod:`meshlab.fl.aggregators` with the options the benchmark passes (stated per rule in
``SEMANTICS``). Not a test oracle (that is :mod:`meshlab.reference.aggregators`, float64).
"""

from __future__ import annotations

import numpy as np

__all__ = ["RULES", "SEMANTICS", "aggregate"]

SEMANTICS = {
    "mean": "average",
    "median": "coordinate-wise median (mean of the two middles for even n)",
    "trimmed_mean": "drop f per side and coordinate, average the rest",
    "geometric_median": "Weiszfeld from 0, absolute smoothing nu = 0.1, 3 iterations (ByzFL)",
    "krum": "row with the least sum of squared distances to its n - f - 2 nearest others",
    "multi_krum": "average of the n - f rows with the least Krum scores",
    "bulyan": "recursive Krum selects n - 2f rows, then per coordinate the mean of the "
    "n - 4f values closest to their median",
    "centered_clipping": "from 0 (Blades), tau = 10, 3 iterations",
    "filtering": "3 rounds, each drops ceil(f / 3) rows farthest from the lower median",
    "nnm+mean": "each row -> mean of its n - f nearest rows (itself included), then average "
    "(folded into one weighted mean of the rows, as meshlab does)",
}


def _sq_dists(x: np.ndarray) -> np.ndarray:
    sq = np.einsum("ij,ij->i", x, x)
    g = x @ x.T
    d = sq[:, None] + sq[None, :] - 2.0 * g
    np.maximum(d, 0.0, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def mean(x, f):
    return x.mean(axis=0)


def median(x, f):
    return np.median(x, axis=0)


def trimmed_mean(x, f):
    n = x.shape[0]
    if f == 0:
        return x.mean(axis=0)
    p = np.partition(x, (f, n - f - 1), axis=0)
    return p[f : n - f].mean(axis=0)


def geometric_median(x, f, nu=0.1, iters=3):
    sq = np.einsum("ij,ij->i", x, x)
    dist = np.sqrt(sq)  # from z = 0: no product needed for the first distances
    for i in range(iters):
        w = 1.0 / np.maximum(dist, np.float32(nu))
        z = (w @ x) / w.sum()
        if i + 1 < iters:
            dist = np.sqrt(np.maximum(sq - 2.0 * (x @ z) + z @ z, 0.0))
    return z


def _krum_scores(d, f):
    n = d.shape[0]
    k = n - f - 2
    np.fill_diagonal(d, np.inf)
    part = np.partition(d, k - 1, axis=1)[:, :k]
    np.fill_diagonal(d, 0.0)
    return part.sum(axis=1)


def krum(x, f):
    return x[int(np.argmin(_krum_scores(_sq_dists(x), f)))]


def multi_krum(x, f):
    n = x.shape[0]
    s = _krum_scores(_sq_dists(x), f)
    idx = np.argpartition(s, n - f - 1)[: n - f]
    return x[idx].mean(axis=0)


def bulyan(x, f):
    n = x.shape[0]
    d = _sq_dists(x)
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1)[:, :-1]  # nearest first, self (inf) dropped
    ds = np.take_along_axis(d, order, axis=1)
    remaining = np.ones(n, bool)
    chosen = []
    for t in range(n - 2 * f):
        k = n - t - f - 2  # Krum on the n - t rows left
        alive = remaining[order]  # [n, n-1]: neighbour still in the set
        cum = np.cumsum(alive, axis=1)
        score = np.where(alive & (cum <= k), ds, 0.0).sum(axis=1)
        score[~remaining] = np.inf
        r = int(np.argmin(score))
        chosen.append(r)
        remaining[r] = False
    sel = x[chosen]
    th = sel.shape[0]
    beta = th - 2 * f
    med = np.median(sel, axis=0)
    dev = np.abs(sel - med)
    idx = np.argpartition(dev, beta - 1, axis=0)[:beta]
    return np.take_along_axis(sel, idx, axis=0).mean(axis=0)


def centered_clipping(x, f, tau=10.0, iters=3):
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    v = np.zeros(x.shape[1], np.float32)
    dist = np.sqrt(sq)  # from v = 0: no product needed for the first distances
    for i in range(iters):
        if i:
            dist = np.sqrt(np.maximum(sq - 2.0 * (x @ v) + v @ v, 0.0))
        a = np.minimum(1.0, np.float32(tau) / np.maximum(dist, np.float32(1e-30)))
        v = v + (a @ x) / n - (a.sum() / n) * v
    return v


def filtering(x, f, rounds=3):
    n = x.shape[0]
    keep = np.arange(n)
    per = -(-f // rounds)
    dropped = 0
    for _ in range(rounds):
        c = np.partition(x[keep], (len(keep) - 1) // 2, axis=0)[(len(keep) - 1) // 2]
        diff = x[keep] - c
        d2 = np.einsum("ij,ij->i", diff, diff)
        k = min(per, f - dropped)
        if k > 0:
            far = np.argsort(-d2, kind="stable")[:k]
            keep = np.delete(keep, far)
            dropped += k
    return x[keep].mean(axis=0)


def nnm_mean(x, f):
    n = x.shape[0]
    d = _sq_dists(x)
    k = n - f
    idx = np.argpartition(d, k - 1, axis=1)[:, :k]
    w = np.zeros((n, n), np.float32)
    np.put_along_axis(w, idx, np.float32(1.0 / k), axis=1)
    return w.mean(axis=0) @ x  # = (w @ x).mean(axis=0) without the n x n by n x d product


RULES = {
    "mean": mean,
    "median": median,
    "trimmed_mean": trimmed_mean,
    "geometric_median": geometric_median,
    "krum": krum,
    "multi_krum": multi_krum,
    "bulyan": bulyan,
    "centered_clipping": centered_clipping,
    "filtering": filtering,
    "nnm+mean": nnm_mean,
}


def aggregate(name: str, x: np.ndarray, f: int) -> np.ndarray:
    """``float32[d]``: rule ``name`` on the finite ``float32[n, d]`` rows ``x``."""
    return RULES[name](x, f)
