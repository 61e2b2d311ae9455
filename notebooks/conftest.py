"""Notebooks are committed without outputs; nbval compares each notebook's
``# NBVAL_CHECK_OUTPUT`` cell with ``tests/notebook_outputs/<notebook>.txt``, handed to nbval
here at collection of the notebooks (also when one is tested on its own). ``MESHLAB_NOTEBOOK_OUTPUTS``
points at another folder of such files. The rest of the test configuration is in
``tests/conftest.py``.
"""

import os
from pathlib import Path


def _output_tool():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "tools" / "refresh_checked_outputs.py"
    spec = importlib.util.spec_from_file_location("refresh_checked_outputs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pytest_collection_modifyitems(items):
    """Gives nbval the expected output of every notebook's checked cell.

    nbval compares a cell only when the notebook holds its output and an execution count;
    our notebooks hold neither. The expected text comes from
    ``tests/notebook_outputs/<notebook>.txt`` (written by ``tools/refresh_checked_outputs.py``);
    a missing file is compared as a line naming it, so the cell fails with that name.
    """
    import nbformat

    tool = None
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None or item.path.suffix != ".ipynb":
            continue
        tool = tool or _output_tool()
        if not tool.is_checked(cell):
            continue
        folder = os.environ.get("MESHLAB_NOTEBOOK_OUTPUTS")
        expected = tool.expected_path(item.path, Path(folder) if folder else None)
        text = (
            expected.read_text()
            if expected.exists()
            else f"missing {expected}: run tools/refresh_checked_outputs.py {item.path.name}\n"
        )
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        cell.execution_count = 1
