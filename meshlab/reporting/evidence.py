"""Benchmark evidence: every benchmark run leaves a result file with its provenance.

README tables are generated from (or checked against) these files, so a figure quoted in
the documentation always points at the run that produced it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from meshlab.reporting.provenance import provenance
from meshlab.reporting.writers import _jsonable, atomic_write_bytes

__all__ = ["RESULTS_DIR", "load_benchmark", "save_benchmark"]

RESULTS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def save_benchmark(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    config: Mapping[str, Any] | None = None,
    summary: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike | None = None,
) -> Path:
    """Writes ``<out_dir>/<name>.json`` atomically: rows, config, summary and provenance.

    Args:
        name: the benchmark's name (file stem), e.g. ``"beacons"``.
        rows: one mapping per measured case (sizes, medians, ratios, ...).
        config: the command-line settings of the run (repeats, sizes, flags).
        summary: headline figures derived from the rows (what the README quotes).
        out_dir: folder; default ``benchmarks/results`` of this checkout.

    Returns:
        The path written.
    """
    if not name or "/" in name:
        raise ValueError(f"benchmark name must be a plain file stem, got {name!r}")
    body = {
        "benchmark": name,
        "config": _jsonable(dict(config or {})),
        "summary": _jsonable(dict(summary or {})),
        "rows": _jsonable([dict(r) for r in rows]),
        "provenance": provenance(),
    }
    text = json.dumps(body, indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write_bytes(Path(out_dir or RESULTS_DIR) / f"{name}.json", text.encode())


def load_benchmark(name: str, *, out_dir: str | os.PathLike | None = None) -> dict:
    """Reads a result file written by :func:`save_benchmark`."""
    return json.loads((Path(out_dir or RESULTS_DIR) / f"{name}.json").read_text())
