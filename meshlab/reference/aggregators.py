"""Plain-numpy reference implementations of the robust aggregators (published definitions).

Written independently of :mod:`meshlab.fl.aggregators`: float64, explicit sorts, explicit
pairwise distances (Gram trick in float64, no centring), Python loops where the papers use
them. Part of the library: the tests use it as the oracle, ``benchmarks/bench_aggregators.py``
as the baseline, and anyone can check a rule against it::

    from meshlab.reference import aggregators as ref
    want = ref.aggregate("krum", updates, mask, f)   # float64 [d]

Shared convention (same as meshlab): rows with ``mask`` False are ignored; a participating
row with any NaN/Inf is removed and counted against ``f`` (``f_eff = max(f - k, 0)``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RULES",
    "aggregate",
    "bulyan",
    "centered_clipping",
    "clean",
    "filtering",
    "geometric_median",
    "krum",
    "krum_scores",
    "lower_median",
    "mean",
    "median",
    "multi_krum",
    "nnm_mix",
    "pairwise_sq",
    "trimmed_mean",
]


def clean(updates, mask, f):
    """Returns (finite participating rows as float64 [m, d], their indices, f_eff)."""
    x = np.asarray(updates, np.float64)
    mask = np.asarray(mask, bool)
    finite = np.all(np.isfinite(x), axis=1)
    idx = np.flatnonzero(mask & finite)
    k = int(np.sum(mask & ~finite))
    return x[idx], idx, max(f - k, 0)


def mean(updates, mask, f):
    x, _, _ = clean(updates, mask, f)
    return x.mean(axis=0)


def median(updates, mask, f):
    x, _, _ = clean(updates, mask, f)
    return np.median(x, axis=0)


def trimmed_mean(updates, mask, f, trim=None):
    """Yin et al. 2018: per coordinate, drop the t largest and t smallest, average the rest."""
    x, _, fe = clean(updates, mask, f)
    t = fe + (0 if trim is None else trim - f)
    s = np.sort(x, axis=0)
    return s[t : x.shape[0] - t].mean(axis=0)


def pairwise_sq(x):
    """Squared Euclidean distances, float64 Gram trick."""
    sq = np.einsum("ij,ij->i", x, x)
    d = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.fill_diagonal(d, 0.0)
    return np.maximum(d, 0.0)


def krum_scores(d2, f):
    """Blanchard et al. 2017: sum of squared distances to the n - f - 2 nearest others."""
    n = d2.shape[0]
    k = max(n - f - 2, 0)
    others = d2 + np.diag(np.full(n, np.inf))  # a row is not its own neighbour
    return np.sort(others, axis=1)[:, :k].sum(axis=1)


def krum(updates, mask, f):
    x, _, fe = clean(updates, mask, f)
    return x[int(np.argmin(krum_scores(pairwise_sq(x), fe)))]


def multi_krum(updates, mask, f, n_select=None):
    """Average of the n_select (default m - f) rows with the lowest Krum scores."""
    x, _, fe = clean(updates, mask, f)
    q = x.shape[0] - fe if n_select is None else n_select
    order = np.argsort(krum_scores(pairwise_sq(x), fe), kind="stable")
    return x[order[:q]].mean(axis=0)


def bulyan(updates, mask, f):
    """El Mhamdi et al. 2018: theta = n - 2f rows chosen by recursive Krum (Krum recomputed
    on the remaining set each time), then per coordinate the mean of the beta = theta - 2f
    values closest to the coordinate-wise median of the chosen rows."""
    x, _, fe = clean(updates, mask, f)
    m = x.shape[0]
    d2 = pairwise_sq(x)
    theta = m - 2 * fe
    remaining = list(range(m))
    chosen = []
    for _ in range(theta):
        sub = d2[np.ix_(remaining, remaining)]
        j = int(np.argmin(krum_scores(sub, fe)))
        chosen.append(remaining.pop(j))
    s = x[chosen]
    beta = theta - 2 * fe
    med = np.median(s, axis=0)
    closest = np.argsort(np.abs(s - med), axis=0, kind="stable")[:beta]
    return np.take_along_axis(s, closest, axis=0).mean(axis=0)


def lower_median(x):
    """Coordinate-wise lower median: the value of rank (m - 1) // 2 (0-based)."""
    return np.sort(x, axis=0)[(x.shape[0] - 1) // 2]


def _robust_scale(x, c):
    dist = np.sqrt(((x - c) ** 2).sum(axis=1))
    s = np.sort(dist)[(x.shape[0] - 1) // 2]
    return s if s > 0 else 1.0


def _start(x, start):
    if start == "lower_median":
        return lower_median(x)
    if start == "mean":
        return x.mean(axis=0)
    return np.zeros(x.shape[1])


def geometric_median(
    updates,
    mask,
    f,
    tol=1e-6,
    max_iter=100,
    nu=1e-6,
    start="lower_median",
    smoothing="relative",
    snap=True,
):
    """Smoothed Weiszfeld (Pillutla et al. 2022) from ``start`` (the coordinate-wise lower
    median, the mean or zero); with ``smoothing="relative"`` tol and nu are relative to the
    (lower) median distance of the rows to the start point, else absolute; with ``snap``,
    then the row nearest to the result if its objective is lower (an optimum on a data
    point). ``start="zero", smoothing="absolute", snap=False, tol=0`` is ByzFL's
    ``GeometricMedian(nu, T=max_iter)``."""
    x, _, _ = clean(updates, mask, f)
    z = _start(x, start)
    s = _robust_scale(x, z) if smoothing == "relative" else 1.0
    for _ in range(max_iter):
        dist = np.sqrt(((x - z) ** 2).sum(axis=1))
        w = 1.0 / np.maximum(nu * s, dist)
        z_new = (w[:, None] * x).sum(axis=0) / w.sum()
        step = np.linalg.norm(z_new - z)
        z = z_new
        if step <= tol * s:
            break
    if not snap:
        return z

    # Weiszfeld cannot land on a data point: compare with the row nearest to z
    def objective(p):
        return np.sqrt(((x - p) ** 2).sum(axis=1)).sum()

    j = int(np.argmin(((x - z) ** 2).sum(axis=1)))
    return x[j] if objective(x[j]) < objective(z) else z


def centered_clipping(updates, mask, f, tau=None, n_iters=3, centre="lower_median"):
    """Karimireddy et al. 2021: v <- v + mean_i (x_i - v) min(1, tau / ||x_i - v||), from
    ``centre`` (the coordinate-wise lower median, or zero as Blades and ByzFL's first call);
    tau defaults to the (lower) median distance to it."""
    x, _, _ = clean(updates, mask, f)
    v = lower_median(x) if centre == "lower_median" else np.zeros(x.shape[1])
    t = _robust_scale(x, v) if tau is None else tau
    for _ in range(n_iters):
        diff = x - v
        dist = np.sqrt((diff**2).sum(axis=1))
        scale = np.minimum(1.0, t / np.maximum(dist, 1e-30))
        v = v + (scale[:, None] * diff).mean(axis=0)
    return v


def filtering(updates, mask, f, n_rounds=3):
    """Multi-round filtering: each round drop the ceil(f / n_rounds) rows farthest from the
    coordinate-wise lower median of the rows left (f in all), then average."""
    x, _, fe = clean(updates, mask, f)
    keep = np.arange(x.shape[0])
    per = -(-fe // n_rounds)
    dropped = 0
    for _ in range(n_rounds):
        c = lower_median(x[keep])
        dist = ((x[keep] - c) ** 2).sum(axis=1)
        r = min(per, fe - dropped)
        order = np.argsort(-dist, kind="stable")
        keep = np.sort(keep[order[r:]])
        dropped += r
    return x[keep].mean(axis=0)


def nnm_mix(updates, mask, f):
    """Allouah et al. 2023: each row -> mean of its m - f nearest rows (itself included).
    Returns the mixed rows (same shape as ``updates``, non-participants unchanged),
    the mask of finite participants and f_eff."""
    x, idx, fe = clean(updates, mask, f)
    d2 = pairwise_sq(x)
    k = x.shape[0] - fe
    near = np.argsort(d2, axis=1, kind="stable")[:, :k]
    w = np.zeros((len(idx), len(idx)))
    np.put_along_axis(w, near, 1.0 / k, axis=1)
    mixed = np.asarray(updates, np.float64).copy()
    mixed[idx] = w @ x
    valid = np.zeros(len(mixed), bool)
    valid[idx] = True
    return mixed, valid, fe


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
}


def aggregate(name, updates, mask, f, **options):
    """Reference of ``name`` (``"nnm+rule"`` supported; bucketing is random, see tests)."""
    if name.startswith("nnm+"):
        mixed, valid, fe = nnm_mix(updates, mask, f)
        return RULES[name[4:]](mixed, valid, fe, **options)
    return RULES[name](updates, mask, f, **options)
