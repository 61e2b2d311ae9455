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
    """Makes a notebook independent of the session that saved it.

    Code cells without ``"keep_output": true`` lose their ``execution_count``; a kept cell
    gets its ordinal among the code cells (what "Run All" in a fresh kernel gives, and
    non-null so nbval still compares it). The notebook metadata JupyterLab rewrites on save
    (the kernel's display name, ``language_info`` details such as the Python version) is
    reduced to the committed form: ``kernelspec`` name/language and the display name
    ``"Python 3"`` for ``python3``, ``language_info`` with its ``name`` only (added from the
    kernelspec when missing).
    """
    ordinal = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        ordinal += 1
        keep = cell.get("metadata", {}).get("keep_output") is True
        cell["execution_count"] = ordinal if keep else None
    meta = nb.setdefault("metadata", {})
    spec = meta.get("kernelspec")
    if isinstance(spec, dict) and spec.get("name") == "python3":
        spec["display_name"] = "Python 3"
    info = meta.get("language_info")
    if isinstance(info, dict) and "name" in info:
        meta["language_info"] = {"name": info["name"]}
    elif info is None and isinstance(spec, dict) and "language" in spec:
        meta["language_info"] = {"name": spec["language"]}
    return nb


def main() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        nb = nbformat.read(sys.stdin, as_version=nbformat.NO_CONVERT)
        nbformat.write(clear(nb), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
