"""Post-quantum and classical crypto: backends, schemes, cost profiles, the beacon wire format.

Modules: :mod:`~meshlab.crypto.wire` (the signed beacon format; a leaf, standard library
only), :mod:`~meshlab.crypto.backends` (which implementations this machine has; one module
per backend), :mod:`~meshlab.crypto.schemes` (KEMs and signature schemes),
:mod:`~meshlab.crypto.profiles` (per-operation cost profiles, measured or reference),
:mod:`~meshlab.crypto.bench` (the benchmark harness), :mod:`~meshlab.crypto.mesh` (a
profile mapped onto the beacon model's parameters) and :mod:`~meshlab.crypto.experiments`
(the tables and metrics of the PQC report; imported on first use, it needs polars),
:mod:`~meshlab.crypto.conformance` (Wycheproof vectors on every backend),
:mod:`~meshlab.crypto.audit` (interoperability, FIPS sizes, implicit rejection) and
:mod:`~meshlab.crypto.sla` (load-proof timing and SLA verdicts).

Importing :mod:`meshlab.crypto` (e.g. through :mod:`meshlab.crypto.wire`) loads no crypto
library: backends are probed and imported on first use.
"""

from meshlab.core.lazy import lazy_attributes
from meshlab.crypto import audit, backends, bench, conformance, mesh, profiles, schemes, sla, wire
from meshlab.crypto.backends import (
    BACKENDS,
    BackendUnavailableError,
    available_backends,
    backend_description,
    backend_version,
    default_backend,
    liboqs_library_path,
)
from meshlab.crypto.bench import benchmark
from meshlab.crypto.mesh import BeaconCryptoParams, apply_beacon_crypto, beacon_crypto_params
from meshlab.crypto.profiles import CostProfile, OpCost, reference_profile, reference_table
from meshlab.crypto.schemes import (
    CLASSICAL_KEMS,
    CLASSICAL_SIGNATURES,
    KEM_ALGORITHMS,
    SIGNATURE_ALGORITHMS,
    Kem,
    KemSizes,
    SignatureScheme,
    SignatureSizes,
    algorithms,
    kem,
    signature_scheme,
)
from meshlab.crypto.wire import BEACON_PAYLOAD_BYTES

__all__ = [
    "BACKENDS",
    "BEACON_PAYLOAD_BYTES",
    "CLASSICAL_KEMS",
    "CLASSICAL_SIGNATURES",
    "KEM_ALGORITHMS",
    "SIGNATURE_ALGORITHMS",
    "BackendUnavailableError",
    "BeaconCryptoParams",
    "CostProfile",
    "Kem",
    "KemSizes",
    "OpCost",
    "SignatureScheme",
    "SignatureSizes",
    "algorithms",
    "apply_beacon_crypto",
    "audit",
    "available_backends",
    "backend_description",
    "backend_version",
    "backends",
    "beacon_crypto_params",
    "bench",
    "benchmark",
    "conformance",
    "default_backend",
    "experiments",
    "kem",
    "liboqs_library_path",
    "mesh",
    "profiles",
    "reference_profile",
    "reference_table",
    "schemes",
    "signature_scheme",
    "sla",
    "wire",
]


__getattr__ = lazy_attributes(__name__, modules=("experiments",))
