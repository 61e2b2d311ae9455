"""``python -m meshlab.crypto [OUT.json]``: the backends available here and their versions.

The ``pqc_backends`` pipeline stage writes this file; the ``pqc`` stage depends on it, so
installing or upgrading a backend (e.g. liboqs) re-runs the PQC report.
"""

import json
import sys
from pathlib import Path

from meshlab.crypto.backends import inventory


def main(argv: list[str]) -> None:
    """Writes the inventory JSON to ``argv[0]`` (or stdout without an argument)."""
    text = json.dumps({"backends": inventory()}, indent=2, sort_keys=True) + "\n"
    if argv:
        Path(argv[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
