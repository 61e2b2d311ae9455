"""Robust aggregators against the numpy references (meshlab.reference.aggregators) + properties.

Tolerances: meshlab computes in float32, the references in float64 on the same float32
inputs. Order statistics and Krum selections are exact (same values selected), so only the
final float32 sums differ: a sum of m <= 40 terms of size <= ~10 has error
<= m * 2**-24 * 10 ~ 3e-5 in the worst case, hence ``atol = 5e-5``. Iterative rules
(Weiszfeld) stop at a relative step 1e-6 of the spread (~3): differences stay within 5e-5 too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from meshlab.fl import AGGREGATORS, make_aggregator
from meshlab.reference import aggregators as ref

ATOL = 5e-5
ROBUST = [a for a in AGGREGATORS if a != "mean"]
WITH_PRE = [*AGGREGATORS, "nnm+krum", "nnm+median", "nnm+trimmed_mean", "nnm+mean"]


def _f_for(name: str, n: int) -> int:
    """The largest f each rule accepts at this n (Bulyan n >= 4f + 3, Krum n > 2f + 2, ...)."""
    rule = name.split("+")[-1]
    if rule == "bulyan":
        return (n - 3) // 4
    if rule in ("krum", "multi_krum"):
        return (n - 3) // 2
    return (n - 1) // 2


N, D = 19, 6  # one shape and one f per rule: each rule is compiled once for the module


def _fn(name: str) -> int:
    """f used with (N, D): the largest f whose condition holds for N - 1 participants."""
    return _f_for(name, N - 1)


def _data(seed: int, n: int, d: int, n_byz: int = 0, shift: float = 8.0):
    """Honest rows ~ N(0, 1); the first ``n_byz`` rows shifted by ``shift`` (an attack)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[:n_byz] += np.float32(shift)
    return x


def _run(name, x, mask, f, key=0, **opts):
    agg = make_aggregator(name, n=x.shape[0], f=f, **opts)
    out, info = agg.aggregate(jax.random.key(key), jnp.asarray(x), jnp.asarray(mask))
    return np.asarray(out), info


@pytest.mark.parametrize("name", WITH_PRE)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference(name, seed):
    n, d, f = N, D, _fn(name)
    x = _data(seed, n, d, n_byz=f)
    mask = np.ones(n, bool)
    mask[-1] = False  # one non-participant
    out, info = _run(name, x, mask, f)
    np.testing.assert_allclose(out, ref.aggregate(name, x, mask, f), rtol=0, atol=ATOL)
    assert int(info.n_nonfinite) == 0
    assert bool(info.condition_met)
    assert not bool(info.selected[-1])


@pytest.mark.parametrize("name", WITH_PRE)
def test_matches_reference_with_duplicate_rows(name):
    """Mimic-style ties: the f Byzantine rows are exact copies of honest row f (zero
    distances, equal scores); the selection among equal rows cannot change the output."""
    n, d, f = N, D, _fn(name)
    x = _data(4, n, d)
    x[:f] = x[f]
    mask = np.ones(n, bool)
    out, _ = _run(name, x, mask, f)
    np.testing.assert_allclose(out, ref.aggregate(name, x, mask, f), rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", WITH_PRE)
@pytest.mark.parametrize("kind", ["nan", "inf", "-inf", "mixed"])
def test_nonfinite_rows_give_finite_output(name, kind):
    n, d, f = N, D, _fn(name)
    x = _data(1, n, d)
    rng = np.random.default_rng(2)
    if kind == "mixed":
        x[: f - 1] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), size=(f - 1, d))
    else:
        x[: f - 1] = np.float32(kind)
    x[f - 1, 2] = np.nan  # a single non-finite entry also disqualifies a row
    mask = np.ones(n, bool)
    out, info = _run(name, x, mask, f)
    assert np.all(np.isfinite(out))
    assert int(info.n_nonfinite) == f
    np.testing.assert_allclose(out, ref.aggregate(name, x, mask, f), atol=ATOL)


