"""meshlab: a Jupyter-first research toolkit for large decentralized meshes.

Import the domain you need; subpackages load on first use, so ``import meshlab`` is cheap
and a domain never pulls in another's dependencies::

    import meshlab
    topo = meshlab.mesh.topology.random_regular(key, n_nodes=1000, degree=8)

Subpackages: ``core`` (kernel convention, checks, batching, statistics), ``mesh``
(topology, links, queue, beacons, faults), ``membership`` (failure detectors, gossip),
``fl`` (federated learning), ``crypto`` (PQC backends, schemes, cost profiles, wire
format), ``identity`` (SPIFFE, X.509-SVIDs, SVID lifecycle), ``reference`` (independent
references), ``reporting`` (writers, charts, provenance), ``pipeline`` (notebook runner),
``scaling`` (USL, queueing, prediction, sharding, sweeps), ``chaos`` (fault scenarios,
the self-healing controller, chaos measures), ``slo`` (objectives, error budgets, burn
rates, generated monitoring files). ``meshlab.Kernel``, ``meshlab.rollout``, ``meshlab.rollout_seeds``,
``meshlab.stack_params`` and ``meshlab.mean_ci`` are the core names every analysis uses.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

SUBPACKAGES = (
    "chaos",
    "core",
    "crypto",
    "fl",
    "identity",
    "membership",
    "mesh",
    "pipeline",
    "reference",
    "reporting",
    "scaling",
    "slo",
)

# the few core names every analysis uses, re-exported from meshlab.core
CORE_NAMES = ("Kernel", "mean_ci", "rollout", "rollout_seeds", "stack_params")

__all__ = [*CORE_NAMES, *SUBPACKAGES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in SUBPACKAGES:
        module = importlib.import_module(f"meshlab.{name}")
        globals()[name] = module
        return module
    if name in CORE_NAMES:
        value = getattr(importlib.import_module("meshlab.core"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'meshlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
