"""Update-space attacks against their published definitions (written out here in numpy)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from meshlab.fl import ATTACKS, alie_z, apply_attack
from meshlab.fl.attacks import line_search, min_max_gamma

N, D = 20, 50


def _setup(seed=0, n_byz=4):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((N, D)) + 1.0).astype(np.float32)
    byz = np.zeros(N, bool)
    byz[rng.choice(N, n_byz, replace=False)] = True
    return x, byz


def _attack(name, x, byz, key=0, **opts):
    out = apply_attack(jax.random.key(key), name, jnp.asarray(x), jnp.asarray(byz), **opts)
    return np.asarray(out)


@pytest.mark.parametrize("name", ATTACKS)
def test_honest_rows_untouched(name):
    x, byz = _setup()
    out = _attack(name, x, byz)
    np.testing.assert_array_equal(out[~byz], x[~byz])
    assert out.shape == x.shape and out.dtype == np.float32


def test_simple_definitions():
    x, byz = _setup()
    np.testing.assert_array_equal(_attack("none", x, byz), x)
    np.testing.assert_array_equal(_attack("sign_flip", x, byz)[byz], -x[byz])
    np.testing.assert_allclose(_attack("sign_flip", x, byz, scale=3.0)[byz], -3.0 * x[byz])
    np.testing.assert_allclose(_attack("scaling", x, byz)[byz], N * x[byz], rtol=1e-6)
    np.testing.assert_allclose(_attack("scaling", x, byz, factor=7.0)[byz], 7 * x[byz], rtol=1e-6)
    np.testing.assert_array_equal(_attack("free_rider", x, byz)[byz], 0.0)
    honest_mean = x[~byz].astype(np.float64).mean(axis=0)
    ipm = _attack("ipm", x, byz, eps=0.5)[byz]
    np.testing.assert_allclose(ipm, np.broadcast_to(-0.5 * honest_mean, ipm.shape), atol=1e-5)
    first_honest = int(np.flatnonzero(~byz)[0])
    np.testing.assert_array_equal(
        _attack("mimic", x, byz)[byz], np.broadcast_to(x[first_honest], (4, D))
    )
    t = int(np.flatnonzero(~byz)[3])
    np.testing.assert_array_equal(_attack("mimic", x, byz, target=t)[byz][0], x[t])


def test_alie_formula():
    # Baruch et al. 2019: s = floor(n/2 + 1) - f, z = Phi^-1((n - s)/n); row = mu - z sigma
    for n, f in [(50, 12), (50, 24), (20, 4), (100, 20)]:
        s = math.floor(n / 2 + 1) - f
        assert float(alie_z(n, f)) == pytest.approx(norm.ppf((n - s) / n), abs=1e-5)
    x, byz = _setup()
    h = x[~byz].astype(np.float64)
    z = norm.ppf((N - (math.floor(N / 2 + 1) - 4)) / N)
    want = h.mean(axis=0) - z * h.std(axis=0)
    out = _attack("alie", x, byz)[byz]
    np.testing.assert_allclose(out, np.broadcast_to(want, out.shape), atol=1e-5)
    out = _attack("alie", x, byz, z=1.5)[byz]
    np.testing.assert_allclose(out[0], h.mean(axis=0) - 1.5 * h.std(axis=0), atol=1e-5)


def test_gaussian_statistics():
    x, byz = _setup(n_byz=10)
    out = _attack("gaussian", x, byz, sigma=2.0)[byz].astype(np.float64)
    k = out.size  # 500 draws of N(0, 4): mean has sd 2/sqrt(500) ~ 0.09 -> 5 sd = 0.45
    assert abs(out.mean()) < 5 * 2.0 / math.sqrt(k)
    # sample variance has sd ~ sigma^2 sqrt(2/k) = 0.25 -> 5 sd = 1.3
    assert abs(out.var() - 4.0) < 5 * 4.0 * math.sqrt(2 / k)
    other = _attack("gaussian", x, byz, key=1, sigma=2.0)[byz]
    assert not np.array_equal(out, other)  # a different key gives different noise


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "mixed"])
def test_nonfinite(value):
    x, byz = _setup()
    out = _attack("nonfinite", x, byz, value=value)[byz]
    if value == "nan":
        assert np.all(np.isnan(out))
    elif value == "mixed":
        assert not np.any(np.isfinite(out))
        # 200 entries drawn from 3 kinds: P(one kind missing) <= 3 (2/3)^200 ~ 1e-35
        assert np.isnan(out).any() and np.isposinf(out).any() and np.isneginf(out).any()
    else:
        assert np.all(out == np.float32(value))


def test_attack_under_jit_with_traced_mask():
    x, byz = _setup()
    f = jax.jit(lambda k, u, b: apply_attack(k, "alie", u, b))
    out = np.asarray(f(jax.random.key(0), jnp.asarray(x), jnp.asarray(byz)))
    np.testing.assert_allclose(out, _attack("alie", x, byz), atol=1e-6)


@pytest.mark.parametrize(
    ("name", "opts", "match"),
    [
        ("flip", {}, "flip"),
        ("ipm", {"epsilon": 1.0}, "epsilon"),
        ("nonfinite", {"value": "zero"}, "value='zero'"),
        ("mimic", {"target": 99}, "target=99"),
        ("scaling", {"factor": float("inf")}, "factor"),
        ("gaussian", {"sigma": -1.0}, "sigma"),
    ],
)
def test_bad_input(name, opts, match):
    x, byz = _setup()
    with pytest.raises(ValueError, match=match):
        _attack(name, x, byz, **opts)


def test_bad_shapes_and_all_byzantine():
    x, byz = _setup()
    with pytest.raises(ValueError, match="byzantine must have shape"):
        _attack("sign_flip", x, byz[:-1])
    with pytest.raises(TypeError, match="byzantine must be boolean"):
        _attack("sign_flip", x, byz.astype(np.int32))
    with pytest.raises(ValueError, match="needs at least one honest row"):
        _attack("alie", x, np.ones(N, bool))
    with pytest.raises(ValueError, match="Byzantine row"):
        _attack("mimic", x, byz, target=int(np.flatnonzero(byz)[0]))


def test_alie_z_max_closed_form_statistics_normaldist():
    # z_max from the standard library's NormalDist (independent of scipy and of jax.scipy)
    from statistics import NormalDist

    for n, f in [(30, 6), (30, 9), (10, 1), (11, 4), (200, 60)]:
        s = math.floor(n / 2 + 1) - f
        want = NormalDist().inv_cdf((n - s) / n)
        assert float(alie_z(n, f)) == pytest.approx(want, abs=2e-5)
    assert float(alie_z(30, 6)) == pytest.approx(0.43, abs=0.005)  # the values quoted in
    assert float(alie_z(30, 9)) == pytest.approx(0.73, abs=0.005)  # the attacks' docs


def _median_rule(key, u):
    return jnp.median(u, axis=0)


def _byzfl_line_search(objective, evals=20, start=0.0, delta=10.0, ratio=0.8):
    """ByzFL's expansion / contraction line maximization, written out in plain Python."""
    best_x, best_y = start, objective(start)
    left = evals - 1
    while left > 0:  # expansion
        prop = best_x + delta
        y = objective(prop)
        left -= 1
        if y > best_y:
            best_x, best_y, delta = prop, y, 2 * delta
        else:
            delta *= ratio
            break
    while left > 0:  # contraction
        prop = best_x + delta
        y = objective(prop)
        left -= 1
        if y > best_y:
            best_x, best_y = prop, y
        delta *= ratio
    return best_x, best_y


