"""Chart builders for the reports: polars frames in, altair charts out (no domain imports).

:mod:`~meshlab.reporting.charts.common` holds the shared helpers; each report has its own
module (``meshlab.reporting.charts.<report>``, e.g. ``beacons``, ``fl``, ``pqc``), imported
on first attribute access so that ``meshlab.reporting.charts.beacons`` works after a plain
``import meshlab``.
"""

import importlib
from pathlib import Path
from typing import Any

from meshlab.reporting.charts import common

_REPORTS = sorted(
    p.stem
    for p in Path(__file__).parent.glob("*.py")
    if not p.stem.startswith("_") and p.stem != "common"
)

__all__ = ["common", *_REPORTS]


def __getattr__(name: str) -> Any:
    if name in _REPORTS:
        return importlib.import_module(f"meshlab.reporting.charts.{name}")
    raise AttributeError(f"module 'meshlab.reporting.charts' has no attribute {name!r}")
