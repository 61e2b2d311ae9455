"""SPIFFE identity: ids and X.509-SVIDs on the host, and the SVID lifecycle simulation.

Modules: :mod:`~meshlab.identity.spiffe` (SPIFFE ids), :mod:`~meshlab.identity.x509`
(X.509-SVIDs minted and checked with ``cryptography``, and their DER size model),
:mod:`~meshlab.identity.svid` (the SVID rotation lifecycle as a JAX kernel) and
:mod:`~meshlab.identity.experiments` (the report's tables; imported on first use, it needs
polars).
"""

from meshlab.core.lazy import lazy_attributes
from meshlab.identity import spiffe, svid, x509
from meshlab.identity.spiffe import SpiffeId, parse_spiffe_id
from meshlab.identity.svid import SvidConfig, SvidParams, SvidState, SvidTrace, has_identity
from meshlab.identity.x509 import (
    SvidCa,
    X509Svid,
    make_svid_ca,
    mint_x509_svid,
    svid_certificate_bytes,
    validate_x509_svid,
)

__all__ = [
    "SpiffeId",
    "SvidCa",
    "SvidConfig",
    "SvidParams",
    "SvidState",
    "SvidTrace",
    "X509Svid",
    "experiments",
    "has_identity",
    "make_svid_ca",
    "mint_x509_svid",
    "parse_spiffe_id",
    "spiffe",
    "svid",
    "svid_certificate_bytes",
    "validate_x509_svid",
    "x509",
]


__getattr__ = lazy_attributes(__name__, modules=("experiments",))