@pytest.mark.parametrize("kind", ["alie", "ipm"])
def test_line_search_on_the_mean_runs_to_the_edge(kind):
    # On the mean the displacement is (f/n) c ||sigma|| (ALIE) or (f/n)(1 + c)||mu|| (IPM):
    # increasing in c, so every expansion step succeeds and the search ends at the edge
    # start + delta (2^(evals-1) - 1) with the closed-form objective there.
    x, byz = _setup()
    best, val = line_search(jax.random.key(0), kind, jnp.asarray(x), jnp.asarray(byz), evals=8)
    edge = 10.0 * (2**7 - 1)
    assert float(best) == edge
    h = x[~byz].astype(np.float64)
    mu, sd = h.mean(0), h.std(0)
    f = byz.sum()
    shift = edge * np.linalg.norm(sd) if kind == "alie" else (1 + edge) * np.linalg.norm(mu)
    assert float(val) == pytest.approx(f / N * shift, rel=1e-4)
    out = _attack(f"opt_{kind}", x, byz, evals=8)[byz][0]  # the attack uses that factor
    want = mu - edge * sd if kind == "alie" else -edge * mu
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3)


def test_line_search_interior_optimum_in_closed_form():
    # A norm filter (rows with ||x|| > T dropped, the rest averaged) under IPM: the objective
    # is (f/n)(1 + c)||mu|| while c ||mu|| <= T and 0 beyond, so the supremum is at the interior
    # point c* = T / ||mu||. The search approaches it from below and visits exactly the points
    # of ByzFL's procedure run on the closed-form objective.
    x, byz = _setup()
    h = x[~byz].astype(np.float64)
    mu = h.mean(0)
    t = 3.0 * np.linalg.norm(x, axis=1).max()  # honest rows are never dropped
    c_star = t / np.linalg.norm(mu)
    f = byz.sum()

    def norm_filter(key, u):
        keep = jnp.linalg.norm(u, axis=1) <= t
        return jnp.sum(jnp.where(keep[:, None], u, 0.0), 0) / jnp.sum(keep, dtype=u.dtype)

    closed = lambda c: f / N * (1 + c) * np.linalg.norm(mu) if c <= c_star else 0.0
    want_c, want_v = _byzfl_line_search(closed)
    best, val = line_search(jax.random.key(0), "ipm", jnp.asarray(x), jnp.asarray(byz), norm_filter)
    assert 0 < want_c <= c_star and c_star - want_c < 0.3  # interior and close to c*
    assert float(best) == pytest.approx(want_c, rel=1e-5)
    assert float(val) == pytest.approx(want_v, rel=1e-4)


