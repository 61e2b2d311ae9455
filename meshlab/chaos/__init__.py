"""Chaos engineering under jit: scenarios as data, compiled into fault parameters, a MAPE-K
controller inside the scan, and the measures an operator asks of a chaos run.

* :mod:`~meshlab.chaos.scenario`: the fault vocabulary (targets, faults, schedules) as
  validated dataclasses; the YAML catalogue (``load_catalogue``).
* :mod:`~meshlab.chaos.targets`: target selectors and partition layouts on a topology.
* :mod:`~meshlab.chaos.compile`: scenario -> fixed-capacity ``FaultParams`` + link cuts.
* :mod:`~meshlab.chaos.controller`: the chaos kernel (beacons + detector + controller).
* :mod:`~meshlab.chaos.measures`: MTTD, MTTR, availability, blast radius, verdicts.
* :mod:`~meshlab.chaos.federated` (loaded on first use): FL updates under a scenario's
  faults, the update ledger and quarantine by the Byzantine detector.
* :mod:`~meshlab.chaos.experiments` (loaded on first use: polars): the catalogue x seeds x
  controllers as batched compiled calls, polars tables, claims, SLI bucket counts, the FL
  ledger table.
"""

from meshlab.chaos import compile, controller, measures, scenario, targets
from meshlab.core.lazy import lazy_attributes

__all__ = [
    "compile",
    "controller",
    "experiments",
    "federated",
    "measures",
    "scenario",
    "targets",
]

__getattr__ = lazy_attributes(__name__, modules=("experiments", "federated"))
