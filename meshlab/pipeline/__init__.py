"""The notebook runner that the pipeline stages (``dvc.yaml``) call."""

from meshlab.pipeline import runner
from meshlab.pipeline.runner import StageError, run_stage

__all__ = ["StageError", "run_stage", "runner"]