def test_line_search_on_the_median_follows_byzfl_procedure():
    # Against the median ALIE at a huge z is ignored (the Byzantine rows become one tail),
    # a moderate z moves it: the procedure, run here with the median's displacement computed
    # independently in numpy, must visit the same factors and keep the same one.
    x, byz = _setup(n_byz=8)
    h = x[~byz].astype(np.float64)
    mu, sd = h.mean(0), h.std(0)

    def displacement(c):
        att = np.where(byz[:, None], mu - c * sd, x)
        return float(np.linalg.norm(np.median(att, axis=0) - mu))

    want_c, want_v = _byzfl_line_search(displacement, start=0.0, delta=0.5)
    best, val = line_search(
        jax.random.key(0), "alie", jnp.asarray(x), jnp.asarray(byz), _median_rule, delta=0.5
    )
    assert float(best) == pytest.approx(want_c, rel=1e-5)
    assert float(val) == pytest.approx(want_v, rel=1e-4)
    assert 0 < want_c < 50  # interior


def _paper_gamma(h, p, objective):
    """Shejwalkar & Houmansadr's halving search (their code's loop) in float64 numpy."""
    mu = h.mean(0)
    pair = ((h[:, None, :] - h[None, :, :]) ** 2).sum(-1)
    bound = pair.max() if objective == "min_max" else pair.sum(1).max()
    gamma, step, good = 10.0, 10.0, 0.0
    for _ in range(30):
        d2 = ((h - (mu + gamma * p)) ** 2).sum(-1)
        if (d2.max() if objective == "min_max" else d2.sum()) <= bound:
            good, gamma = gamma, gamma + step / 2
        else:
            gamma = gamma - step / 2
        step /= 2
    return good


