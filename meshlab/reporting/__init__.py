"""Report outputs: atomic writers, charts, provenance, machine calibration, benchmark evidence.

Reporting imports no simulation domain: the domains register their provenance fields in
:mod:`meshlab.core.registry`. Chart builders live in :mod:`meshlab.reporting.charts`
(imported on first access, ``meshlab.reporting.charts``, since they pull in altair).

``meshlab.reporting.provenance`` is the function that builds a report's provenance block;
its module's other helpers are imported as ``from meshlab.reporting.provenance import
cpu_model``.
"""

from meshlab.core.lazy import lazy_attributes
from meshlab.reporting import calibration, evidence, readme, summary, writers
from meshlab.reporting.calibration import CalibrationResult, calibrate
from meshlab.reporting.evidence import load_benchmark, save_benchmark
from meshlab.reporting.provenance import provenance  # the function (module: sys.modules)
from meshlab.reporting.summary import summary_text
from meshlab.reporting.writers import (
    atomic_write_bytes,
    report_dir,
    save_chart,
    save_metrics,
    save_table,
)

__all__ = [
    "CalibrationResult",
    "atomic_write_bytes",
    "calibrate",
    "calibration",
    "charts",
    "evidence",
    "load_benchmark",
    "provenance",
    "readme",
    "report_dir",
    "save_benchmark",
    "save_chart",
    "save_metrics",
    "save_table",
    "summary",
    "summary_text",
    "writers",
]


__getattr__ = lazy_attributes(__name__, modules=("charts",))
