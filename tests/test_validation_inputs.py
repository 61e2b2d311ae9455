"""Wrong inputs are refused before any work, named as the user wrote them.

One test per wrong input found by trying meshlab as a new user would (the Gilbert-Elliott
``p = r = 0`` case is tested with the link model in ``tests/test_mesh_links.py``; the stale
failed notebook of the runner in ``tests/test_runner.py``).
"""

from __future__ import annotations

import ast
import functools
import warnings
from pathlib import Path

import jax
import nbformat
import numpy as np
import pytest

from meshlab.core import validation as v
from meshlab.fl.data import load_digits_federated
from meshlab.membership import detection, detectors, gossip
from meshlab.mesh import beacons, topology

ROOT = Path(__file__).resolve().parent.parent
KEY_ERROR = r"key must be a typed jax\.random\.key"


# ------------------------------------------------------------------ disconnected geometric graph


def test_a_disconnected_random_geometric_graph_is_loudly_warned_about():
    with pytest.warns(
        UserWarning, match=r"DISCONNECTED: \d+ components, \d+ of 100 nodes isolated"
    ):
        topo = topology.random_geometric(jax.random.key(0), 100, 0.05, 8)
    assert not topology.is_connected(topo)
    with pytest.warns(UserWarning, match="allow_disconnected=True"):
        topology.build_topology("random_geometric", jax.random.key(0), 100, 2, 8)


def test_disconnected_geometric_graphs_are_accepted_silently_only_on_request():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        topology.random_geometric(jax.random.key(0), 100, 0.05, 8, allow_disconnected=True)
        topology.build_topology(
            "random_geometric", jax.random.key(0), 100, 2, 8, allow_disconnected=True
        )
        # a connected one says nothing either
        connected = topology.random_geometric(jax.random.key(0), 200, 0.3, 60)
    assert topology.is_connected(connected)


def test_components_labels_every_node_with_its_component():
    # two triangles and an isolated node
    edges = np.array([[0, 1], [1, 2], [2, 0], [3, 4], [4, 5], [5, 3]])
    topo = topology.from_edges(edges, 7, 4)
    np.testing.assert_array_equal(topology.components(topo), [0, 0, 0, 3, 3, 3, 6])


# ------------------------------------------------------------------------------- empty clients


def test_more_clients_than_samples_is_refused_before_partitioning():
    with pytest.raises(ValueError, match=r"n_clients=5000 exceeds the 1438 training samples"):
        load_digits_federated(jax.random.key(0), 5000, 0.5)


def test_empty_clients_are_refused_unless_allowed_and_then_warned_about():
    with pytest.raises(ValueError, match=r"of 1000 clients got no sample.*allow_empty_clients"):
        load_digits_federated(jax.random.key(0), 1000, 0.5)
    with pytest.warns(UserWarning, match=r"\d+ of 1000 clients got no sample"):
        data = load_digits_federated(jax.random.key(0), 1000, 0.5, allow_empty_clients=True)
    assert int((np.asarray(data.mask).sum(axis=1) == 0).sum()) > 0
    with pytest.raises(TypeError, match="allow_empty_clients must be true or false"):
        load_digits_federated(jax.random.key(0), 10, 0.5, allow_empty_clients="yes")


# ---------------------------------------------------------------------- hand-built topologies


def _bad_tables():
    good = topology.random_regular(jax.random.key(0), 20, 4)
    out_of_range = good.neighbors.copy()
    out_of_range[3, 1] = 20  # JAX would clamp this gather to node 19, silently
    negative = good.neighbors.copy()
    negative[0, 0] = -1
    return {
        "id out of range": (good._replace(neighbors=out_of_range), ValueError, r"in \[0, 20\)"),
        "negative id": (good._replace(neighbors=negative), ValueError, r"in \[0, 20\)"),
        "float ids": (
            good._replace(neighbors=good.neighbors.astype(np.float32)),
            TypeError,
            "must be integers",
        ),
        "int mask": (good._replace(mask=good.mask.astype(np.int8)), TypeError, "mask must be bool"),
        "mask shape": (good._replace(mask=good.mask[:, :2]), TypeError, "mask must be bool"),
        "1-d table": (good._replace(neighbors=good.neighbors[:, 0]), ValueError, "int\\[N>=1"),
        "nan position": (
            good._replace(positions=np.full((20, 2), np.nan, np.float32)),
            ValueError,
            "positions must be finite",
        ),
    }


@pytest.mark.parametrize("case", list(_bad_tables()))
def test_a_hand_built_topology_is_checked_when_a_kernel_is_built(case):
    bad, err, match = _bad_tables()[case]
    with pytest.raises(err, match=match):
        topology.check(bad)
    with pytest.raises((TypeError, ValueError)):
        beacons.build(beacons.BeaconConfig(), bad)
    if case != "nan position":  # the heartbeat model has no geometry
        with pytest.raises(err, match=match):
            detection.build(detection.HeartbeatConfig(detector=detectors.timeout(3.0)[0]), bad)


def test_a_masked_padding_entry_may_hold_anything():
    topo = topology.random_regular(jax.random.key(0), 20, 4, max_degree=6)
    nb = topo.neighbors.copy()
    nb[~topo.mask] = 12345  # never read: outside the mask
    topology.check(topo._replace(neighbors=nb))


# ------------------------------------------------------------------------------- keys and seeds


