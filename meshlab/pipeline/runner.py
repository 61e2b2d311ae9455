"""Run one pipeline stage: execute ``notebooks/<stage>.ipynb`` with papermill and publish
``reports/<stage>/`` atomically.

The stage's section of ``params.yaml`` is injected as papermill parameters, plus ``out_dir``
(a scratch folder). The notebook writes its tables, charts and ``metrics.json`` there
(:mod:`meshlab.reporting.writers`). Only when the notebook ran to the end does the runner
add the executed notebook and its HTML render, stamp the parameters into ``metrics.json``
and swap the folder into ``reports/<stage>/``. A failed run leaves the previous report
untouched, keeps the failed notebook under ``reports/.failed/`` for debugging and raises
:class:`StageError` with the notebook's error (:func:`main` turns it into exit status 1);
a later successful run removes that stale failed notebook. Each published report gets a
``README.md`` (:mod:`meshlab.reporting.readme`). No science lives here.

Warnings the notebook raised (a disconnected random geometric graph, empty FL clients, any
``warnings.warn`` that reached a cell's stderr) are part of the evidence, not only of the
console: :func:`collect_warnings` reads them from the executed notebook, ``metrics.json``
gets ``run_warnings`` (their count, 0 for a clean run) and ``provenance.warnings`` (cell,
category, source, message), and the report's README lists them near the top.

While a stage runs, the runner prints which cell is running, with elapsed times, to
stderr (``[beacons] cell 3/18 ...``); the kernel talks to it over IPC sockets (no TCP, so
no "TCP without encryption" warning); inside the kernel ``MESHLAB_PIPELINE=1`` selects
static SVG charts and ``MESHLAB_PROGRESS=0`` turns progress bars off.

``pipelines/run_notebook.py`` (what ``dvc.yaml`` calls) is a thin entry point to
:func:`main`::

    python pipelines/run_notebook.py STAGE [--params params.yaml] [--reports reports]
                                           [--notebooks notebooks] [-p KEY=YAML_VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from meshlab.reporting import readme
from meshlab.reporting.writers import atomic_write_bytes

__all__ = [
    "StageError",
    "collect_warnings",
    "declared_parameters",
    "load_section",
    "main",
    "run_stage",
]

# How Python prints a warning: ``<file>:<line>: <Category>: <message>``.
_WARNING_LINE = re.compile(
    r"^(?P<file>[^\n]*?):(?P<line>\d+): (?P<category>[A-Za-z_][\w.]*Warning): (?P<message>.*)$",
    re.MULTILINE,
)


class StageError(RuntimeError):
    """A stage could not run: bad stage name, params section, or parameter, or it failed."""


def load_section(params_file: str | os.PathLike, stage: str) -> dict[str, Any]:
    """Returns the ``stage`` section of a params.yaml file, validated to be a mapping.

    Raises:
        StageError: missing or invalid file, missing section, or a section that is not a
            mapping of parameter -> value.
    """
    params_file = Path(params_file)
    if not params_file.exists():
        raise StageError(f"params file {str(params_file)!r} does not exist")
    try:
        doc = yaml.safe_load(params_file.read_text())
    except yaml.YAMLError as e:
        raise StageError(f"params file {str(params_file)!r} is not valid YAML: {e}") from e
    if not isinstance(doc, dict):
        raise StageError(
            f"params file {str(params_file)!r} must be a mapping of stage -> parameters, "
            f"got {type(doc).__name__}"
        )
    if stage not in doc:
        raise StageError(
            f"params file {str(params_file)!r} has no section {stage!r}; sections: {sorted(doc)}"
        )
    section = doc[stage] if doc[stage] is not None else {}
    if not isinstance(section, dict):
        raise StageError(
            f"section {stage!r} of {str(params_file)!r} must be a mapping of parameter -> "
            f"value, got {type(section).__name__}"
        )
    return section


def declared_parameters(notebook: str | os.PathLike) -> dict[str, Any]:
    """Returns the parameters declared in the notebook's cell tagged ``parameters``.

    Raises:
        StageError: if no cell is tagged ``parameters``.
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise StageError(f"notebook {str(notebook)!r} has no cell tagged 'parameters'")
    import papermill

    return papermill.inspect_notebook(str(notebook))