@pytest.mark.parametrize("name", ROBUST + ["nnm+krum"])
@pytest.mark.parametrize("big", [1e30, 3.0e38])
def test_bounded_under_huge_updates(name, big):
    """f rows at +-big: the output stays within the honest cluster's radius of its mean.
    The rows are finite although their squared norms overflow float32: not counted as
    NaN/Inf rows."""
    n, d, f = N, D, _fn(name)
    x = _data(3, n, d)
    x[:f] = np.float32(big) * np.sign(np.random.default_rng(4).standard_normal((f, d)))
    honest = x[f:].astype(np.float64)
    centre = honest.mean(axis=0)
    radius = np.max(np.linalg.norm(honest - centre, axis=1))
    out, info = _run(name, x, np.ones(n, bool), f)
    assert int(info.n_nonfinite) == 0
    assert np.all(np.isfinite(out))
    assert np.linalg.norm(out - centre) <= radius


@pytest.mark.parametrize("name", ["median", "trimmed_mean"])
def test_within_honest_coordinate_bounds(name):
    """Median-type rules stay inside the honest per-coordinate [min, max], whatever the
    Byzantine rows do (here: placed just outside the honest range, all on one side)."""
    n, d, f = N, D, _fn(name)
    x = _data(5, n, d)
    hi = x[f:].max(axis=0)
    x[:f] = hi + np.float32(0.5)
    out, _ = _run(name, x, np.ones(n, bool), f)
    assert np.all(out <= x[f:].max(axis=0)) and np.all(out >= x[f:].min(axis=0))


@pytest.mark.parametrize("name", WITH_PRE)
def test_permutation_invariance(name):
    n, d, f = N, D, _fn(name)
    x = _data(6, n, d, n_byz=f)
    mask = np.ones(n, bool)
    mask[3] = False
    perm = np.random.default_rng(7).permutation(n)
    a, _ = _run(name, x, mask, f)
    b, _ = _run(name, x[perm], mask[perm], f)
    np.testing.assert_allclose(a, b, atol=ATOL)  # only the float32 summation order differs


@pytest.mark.parametrize("name", WITH_PRE)
def test_translation_equivariance(name):
    n, d, f = N, D, _fn(name)
    x = _data(8, n, d, n_byz=f)
    t = np.random.default_rng(9).uniform(-10, 10, d).astype(np.float32)
    mask = np.ones(n, bool)
    a, _ = _run(name, x, mask, f)
    b, _ = _run(name, x + t, mask, f)
    # x + t is rounded to float32 (relative 2**-24 of |x + t| <= 15): 1e-4 covers it
    np.testing.assert_allclose(b, a + t, atol=1e-4)


def test_krum_selects_one_honest_row_and_reports_it():
    n, d, f = N, D, _fn("krum")
    x = _data(10, n, d, n_byz=f, shift=20.0)
    out, info = _run("krum", x, np.ones(n, bool), f)
    sel = np.asarray(info.selected)
    assert sel.sum() == 1 and int(info.n_used) == 1
    i = int(np.flatnonzero(sel)[0])
    assert i >= f
    np.testing.assert_array_equal(out, x[i])


def test_geometric_median_reports_convergence():
    n, d = 30, 10
    x = _data(11, n, d)
    out, info = _run("geometric_median", x, np.ones(n, bool), 5, max_iter=200, tol=1e-6)
    assert 0 < int(info.iterations) < 200
    assert float(info.residual) <= 1e-6 * 5  # spread of N(0, I_10) rows ~ sqrt(10)
    # first-order optimality: the unit vectors towards the rows sum to ~0
    diff = x.astype(np.float64) - out
    g = (diff / np.linalg.norm(diff, axis=1, keepdims=True)).sum(axis=0)
    assert np.linalg.norm(g) < 1e-3 * n
    _, capped = _run("geometric_median", x, np.ones(n, bool), 5, max_iter=2)
    assert int(capped.iterations) == 2 and float(capped.residual) > 1e-6


