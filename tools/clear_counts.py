"""Git clean filter, second half: clears execution counts except in kept-output cells.

``nbstripout --keep-count`` (first half) strips outputs but keeps every execution count,
because a ``# NBVAL_CHECK_OUTPUT`` cell needs its count (nbval skips cells it thinks were
never run). This clears the counts of all other cells, so a JupyterLab session leaves no
trace in a commit. Reads a notebook on stdin, writes it on stdout; see ``.gitconfig``.
"""

from __future__ import annotations

import sys
import warnings

import nbformat


def clear(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Sets ``execution_count`` to None in code cells without ``"keep_output": true``."""
    for cell in nb.cells:
        if (
            cell.get("cell_type") == "code"
            and cell.get("metadata", {}).get("keep_output") is not True
        ):
            cell["execution_count"] = None
    return nb


def main() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        nb = nbformat.read(sys.stdin, as_version=nbformat.NO_CONVERT)
        nbformat.write(clear(nb), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
