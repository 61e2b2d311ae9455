"""Post-quantum and classical crypto: backends, schemes, cost profiles, the beacon wire format."""

from meshlab.crypto import pqc, wire

__all__ = ["pqc", "wire"]
