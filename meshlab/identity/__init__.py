"""SPIFFE identity: ids, X.509-SVIDs on the host, and the SVID lifecycle simulation."""

from meshlab.identity import spiffe, svid, x509

__all__ = ["spiffe", "svid", "x509"]