@pytest.mark.parametrize("objective", ["min_max", "min_sum"])
@pytest.mark.parametrize("direction", ["std", "sign", "unit"])
def test_min_max_min_sum_constraint_is_tight(objective, direction):
    x, byz = _setup(seed=3, n_byz=6)
    out = _attack(objective, x, byz, direction=direction)
    m = out[byz][0].astype(np.float64)
    h = x[~byz].astype(np.float64)
    pair = ((h[:, None, :] - h[None, :, :]) ** 2).sum(-1)
    d2 = ((h - m) ** 2).sum(-1)
    if objective == "min_max":
        load, bound = d2.max(), pair.max()
    else:
        load, bound = d2.sum(), pair.sum(1).max()
    assert load <= bound * (1 + 1e-5)  # the constraint holds (float32 evaluation)
    assert load >= bound * (1 - 1e-3)  # and gamma is the largest feasible one
    # the malicious update is mu + gamma p along the named direction
    mu, sd = h.mean(0), h.std(0)
    p = {"std": -sd, "sign": -np.sign(mu), "unit": -mu / np.linalg.norm(mu)}[direction]
    gamma = float(min_max_gamma(jnp.asarray(x), jnp.asarray(byz), direction, objective))
    assert 0 < gamma < 20  # inside the paper's search range
    assert gamma == pytest.approx(_paper_gamma(h, p, objective), rel=1e-4)
    np.testing.assert_allclose(m, mu + gamma * p, atol=1e-4 * (1 + gamma))


@pytest.mark.parametrize("objective", ["min_max", "min_sum"])
def test_min_max_worst_direction_is_the_most_damaging_feasible_one(objective):
    # "worst": of the three directions, the one moving the rule's aggregate furthest from the
    # honest mean (each at its own largest feasible gamma); the constraint still holds.
    x, byz = _setup(seed=3, n_byz=6)
    h = x[~byz].astype(np.float64)
    mu = h.mean(0)
    for rule, agg in [(None, lambda a: a.mean(0)), (_median_rule, lambda a: np.median(a, 0))]:
        opts = {} if rule is None else {"aggregate": rule}
        out = _attack(objective, x, byz, **opts)  # direction "worst" by default
        moved = {}
        for d in ("std", "sign", "unit"):
            cand = _attack(objective, x, byz, direction=d, **opts)
            moved[d] = np.linalg.norm(agg(cand.astype(np.float64)) - mu)
        # the output is one of the three, and moves the rule as far as the best of them (on the
        # mean, Min-Sum ties: ||m - mu|| is the same for every direction)
        assert any(
            np.array_equal(out, _attack(objective, x, byz, direction=d, **opts)) for d in moved
        )
        got = np.linalg.norm(agg(out.astype(np.float64)) - mu)
        assert got == pytest.approx(max(moved.values()), rel=1e-5)
        m = out[byz][0].astype(np.float64)
        pair = ((h[:, None, :] - h[None, :, :]) ** 2).sum(-1)
        d2 = ((h - m) ** 2).sum(-1)
        load, bound = (
            (d2.max(), pair.max()) if objective == "min_max" else (d2.sum(), pair.sum(1).max())
        )
        assert load <= bound * (1 + 1e-5)


@pytest.mark.parametrize("name", ["alie", "ipm", "ipm_large", "opt_alie", "opt_ipm", "min_max"])
def test_permutation_equivariant_over_honest_clients(name):
    x, byz = _setup(seed=5)
    rng = np.random.default_rng(1)
    perm = np.arange(N)
    hon = np.flatnonzero(~byz)
    perm[hon] = rng.permutation(hon)  # shuffle the honest rows among themselves
    opts = {"aggregate": _median_rule} if name.startswith("opt_") else {}
    a = _attack(name, x, byz, **opts)
    b = _attack(name, x[perm], byz, **opts)
    np.testing.assert_allclose(b, a[perm], rtol=1e-5, atol=1e-5)


