"""Scaling models: the Universal Scalability Law and queueing closed forms."""

from meshlab.scaling import queueing, usl
from meshlab.scaling.queueing import (
    kingman_wait,
    md1_wait,
    mg1_wait,
    mm1_sojourn_quantile,
    mm1_wait,
    utilization,
    utilization_for_sojourn_quantile,
)
from meshlab.scaling.usl import UslFit, fit_usl, usl_throughput

__all__ = [
    "UslFit",
    "fit_usl",
    "kingman_wait",
    "md1_wait",
    "mg1_wait",
    "mm1_sojourn_quantile",
    "mm1_wait",
    "queueing",
    "usl",
    "usl_throughput",
    "utilization",
    "utilization_for_sojourn_quantile",
]
