"""meshlab: a Jupyter-first research toolkit for large decentralized meshes.

The public API is re-exported here; notebooks and other analyses import only from
``meshlab`` (and its documented subpackages).
"""

from meshlab import fl
from meshlab.crypto.pqc import (
    BACKENDS,
    CLASSICAL_KEMS,
    CLASSICAL_SIGNATURES,
    KEM_ALGORITHMS,
    SERVICE_DIST,
    SIGNATURE_ALGORITHMS,
    BackendUnavailableError,
    BeaconCryptoParams,
    CostProfile,
    Kem,
    KemSizes,
    OpCost,
    SignatureScheme,
    SignatureSizes,
    algorithms,
    apply_beacon_crypto,
    available_backends,
    backend_description,
    backend_version,
    beacon_crypto_params,
    benchmark,
    default_backend,
    kem,
    reference_profile,
    reference_table,
    signature_scheme,
)
from meshlab.crypto.wire import (
    BEACON_PAYLOAD_BYTES,
    REJECT_REASONS,
    SCHEME_IDS,
    Beacon,
    BeaconVerifier,
    VerifyResult,
    decode_beacon,
    encode_beacon,
    sign_beacon,
    state_digest,
)
from meshlab.fl import AGGREGATORS, ATTACKS, apply_attack, make_aggregator
from meshlab.identity.spiffe import SpiffeId, parse_spiffe_id
from meshlab.identity.svid import (
    SvidConfig,
    SvidParams,
    SvidResult,
    SvidState,
    SvidStepInfo,
    has_identity,
    init_svids,
    simulate_svids,
    step_svids,
    svid_params,
    svid_summary,
)
from meshlab.identity.x509 import (
    SvidCa,
    X509Svid,
    make_svid_ca,
    mint_x509_svid,
    svid_certificate_bytes,
    validate_x509_svid,
)
from meshlab.membership.detection import (
    DETECTOR_ESTIMATORS,
    DETECTOR_MODELS,
    DetectionReport,
    DetectorState,
    FailureDetector,
    HeartbeatConfig,
    HeartbeatParams,
    SuspicionLog,
    TrackedState,
    beacon_detection,
    phi_accrual_detector,
    phi_normal,
    simulate_detection,
    summarize_detection,
    timeout_detector,
    tracked,
)
from meshlab.membership.gossip import (
    COVERAGE_LEVELS,
    GOSSIP_MODES,
    GossipConfig,
    GossipParams,
    GossipResult,
    gossip_rollout,
    gossip_seeds,
    rounds_to_coverage,
    serf_convergence,
)
from meshlab.mesh.beacons import (
    LOAD_PATTERNS,
    BeaconConfig,
    BeaconInfo,
    BeaconParams,
    BeaconState,
    ChaosInput,
    beacon_init,
    beacon_params,
    beacon_rollout,
    beacon_seeds,
    beacon_step,
    fifo_departures,
    hist_quantiles,
    load_multiplier,
    mean_ci,
    neutral_chaos,
    summarize_beacons,
)
from meshlab.mesh.links import JITTER_DISTS, LATENCY_MODELS, LOSS_MODELS, SERVICE_DISTS
from meshlab.mesh.topology import (
    TOPOLOGIES,
    Topology,
    barabasi_albert,
    build_topology,
    degree_distribution,
    degree_stats,
    erdos_renyi,
    from_edges,
    grid_2d,
    is_connected,
    radius_for_degree,
    random_geometric,
    random_regular,
    watts_strogatz,
)
from meshlab.reporting.calibration import calibrate
from meshlab.reporting.provenance import cpu_model, git_commit, liboqs_library_path, provenance
from meshlab.reporting.writers import (
    atomic_write_bytes,
    report_dir,
    save_chart,
    save_metrics,
    save_table,
)

__version__ = "0.1.0"
