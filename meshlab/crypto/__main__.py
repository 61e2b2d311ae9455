"""``python -m meshlab.crypto [OUT.json]``: the backends available here and their versions.

The ``pqc_backends`` pipeline stage writes this file; the ``pqc`` stage depends on it, so
installing or upgrading a backend (e.g. liboqs) re-runs the PQC report.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

from meshlab.crypto.backends import inventory


def main(argv: list[str]) -> None:
    """Writes the inventory JSON to ``argv[0]`` (or stdout without an argument)."""
    text = json.dumps({"backends": inventory()}, indent=2, sort_keys=True) + "\n"
    if argv:
        path = Path(argv[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:  # written whole, then renamed: never half a file
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
