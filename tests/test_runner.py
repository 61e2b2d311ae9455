"""The pipeline runner: parameter injection, errors, atomic publication, provenance."""

from __future__ import annotations

import json
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
    assert "[probe] cell 1/2 (elapsed" in err and "[probe] cell 2/2 (elapsed" in err
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
