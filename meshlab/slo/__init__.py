"""Service-level objectives: the spec model, error budgets, burn-rate alerting, and the
Prometheus / Alertmanager / Grafana / promtool files generated from a spec.

``python -m meshlab.slo.generate monitoring/sla.yaml monitoring`` writes the stack.
"""

from meshlab.core.lazy import lazy_attributes
from meshlab.slo import (
    alertmanager,
    burn,
    exporter,
    grafana,
    openmetrics,
    openslo,
    prometheus,
    promtool,
    sli,
    spec,
)
from meshlab.slo.burn import (
    AlertWindow,
    alert_windows,
    budget_consumed,
    burn_rate,
    firing,
    threshold_firing,
    window_error_ratio,
)
from meshlab.slo.spec import (
    COMPONENTS,
    SLI_SOURCES,
    Objective,
    SloSpec,
    SpecError,
    ThresholdAlert,
    load_spec,
    parse_duration,
    parse_spec,
)

__all__ = [
    "COMPONENTS",
    "SLI_SOURCES",
    "AlertWindow",
    "Objective",
    "SloSpec",
    "SpecError",
    "ThresholdAlert",
    "alert_windows",
    "alertmanager",
    "budget_consumed",
    "burn",
    "burn_rate",
    "firing",
    "grafana",
    "experiments",
    "exporter",
    "load_spec",
    "openmetrics",
    "openslo",
    "parse_duration",
    "parse_spec",
    "prometheus",
    "promtool",
    "sli",
    "spec",
    "threshold_firing",
    "window_error_ratio",
]


__getattr__ = lazy_attributes(__name__, modules=("experiments",))
