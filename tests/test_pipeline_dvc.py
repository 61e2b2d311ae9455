"""`dvc repro` in a scratch copy: the environment stage runs, a second repro is a no-op,
and changing one stage's parameter invalidates only that stage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _sh(args, cwd, env):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def scratch(tmp_path):
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    dst = tmp_path / "repo"
    for f in files:
        src = ROOT / f
        if src.is_file() and not f.startswith("reports/"):
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)
    (dst / "dvc.lock").unlink(missing_ok=True)
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["environment"].update(matmul_n=64, rng_samples=1000, membw_mb=1, repeats=2)
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "scratch"]):
        assert _sh(cmd, dst, env).returncode == 0
    return dst, env


@pytest.mark.slow  # long: CI runs it with the slow cases
def test_repro_runs_environment_then_is_a_noop(scratch):
    repo, env = scratch
    dvc = [str(Path(sys.executable).parent / "dvc")]
    first = _sh(dvc + ["repro", "environment"], repo, env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Running stage 'environment'" in first.stdout
    metrics = json.loads((repo / "reports/environment/metrics.json").read_text())
    assert metrics["provenance"]["stage"] == "environment"
    assert metrics["provenance"]["params"]["repeats"] == 2  # the scratch params.yaml, via DVC
    assert metrics["calibration_sizes"]["matmul_n"] == 64
    assert (repo / "reports/environment/environment.html").exists()
    assert not list((repo / "reports").glob(".tmp-*"))
    # stage and cell progress with elapsed times, and a README for the report folder
    assert "[environment] cell 1/" in first.stderr + first.stdout
    assert "(elapsed" in first.stderr + first.stdout
    assert "without encryption" not in first.stderr + first.stdout
    readme = (repo / "reports/environment/README.md").read_text()
    assert "# Report: environment" in readme and "![" in readme

    second = _sh(dvc + ["repro", "environment"], repo, env)
    assert second.returncode == 0, second.stderr
    assert "Running stage" not in second.stdout
    assert "didn't change" in second.stdout or "up to date" in second.stdout

    # Another stage's parameters do not touch this stage ...
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["unrelated_section"] = {"seed": 5}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = _sh(dvc + ["status", "environment"], repo, env)
    assert "up to date" in status.stdout, status.stdout
    # ... while its own parameter does.
    params["environment"]["repeats"] = 3
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = _sh(dvc + ["status", "environment"], repo, env)
    assert "modified:" in status.stdout and "environment" in status.stdout, status.stdout


@pytest.mark.slow  # a dvc repro, push, clone and pull: ~2 min on a loaded 2-core machine
def test_a_local_directory_remote_round_trips_the_executed_notebook_and_html(scratch, tmp_path):
    """What a team does so that a fresh clone can read the evidence: a DVC remote (here a
    local folder; an S3/SSH/... URL works the same), `dvc push` after `dvc repro`, and
    `dvc pull` in the clone."""
    repo, env = scratch
    dvc = [str(Path(sys.executable).parent / "dvc")]
    store = tmp_path / "dvc-store"
    assert _sh(dvc + ["remote", "add", "-d", "team", str(store)], repo, env).returncode == 0
    run = _sh(dvc + ["repro", "environment"], repo, env)
    assert run.returncode == 0, run.stdout + run.stderr
    push = _sh(dvc + ["push", "environment"], repo, env)
    assert push.returncode == 0, push.stdout + push.stderr
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "report + remote"]):
        assert _sh(cmd, repo, env).returncode == 0
    clone = tmp_path / "clone"
    assert _sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env).returncode == 0
    nb = "reports/environment/environment.ipynb"
    assert not (clone / nb).exists()  # not in git: only in DVC
    pull = _sh(dvc + ["pull", "environment"], clone, env)
    assert pull.returncode == 0, pull.stdout + pull.stderr
    for out in (nb, "reports/environment/environment.html"):
        assert (clone / out).read_bytes() == (repo / out).read_bytes(), out
    status = _sh(dvc + ["status", "environment"], clone, env)
    assert "up to date" in status.stdout, status.stdout
