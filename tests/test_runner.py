"""The pipeline runner: parameter injection, errors, atomic publication, provenance."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from meshlab.pipeline import runner
from meshlab.pipeline.runner import StageError

ROOT = Path(__file__).resolve().parent.parent

PROBE = """import os
import meshlab
import meshlab.crypto
from meshlab import reporting
from meshlab.core import progress
out = reporting.report_dir(out_dir)
if fail:
    raise RuntimeError(f"probe asked to fail with alpha={alpha}")
env = {"pipeline": os.environ.get("MESHLAB_PIPELINE"), "progress": progress.enabled()}
reporting.save_metrics(
    {"twice_alpha": 2 * alpha, "label": label, "items": items, "env": env}, out, seed=seed
)
"""


def _write_probe(folder: Path, *, save_metrics: bool = True) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'out_dir = None\nseed = 0\nalpha = 1\nlabel = "default"\nitems = [1]\nfail = False'
    )
    params.metadata["tags"] = ["parameters"]
    body = (
        PROBE if save_metrics else "from meshlab import reporting\nreporting.report_dir(out_dir)\n"
    )
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "probe.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def stage(tmp_path):
    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    _write_probe(nbdir)
    params = tmp_path / "params.yaml"

    def run(section_yaml: str, **kw):
        params.write_text(f"probe:\n{section_yaml}\nother:\n  x: 1\n")
        return runner.run_stage(
            "probe", params_file=params, notebooks_dir=nbdir, reports_dir=reports, **kw
        )

    return run, reports, params, nbdir


def test_params_are_injected_and_provenance_recorded(stage, capsys):
    run, reports, _, _ = stage
    final = run("  seed: 7\n  alpha: 21\n  label: injected\n  items: [3, 4]")
    # cell progress with elapsed time; the kernel ran on IPC sockets, not TCP
    err = capsys.readouterr().err
    # every code cell of the notebook as run: parameters, papermill's injected ones, body
    assert "[probe] cell 1/3 (elapsed" in err and "[probe] cell 2/3 (elapsed" in err
    assert re.search(r"\[probe\] cell 3/3 \(elapsed [\d.]+ s\): import os", err), err
    assert "[probe] done in" in err and "without encryption" not in err
    assert final == reports / "probe"
    m = json.loads((final / "metrics.json").read_text())
    assert m["twice_alpha"] == 42 and m["label"] == "injected" and m["items"] == [3, 4]
    prov = m["provenance"]
    for field in (
        "seed",
        "meshlab_commit",
        "python",
        "jax",
        "jaxlib",
        "pqc_backend",
        "cpu_model",
        "date_utc",
        "params",
        "stage",
    ):
        assert field in prov, field
    assert prov["seed"] == 7 and prov["stage"] == "probe"
    assert prov["params"] == {"seed": 7, "alpha": 21, "label": "injected", "items": [3, 4]}
    assert (final / "probe.ipynb").exists() and (final / "probe.html").exists()
    # the notebook wrote into the scratch folder that was then published
    assert ".tmp-probe" in (final / "probe.ipynb").read_text()
    assert not list(reports.glob(".tmp-*")) and not list(reports.glob(".old-*"))
    # the kernel knew it ran in a pipeline: static charts, no progress bars
    assert m["env"] == {"pipeline": "1", "progress": False}
    # every report gets a README: headline figures, provenance, changes
    text = (final / "README.md").read_text()
    assert "# Report: probe" in text and "| twice_alpha | 42 |" in text
    assert "| env / pipeline | 1 |" in text and "| seed | 7 |" in text
    assert "no previous metrics" in text
    # a clean run says so (flag 0, one README line), and lists no provenance.warnings
    assert m["run_warnings"] == 0 and prov["warnings"] == []
    assert "## Warnings\n\n- none: the run raised no warnings" in text


SUSPECT = """import jax
import numpy as np
import meshlab
from meshlab import reporting
from meshlab.mesh import topology
out = reporting.report_dir(out_dir)
key = jax.random.key(seed)
topo = topology.random_geometric(key, 100, radius, 16)
data = meshlab.fl.load_digits_federated(key, n_clients, 0.5, allow_empty_clients=True)
n_components = int(np.unique(topology.components(topo)).size)
reporting.save_metrics({"n_components": n_components}, out, seed=seed)
"""


@pytest.mark.slow  # one more kernel start (~20 s); the parsing and README text are unit-tested
def test_suspicious_inputs_are_stated_in_the_report(tmp_path, capsys):
    """Legal but suspicious parameters (a disconnected random geometric graph, FL clients
    left without data) warn in the kernel; the runner carries those warnings into
    metrics.json (flag + details) and the report's README, not only onto the console."""
    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("out_dir = None\nseed = 0\nradius = 0.3\nn_clients = 10")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(SUSPECT)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbdir.mkdir()
    nbformat.write(nb, nbdir / "suspect.ipynb")
    (tmp_path / "params.yaml").write_text("suspect:\n  radius: 0.01\n  n_clients: 1000\n")
    final = runner.run_stage(
        "suspect",
        params_file=tmp_path / "params.yaml",
        notebooks_dir=nbdir,
        reports_dir=reports,
    )
    m = json.loads((final / "metrics.json").read_text())
    assert m["n_components"] > 1  # the graph really is disconnected
    warned = m["provenance"]["warnings"]
    assert m["run_warnings"] == len(warned) == 2, warned
    graph, clients = warned
    assert graph["category"] == clients["category"] == "UserWarning"
    assert (
        "DISCONNECTED" in graph["message"]
        and f"{m['n_components']} components" in (graph["message"])
    )
    assert "clients got no sample" in clients["message"] and clients["cell"] == graph["cell"]
    assert graph["source"].rsplit(":", 1)[1].isdigit()
    assert "/" not in graph["source"]  # "file.py:line": no machine path in the report
    text = (final / "README.md").read_text()
    warnings_part = text.split("## Warnings", 1)[1].split("## Headline figures", 1)[0]
    assert "2 warning(s) raised" in warnings_part and "DISCONNECTED" in warnings_part
    assert "clients got no sample" in warnings_part and "| run_warnings | 2 |" in text
    assert "[suspect] warning (cell" in capsys.readouterr().err


