"""meshlab: a Jupyter-first research toolkit for large decentralized meshes.

Import the domain you need; subpackages load on first use, so ``import meshlab`` is cheap
and a domain never pulls in another's dependencies::

    import meshlab
    topo = meshlab.mesh.topology.random_regular(key, n_nodes=1000, degree=8)

Subpackages: ``core`` (kernel convention, checks, batching, statistics), ``mesh``
(topology, links, queue, beacons, faults), ``membership`` (failure detectors, gossip),
``fl`` (federated learning), ``crypto`` (PQC backends, schemes, cost profiles, wire
format), ``identity`` (SPIFFE, X.509-SVIDs, SVID lifecycle), ``reference`` (independent
references), ``reporting`` (writers, charts, provenance), ``pipeline`` (notebook runner),
``scaling`` (USL, queueing), ``slo`` (objectives, error budgets, burn rates).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

SUBPACKAGES = (
    "core",
    "crypto",
    "fl",
    "identity",
    "membership",
    "mesh",
    "pipeline",
    "reference",
    "reporting",
    "scaling",
    "slo",
)

__all__ = [*SUBPACKAGES, "__version__"]

# Transitional flat names (being removed): name -> defining module.
_FLAT = {
    "AGGREGATORS": "meshlab.fl",
    "ATTACKS": "meshlab.fl",
    "BACKENDS": "meshlab.crypto.backends",
    "BEACON_PAYLOAD_BYTES": "meshlab.crypto.wire",
    "BackendUnavailableError": "meshlab.crypto.backends",
    "Beacon": "meshlab.crypto.wire",
    "BeaconConfig": "meshlab.mesh.beacons",
    "BeaconCryptoParams": "meshlab.crypto.mesh",
    "BeaconInfo": "meshlab.mesh.beacons",
    "BeaconParams": "meshlab.mesh.beacons",
    "BeaconState": "meshlab.mesh.beacons",
    "BeaconVerifier": "meshlab.crypto.wire",
    "CLASSICAL_KEMS": "meshlab.crypto.schemes",
    "CLASSICAL_SIGNATURES": "meshlab.crypto.schemes",
    "COVERAGE_LEVELS": "meshlab.membership.gossip",
    "ChaosInput": "meshlab.mesh.beacons",
    "CostProfile": "meshlab.crypto.profiles",
    "DETECTOR_ESTIMATORS": "meshlab.membership.detection",
    "DETECTOR_MODELS": "meshlab.membership.detection",
    "DetectionReport": "meshlab.membership.detection",
    "DetectorState": "meshlab.membership.detection",
    "FailureDetector": "meshlab.membership.detection",
    "GOSSIP_MODES": "meshlab.membership.gossip",
    "GossipConfig": "meshlab.membership.gossip",
    "GossipParams": "meshlab.membership.gossip",
    "GossipResult": "meshlab.membership.gossip",
    "HeartbeatConfig": "meshlab.membership.detection",
    "HeartbeatParams": "meshlab.membership.detection",
    "JITTER_DISTS": "meshlab.mesh.links",
    "KEM_ALGORITHMS": "meshlab.crypto.schemes",
    "Kem": "meshlab.crypto.schemes",
    "KemSizes": "meshlab.crypto.schemes",
    "LATENCY_MODELS": "meshlab.mesh.links",
    "LOAD_PATTERNS": "meshlab.mesh.beacons",
    "LOSS_MODELS": "meshlab.mesh.links",
    "OpCost": "meshlab.crypto.profiles",
    "REJECT_REASONS": "meshlab.crypto.wire",
    "SCHEME_IDS": "meshlab.crypto.wire",
    "SERVICE_DISTS": "meshlab.mesh.links",
    "SIGNATURE_ALGORITHMS": "meshlab.crypto.schemes",
    "SignatureScheme": "meshlab.crypto.schemes",
    "SignatureSizes": "meshlab.crypto.schemes",
    "SpiffeId": "meshlab.identity.spiffe",
    "SuspicionLog": "meshlab.membership.detection",
    "SvidCa": "meshlab.identity.x509",
    "SvidConfig": "meshlab.identity.svid",
    "SvidParams": "meshlab.identity.svid",
    "SvidResult": "meshlab.identity.svid",
    "SvidState": "meshlab.identity.svid",
    "SvidStepInfo": "meshlab.identity.svid",
    "TOPOLOGIES": "meshlab.mesh.topology",
    "Topology": "meshlab.mesh.topology",
    "TrackedState": "meshlab.membership.detection",
    "VerifyResult": "meshlab.crypto.wire",
    "X509Svid": "meshlab.identity.x509",
    "algorithms": "meshlab.crypto.schemes",
    "apply_attack": "meshlab.fl",
    "apply_beacon_crypto": "meshlab.crypto.mesh",
    "atomic_write_bytes": "meshlab.reporting.writers",
    "available_backends": "meshlab.crypto.backends",
    "backend_description": "meshlab.crypto.backends",
    "backend_version": "meshlab.crypto.backends",
    "barabasi_albert": "meshlab.mesh.topology",
    "beacon_crypto_params": "meshlab.crypto.mesh",
    "beacon_detection": "meshlab.membership.detection",
    "beacon_init": "meshlab.mesh.beacons",
    "beacon_params": "meshlab.mesh.beacons",
    "beacon_rollout": "meshlab.mesh.beacons",
    "beacon_seeds": "meshlab.mesh.beacons",
    "beacon_step": "meshlab.mesh.beacons",
    "benchmark": "meshlab.crypto.bench",
    "build_topology": "meshlab.mesh.topology",
    "calibrate": "meshlab.reporting.calibration",
    "cpu_model": "meshlab.reporting.provenance",
    "decode_beacon": "meshlab.crypto.wire",
    "default_backend": "meshlab.crypto.backends",
    "degree_distribution": "meshlab.mesh.topology",
    "degree_stats": "meshlab.mesh.topology",
    "encode_beacon": "meshlab.crypto.wire",
    "erdos_renyi": "meshlab.mesh.topology",
    "fifo_departures": "meshlab.mesh.beacons",
    "from_edges": "meshlab.mesh.topology",
    "git_commit": "meshlab.reporting.provenance",
    "gossip_rollout": "meshlab.membership.gossip",
    "gossip_seeds": "meshlab.membership.gossip",
    "grid_2d": "meshlab.mesh.topology",
    "has_identity": "meshlab.identity.svid",
    "hist_quantiles": "meshlab.mesh.beacons",
    "init_svids": "meshlab.identity.svid",
    "is_connected": "meshlab.mesh.topology",
    "kem": "meshlab.crypto.schemes",
    "liboqs_library_path": "meshlab.crypto.backends",
    "load_multiplier": "meshlab.mesh.beacons",
    "make_aggregator": "meshlab.fl",
    "make_svid_ca": "meshlab.identity.x509",
    "mean_ci": "meshlab.mesh.beacons",
    "mint_x509_svid": "meshlab.identity.x509",
    "neutral_chaos": "meshlab.mesh.beacons",
    "parse_spiffe_id": "meshlab.identity.spiffe",
    "phi_accrual_detector": "meshlab.membership.detection",
    "phi_normal": "meshlab.membership.detection",
    "provenance": "meshlab.reporting.provenance",
    "radius_for_degree": "meshlab.mesh.topology",
    "random_geometric": "meshlab.mesh.topology",
    "random_regular": "meshlab.mesh.topology",
    "reference_profile": "meshlab.crypto.profiles",
    "reference_table": "meshlab.crypto.profiles",
    "report_dir": "meshlab.reporting.writers",
    "rounds_to_coverage": "meshlab.membership.gossip",
    "save_chart": "meshlab.reporting.writers",
    "save_metrics": "meshlab.reporting.writers",
    "save_table": "meshlab.reporting.writers",
    "serf_convergence": "meshlab.membership.gossip",
    "sign_beacon": "meshlab.crypto.wire",
    "signature_scheme": "meshlab.crypto.schemes",
    "simulate_detection": "meshlab.membership.detection",
    "simulate_svids": "meshlab.identity.svid",
    "state_digest": "meshlab.crypto.wire",
    "step_svids": "meshlab.identity.svid",
    "summarize_beacons": "meshlab.mesh.beacons",
    "summarize_detection": "meshlab.membership.detection",
    "svid_certificate_bytes": "meshlab.identity.x509",
    "svid_params": "meshlab.identity.svid",
    "svid_summary": "meshlab.identity.svid",
    "timeout_detector": "meshlab.membership.detection",
    "tracked": "meshlab.membership.detection",
    "validate_x509_svid": "meshlab.identity.x509",
    "watts_strogatz": "meshlab.mesh.topology",
}


def __getattr__(name: str) -> Any:
    if name in SUBPACKAGES:
        module = importlib.import_module(f"meshlab.{name}")
        globals()[name] = module
        return module
    if name in _FLAT:
        value = getattr(importlib.import_module(_FLAT[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'meshlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
