"""meshlab as a library in another analysis: the built wheel, installed without extras into a
fresh virtual environment, imports its simulation core and gives the same numbers.

Offline: the wheel is built with ``uv build --offline`` and installed with ``uv pip install
--offline``, from uv's cache (the project's own ``uv sync`` put every core dependency there).
Skipped when uv is missing or the cache cannot satisfy the install.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # builds a wheel and a venv: ~40 s on a quiet 2-core machine

# Domains whose import would still pull a heavy stack in ({package: reason}): strict xfail,
# so the mark has to go as soon as the import is made lazy. None today.
KNOWN_HEAVY: dict[str, str] = {}

SCRIPT = r"""
import json, sys, warnings
import jax, numpy as np
import meshlab
from meshlab import core, fl, membership, mesh
from meshlab.mesh import beacons, topology
from meshlab.membership import gossip

key = jax.random.key(0)
topo = topology.random_regular(key, 64, 6)
kernel = beacons.build(beacons.BeaconConfig(), topo)
state, _ = beacons.rollout(kernel, key, beacons.params(loss_p=0.1), 20)
summary = beacons.summarize(state, kernel.config, beacons.params(loss_p=0.1))
g = gossip.build(gossip.GossipConfig(n_nodes=64))
_, infos = gossip.rollout(g, key, gossip.params(), 10)
data = fl.synthetic_federated(key, 8, samples_per_client=16, n_features=5, n_classes=3, n_test=50)
try:
    fl.load_digits_federated(key, 5, 0.5)
    digits = "loaded"
except ImportError as e:
    digits = str(e)
heavy = sorted(m for m in ("polars", "altair", "vl_convert", "sklearn", "cryptography",
                           "pqcrypto", "prometheus_client", "papermill", "dask")
               if m in sys.modules)
print(json.dumps({
    "delivery_ratio": float(np.asarray(summary["delivery_ratio"])),
    "informed_last": float(np.asarray(infos.coverage)[-1]),
    "fl_shape": list(data.x.shape),
    "digits": digits,
    "heavy": heavy,
}))
"""


HEAVY = {
    "polars", "altair", "vl_convert", "sklearn", "cryptography", "pqcrypto",
    "prometheus_client", "papermill", "dask",
}  # fmt: skip


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    return uv


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory):
    uv = _uv()
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [uv, "build", "--wheel", "--offline", "-q", "-o", str(tmp / "dist")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp / "dist").glob("meshlab-*.whl")
    venv = tmp / "venv"
    subprocess.run([uv, "venv", "-q", "--offline", "--python", sys.executable, str(venv)],
                   check=True, timeout=120)  # fmt: skip
    install = subprocess.run(
        [uv, "pip", "install", "--offline", "-q", "--python", str(venv / "bin/python"), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if install.returncode != 0:
        pytest.skip(f"the core dependencies are not all in uv's cache: {install.stderr[-400:]}")
    return venv / "bin/python"


def test_the_wheel_runs_a_simulation_without_any_extra(core_venv, tmp_path):
    run = subprocess.run(
        [str(core_venv), "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    # the core pulled in none of the reporting, crypto, fl-data, monitoring or sweeps stacks
    assert got["heavy"] == []
    # the digits loader says which extra it needs
    assert "pip install 'meshlab[fl-data]'" in got["digits"]
    assert got["fl_shape"][0] == 8
    # same numbers as the project's own environment
    here = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert here.returncode == 0, here.stderr[-2000:]
    mine = json.loads(here.stdout.strip().splitlines()[-1])
    assert got["delivery_ratio"] == pytest.approx(mine["delivery_ratio"], rel=1e-6)
    assert 0.8 < got["delivery_ratio"] < 0.95  # loss 0.1, iid: about 0.9 delivered
    assert got["informed_last"] == mine["informed_last"]


def test_the_wheel_ships_the_package_data(core_venv):
    run = subprocess.run(
        [str(core_venv), "-c", "import meshlab, pathlib; "
         "print(sorted(p.name for p in (pathlib.Path(meshlab.__file__).parent / 'crypto' / "
         "'data').iterdir()))"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    shipped = set(eval(run.stdout))  # noqa: S307 - our own printed list
    expected = {p.name for p in (ROOT / "meshlab/crypto/data").iterdir()}
    assert expected <= shipped


@pytest.mark.parametrize(
    "package",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN_HEAVY[p]))
        if p in KNOWN_HEAVY
        else p
        for p in ("mesh", "membership", "fl", "scaling", "chaos")
    ],
)
def test_each_simulation_domain_imports_without_the_extras(core_venv, package):
    code = f"import sys, meshlab.{package}; print(sorted(set(sys.modules) & {HEAVY!r}))"
    run = subprocess.run([str(core_venv), "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-1500:]
    assert run.stdout.strip() == "[]"