def collect_warnings(nb) -> list[dict[str, Any]]:
    """The warnings an executed notebook printed, in cell order, each reported once.

    Reads every code cell's ``stderr`` stream output for lines in Python's warning format
    (``<file>:<line>: <Category>: <message>``); a repeat of the same category and message
    (another cell, another seed) is counted, not listed again.

    Args:
        nb: the executed notebook (an ``nbformat`` node).

    Returns:
        Dicts ``{"cell": execution count of the first cell that printed it (or its
        position among code cells when unnumbered), "category", "source" ("file.py:line",
        the file's name only, so no machine path enters the report), "message",
        "count"}``.
    """
    found: dict[tuple[str, str], dict[str, Any]] = {}
    code_cells = (c for c in nb.cells if c.get("cell_type") == "code")
    for position, cell in enumerate(code_cells, start=1):
        text = "".join(
            "".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
            for o in cell.get("outputs", [])
            if o.get("output_type") == "stream" and o.get("name") == "stderr"
        )
        for m in _WARNING_LINE.finditer(text):
            key = (m["category"], m["message"].strip())
            if key in found:
                found[key]["count"] += 1
                continue
            found[key] = {
                "cell": cell.get("execution_count") or position,
                "category": m["category"],
                "source": f"{Path(m['file']).name}:{m['line']}",
                "message": key[1],
                "count": 1,
            }
    return list(found.values())


def _stamp_metrics(
    metrics_path: Path, stage: str, params: dict, wall_s: float, warned: list[dict]
) -> None:
    if not metrics_path.exists():
        raise StageError(
            f"stage {stage!r}: the notebook ran but wrote no metrics.json "
            "(call meshlab.reporting.save_metrics(..., out_dir))"
        )
    body = json.loads(metrics_path.read_text())
    prov = body.setdefault("provenance", {})
    prov["stage"] = stage
    prov["params"] = params
    prov["runner_wall_s"] = round(wall_s, 3)
    prov["warnings"] = warned
    body["run_warnings"] = len(warned)
    text = json.dumps(body, indent=2, sort_keys=True, allow_nan=False) + "\n"
    atomic_write_bytes(metrics_path, text.encode())


