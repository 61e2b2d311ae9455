"""meshlab: a Jupyter-first research toolkit for large decentralized meshes.

The public API is re-exported here; notebooks and other analyses import only from
``meshlab`` (and its documented subpackages).
"""

from meshlab.provenance import cpu_model, git_commit, liboqs_library_path, provenance
from meshlab.reports import atomic_write_bytes, report_dir, save_chart, save_metrics, save_table
from meshlab.calibration import calibrate

# --- mesh core (issue 3) ---

# --- federated learning (issue 4) ---

# --- pqc and identity (issue 5) ---

__version__ = "0.1.0"
