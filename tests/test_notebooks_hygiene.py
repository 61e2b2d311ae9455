"""Committed notebooks are clean, and dvc.yaml, params.yaml and notebooks agree."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from meshlab.pipeline import runner

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ALL_STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# notebook stages; the others (the backend inventory, the generated monitoring files) run a
# library command and are checked where their outputs are tested
STAGES = {
    name: spec
    for name, spec in ALL_STAGES.items()
    if spec["cmd"].startswith("python pipelines/run_notebook.py ")
}
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
MAX_CHECKED_LINES = 40

# What a compared output must not contain: it has to be the same on every machine and run.
_NONDETERMINISTIC = {
    "a float with more than 4 decimals (round it)": re.compile(r"\d\.\d{5,}"),
    "a memory address": re.compile(r"0x[0-9a-fA-F]{6,}"),
    "a temporary path": re.compile(r"/tmp/|meshlab-report-|/var/folders/"),
    "a date or time": re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}:\d{2}"),
}


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _is_checked(cell) -> bool:
    return cell["cell_type"] == "code" and _source(cell).lstrip().startswith(CHECK_MARK)


def checked_output_problems(text: str | None) -> list[str]:
    """Why the expected output of a ``# NBVAL_CHECK_OUTPUT`` cell would compare nothing or
    something unstable (``None``: no expected-output file)."""
    if not text:
        return ["no expected output (run tools/refresh_checked_outputs.py)"]
    problems = []
    if text.count("\n") > MAX_CHECKED_LINES:
        problems.append(f"more than {MAX_CHECKED_LINES} lines of output")
    for what, pattern in _NONDETERMINISTIC.items():
        if m := pattern.search(text):
            problems.append(f"output holds {what}: {m.group(0)!r}")
    return problems


def test_there_are_notebooks_and_stages():
    assert NOTEBOOKS, "no notebooks found"
    assert "environment" in STAGES
    assert {p.stem for p in NOTEBOOKS} == set(STAGES), "every notebook is a stage and back"
    others = {n: s["cmd"] for n, s in ALL_STAGES.items() if n not in STAGES}
    assert others == {
        "pqc_backends": "python -m meshlab.crypto reports/pqc_backends.json",
        "monitoring": "python -m meshlab.slo.generate monitoring/sla.yaml monitoring",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any(c.get("outputs") for c in code), "committed with outputs: run nbstripout"
    assert all(c.get("execution_count") is None for c in code), "execution counts left in"
    assert not any(c.get("metadata", {}).get("keep_output") for c in code), (
        "keep_output set on a cell (nbstripout would keep its output)"
    )
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
    declared = runner.declared_parameters(notebook)
    section = runner.load_section(ROOT / "params.yaml", stage)
    assert {"out_dir", "seed"} <= set(declared)
    assert "seed" in section, "every stage takes its seed from params.yaml"
    assert set(section) <= set(declared), set(section) - set(declared)
    metrics = [next(iter(m)) for m in spec.get("metrics", [])]
    assert metrics == [f"reports/{stage}/metrics.json"]
    for entry in spec.get("outs", []) + spec.get("metrics", []) + spec.get("plots", []):
        ((path, opts),) = entry.items() if isinstance(entry, dict) else ((entry, {}),)
        assert path.startswith(f"reports/{stage}/"), path
        assert opts.get("persist") is True, f"{path}: outputs must be persist: true"


OUTPUTS = ROOT / "tests" / "notebook_outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cell_has_a_rounded_expected_output(path):
    """Every notebook has one ``# NBVAL_CHECK_OUTPUT`` cell, and its expected output (what
    nbval compares; see tools/refresh_checked_outputs.py) is short and machine-independent."""
    nb = json.loads(path.read_text())
    checked = [c for c in nb["cells"] if _is_checked(c)]
    assert len(checked) == 1, f"{path.name}: exactly one {CHECK_MARK} cell, got {len(checked)}"
    expected = OUTPUTS / f"{path.stem}.txt"
    problems = checked_output_problems(expected.read_text() if expected.exists() else None)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_every_expected_output_belongs_to_a_notebook():
    assert {p.stem for p in OUTPUTS.glob("*.txt")} == {p.stem for p in NOTEBOOKS}


def test_a_wrong_expected_output_fails_the_notebook(tmp_path):
    """nbval, handed the expected outputs by tests/conftest.py, fails a notebook whose
    checked cell prints something else, and names a missing expected-output file."""
    env = {**os.environ, "MESHLAB_NOTEBOOK_OUTPUTS": str(tmp_path)}
    nb = ROOT / "notebooks" / "environment.ipynb"
    quick = ROOT / "tests" / "test_suite_mappings.py"  # brings tests/conftest.py in
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-n0",
        "-p",
        "no:cacheprovider",
        str(quick),
        str(nb),
    ]
    (tmp_path / "environment.txt").write_text("n_bogus: 1\n")
    wrong = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert wrong.returncode != 0 and "Cell outputs differ" in wrong.stdout, wrong.stdout[-2000:]
    (tmp_path / "environment.txt").unlink()
    missing = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert missing.returncode != 0 and "missing" in missing.stdout, missing.stdout[-2000:]
    assert "environment.txt" in missing.stdout


def test_nbstripout_keeps_exactly_the_committed_form():
    """`nbstripout --verify` (what CI runs) would change no committed notebook."""
    proc = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--verify", *map(str, NOTEBOOKS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (None, "no expected output"),
        ("", "no expected output"),
        ("p99_ms: 1.234567\n", "more than 4 decimals"),
        ("<object at 0x7f3a2b1c9d00>\n", "memory address"),
        ("saved report to /tmp/meshlab-report-x\n", "temporary path"),
        ("run at 2026-11-29\n", "date or time"),
        ("x\n" * (MAX_CHECKED_LINES + 1), "lines of output"),
    ],
)
def test_checked_output_rules_catch_bad_outputs(text, complaint):
    assert any(complaint in p for p in checked_output_problems(text))


def test_checked_output_rules_accept_a_rounded_summary():
    assert checked_output_problems("n_nodes: 1000\np99_ms: 1.23\nratio: 0.5\n") == []


def _tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "refresh_checked_outputs", ROOT / "tools/refresh_checked_outputs.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_refresh_tool_strips_every_cell():
    import nbformat

    tool = _tool()
    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_output("stream", name="stdout", text="1\n")
    plain = nbformat.v4.new_code_cell("x = 1\nprint(x)", execution_count=2, outputs=[out])
    plain.metadata["keep_output"] = True
    checked = nbformat.v4.new_code_cell(f"{CHECK_MARK}\nprint(x)", execution_count=3, outputs=[out])
    nb.cells = [plain, nbformat.v4.new_markdown_cell("text"), checked]
    assert tool.strip(nb) == 1
    for cell in (plain, checked):
        assert cell.outputs == [] and cell.execution_count is None and not cell.metadata
    assert tool.expected_path("notebooks/chaos.ipynb") == OUTPUTS / "chaos.txt"
    # only printed text may be recorded as a checked output
    shown = nbformat.v4.new_output("display_data", data={"text/plain": "<Chart>"})
    with pytest.raises(SystemExit, match="may only print text"):
        tool._text_outputs([shown], "nb cell 2")
    with pytest.raises(SystemExit, match="printed nothing"):
        tool._text_outputs([], "nb cell 2")


@pytest.mark.slow  # long: CI runs it with the slow cases
def test_the_committed_git_filter_keeps_outputs_and_counts_out_of_commits(tmp_path):
    """With the committed filter enabled, a notebook dirtied by a JupyterLab session (outputs,
    execution counts) stages as exactly the committed, stripped file."""
    if not (ROOT / ".git").exists() or not (ROOT / ".venv/bin/nbstripout").exists():
        pytest.skip("needs the git checkout and its uv environment")
    clone = tmp_path / "clone"
    git = ["git", "-C", str(clone)]
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    for name in (".gitattributes", ".gitconfig", "tools/clear_counts.py"):  # the working tree's
        (clone / name).write_bytes((ROOT / name).read_bytes())
    (clone / ".venv").symlink_to(ROOT / ".venv")
    subprocess.run([*git, "config", "--local", "include.path", "../.gitconfig"], check=True)
    nb_path = clone / "notebooks/environment.ipynb"
    committed = nb_path.read_bytes()
    # every committed notebook passes through the filter unchanged
    for path in sorted((clone / "notebooks").glob("*.ipynb")):
        out = subprocess.run(
            "'.venv/bin/nbstripout' | .venv/bin/python tools/clear_counts.py",
            shell=True, cwd=clone, input=path.read_bytes(), capture_output=True, check=True,
        )  # fmt: skip
        assert out.stdout == path.read_bytes(), (
            f"{path.name} changes under the git filter: outputs or counts left in; strip it "
            "with `.venv/bin/nbstripout < NB | .venv/bin/python tools/clear_counts.py > NB.new`"
        )
    nb = json.loads(committed)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "SESSION\n"}]
            cell["execution_count"] = 42
    nb_path.write_text(json.dumps(nb, indent=1))
    subprocess.run([*git, "add", "notebooks/environment.ipynb"], check=True, timeout=120)
    staged = subprocess.run(
        [*git, "show", ":notebooks/environment.ipynb"], check=True, capture_output=True
    ).stdout
    assert b"SESSION" not in staged and b'"execution_count": 42' not in staged
    assert staged == committed