def _render_html(executed: Path, html: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    atomic_write_bytes(html, body.encode())


def _publish(scratch: Path, final: Path) -> None:
    """Swaps ``scratch`` into ``final``; the old report is removed only afterwards."""
    old = final.with_name(f".old-{final.name}")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(scratch, final)
    if old.exists():
        shutil.rmtree(old)


def _ipc_kernel_manager():
    """A kernel manager on IPC sockets in the Jupyter runtime folder (not TCP ports)."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            runtime = Path(jupyter_runtime_dir())
            runtime.mkdir(parents=True, exist_ok=True)
            self.transport = "ipc"
            self.ip = str(runtime / f"meshlab-kernel-{uuid.uuid4().hex[:12]}")

    return IPCKernelManager


class _CellProgress:
    """Prints ``[stage] cell i/n`` lines with per-cell and total elapsed time."""

    def __init__(self, stage: str, nb, stream=None):
        self.stage, self.stream = stage, stream or sys.stderr
        self.code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        self.t0 = time.perf_counter()
        self.t_cell = self.t0

    def bind(self, nb) -> None:
        """Counts the code cells of ``nb`` (the executed notebook, parameters injected)."""
        self.code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]

    def start(self, cell, index) -> None:
        if cell.cell_type != "code" or index not in self.code:
            return
        self.t_cell = time.perf_counter()
        first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")[:60]
        k = self.code.index(index) + 1
        print(
            f"[{self.stage}] cell {k}/{len(self.code)} (elapsed {self.t_cell - self.t0:.1f} s): "
            f"{first}",
            file=self.stream,
            flush=True,
        )

    def complete(self, cell, index) -> None:
        if cell.cell_type != "code" or index not in self.code:
            return
        now = time.perf_counter()
        if now - self.t_cell >= 1.0:
            print(
                f"[{self.stage}]   ... took {now - self.t_cell:.1f} s", file=self.stream, flush=True
            )


def _progress_engine():
    """A papermill engine (nbclient) that reports cell progress through ``_CellProgress``."""
    from papermill.engines import NBClientEngine, papermill_engines

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            reporter = kwargs.pop("cell_progress", None)
            if reporter is not None:
                reporter.bind(nb_man.nb)  # the notebook as run: with papermill's injected cell
                start, complete = nb_man.cell_start, nb_man.cell_complete

                def cell_start(cell, cell_index=None, **kw):
                    reporter.start(cell, cell_index)
                    return start(cell, cell_index, **kw)

                def cell_complete(cell, cell_index=None, **kw):
                    reporter.complete(cell, cell_index)
                    return complete(cell, cell_index, **kw)

                nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("meshlab", ProgressEngine)
    return "meshlab"


def _previous_metrics(final: Path, root: Path) -> tuple[dict | None, str]:
    """The last commit's metrics.json of this report, else the one on disk, else None."""
    try:
        rel = final.resolve().relative_to(root.resolve()) / "metrics.json"
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", str(rel)],
            cwd=root, capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        commit = out.stdout.strip()
        if commit:
            body = subprocess.run(
                ["git", "show", f"{commit}:{rel.as_posix()}"],
                cwd=root, capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            return json.loads(body.stdout), f"commit {commit}"
    except (ValueError, OSError, subprocess.SubprocessError, json.JSONDecodeError):
        pass
    old = final / "metrics.json"
    if old.exists():
        try:
            return json.loads(old.read_text()), "the report this run replaced"
        except json.JSONDecodeError:
            pass
    return None, "the previous run"


def run_stage(
    stage: str,
    *,
    root: str | os.PathLike | None = None,
    params_file: str | os.PathLike | None = None,
    notebooks_dir: str | os.PathLike | None = None,
    reports_dir: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    cwd: str | os.PathLike | None = None,
) -> Path:
    """Executes ``notebooks_dir/<stage>.ipynb`` and publishes ``reports_dir/<stage>/``.

    Args:
        stage: stage name; the notebook and the params section share it.
        root: the project folder the defaults below are relative to (default: the
            current working directory, where DVC runs stage commands).
        params_file: the params.yaml to read the stage's section from
            (default ``root/params.yaml``).
        notebooks_dir: folder holding ``<stage>.ipynb`` (default ``root/notebooks``).
        reports_dir: folder receiving ``<stage>/`` (default ``root/reports``).
        overrides: parameter values that replace the section's (``-p`` on the CLI).
        cwd: working directory of the kernel (default ``root``).

    Returns:
        The published report folder.

    Raises:
        StageError: unknown stage, missing/malformed section, undeclared parameter, a
            notebook that failed (its error is in the message), or no metrics.json.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    root = Path.cwd() if root is None else Path(root)
    params_file = Path(params_file) if params_file is not None else root / "params.yaml"
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else root / "notebooks"
    reports_dir = Path(reports_dir) if reports_dir is not None else root / "reports"
    cwd = Path(cwd) if cwd is not None else root

    notebook = notebooks_dir / f"{stage}.ipynb"
    if not notebook.exists():
        known = sorted(p.stem for p in notebooks_dir.glob("*.ipynb"))
        raise StageError(f"unknown stage {stage!r}: no {notebook}; stages: {known}")
    params = dict(load_section(params_file, stage))
    params.update(overrides or {})
    declared = declared_parameters(notebook)
    if "out_dir" not in declared:
        raise StageError(f"notebook {str(notebook)!r} must declare 'out_dir' in its parameters")
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise StageError(
            f"stage {stage!r}: parameter(s) {unknown} from {str(params_file)!r} are not "
            f"declared in the parameters cell of {notebook}; declared: "
            f"{sorted(k for k in declared if k != 'out_dir')}"
        )
    if "out_dir" in params:
        raise StageError(f"stage {stage!r}: 'out_dir' is set by the runner, not by params")

    reports_dir.mkdir(parents=True, exist_ok=True)
    scratch = reports_dir / f".tmp-{stage}"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    executed = scratch / f"{stage}.ipynb"
    # A relative out_dir keeps the executed notebook free of machine-specific paths.
    try:
        out_dir = os.path.relpath(scratch, cwd)
    except ValueError:
        out_dir = str(scratch)
    import nbformat

    final = reports_dir / stage
    previous, previous_label = _previous_metrics(final, root)
    reporter = _CellProgress(stage, nbformat.read(notebook, as_version=4))
    print(f"[{stage}] running {notebook} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    saved_env = {k: os.environ.get(k) for k in ("MESHLAB_PIPELINE", "MESHLAB_PROGRESS")}
    os.environ.update(MESHLAB_PIPELINE="1", MESHLAB_PROGRESS="0")  # the kernel inherits them
    try:
        try:
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters={**params, "out_dir": out_dir},
                kernel_name="python3",
                engine_name=_progress_engine(),
                cwd=str(cwd),
                progress_bar=False,
                log_output=False,
                cell_progress=reporter,
                kernel_manager_class=_ipc_kernel_manager(),
            )
        except PapermillExecutionError as e:
            failed = reports_dir / ".failed"
            failed.mkdir(exist_ok=True)
            if executed.exists():
                shutil.copy2(executed, failed / f"{stage}.ipynb")
            raise StageError(
                f"stage {stage!r} failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
                f"(previous report left untouched; failed notebook: {failed / (stage + '.ipynb')})"
            ) from None
        warned = collect_warnings(nbformat.read(executed, as_version=4))
        for w in warned:
            print(
                f"[{stage}] warning (cell {w['cell']}): {w['category']}: {w['message']}",
                file=sys.stderr,
                flush=True,
            )
        _stamp_metrics(scratch / "metrics.json", stage, params, time.perf_counter() - t0, warned)
        _render_html(executed, scratch / f"{stage}.html")
        readme.write(scratch, stage, previous, previous_label)
        _publish(scratch, final)
        _forget_failure(reports_dir, stage)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if scratch.exists():
            shutil.rmtree(scratch)
    print(f"[{stage}] done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return final


def _forget_failure(reports_dir: Path, stage: str) -> None:
    """Removes ``reports/.failed/<stage>.ipynb`` (stale after a success) and an empty folder."""
    failed = reports_dir / ".failed"
    (failed / f"{stage}.ipynb").unlink(missing_ok=True)
    if failed.is_dir() and not any(failed.iterdir()):
        failed.rmdir()


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise StageError(f"-p expects KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    return k.strip(), yaml.safe_load(v)


def main(argv: list[str] | None = None, *, root: str | os.PathLike | None = None) -> int:
    """Command-line entry point: runs one stage, returns the exit status (0 or 1).

    Args:
        argv: arguments (default ``sys.argv[1:]``); see the module docstring.
        root: the project folder the default paths are relative to (default: the current
            working directory).
    """
    root = Path.cwd() if root is None else Path(root)
    ap = argparse.ArgumentParser(
        prog="run_notebook", description="Run one pipeline stage and publish its report."
    )
    ap.add_argument("stage")
    ap.add_argument("--params", type=Path, default=root / "params.yaml")
    ap.add_argument("--notebooks", type=Path, default=root / "notebooks")
    ap.add_argument("--reports", type=Path, default=root / "reports")
    ap.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    try:
        overrides = dict(_parse_override(o) for o in args.overrides)
        final = run_stage(
            args.stage,
            root=root,
            params_file=args.params,
            notebooks_dir=args.notebooks,
            reports_dir=args.reports,
            overrides=overrides,
        )
    except StageError as e:
        print(f"run_notebook: {e}", file=sys.stderr)
        return 1
    print(f"run_notebook: stage {args.stage!r} -> {final}")
    return 0