def test_bucketing_matches_reference_with_same_permutation():
    n, d, f, s = 14, 6, 2, 2
    x = _data(12, n, d, n_byz=f)
    mask = np.ones(n, bool)
    mask[5] = False
    key = jax.random.key(3)
    for base in ("median", "krum"):
        agg = make_aggregator(f"bucketing+{base}", n=n, f=f, bucket_size=s)
        out, info = agg.aggregate(key, jnp.asarray(x), jnp.asarray(mask))
        # the published construction on the same random order: participants shuffled,
        # consecutive groups of s averaged, the base rule applied to the bucket means
        u = np.asarray(jax.random.uniform(key, (n,)))
        order = np.argsort(np.where(mask, u, 2.0), kind="stable")[: mask.sum()]
        means = np.stack(
            [x[order[i : i + s]].astype(np.float64).mean(0) for i in range(0, len(order), s)]
        )
        nb = -(-n // s)
        padded = np.zeros((nb, d))
        padded[: len(means)] = means
        bmask = np.arange(nb) < len(means)
        np.testing.assert_allclose(out, ref.aggregate(base, padded, bmask, f), atol=ATOL)
    # bucket size 1 is the base rule itself (up to permutation)
    a, _ = _run("bucketing+trimmed_mean", x, mask, f, bucket_size=1)
    np.testing.assert_allclose(a, ref.trimmed_mean(x, mask, f), atol=ATOL)


def test_jit_and_vmap_with_traced_mask():
    n, d, f = N, D, _fn("multi_krum")
    agg = make_aggregator("multi_krum", n=n, f=f)
    xs = np.stack([_data(s, n, d, n_byz=f) for s in range(3)])
    masks = np.ones((3, n), bool)
    masks[1, 7] = False
    keys = jax.random.split(jax.random.key(0), 3)
    out, info = jax.jit(jax.vmap(agg.aggregate))(keys, jnp.asarray(xs), jnp.asarray(masks))
    for i in range(3):
        np.testing.assert_allclose(out[i], ref.multi_krum(xs[i], masks[i], f), atol=ATOL)
    assert info.selected.shape == (3, n)


def test_too_few_participants_under_jit_is_flagged_and_finite():
    n, d, f = N, D, _fn("krum")
    agg = make_aggregator("krum", n=n, f=f)
    mask = np.zeros(n, bool)
    mask[: 2 * f + 2] = True  # 2f + 2 participants: m > 2f + 2 fails
    out, info = jax.jit(agg.aggregate)(jax.random.key(0), jnp.asarray(_data(0, n, d)), mask)
    assert not bool(info.condition_met)
    assert np.all(np.isfinite(np.asarray(out)))
    # all participants non-finite under jit: finite (zero) output, flagged
    x = np.full((n, d), np.nan, np.float32)
    out, info = jax.jit(make_aggregator("median", n=n, f=_fn("median")).aggregate)(
        jax.random.key(0), jnp.asarray(x), jnp.ones(n, bool)
    )
    assert np.all(np.asarray(out) == 0) and int(info.n_nonfinite) == n


def test_memoized_factory_returns_same_rule():
    a = make_aggregator("krum", n=10, f=2)
    assert make_aggregator("krum", n=10, f=2) is a
    assert make_aggregator("krum", n=10, f=1) is not a


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "n", "f_ok", "f_bad"),
    [
        ("median", 10, 4, 5),
        ("trimmed_mean", 9, 4, 5),
        ("geometric_median", 10, 4, 5),
        ("krum", 10, 3, 4),
        ("multi_krum", 9, 3, 4),
        ("bulyan", 11, 2, 3),
        ("centered_clipping", 10, 4, 5),
        ("filtering", 10, 4, 5),
        ("mean", 10, 9, 10),
        ("nnm+mean", 10, 4, 5),
    ],
)
def test_breakdown_condition_enforced(name, n, f_ok, f_bad):
    make_aggregator(name, n=n, f=f_ok)
    with pytest.raises(ValueError, match=rf"n={n}, f={f_bad}"):
        make_aggregator(name, n=n, f=f_bad)


