"""Entry point DVC calls: ``python pipelines/run_notebook.py STAGE [-p KEY=VALUE ...]``.

Runs notebooks/<stage>.ipynb with the stage's section of params.yaml and publishes
reports/<stage>/ atomically; the logic lives in :mod:`meshlab.pipeline.runner`.
"""

import sys
from pathlib import Path

from meshlab.pipeline.runner import main

if __name__ == "__main__":
    sys.exit(main(root=Path(__file__).resolve().parent.parent))
