"""Git clean filter, second half: the notebook metadata JupyterLab rewrites, made constant.

``nbstripout`` (first half) strips outputs and execution counts. This clears any count left
(a cell marked ``keep_output`` by hand) and reduces the metadata a save rewrites to the
committed form, so a JupyterLab session leaves no trace in a commit. Reads a notebook on
stdin, writes it on stdout; see ``.gitconfig``.
"""

from __future__ import annotations

import sys
import warnings

import nbformat


def clear(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Makes a notebook independent of the session that saved it.

    Code cells lose their ``execution_count``. The notebook metadata JupyterLab rewrites on save
    (the kernel's display name, ``language_info`` details such as the Python version) is
    reduced to the committed form: ``kernelspec`` name/language and the display name
    ``"Python 3"`` for ``python3``, ``language_info`` with its ``name`` only (added from the
    kernelspec when missing).
    """
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["execution_count"] = None
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