def test_bucketing_condition_on_bucket_count():
    make_aggregator("bucketing+krum", n=14, f=2, bucket_size=2)  # 7 buckets > 2*2 + 2
    with pytest.raises(ValueError, match=r"krum needs n > 2f \+ 2.*n=5, f=2"):
        make_aggregator("bucketing+krum", n=10, f=2, bucket_size=2)
    with pytest.raises(ValueError, match="bucket_size=11"):
        make_aggregator("bucketing+median", n=10, f=1, bucket_size=11)


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"name": "krumm", "n": 10, "f": 1}, ValueError, "krumm"),
        ({"name": "foo+krum", "n": 10, "f": 1}, ValueError, "foo"),
        ({"name": "krum", "n": 10, "f": 1, "tol": 1e-3}, ValueError, "tol"),
        ({"name": "geometric_median", "n": 10, "f": 1, "tol": -1.0}, ValueError, "tol"),
        ({"name": "geometric_median", "n": 10, "f": 1, "max_iter": 0}, ValueError, "max_iter"),
        ({"name": "trimmed_mean", "n": 10, "f": 2, "trim": 5}, ValueError, "trim=5"),
        ({"name": "multi_krum", "n": 10, "f": 2, "n_select": 9}, ValueError, "n_select=9"),
        ({"name": "centered_clipping", "n": 10, "f": 2, "tau": 0.0}, ValueError, "tau"),
        ({"name": "median", "n": 10, "f": -1}, ValueError, "f must be >= 0, got -1"),
        ({"name": "median", "n": 10.0, "f": 1}, TypeError, "n must be an integer"),
        ({"name": "median", "n": 0, "f": 0}, ValueError, "n must be >= 1, got 0"),
    ],
)
def test_factory_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        make_aggregator(**kwargs)


def test_aggregate_bad_input():
    agg = make_aggregator("median", n=5, f=1)
    key = jax.random.key(0)
    x = jnp.zeros((5, 3), jnp.float32)
    with pytest.raises(ValueError, match=r"updates must have shape \(n=5"):
        agg.aggregate(key, jnp.zeros((4, 3), jnp.float32), jnp.ones(4, bool))
    with pytest.raises(ValueError, match=r"mask must have shape \(5,\)"):
        agg.aggregate(key, x, jnp.ones(4, bool))
    with pytest.raises(TypeError, match="mask must be boolean"):
        agg.aggregate(key, x, jnp.ones(5, jnp.int32))
    with pytest.raises(TypeError, match="floating"):
        agg.aggregate(key, jnp.zeros((5, 3), jnp.int32), jnp.ones(5, bool))
    with pytest.raises(ValueError, match="no participant"):
        agg.aggregate(key, x, jnp.zeros(5, bool))


@pytest.mark.parametrize("name", ["krum", "multi_krum", "bulyan", "nnm+krum"])
@pytest.mark.parametrize(
    "n,f,offset,spread", [(160, 30, 3e3, 1.0), (300, 70, 3e3, 1.0), (160, 30, 1e2, 1e-2)]
)
def test_distance_rules_precise_far_from_origin(name, n, f, offset, spread):
    """The Gram centre is the lower median of 2f + 1 = 61 sampled
    participants (n = 160) or of 128 of them (2f + 1 > 128). The updates share an offset
    3e3 (1e4) times their spread: uncentred float32 Gram distances would carry errors
    ~2**-24 * |x|^2 * d = 4 (5e-3) against honest distances ~2 d spread^2 = 16 (1.6e-3);
    centred, they match the float64 references."""
    d = 8
    x = _data(13, n, d, n_byz=f, shift=3.0) * np.float32(spread) + np.float32(offset)
    mask = np.ones(n, bool)
    mask[7] = False
    out, _ = _run(name, x, mask, f)
    # float32 spacing at the offset (2.4e-4 at 3e3, 7.6e-6 at 1e2), sums of <= 160 terms
    atol = 20 * float(np.spacing(np.float32(offset)))
    np.testing.assert_allclose(out, ref.aggregate(name, x, mask, f), rtol=0, atol=atol)


