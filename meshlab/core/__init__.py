"""Shared foundations: the kernel convention, input checks, batching, statistics, progress.

Every other subpackage may import from here; ``core`` imports no other meshlab domain.
"""

from meshlab.core import batching, kernel, progress, stats, validation
from meshlab.core.batching import over_seeds, seed_keys, stack_params
from meshlab.core.kernel import Kernel, rollout, rollout_seeds
from meshlab.core.stats import mean_ci, t_quantile_975

__all__ = [
    "Kernel",
    "batching",
    "kernel",
    "mean_ci",
    "over_seeds",
    "progress",
    "rollout",
    "rollout_seeds",
    "seed_keys",
    "stack_params",
    "stats",
    "t_quantile_975",
    "validation",
]
