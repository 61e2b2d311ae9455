"""Independent references (event-driven and plain numpy) for tests, benchmarks and users."""

from meshlab.reference import aggregators, beacons

__all__ = ["aggregators", "beacons"]