@pytest.mark.parametrize(
    ("n", "d", "n_valid"),
    [
        (100, 4 * 4096 + 1234, 100),  # one product per chunk: 5 chunks of 4096, the last
        (100, 4 * 4096 + 1234, 93),  # overlapping the previous one by 2862 columns
        (300, 2 * 2048 + 777, 300),  # 4 row blocks, 3 chunks of 2048, the last overlapping
        (300, 2 * 2048 + 777, 281),
    ],
)
def test_chunked_gram_equals_the_float64_product(n, d, n_valid):
    """The Gram product runs over column chunks (centred in cache when a centre is given,
    never materializing the centred rows); the last chunk overlaps the previous one and must
    not count its repeated columns; from 256 rows on only the lower-triangular row blocks
    are multiplied and mirrored. Masked rows hold NaN/Inf: they drop out of the centred
    product and spoil only their own row and column of the raw one."""
    from meshlab.fl import aggregators as A

    assert A._gram_plan(n, d)[1] < d  # the chunked path is the one under test
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((n, d)) + 50.0).astype(np.float32)
    c = np.full(d, 50.0, np.float32) + rng.standard_normal(d).astype(np.float32) * 0.1
    valid = rng.permutation(n) < n_valid  # invalid rows scattered over the row blocks
    x[~valid, :3] = [np.nan, np.inf, -np.inf]
    g = np.asarray(A._gram(jnp.asarray(x), jnp.asarray(c), jnp.asarray(valid)))
    y = np.where(valid[:, None], x.astype(np.float64) - c, 0.0)
    want = y @ y.T
    # float32 products of d terms ~ N(0, 1): relative error well below 1e-5 of ||y_i||^2
    scale = np.sqrt(np.outer(np.diag(want), np.diag(want))) + 1.0
    assert np.all(np.isfinite(g))
    assert np.max(np.abs(g - want) / scale) < 1e-5
    np.testing.assert_array_equal(g[~valid], 0.0)
    if n >= 256:  # off-diagonal blocks are mirrored, not recomputed: exactly symmetric
        assert g[0, n - 1] == g[n - 1, 0]
    raw = np.asarray(A._gram(jnp.asarray(x)))
    both = valid[:, None] & valid[None, :]
    xv = x.astype(np.float64)
    want_raw = xv[valid] @ xv[valid].T  # entries ~ 2.5e3 d: float32 error << 1e-5 relative
    np.testing.assert_allclose(raw[both].reshape(want_raw.shape), want_raw, rtol=1e-5)


@pytest.mark.parametrize("ties", [False, True])
def test_nearest_matches_a_stable_sort(ties):
    """``_nearest`` skips the tie-breaking cumsum when no column has ties at its threshold;
    both paths must select exactly what a stable argsort selects."""
    from meshlab.fl import aggregators as A

    rng = np.random.default_rng(11)
    n = 60
    a = rng.integers(0, 6, (n, n)).astype(np.float32) if ties else rng.random((n, n), np.float32)
    dist = np.minimum(a, a.T)
    for k in (1, 17, n - 1):
        near, tau = A._nearest(jnp.asarray(dist), jnp.int32(k))
        want = np.zeros((n, n), bool)
        order = np.argsort(dist, axis=0, kind="stable")[:k]
        want[order, np.arange(n)[None, :]] = True
        np.testing.assert_array_equal(np.asarray(near), want)
        np.testing.assert_array_equal(np.asarray(tau), np.sort(dist, axis=0)[k - 1])
    assert not np.asarray(A._nearest(jnp.asarray(dist), jnp.int32(0))[0]).any()


