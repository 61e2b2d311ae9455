"""Report writers used by notebooks: tables, charts and metrics, each written atomically."""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from meshlab.reporting.provenance import provenance

__all__ = ["atomic_write_bytes", "report_dir", "save_chart", "save_metrics", "save_table"]


def _project_root(start: Path) -> Path | None:
    """The nearest folder (``start`` or above) holding ``params.yaml`` and ``notebooks/``."""
    for folder in (start, *start.parents):
        if (folder / "params.yaml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return None


def _notebook_name() -> str | None:
    """The running notebook's name, when Jupyter tells the kernel (JupyterLab, VS Code)."""
    for var in ("JPY_SESSION_NAME", "__vsc_ipynb_file__"):
        path = os.environ.get(var)
        if path and path.endswith(".ipynb"):
            return Path(path).stem
    try:
        ns = get_ipython().user_ns  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return None
    path = ns.get("__session__") or ns.get("__vsc_ipynb_file__")
    return Path(path).stem if isinstance(path, str) and path.endswith(".ipynb") else None


def report_dir(out_dir: str | os.PathLike | None, name: str | None = None) -> Path:
    """Returns the folder a notebook writes into, creating it.

    Args:
        out_dir: the folder the pipeline runner injected, or ``None`` in interactive use:
            then ``scratch/<name>/`` in the project (git-ignored, reused run after run, so
            exploring never overwrites a report and nothing piles up in the system temp
            folder). The project is the nearest folder above the working directory that
            holds ``params.yaml`` and ``notebooks/``; outside one, ``./scratch/<name>/``.
        name: the scratch subfolder (default: the notebook's name when Jupyter reports
            it, else ``"interactive"``).
    """
    if out_dir:
        path = Path(out_dir)
    else:
        cwd = Path.cwd()
        root = _project_root(cwd) or cwd
        path = root / "scratch" / (name or _notebook_name() or "interactive")
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; reports are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, str | bytes):  # numpy / jax arrays, scalars
        return _jsonable(np.asarray(x).tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def save_metrics(
    metrics: Mapping[str, Any], out_dir: str | os.PathLike, *, seed: int | None = None
) -> Path:
    """Writes ``metrics.json``: the notebook's scalars plus a ``provenance`` block.

    Args:
        metrics: scalar results (numbers, strings, small nested dicts/lists; arrays are
            converted to lists, non-finite floats to ``null``/``"inf"``).
        out_dir: report folder.
        seed: the root seed, recorded in the provenance.
    """
    body = dict(_jsonable(metrics))
    body["provenance"] = provenance(seed)
    text = json.dumps(body, indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write_bytes(Path(out_dir) / "metrics.json", text.encode())


def save_table(df, out_dir: str | os.PathLike, name: str, *, parquet: bool = False) -> Path:
    """Writes a tidy polars DataFrame as ``<name>.csv`` (and ``<name>.parquet`` if asked).

    Returns:
        The CSV path.
    """
    out = Path(out_dir)
    path = atomic_write_bytes(out / f"{name}.csv", df.write_csv().encode())
    if parquet:
        buf = io.BytesIO()
        df.write_parquet(buf)
        atomic_write_bytes(out / f"{name}.parquet", buf.getvalue())
    return path


def save_chart(chart, out_dir: str | os.PathLike, name: str, *, png: bool = True) -> Path:
    """Renders an altair chart offline with vl-convert to ``<name>.svg`` (and ``.png``).

    Returns:
        The SVG path.
    """
    import vl_convert as vlc

    import meshlab.reporting.charts.common  # noqa: F401  (selects the notebook renderer)

    spec = chart.to_json()
    out = Path(out_dir)
    path = atomic_write_bytes(out / f"{name}.svg", vlc.vegalite_to_svg(spec).encode())
    if png:
        atomic_write_bytes(out / f"{name}.png", vlc.vegalite_to_png(spec, scale=2))
    return path
