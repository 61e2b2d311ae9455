"""Committed notebooks are clean, and dvc.yaml, params.yaml and notebooks agree."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())

_spec = importlib.util.spec_from_file_location("run_notebook", ROOT / "pipelines/run_notebook.py")
run_notebook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_notebook)


def test_there_are_notebooks_and_stages():
    assert NOTEBOOKS, "no notebooks found"
    assert "environment" in STAGES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any(c.get("outputs") for c in code), "committed with outputs: run nbstripout"
    assert all(c.get("execution_count") is None for c in code), "execution counts left in"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    assert code[0] is tagged[0], "the parameters cell must be the first code cell"


@pytest.mark.parametrize("stage", sorted(STAGES), ids=str)
def test_stage_notebook_params_and_outputs_agree(stage):
    spec = STAGES[stage]
    notebook = ROOT / "notebooks" / f"{stage}.ipynb"
    assert notebook.exists(), f"stage {stage!r} has no notebook"
    assert spec["cmd"] == f"python pipelines/run_notebook.py {stage}"
    assert f"notebooks/{stage}.ipynb" in spec["deps"] and "meshlab" in spec["deps"]
    assert spec.get("params") == [stage], "list the stage's params section explicitly"
    declared = run_notebook.declared_parameters(notebook)
    section = run_notebook.load_section(ROOT / "params.yaml", stage)
    assert {"out_dir", "seed"} <= set(declared)
    assert "seed" in section, "every stage takes its seed from params.yaml"
    assert set(section) <= set(declared), set(section) - set(declared)
    metrics = [next(iter(m)) for m in spec.get("metrics", [])]
    assert metrics == [f"reports/{stage}/metrics.json"]
    for entry in spec.get("outs", []) + spec.get("metrics", []) + spec.get("plots", []):
        ((path, opts),) = entry.items() if isinstance(entry, dict) else ((entry, {}),)
        assert path.startswith(f"reports/{stage}/"), path
        assert opts.get("persist") is True, f"{path}: outputs must be persist: true"