@pytest.mark.parametrize("seed", [0, 1])
def test_order_statistics_exact_with_shared_high_halves_and_ties(seed):
    """The bracketing selection (interpolated probes, compaction of the open columns);
    values that share their high 16 bits,
    ties, zeros, negatives and masked rows must still give the exact order statistic."""
    from meshlab.fl import aggregators as A

    rng = np.random.default_rng(seed)
    n, d = 37, 500
    base = rng.choice(np.float32([1.0, -2.5, 0.0, 3.0e-3]), size=(n, d))
    bits = base.view(np.uint32) + rng.integers(0, 4, (n, d)).astype(np.uint32)  # same high half
    x = np.where(rng.random((n, d)) < 0.5, bits.view(np.float32), base)
    rows = rng.random(n) < 0.8
    m = int(rows.sum())
    want = np.sort(x[rows], axis=0)
    for rank in (0, (m - 1) // 2, m - 1):
        got = A._from_key(A._select_keys(jnp.asarray(x), jnp.asarray(rows), jnp.asarray([rank])))
        np.testing.assert_array_equal(np.asarray(got)[0], want[rank])
    two = A._select_keys(jnp.asarray(x), jnp.asarray(rows), jnp.asarray([1, m - 2]))
    np.testing.assert_array_equal(np.asarray(A._from_key(two)), want[[1, m - 2]])


def test_order_statistics_exact_on_skewed_columns_and_deviations():
    """Columns that defeat interpolated probes (geometric spacing, +inf, one outlier far
    from a tight cluster, constant columns) and the deviation keys ``|x - centre|``: the
    bracketing selection must fall back to bisection and stay exact, in both phases (1200
    pairs open > 256 gathered)."""
    from meshlab.fl import aggregators as A

    rng = np.random.default_rng(3)
    n, d = 41, 600
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[:, 0:150] = np.float32(2.0) ** rng.integers(-60, 60, (n, 150))  # geometric spacing
    x[:, 150:300] = 1.0 + rng.integers(0, 3, (n, 150)) * np.float32(2.0**-23)  # near ties
    x[0, 150:300] = 1e30  # one far outlier above the cluster
    x[:, 300:320] = 5.0  # constant columns
    x[rng.random((n, d)) < 0.05] = np.inf
    rows = rng.random(n) < 0.9
    m = int(rows.sum())
    want = np.sort(x[rows], axis=0)
    ranks = np.array([0, 3, (m - 1) // 2, m - 4, m - 1])
    got = A._from_key(A._select_keys(jnp.asarray(x), jnp.asarray(rows), jnp.asarray(ranks)))
    np.testing.assert_array_equal(np.asarray(got), want[ranks])
    centre = np.median(x[rows], axis=0).astype(np.float32)
    dev = np.sort(np.abs(x[rows] - centre), axis=0)
    got = A._select_keys(jnp.asarray(x), jnp.asarray(rows), jnp.asarray([2]), jnp.asarray(centre))
    np.testing.assert_array_equal(np.asarray(A._from_key(got))[0], dev[2])


@pytest.mark.parametrize("n", [100, 257, 1000])  # one product; 4 uneven blocks; 4 blocks
def test_blocked_gram_equals_the_full_product(n):
    from meshlab.fl import aggregators as A

    y = np.random.default_rng(n).standard_normal((n, 64)).astype(np.float32)
    g = np.asarray(A._gram(jnp.asarray(y)))
    want = y.astype(np.float64) @ y.astype(np.float64).T
    # float32 dot products of 64 terms of size ~1: error << 1e-4
    np.testing.assert_allclose(g, want, rtol=0, atol=1e-4)
    if n >= 256:  # off-diagonal blocks are mirrored, not recomputed: exactly symmetric
        assert g[0, n - 1] == g[n - 1, 0]


# --- published variants (options) and the numpy input path ---------------------------------

GM_VARIANTS = [
    {"start": "mean", "max_iter": 2, "tol": 0.0},
    {"start": "zero", "smoothing": "absolute", "nu": 0.1, "max_iter": 3, "tol": 0.0, "snap": False},
    {"start": "lower_median", "smoothing": "absolute", "nu": 1e-3, "snap": False},
]


@pytest.mark.parametrize("opts", GM_VARIANTS)
def test_geometric_median_variants_match_reference(opts):
    n, d, f = N, D, _fn("geometric_median")
    x = _data(21, n, d, n_byz=f)
    mask = np.ones(n, bool)
    mask[3] = False
    out, info = _run("geometric_median", x, mask, f, **opts)
    want = ref.geometric_median(x, mask, f, **opts)
    np.testing.assert_allclose(out, want, atol=ATOL)
    if opts.get("tol") == 0.0:
        assert int(info.iterations) == opts["max_iter"]


def test_geometric_median_zero_start_is_byzfl_definition():
    """ByzFL's GeometricMedian(nu=0.1, T=3) documents [3.7879, 4.7879, 5.7879] on these rows
    (Weiszfeld from z = 0 with absolute smoothing, no final snap to a data point)."""
    x = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]], np.float32)
    opts = {"start": "zero", "smoothing": "absolute", "nu": 0.1, "max_iter": 3, "tol": 0.0}
    out, _ = _run("geometric_median", x, np.ones(3, bool), 0, snap=False, **opts)
    np.testing.assert_allclose(out, [3.7879, 4.7879, 5.7879], atol=1e-4)


@pytest.mark.parametrize("masked", [False, True])  # rows read as given / centred copy
@pytest.mark.parametrize("tau", [None, 0.7])
def test_centered_clipping_zero_centre_matches_reference(tau, masked):
    n, d, f = N, D, _fn("centered_clipping")
    x = _data(22, n, d, n_byz=f)
    mask = np.ones(n, bool)
    if masked:  # a non-participant holding NaN: the rule must work on a cleaned copy
        mask[3] = False
        x[3, 0] = np.nan
    out, info = _run("centered_clipping", x, mask, f, centre="zero", tau=tau, n_iters=4)
    want = ref.centered_clipping(x, mask, f, tau=tau, n_iters=4, centre="zero")
    np.testing.assert_allclose(out, want, atol=ATOL)
    assert int(info.iterations) == 4


