"""Byzantine-robust federated learning in JAX.

* :mod:`~meshlab.fl.aggregators`: robust rules ``[n, d] + mask -> [d]`` and their specs.
* :mod:`~meshlab.fl.attacks`: update-space Byzantine attacks at their published definitions
  (ALIE at z_max, IPM, Opt-ALIE / Opt-IPM, Min-Max / Min-Sum).
* :mod:`~meshlab.fl.data`: federated data sets (digits, synthetic), attacker choice.
* :mod:`~meshlab.fl.models`: models over a flat parameter vector, vmapped local training.
* :mod:`~meshlab.fl.detector`: the Byzantine (update-outlier) detector.
* :mod:`~meshlab.fl.convergence`: convergence detection.
* :mod:`~meshlab.fl.schedules`: learning-rate schedules and staleness weights.
* :mod:`~meshlab.fl.orchestrators`: sync / batch-async / streaming / hierarchical kernels
  (``build``, ``rollout``, ``rollout_batch``, ``summarize``).
* :mod:`~meshlab.fl.experiments`: the report's sweeps and tables (polars; loaded on first
  use, so importing :mod:`meshlab.fl` does not import polars).
"""

import importlib
from typing import Any

from meshlab.fl import (
    aggregators,
    attacks,
    convergence,
    data,
    detector,
    models,
    orchestrators,
    schedules,
)
from meshlab.fl.aggregators import (
    AGGREGATORS,
    PRE_AGGREGATORS,
    AggregateInfo,
    Aggregator,
    AggregatorSpec,
    aggregator_for,
    breakdown_condition,
    bucketing,
    make_aggregator,
    nnm,
)
from meshlab.fl.attacks import (
    ATTACK_STRENGTHS,
    ATTACKS,
    DIRECTIONS,
    OPT_FACTORS,
    OPTIMIZED,
    alie_z,
    apply_attack,
    line_search,
    min_max_gamma,
)
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
    ByzantineDetectorConfig,
    ByzantineDetectorState,
    DetectionMetrics,
    detection_metrics,
    detector_init,
    detector_update,
    outlier_scores,
    rounds_to_isolate,
)
from meshlab.fl.models import (
    LocalTrainInfo,
    Model,
    ModelSpec,
    accuracy,
    build_model,
    cross_entropy,
    local_update,
    local_updates,
    logistic_regression,
    mlp,
)
from meshlab.fl.orchestrators import (
    DATA_ATTACKS,
    ORCHESTRATORS,
    AsyncBuffer,
    ClientProfile,
    DelayConfig,
    FLConfig,
    FLParams,
    FLState,
    RoundInfo,
    build,
    make_params,
    rollout,
    rollout_batch,
    summarize,
    time_to_accuracy,
)
from meshlab.fl.schedules import (
    STALENESS_KINDS,
    LRSchedule,
    PlateauState,
    ReduceOnPlateau,
    constant,
    exponential_decay,
    reduce_on_plateau,
    staleness_weight,
    step_decay,
)

__all__ = [
    "AGGREGATORS",
    "ATTACKS",
    "ATTACK_STRENGTHS",
    "CONVERGENCE_CRITERIA",
    "DATA_ATTACKS",
    "DIRECTIONS",
    "OPTIMIZED",
    "OPT_FACTORS",
    "ORCHESTRATORS",
    "PRE_AGGREGATORS",
    "REPORT_PARAMS",
    "STALENESS_KINDS",
    "WORST_CASE_ATTACKS",
    "WORST_CASE_CHOICES",
    "AggregateInfo",
    "Aggregator",
    "AggregatorSpec",
    "AsyncBuffer",
    "ByzantineDetectorConfig",
    "ByzantineDetectorState",
    "ClientProfile",
    "ConvergenceConfig",
    "ConvergenceState",
    "DelayConfig",
    "DetectionMetrics",
    "FLConfig",
    "FLParams",
    "FLState",
    "FederatedData",
    "LRSchedule",
    "LocalTrainInfo",
    "Model",
    "ModelSpec",
    "PlateauState",
    "ReduceOnPlateau",
    "RoundInfo",
    "accuracy",
    "aggregator_for",
    "aggregators",
    "alie_z",
    "alpha_datasets",
    "apply_attack",
    "attacks",
    "breakdown_condition",
    "bucketing",
    "build",
    "build_model",
    "check_report_params",
    "choose_byzantine",
    "client_label_counts",
    "constant",
    "convergence",
    "convergence_init",
    "convergence_table",
    "convergence_update",
    "cross_entropy",
    "data",
    "detect_convergence",
    "detection_metrics",
    "detection_table",
    "detector",
    "detector_init",
    "detector_update",
    "dirichlet_partition",
    "experiments",
    "exponential_decay",
    "flip_labels",
    "group_mean_ci",
    "hierarchical_bytes",
    "label_skew",
    "line_search",
    "load_digits_federated",
    "local_update",
    "local_updates",
    "logistic_regression",
    "make_aggregator",
    "make_params",
    "min_max_gamma",
    "mlp",
    "models",
    "nnm",
    "orchestrator_comparison",
    "orchestrators",
    "outlier_scores",
    "pad_clients",
    "published_findings",
    "recommend",
    "reduce_on_plateau",
    "report_metrics",
    "robustness_sweep",
    "rollout",
    "rollout_batch",
    "rounds_to_isolate",
    "rule_choice",
    "schedules",
    "staleness_weight",
    "step_decay",
    "summarize",
    "time_to_accuracy",
    "time_to_accuracy_table",
    "worst_case_sweep",
    "worst_case_table",
]

_EXPERIMENTS = (
    "REPORT_PARAMS",
    "WORST_CASE_ATTACKS",
    "WORST_CASE_CHOICES",
    "alpha_datasets",
    "check_report_params",
    "convergence_table",
    "detection_table",
    "group_mean_ci",
    "hierarchical_bytes",
    "orchestrator_comparison",
    "published_findings",
    "recommend",
    "report_metrics",
    "robustness_sweep",
    "rule_choice",
    "time_to_accuracy_table",
    "worst_case_sweep",
    "worst_case_table",
)


def __getattr__(name: str) -> Any:
    if name == "experiments" or name in _EXPERIMENTS:
        module = importlib.import_module("meshlab.fl.experiments")
        return module if name == "experiments" else getattr(module, name)
    raise AttributeError(f"module 'meshlab.fl' has no attribute {name!r}")
