"""The network model: topologies, link channels, the verify queue, faults and the beacon model.

* :mod:`~meshlab.mesh.topology`: fixed-capacity neighbour tables (random regular,
  geometric, Erdős–Rényi, Watts–Strogatz, Barabási–Albert, grid, from edges).
* :mod:`~meshlab.mesh.links`: base latency, jitter, iid / Gilbert–Elliott loss, bandwidth.
* :mod:`~meshlab.mesh.queue`: the per-node FIFO verify server (Lindley in max-plus form).
* :mod:`~meshlab.mesh.histogram`: the streaming log-binned latency histogram.
* :mod:`~meshlab.mesh.faults`: fault schedules as parameters (``FaultParams``).
* :mod:`~meshlab.mesh.beacons`: the beacon model (``build`` -> kernel, ``rollout``,
  ``summarize``).
* :mod:`~meshlab.mesh.experiments`: tidy polars frames behind the beacons report (imported
  on first attribute access, so ``import meshlab.mesh`` does not load polars).
"""

from meshlab.core.lazy import lazy_attributes
from meshlab.mesh import beacons, faults, histogram, links, queue, topology

__all__ = ["beacons", "experiments", "faults", "histogram", "links", "queue", "topology"]


__getattr__ = lazy_attributes(__name__, modules=("experiments",))
