"""Execute notebooks at their default parameters and commit only their checked outputs.

Notebooks are committed stripped, except the cells nbval compares: cells whose source starts
with ``# NBVAL_CHECK_OUTPUT``. Those carry ``"keep_output": true`` in their metadata (which
``nbstripout`` honours), their execution count (nbval skips cells without one) and the
output of a run at the notebook's default (smoke-size) parameters.

Usage::

    uv run python tools/refresh_checked_outputs.py notebooks/beacons.ipynb [...]
    uv run python tools/refresh_checked_outputs.py --check notebooks/beacons.ipynb

For each notebook this marks every ``# NBVAL_CHECK_OUTPUT`` cell ``keep_output`` (and
unmarks any other cell), executes a copy in the notebook's folder as nbval does (kernel
``python3``), then writes the notebook back with outputs and counts only on the checked
cells. Checked outputs must be printed text (``print(meshlab.reporting.summary_text(...))``).
``--check`` writes nothing and exits 1 if the committed outputs differ from a fresh run.
Afterwards ``uv run nbstripout --keep-count --verify NOTEBOOK`` passes.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from pathlib import Path

import nbformat

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"

__all__ = ["CHECK_MARK", "is_checked", "refresh", "strip_unchecked"]


def is_checked(cell) -> bool:
    """Whether a code cell is compared by nbval (first line ``# NBVAL_CHECK_OUTPUT``)."""
    if cell.get("cell_type") != "code":
        return False
    src = cell.get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    return src.lstrip().startswith(CHECK_MARK)


def _text_outputs(outputs: list, where: str) -> list:
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            kept.append(nbformat.v4.new_output("stream", name="stdout", text=out["text"]))
        else:
            kind = out.get("output_type"), out.get("name") or sorted(out.get("data", {}))
            raise SystemExit(
                f"{where}: a checked cell may only print text (stdout); it produced {kind}. "
                "End the cell with print(...), not an expression, and send warnings elsewhere."
            )
    if not kept:
        raise SystemExit(f"{where}: the checked cell printed nothing")
    return kept


def strip_unchecked(nb) -> int:
    """Marks checked cells ``keep_output`` and strips outputs/counts of every other cell.

    Returns:
        The number of checked cells.
    """
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            cell.metadata["keep_output"] = True
            n += 1
        else:
            cell.metadata.pop("keep_output", None)
            cell.outputs = []
            cell.execution_count = None
    return n


def _execute(nb, folder: Path, timeout: int):
    from nbclient import NotebookClient

    run = copy.deepcopy(nb)
    NotebookClient(
        run, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return run


def _texts(cell) -> str:
    return "".join(
        "".join(o.get("text", "")) if isinstance(o.get("text"), list) else o.get("text", "")
        for o in cell.get("outputs", [])
    )


def refresh(path: Path, *, check: bool = False, timeout: int = 1800) -> bool:
    """Executes ``path`` and writes back the checked cells' outputs (or compares them).

    In write mode the notebook is then normalised with ``nbstripout --keep-count`` (cell
    ids, metadata), so ``nbstripout --keep-count --verify`` passes.

    Returns:
        ``True`` if the committed checked outputs already equal a fresh run's.
    """
    path = Path(path)
    before = path.read_text()
    nb = nbformat.reads(before, as_version=4)
    committed = {i: _texts(c) for i, c in enumerate(nb.cells) if is_checked(c)}
    if strip_unchecked(nb) == 0:
        raise SystemExit(f"{path}: no cell starts with {CHECK_MARK!r}")
    ran = _execute(nb, path.parent.resolve(), timeout)
    same = True
    for i, (cell, done) in enumerate(zip(nb.cells, ran.cells, strict=True)):
        if is_checked(cell):
            cell.outputs = _text_outputs(done.outputs, f"{path} cell {i}")
            # the cell's ordinal among code cells, as the git clean filter
            # (tools/clear_counts.py) writes it: a save from JupyterLab then changes nothing
            cell.execution_count = sum(c.cell_type == "code" for c in nb.cells[: i + 1])
            if _texts(cell) != committed[i]:
                same = False
                if check:
                    print(
                        f"{path} cell {i}: checked output differs\n--- committed\n"
                        f"{committed[i]}--- fresh run\n{_texts(cell)}",
                        file=sys.stderr,
                    )
    if check:
        return same
    nbformat.write(nb, path)
    subprocess.run([sys.executable, "-m", "nbstripout", "--keep-count", str(path)], check=True)
    return same and path.read_text() == before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    ap.add_argument("--timeout", type=int, default=1800, help="per-cell timeout (s)")
    args = ap.parse_args(argv)
    ok = True
    for nb in args.notebooks:
        same = refresh(nb, check=args.check, timeout=args.timeout)
        state = "unchanged" if same else ("DIFFERS" if args.check else "updated")
        print(f"{nb}: checked outputs {state}")
        ok &= same or not args.check
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