def test_centered_clipping_zero_centre_by_hand():
    """One step from 0 with tau = 1: mean of the rows clipped to norm 1 (Blades' centre)."""
    x = np.array([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0], [0.5, 0.0], [0.0, 0.0]], np.float32)
    out, _ = _run("centered_clipping", x, np.ones(5, bool), 1, centre="zero", tau=1.0, n_iters=1)
    np.testing.assert_allclose(out, [1.5 / 5, 1.0 / 5], rtol=1e-6)


def test_centered_clipping_from_a_previous_aggregate_by_translation():
    """Karimireddy et al. start at the previous aggregate v: clipping is translation
    equivariant, so centre="zero" on ``x - v``, plus ``v``, is that rule."""
    n, d, f = N, D, _fn("centered_clipping")
    x = _data(23, n, d, n_byz=f).astype(np.float64)
    v = np.linspace(-1.0, 1.0, d)
    mask = np.ones(n, bool)
    shifted = (x - v).astype(np.float32)
    out, _ = _run("centered_clipping", shifted, mask, f, centre="zero", tau=1.5, n_iters=2)
    # float64 reference started at v directly
    u = v.copy()
    for _ in range(2):
        diff = x - u
        scale = np.minimum(1.0, 1.5 / np.linalg.norm(diff, axis=1))
        u = u + (scale[:, None] * diff).mean(axis=0)
    np.testing.assert_allclose(out + v, u, atol=1e-5)


@pytest.mark.parametrize("name", ["median", "krum", "geometric_median", "trimmed_mean"])
def test_numpy_input_bit_identical_to_jax_input(name):
    from meshlab.fl.aggregators import allocate_updates

    n, d = N, 40
    f = _fn(name)
    x = _data(24, n, d, n_byz=f)
    x[1, 3] = np.nan
    mask = np.ones(n, bool)
    agg = make_aggregator(name, n=n, f=f)
    key = jax.random.key(5)
    want = np.asarray(agg.aggregate(key, jnp.asarray(x), mask)[0])
    buf = allocate_updates(n, d)
    assert buf.ctypes.data % 64 == 0 and buf.flags.c_contiguous
    buf[...] = x
    wide = np.zeros((n, 2 * d), np.float32)
    wide[:, ::2] = x
    for inp in (x, buf, x.astype(np.float64), wide[:, ::2]):
        out = agg.aggregate(key, inp, mask)[0]
        np.testing.assert_array_equal(np.asarray(out), want)
    out = agg.aggregate(key, buf, mask)[0]
    buf[...] = 1e6  # the caller reuses its buffer: the returned result must not change
    np.testing.assert_array_equal(np.asarray(out), want)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"name": "geometric_median", "start": "median"}, ValueError, "start must be one of"),
        ({"name": "geometric_median", "smoothing": "rel"}, ValueError, "smoothing must be"),
        ({"name": "geometric_median", "snap": 1}, TypeError, "snap must be a bool, got 1"),
        ({"name": "geometric_median", "tol": -1.0}, ValueError, "tol"),
        ({"name": "centered_clipping", "centre": "mean"}, ValueError, "centre must be one of"),
    ],
)
def test_variant_options_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        make_aggregator(n=10, f=2, **kwargs)


