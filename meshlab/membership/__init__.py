"""Who is alive and how news spreads: failure detectors, detection runs, gossip, Serf model."""

from meshlab.membership import detection, gossip

__all__ = ["detection", "gossip"]
