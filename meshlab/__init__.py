"""meshlab: a Jupyter-first research toolkit for large decentralized meshes.

The public API is re-exported here; notebooks and other analyses import only from
``meshlab`` (and its documented subpackages).
"""

from meshlab import fl
from meshlab.beacon_wire import (
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
from meshlab.beacons import (
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
from meshlab.calibration import calibrate
from meshlab.detection import (
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
from meshlab.dissemination import (
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
from meshlab.fl import AGGREGATORS, ATTACKS, apply_attack, make_aggregator
from meshlab.identity import (
    SpiffeId,
    SvidCa,
    SvidConfig,
    SvidParams,
    SvidResult,
    SvidState,
    SvidStepInfo,
    X509Svid,
    has_identity,
    init_svids,
    make_svid_ca,
    mint_x509_svid,
    parse_spiffe_id,
    simulate_svids,
    step_svids,
    svid_certificate_bytes,
    svid_params,
    svid_summary,
    validate_x509_svid,
)
from meshlab.links import JITTER_DISTS, LATENCY_MODELS, LOSS_MODELS, SERVICE_DISTS
from meshlab.pqc import (
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
from meshlab.provenance import cpu_model, git_commit, liboqs_library_path, provenance
from meshlab.reports import atomic_write_bytes, report_dir, save_chart, save_metrics, save_table
from meshlab.topology import (
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

__version__ = "0.1.0"