def _stderr_cell(text: str, count: int | None):
    cell = nbformat.v4.new_code_cell("pass", execution_count=count)
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=text)]
    return cell


def test_collect_warnings_parses_reports_once_and_ignores_other_stderr():
    nb = nbformat.v4.new_notebook()
    warn = "/x/site-packages/meshlab/mesh/topology.py:378: UserWarning: graph is DISCONNECTED\n"
    nb.cells = [
        nbformat.v4.new_markdown_cell("/a.py:1: UserWarning: not code"),
        _stderr_cell("[stage] cell 1/3 (elapsed 0.1 s): x = 1\nWARNING:jax:plain log\n", 1),
        _stderr_cell(warn + "  warnings.warn(\n", 2),
        _stderr_cell(warn + "/b/m.py:9: DeprecationWarning: old api\n", None),
    ]
    nb.cells[1].outputs.insert(0, nbformat.v4.new_output("stream", name="stdout", text=warn))
    got = runner.collect_warnings(nb)
    assert got == [
        {
            "cell": 2,
            "category": "UserWarning",
            "source": "topology.py:378",
            "message": "graph is DISCONNECTED",
            "count": 2,
        },
        {
            "cell": 3,  # unnumbered: its position among the code cells
            "category": "DeprecationWarning",
            "source": "m.py:9",
            "message": "old api",
            "count": 1,
        },
    ]
    assert runner.collect_warnings(nbformat.v4.new_notebook()) == []