def test_large_numpy_copies_split_by_rows_equal_one_copy(monkeypatch):
    """Copies into the staging buffer are split by rows over threads from 8 MiB per thread
    on: every row lands in place, cast and rounded as one ``np.copyto`` does, whatever the
    source's layout (float64, Fortran order, strided)."""
    from meshlab.fl import aggregators as A

    monkeypatch.setattr(A.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    rng = np.random.default_rng(31)
    base = rng.standard_normal((1001, 2 * 2333)) * 1e3  # float64: 37 MB, 4 threads
    for src in (base, np.asfortranarray(base), base[:, ::2], base[:, ::2].astype(np.float32)):
        dst = np.full(src.shape, np.nan, np.float32)
        A._copy_rows(dst, src)
        want = np.empty(src.shape, np.float32)
        np.copyto(want, src, casting="unsafe")
        np.testing.assert_array_equal(dst, want)
    assert A._COPY_POOL  # the threaded path ran


def test_numpy_input_reused_staging_buffer_gives_each_call_its_own_rows():
    n, d = N, 40
    agg = make_aggregator("median", n=n, f=_fn("median"))
    key, mask = jax.random.key(0), np.ones(n, bool)
    first, second = _data(25, n, d), _data(26, n, d)
    out1 = np.asarray(agg.aggregate(key, first, mask)[0])
    out2 = np.asarray(agg.aggregate(key, second, mask)[0])
    np.testing.assert_array_equal(out1, np.asarray(agg.aggregate(key, jnp.asarray(first), mask)[0]))
    np.testing.assert_array_equal(
        out2, np.asarray(agg.aggregate(key, jnp.asarray(second), mask)[0])
    )
    np.testing.assert_array_equal(out1, np.median(first, axis=0))


GRAM_RULES = ("krum", "multi_krum", "bulyan", "nnm")  # distances centred by an f-sized sample
F_FREE = ("mean", "median", "geometric_median", "centered_clipping")  # f: condition only


_SLOW_RUNTIME_F = ("krum", "multi_krum", "bulyan", "nnm+median")  # 15-30 s each to compile


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in _SLOW_RUNTIME_F else n
        for n in [*AGGREGATORS, "nnm+median", "bucketing+trimmed_mean"]
    ],
)
def test_runtime_f_equals_the_rule_built_for_that_f(name):
    """One rule built for f_max, told a smaller f per call (concrete or traced), gives what
    the rule built for that f gives, NaN rows included; bit for bit unless the rule centres
    a Gram product (then float32 rounding of distances only)."""
    n, d = 19, 6
    opts = {"bucket_size": 2} if name.startswith("bucketing") else {}
    f_max = _f_for(name, -(-n // 2) if opts else n)
    x = _data(3, n, d, n_byz=f_max, shift=4.0)
    x[1] = np.nan  # one non-finite row counts against f
    key, mask = jax.random.key(5), jnp.ones(n, bool)
    big = make_aggregator(name, n=n, f=f_max, **opts)
    traced = jax.jit(lambda u, f: big.aggregate(key, u, mask, f=f)[0])
    outs = {}
    for f in range(f_max + 1):
        want = np.asarray(make_aggregator(name, n=n, f=f, **opts).aggregate(key, x, mask)[0])
        got, info = big.aggregate(key, x, mask, f=f)
        got = np.asarray(got)
        got_traced = np.asarray(traced(jnp.asarray(x), jnp.int32(f)))
        if any(r in name for r in GRAM_RULES):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=ATOL)
        else:
            np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got_traced, got, rtol=1e-6)  # another program: fusion
        outs[f] = got.tobytes()
    if name not in F_FREE:  # the runtime f is not ignored
        assert len(set(outs.values())) > 1


def test_runtime_f_bad_input():
    agg = make_aggregator("trimmed_mean", n=7, f=2)
    key, x, mask = jax.random.key(0), jnp.zeros((7, 3), jnp.float32), jnp.ones(7, bool)
    with pytest.raises(ValueError, match=r"f must be <= 2, got 3"):
        agg.aggregate(key, x, mask, f=3)
    with pytest.raises(ValueError, match=r"f must be >= 0, got -1"):
        agg.aggregate(key, x, mask, f=-1)
    with pytest.raises(TypeError, match=r"f must be an integer, got 1.5"):
        agg.aggregate(key, x, mask, f=1.5)
    with pytest.raises(TypeError, match=r"f must be an integer scalar"):
        jax.jit(lambda f: agg.aggregate(key, x, mask, f=f))(jnp.float32(1.0))
    # traced values are clipped into [0, f]: f = 5 acts as the rule's own f = 2
    col = jnp.asarray([0, 0, 0, 1, 2, 3, 100], jnp.float32)[:, None]
    at = jax.jit(lambda f: agg.aggregate(key, col, mask, f=f)[0][0])
    assert float(at(jnp.int32(5))) == float(agg.aggregate(key, col, mask)[0][0]) == 1.0
    assert float(at(jnp.int32(0))) == pytest.approx(106 / 7)