@pytest.mark.parametrize(
    "bad", ["abc", 0, jax.random.PRNGKey(0)], ids=["string", "int", "legacy-uint32"]
)
def test_one_key_check_everywhere_before_jit(bad):
    kernel = gossip.build(gossip.GossipConfig(n_nodes=16))
    topo = topology.random_regular(jax.random.key(0), 16, 4)
    calls = [
        lambda: gossip.rollout(kernel, bad, gossip.params(), 4),
        lambda: gossip.rollout_seeds(kernel, bad, gossip.params(), 4, 2),
        lambda: detection.crash_detection(bad, topo, detectors.timeout(3.0), [1], 2, 4),
        lambda: topology.random_regular(bad, 16, 4),
        lambda: load_digits_federated(bad, 5, 0.5),
    ]
    for call in calls:
        with pytest.raises(TypeError, match=KEY_ERROR):
            call()


def test_the_key_error_says_what_was_given():
    with pytest.raises(TypeError, match=r"the string 'abc' \(seeds are integers\)"):
        v.check_key("abc")
    with pytest.raises(TypeError, match=r"legacy uint32 key .*wrap_key_data"):
        v.check_key(jax.random.PRNGKey(0))


@pytest.mark.parametrize(
    ("value", "err", "match"),
    [
        ("abc", TypeError, "must be an integer, got 'abc'"),
        (True, TypeError, "must be an integer"),
        (-1, ValueError, "must be >= 0"),
        (2**32, ValueError, "must be <= 4294967295"),
        (1.5, TypeError, "must be an integer"),
    ],
)
def test_seeds_are_integers_jax_keeps_distinct(value, err, match):
    with pytest.raises(err, match=f"stage.seed {match}"):
        v.check_seed("stage.seed", value)
    # why the upper bound: jax keeps 32 bits of a seed, so 2**32 would collide with 0
    assert v.check_seed("seed", 2**32 - 1) == 2**32 - 1


def test_section_checks_name_the_key_and_the_item():
    spec = {"sizes": v.list_of(v.integer(2), distinct=True), "loss": v.probability()}
    assert v.check_section("s", {"sizes": [2, 3], "loss": 0.5, "other": 1}, spec) == {
        "sizes": [2, 3],
        "loss": 0.5,
    }
    with pytest.raises(ValueError, match=r"s\.sizes\[1\] must be >= 2, got 1"):
        v.check_section("s", {"sizes": [2, 1], "loss": 0.5}, spec)
    with pytest.raises(ValueError, match=r"s\.sizes must not repeat items"):
        v.check_section("s", {"sizes": [2, 2], "loss": 0.5}, spec)
    with pytest.raises(TypeError, match=r"s\.sizes must be a list, got '2'"):
        v.check_section("s", {"sizes": "2", "loss": 0.5}, spec)
    with pytest.raises(ValueError, match=r"s\.loss must be a probability in \[0, 1\], got 1\.2"):
        v.check_section("s", {"sizes": [2], "loss": 1.2}, spec)
    with pytest.raises(ValueError, match=r"\['loss'\] are checked but were not given"):
        v.check_section("s", {"sizes": [2]}, spec)


# -------------------------------------------------------------- notebooks validate up front

VALIDATED = ("beacons", "pqc", "environment")


def _first_cells(stage: str) -> tuple[str, str]:
    nb = nbformat.read(ROOT / "notebooks" / f"{stage}.ipynb", as_version=4)
    i = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    return nb.cells[i].source, nb.cells[i + 1].source


@functools.cache
def _defaults(stage: str) -> dict:
    params, _ = _first_cells(stage)
    ns: dict = {}
    exec(params, ns)
    return {k: val for k, val in ns.items() if not k.startswith("__")}


def _validate(stage: str, **overrides):
    _, check = _first_cells(stage)
    ns = {**_defaults(stage), **overrides}
    exec(check, ns)


@pytest.mark.parametrize("stage", VALIDATED)
def test_the_first_code_cell_checks_every_parameter(stage):
    params, check = _first_cells(stage)
    assert check.lstrip().startswith("# Every parameter checked up front")
    names = {t.id for n in ast.parse(params).body for t in getattr(n, "targets", [])}
    keys = {
        k.value
        for n in ast.walk(ast.parse(check))
        if isinstance(n, ast.Dict)
        for k in n.keys
        if isinstance(k, ast.Constant)
    }
    assert names - {"out_dir"} == keys, "every parameter has a check, every check a parameter"
    _validate(stage)  # the smoke defaults pass
    for key, value in _defaults(stage).items():
        if key == "out_dir":
            continue
        bad = "not a value" if not isinstance(value, str) else ["not", "a", "value"]
        with pytest.raises((TypeError, ValueError), match=rf"^{stage}\.{key}\b"):
            _validate(stage, **{key: bad})


@pytest.mark.parametrize(
    ("stage", "key", "value", "match"),
    [
        ("beacons", "gossip_loss", 1.2, r"beacons\.gossip_loss must be a probability"),
        ("beacons", "detection_losses", [1.5], r"beacons\.detection_losses\[0\] must be in"),
        ("beacons", "seed", "abc", r"beacons\.seed must be an integer, got 'abc'"),
        (
            "beacons",
            "beacons_topologies",
            ["ring"],
            r"beacons\.beacons_topologies\[0\] must be one",
        ),
        ("beacons", "detection_crash_round", 999, r"beacons\.detection_crash_round must be <="),
        ("beacons", "beacons_capacity", 4, r"beacons\.beacons_capacity must be >= 8"),
        ("pqc", "mesh_kem", "ML-KEM-7", r"pqc\.mesh_kem must be one of"),
        ("pqc", "bench_algorithms", ["X25519", "X25519"], r"pqc\.bench_algorithms must not repeat"),
        ("environment", "repeats", 1, r"environment\.repeats must be >= 2, got 1"),
    ],
)
def test_bad_notebook_parameters_fail_in_the_first_cell_naming_the_key(stage, key, value, match):
    with pytest.raises((TypeError, ValueError), match=match):
        _validate(stage, **{key: value})