def test_failed_notebook_leaves_previous_report_and_exits_nonzero(stage, capsys):
    run, reports, params, nbdir = stage
    run("  alpha: 5")
    before = {p.name: p.read_bytes() for p in (reports / "probe").iterdir()}
    params.write_text("probe:\n  alpha: 6\n  fail: true\n")
    rc = runner.main(
        ["probe", "--params", str(params), "--notebooks", str(nbdir), "--reports", str(reports)]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert "RuntimeError" in err and "alpha=6" in err and "previous report left untouched" in err
    after = {p.name: p.read_bytes() for p in (reports / "probe").iterdir()}
    assert after == before
    assert (reports / ".failed" / "probe.ipynb").exists()
    assert not list(reports.glob(".tmp-*"))
    # a later success removes the stale failed notebook (it would look like current evidence)
    params.write_text("probe:\n  alpha: 7\n")
    assert (
        runner.main(
            ["probe", "--params", str(params), "--notebooks", str(nbdir), "--reports", str(reports)]
        )
        == 0
    )
    assert not (reports / ".failed").exists()
    assert "`twice_alpha`: 10 → 14 (+40.0%)" in (reports / "probe" / "README.md").read_text()


def test_notebook_without_metrics_is_an_error(tmp_path):
    nbdir = tmp_path / "nb"
    _write_probe(nbdir, save_metrics=False)
    params = tmp_path / "params.yaml"
    params.write_text("probe:\n  seed: 1\n")
    with pytest.raises(StageError, match="wrote no metrics.json"):
        runner.run_stage(
            "probe", params_file=params, notebooks_dir=nbdir, reports_dir=tmp_path / "r"
        )
    assert not (tmp_path / "r" / "probe").exists()


@pytest.mark.parametrize(
    ("stage_name", "params_text", "match"),
    [
        ("nosuch", "probe:\n  alpha: 1\n", r"unknown stage 'nosuch'.*stages: \['probe'\]"),
        ("probe", "other:\n  alpha: 1\n", r"no section 'probe'.*sections: \['other'\]"),
        ("probe", "probe:\n  alpha: 1\n  beta: 2\n", r"parameter\(s\) \['beta'\].*not declared"),
        ("probe", "probe: [1, 2]\n", r"section 'probe'.*must be a mapping"),
        ("probe", "probe: {alpha: 1\n", r"not valid YAML"),
        ("probe", "- 1\n- 2\n", r"must be a mapping of stage"),
        ("probe", "probe:\n  out_dir: x\n", r"'out_dir' is set by the runner"),
    ],
)
def test_bad_stage_section_or_parameter_is_a_clear_error(tmp_path, stage_name, params_text, match):
    nbdir = tmp_path / "notebooks"
    _write_probe(nbdir)
    params = tmp_path / "params.yaml"
    params.write_text(params_text)
    with pytest.raises(StageError, match=match):
        runner.run_stage(
            stage_name, params_file=params, notebooks_dir=nbdir, reports_dir=tmp_path / "r"
        )
    assert not (tmp_path / "r" / stage_name).exists()


def test_cli_override_and_missing_params_file(tmp_path, capsys):
    nbdir = tmp_path / "notebooks"
    _write_probe(nbdir)
    rc = runner.main(
        ["probe", "--params", str(tmp_path / "absent.yaml"), "--notebooks", str(nbdir)]
    )
    assert rc == 1 and "absent.yaml' does not exist" in capsys.readouterr().err
    with pytest.raises(StageError, match="KEY=VALUE"):
        runner._parse_override("alpha")
    assert runner._parse_override("alpha=[1, 2]") == ("alpha", [1, 2])


@pytest.mark.slow  # long: CI runs it with the slow cases
def test_dvc_entry_point_runs_the_library_runner(tmp_path):
    """pipelines/run_notebook.py (what dvc.yaml calls) delegates to meshlab.pipeline.runner,
    with paths relative to the repository, from any working directory."""
    nbdir, reports = tmp_path / "notebooks", tmp_path / "reports"
    _write_probe(nbdir)
    params = tmp_path / "params.yaml"
    params.write_text("probe:\n  alpha: 4\n")
    args = [sys.executable, str(ROOT / "pipelines/run_notebook.py"), "probe"]
    paths = ["--params", str(params), "--notebooks", str(nbdir), "--reports", str(reports)]
    ok = subprocess.run(args + paths, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert json.loads((reports / "probe/metrics.json").read_text())["twice_alpha"] == 8
    # without --params the repository's params.yaml is used, not the working directory's
    bad = subprocess.run(
        args + ["--notebooks", str(nbdir), "--reports", str(reports)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1, bad.stdout
    assert f"{ROOT / 'params.yaml'}' has no section 'probe'" in bad.stderr, bad.stderr
