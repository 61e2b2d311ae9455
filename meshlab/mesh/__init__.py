"""The network model: topologies, link channels, the verify queue and the beacon simulation."""

from meshlab.mesh import beacons, links, topology

__all__ = ["beacons", "links", "topology"]
