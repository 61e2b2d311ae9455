"""Execute notebooks at their default parameters and record their checked outputs.

Notebooks are committed fully stripped: no outputs, no execution counts. One cell per
notebook, the one whose source starts with ``# NBVAL_CHECK_OUTPUT``, prints a rounded,
deterministic summary; its expected text lives in ``tests/notebook_outputs/<notebook>.txt``,
and ``tests/conftest.py`` hands it to nbval, which compares it with a fresh run
(at the notebook's default, smoke-size parameters) on every test run.

Usage::

    uv run python tools/refresh_checked_outputs.py notebooks/beacons.ipynb [...]
    uv run python tools/refresh_checked_outputs.py --check notebooks/beacons.ipynb

For each notebook this executes a stripped copy in the notebook's folder as nbval does
(kernel ``python3``), writes the checked cell's printed text to its expected-output file and
writes the notebook back stripped (``nbstripout``). Checked outputs must be printed text
(``print(meshlab.reporting.summary_text(...))``). ``--check`` writes nothing and exits 1 if
the recorded output differs from a fresh run.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from pathlib import Path

import nbformat

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"

OUTPUTS = Path(__file__).resolve().parent.parent / "tests" / "notebook_outputs"

__all__ = ["CHECK_MARK", "OUTPUTS", "expected_path", "is_checked", "refresh", "strip"]


def expected_path(notebook: Path | str, folder: Path | None = None) -> Path:
    """The file holding the expected output of ``notebook``'s checked cell."""
    return (folder or OUTPUTS) / f"{Path(notebook).stem}.txt"


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


def strip(nb) -> int:
    """Strips every code cell's outputs, execution count and ``keep_output`` mark.

    Returns:
        The number of checked cells.
    """
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        n += is_checked(cell)
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


def _texts(outputs) -> str:
    return "".join(
        "".join(o.get("text", "")) if isinstance(o.get("text"), list) else o.get("text", "")
        for o in outputs
    )


def refresh(path: Path, *, check: bool = False, timeout: int = 1800) -> bool:
    """Executes ``path`` and records its checked cell's output (or compares it).

    In write mode the notebook is written back stripped and normalised with ``nbstripout``
    (cell ids, metadata), so ``nbstripout --verify`` passes.

    Returns:
        ``True`` if the recorded output already equals a fresh run's.
    """
    path = Path(path)
    before = path.read_text()
    nb = nbformat.reads(before, as_version=4)
    if strip(nb) != 1:
        raise SystemExit(f"{path}: exactly one cell must start with {CHECK_MARK!r}")
    ran = _execute(nb, path.parent.resolve(), timeout)
    ((i, done),) = ((i, c) for i, c in enumerate(ran.cells) if is_checked(c))
    fresh = _texts(_text_outputs(done.outputs, f"{path} cell {i}"))
    target = expected_path(path)
    recorded = target.read_text() if target.exists() else None
    if check:
        if fresh != recorded:
            print(
                f"{path} cell {i}: checked output differs\n--- recorded ({target})\n"
                f"{recorded}--- fresh run\n{fresh}",
                file=sys.stderr,
            )
        return fresh == recorded
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".txt.tmp")
    tmp.write_text(fresh)
    tmp.replace(target)
    nbformat.write(nb, path)
    subprocess.run([sys.executable, "-m", "nbstripout", str(path)], check=True)
    return fresh == recorded and path.read_text() == before


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
        print(f"{nb}: checked output {state}")
        ok &= same or not args.check
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
