"""Scaling: models tested by their own predictions, and one simulation across devices.

* :mod:`~meshlab.scaling.usl`, :mod:`~meshlab.scaling.queueing`: the Universal Scalability
  Law fit and the queueing closed forms.
* :mod:`~meshlab.scaling.predict`: the predictor joining them with the gossip and detection
  laws; :mod:`~meshlab.scaling.experiments` (loaded on first use: polars) runs the
  predict-then-verify report.
* :mod:`~meshlab.scaling.partition`, :mod:`~meshlab.scaling.sharding`: node orderings,
  padding, cut links; the node axis sharded across devices and processes with JAX's own
  runtime, and a ``shard_map`` halo exchange.
* :mod:`~meshlab.scaling.sweeps` (loaded on first use: the ``sweeps`` extra, Dask
  distributed): sweep points fanned out over workers.
"""

from meshlab.core.lazy import lazy_attributes
from meshlab.scaling import partition, predict, queueing, sharding, usl
from meshlab.scaling.queueing import (
    dm1_sigma,
    dm1_sojourn_quantile,
    kingman_wait,
    md1_wait,
    mg1_sojourn_quantile,
    mg1_wait,
    mg1_wait_quantile,
    mm1_sojourn_quantile,
    mm1_wait,
    utilization,
    utilization_for_sojourn_quantile,
)
from meshlab.scaling.usl import UslFit, fit_usl, usl_throughput

__all__ = [
    "UslFit",
    "dm1_sigma",
    "dm1_sojourn_quantile",
    "experiments",
    "fit_usl",
    "kingman_wait",
    "md1_wait",
    "mg1_sojourn_quantile",
    "mg1_wait",
    "mg1_wait_quantile",
    "mm1_sojourn_quantile",
    "mm1_wait",
    "partition",
    "predict",
    "queueing",
    "sharding",
    "sweeps",
    "usl",
    "usl_throughput",
    "utilization",
    "utilization_for_sojourn_quantile",
]


__getattr__ = lazy_attributes(__name__, modules=("experiments", "sweeps"))
