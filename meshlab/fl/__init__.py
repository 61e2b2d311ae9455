"""Byzantine-robust federated learning in JAX (issue 4).

Aggregators and update-space attacks (FL-A); data, models, Byzantine and convergence
detection, learning-rate schedules and orchestrators (FL-B).
"""

# --- aggregators and attacks (FL-A) ---
from meshlab.fl.aggregators import (
    AGGREGATORS,
    PRE_AGGREGATORS,
    AggregateInfo,
    Aggregator,
    breakdown_condition,
    bucketing,
    make_aggregator,
    nnm,
)
from meshlab.fl.attacks import ATTACKS, alie_z, apply_attack

# --- data, models, orchestration (FL-B) ---
from meshlab.fl.convergence import (
    CONVERGENCE_CRITERIA,
    ConvergenceConfig,
    ConvergenceState,
    convergence_init,
    convergence_update,
    detect_convergence,
)
from meshlab.fl.data import (
    FederatedData,
    choose_byzantine,
    client_label_counts,
    dirichlet_partition,
    flip_labels,
    label_skew,
    load_digits_federated,
    pad_clients,
    synthetic_federated,
)
from meshlab.fl.detector import (
    DetectionMetrics,
    DetectorConfig,
    DetectorState,
    detection_metrics,
    detector_init,
    detector_update,
    outlier_scores,
    rounds_to_isolate,
)
from meshlab.fl.experiments import (
    mean_ci,
    orchestrator_comparison,
    robustness_sweep,
    t_quantile_975,
)
from meshlab.fl.models import (
    LocalTrainInfo,
    Model,
    accuracy,
    cross_entropy,
    local_update,
    local_updates,
    logistic_regression,
    mlp,
)
from meshlab.fl.orchestrators import (
    DATA_ATTACKS,
    AsyncBuffer,
    ClientProfile,
    DelayConfig,
    FLConfig,
    FLParams,
    FLState,
    Orchestrator,
    RoundInfo,
    aggregator_for,
    batch_async_orchestrator,
    hierarchical_orchestrator,
    run_batch,
    streaming_orchestrator,
    sync_orchestrator,
    time_to_accuracy,
)
from meshlab.fl.schedules import (
    STALENESS_KINDS,
    PlateauState,
    ReduceOnPlateau,
    constant,
    exponential_decay,
    reduce_on_plateau,
    staleness_weight,
    step_decay,
)
