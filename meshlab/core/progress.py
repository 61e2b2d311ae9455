"""Progress for long work: tqdm bars for people, quiet (or logged) in tests and pipelines.

A bar is shown when a person runs the code: in a Jupyter kernel or with a terminal on
stderr. It is off under pytest and in pipeline runs (the runner sets
``MESHLAB_PROGRESS=0`` and prints stage and cell progress itself). ``MESHLAB_PROGRESS=1``
or ``0`` forces the choice; a ``progress=`` argument of the functions that take one wins
over both.

The first call of a compiled function with a new shape takes seconds (XLA compiles it
once); :func:`announce_compile` says so ("compiling beacons rollout (one-off) ...") so a
silent cell is explained. The message goes to stderr when progress is on and to the
``meshlab`` logger (level INFO) always.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Hashable
from typing import Any

__all__ = ["announce_compile", "bar", "enabled"]

_log = logging.getLogger("meshlab")
_seen: set[Hashable] = set()


def enabled(progress: bool | None = None) -> bool:
    """Whether to show progress: ``progress`` if given, else from the run context.

    Order: the explicit argument; ``MESHLAB_PROGRESS`` (``1``/``0``); off under pytest
    (``PYTEST_CURRENT_TEST``); on in a Jupyter kernel or when stderr is a terminal.
    """
    if progress is not None:
        return bool(progress)
    env = os.environ.get("MESHLAB_PROGRESS", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def bar(total: int, desc: str, progress: bool | None = None, unit: str = "it") -> Any:
    """A ``tqdm.auto`` bar over ``total`` units (a no-op bar when progress is off).

    Use as a context manager and call ``.update(n)``; works in terminals and JupyterLab.
    A disabled bar comes from plain ``tqdm``: ``tqdm.auto`` warns on import in a kernel
    without ipywidgets (a pipeline run), and that warning would land in the report.
    """
    if not enabled(progress):
        from tqdm import tqdm as plain

        return plain(total=total, desc=desc, unit=unit, disable=True)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False)


def announce_compile(what: str, signature: Hashable, progress: bool | None = None) -> bool:
    """Announces the first call of ``what`` for a new ``signature`` (config + shapes).

    Args:
        what: readable name ("beacons rollout, 200 steps").
        signature: anything hashable that changes exactly when XLA recompiles.
        progress: as in :func:`enabled`.

    Returns:
        True if this is the first call (a compile is expected), else False.
    """
    try:
        if signature in _seen:
            return False
        _seen.add(signature)
    except TypeError:  # unhashable signature: say nothing rather than fail
        return False
    msg = f"compiling {what} (one-off; later calls with these shapes reuse it) ..."
    _log.info(msg)
    if enabled(progress):
        print(msg, file=sys.stderr, flush=True)
    return True
