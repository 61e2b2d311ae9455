"""Provenance: what produced a number (versions, commit, machine, PQC backend)."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

from meshlab.core.platform import cpu_model
from meshlab.core.registry import collect_provenance

__all__ = ["cpu_model", "git_commit", "provenance"]

_REPO = Path(__file__).resolve().parents[2]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit(repo: str | os.PathLike | None = None) -> str:
    """Returns the meshlab git commit, suffixed ``-dirty`` if the tree has local edits.

    Returns ``"unknown"`` outside a git checkout (e.g. an installed wheel).
    """
    cwd = Path(repo) if repo is not None else _REPO
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "meshlab"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def provenance(seed: int | None = None) -> dict:
    """Collects the provenance block every report carries.

    Args:
        seed: the root seed of the run, if any.

    Returns:
        A JSON-serialisable dict: seed, meshlab version and git commit, python, jax,
        jaxlib, numpy and polars versions, JAX backend and devices, CPU model, core
        count, host OS, the UTC date, the 1-minute load average, and every field the
        domains imported so far registered (:mod:`meshlab.core.registry`; e.g.
        ``pqc_backend`` once :mod:`meshlab.crypto` is imported; ``import meshlab`` imports
        every domain). Reporting itself imports no domain.
    """
    import jax

    return {
        "seed": seed,
        "meshlab_version": _version("meshlab"),
        "meshlab_commit": git_commit(),
        "python": sys.version.split()[0],
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "numpy": _version("numpy"),
        "polars": _version("polars"),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "date_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        **collect_provenance(),
    }
