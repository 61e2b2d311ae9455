"""Who is alive and how news spreads: failure detectors, crash detection, gossip, Serf model.

* :mod:`~meshlab.membership.detectors`: timeout and φ-accrual detectors as hashable specs
  plus a params pytree (``detectors.timeout(3.0)``, ``detectors.phi_accrual(8.0)``),
  suspicion logging (``tracked``) and bundles of several detectors.
* :mod:`~meshlab.membership.detection`: crash detection inside the beacon model
  (``crash_detection``) and the stand-alone heartbeat kernel (``build`` / ``rollout`` /
  ``summarize``).
* :mod:`~meshlab.membership.gossip`: push / pull / push-pull dissemination kernel.
* :mod:`~meshlab.membership.serf`: the Serf/memberlist convergence model.
* :mod:`~meshlab.membership.experiments`: the report's tables and metrics (polars).
"""

from meshlab.membership import detection, detectors, experiments, gossip, serf

__all__ = ["detection", "detectors", "experiments", "gossip", "serf"]