def test_line_search_vmaps_over_its_parameters_under_jit():
    x, byz = _setup()
    starts = jnp.asarray([0.0, 1.0, 2.5], jnp.float32)
    deltas = jnp.asarray([10.0, 0.5, 3.0], jnp.float32)

    def best(s, d):
        return line_search(jax.random.key(0), "alie", jnp.asarray(x), jnp.asarray(byz),
                           _median_rule, start=s, delta=d)[0]  # fmt: skip

    out = np.asarray(jax.jit(jax.vmap(best))(starts, deltas))
    one = [float(best(float(s), float(d))) for s, d in zip(starts, deltas, strict=True)]
    np.testing.assert_allclose(out, one, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "opts", "match"),
    [
        ("min_max", {"direction": "up"}, "direction='up'"),
        ("min_sum", {"direction": "best"}, "direction='best'"),
        ("opt_alie", {"evals": 0}, "evals=0"),
        ("opt_alie", {"ratio": 0.4}, "ratio=0.4"),
        ("opt_ipm", {"delta": 0.0}, "delta=0.0"),
        ("opt_ipm", {"start": float("nan")}, "start=nan"),
        ("opt_ipm", {"aggregate": 3}, "aggregate=3"),
        ("ipm_large", {"eps": float("inf")}, "eps"),
    ],
)
def test_bad_input_new_attacks(name, opts, match):
    x, byz = _setup()
    with pytest.raises(ValueError, match=match):
        _attack(name, x, byz, **opts)


def test_orchestrators_hand_the_real_rule_to_the_optimized_attacks():
    # the optimized attacks query the aggregation the server really runs (flat, hierarchical
    # and batch-async rounds pass it); with the median their rows differ from those tuned
    # against the plain mean (the fallback only streaming uses: it has no rule)
    from meshlab.fl import ModelSpec
    from meshlab.fl import orchestrators as orch

    x, byz = _setup(n_byz=8)
    cfg = orch.FLConfig(model=ModelSpec("logistic_regression", 64, 10), n_clients=N,
                        aggregator="median", attacks=("opt_ipm", "min_max"))  # fmt: skip
    median = lambda k, u: jnp.median(u, axis=0)
    key = jax.random.key(3)
    for i, name in enumerate(cfg.attacks):
        p = orch.make_params(cfg, byz, attack=i)
        args = (key, cfg, p, jnp.asarray(x), jnp.asarray(byz))
        real = np.asarray(orch._attack(*args, median))
        want = _attack(name, x, byz, key=3, aggregate=median)
        np.testing.assert_allclose(real, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(real, np.asarray(orch._attack(*args, None)))


@pytest.mark.slow
@pytest.mark.parametrize("orchestrator", ["hierarchical", "batch_async", "streaming"])
def test_optimized_attacks_run_in_every_orchestrator(orchestrator):
    from meshlab import fl

    data = fl.load_digits_federated(jax.random.key(0), 8, 1.0)
    trim = fl.aggregator_for("trimmed_mean", n=8, f_max=2)
    extra = {  # hierarchical: trimmed mean in the zones of 4, median over the 2 zones
        "hierarchical": {
            "n_zones": 2,
            "aggregator": "median",
            "zone_aggregator": fl.aggregator_for("trimmed_mean", n=4, f_max=1),
        },
        "batch_async": {"clients_per_round": 4},
        "streaming": {"events_per_round": 4},
    }
    cfg = fl.FLConfig(model=fl.ModelSpec("logistic_regression", 64, 10), n_clients=8,
                      n_rounds=3, orchestrator=orchestrator, attacks=("opt_alie", "min_sum"),
                      **{"aggregator": trim, **extra[orchestrator]})  # fmt: skip
    byz = np.zeros(8, bool)
    byz[[1, 6]] = True
    for i in range(2):
        _, info = fl.rollout(
            fl.build(cfg, data), jax.random.key(1), fl.make_params(cfg, byz, attack=i)
        )
        acc = np.asarray(info.accuracy)
        assert np.isfinite(acc).all() and ((acc >= 0) & (acc <= 1)).all()
