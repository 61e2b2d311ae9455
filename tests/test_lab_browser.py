"""JupyterLab in a real browser: interactive charts with no network, clean notebooks after a save.

One module-scoped session does what a person does after cloning: the README's filter
command (``git config --local include.path ../.gitconfig``), ``uv sync --group lab``, then
``jupyter lab`` (token, 127.0.0.1, a free port, ``--no-browser --allow-root``), all in a
throwaway clone of this working tree with every ``JUPYTER*`` folder inside ``tmp_path``.
Chromium (the system's ``/usr/bin/chromium``, driven by Playwright) opens the tracked
``notebooks/environment.ipynb``, runs all cells, hovers a chart mark and saves with Ctrl+S.
Every request that is not for 127.0.0.1 is aborted and recorded. The tests then read what
the session saw: no outside request was needed, the chart is altair's offline interactive
widget (vega-embed SVG/canvas, not a static SVG image), its tooltip shows the data fields,
and the saved notebook, outputs and all, stages as the committed one.

Marked ``slow`` (2-3 min on 2 loaded cores: uv sync, lab start, the notebook); skipped only
when Chromium is missing (CI installs the Debian ``chromium`` package).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "notebooks/environment.ipynb"
CHART_CELL = "alt.Chart(calib)"  # the code cell whose output is the chart
TOOLTIP_FIELDS = ("metric", "repeat", "value")  # the chart's tooltip encoding

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("MESHLAB_REQUIRE_BROWSER") != "1",
        reason=f"{CHROMIUM} is absent (apt-get install chromium)",
    ),
]


def _git(clone: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(
        ["git", *args], cwd=clone, env=env, capture_output=True, text=True, check=check
    )


def _clone_working_tree(dest: Path) -> Path:
    """A clone of this repository with the working tree's changes committed on top."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    changed = _git(ROOT, "diff", "--name-only", "HEAD").stdout.split()
    changed += _git(ROOT, "ls-files", "--others", "--exclude-standard").stdout.split()
    for rel in changed:
        src, dst = ROOT / rel, dest / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif not src.exists() and dst.exists():
            dst.unlink()
    if changed:
        _git(dest, "add", "-A")
        done = _git(dest, "commit", "-q", "-m", "working tree", "--no-verify", check=False)
        assert done.returncode == 0, done.stderr
    # The README's one-off command: the committed nbstripout filter for this clone.
    _git(dest, "config", "--local", "include.path", "../.gitconfig")
    return dest


def _sync_lab_env(clone: Path) -> None:
    """``uv sync --group lab`` in the clone (offline from uv's cache when it can)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    for extra in (["--offline"], []):
        done = subprocess.run(
            ["uv", "sync", "--frozen", "--group", "lab", *extra],
            cwd=clone, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if done.returncode == 0:
            return
    raise RuntimeError(f"uv sync --group lab failed in the clone:\n{done.stderr[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_env(home: Path) -> dict[str, str]:
    """A person's environment: no test/pipeline switches, Jupyter folders inside ``home``."""
    drop = ("MESHLAB_", "PYTEST_", "JUPYTER", "VIRTUAL_ENV", "IPYTHONDIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(home / name.lower())
    env["JUPYTERLAB_SETTINGS_DIR"] = str(home / "lab-settings")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(home / "lab-workspaces")
    # no news/update checks (they would be requests to jupyter.org)
    notes = home / "lab-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # no autosave: the file on disk changes only when the test presses Ctrl+S
    docs = home / "lab-settings/@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(json.dumps({"autosave": False}))
    return env


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer at {url}:\n{log.read_text()[-3000:]}")


def _drive(page, base: str, token: str, clone: Path) -> dict:
    """Opens, runs, hovers and saves the notebook; returns what the browser showed."""
    seen: dict = {}
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    try:  # a "Select Kernel" dialog appears for some workspaces: take the proposed kernel
        page.locator(".jp-Dialog .jp-mod-accept").click(timeout=5_000)
    except Exception:  # noqa: BLE001  (no dialog: nothing to do)
        pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(
        """() => {
            const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent));
        }""",
        timeout=300_000,
    )
    seen["prompts"] = [e.text_content() for e in page.query_selector_all(".jp-InputArea-prompt")]
    seen["errors"] = page.locator(".jp-CodeCell [data-mime-type*='error']").count()
    cell = page.locator(".jp-CodeCell", has_text=CHART_CELL)
    cell.scroll_into_view_if_needed()
    output = cell.locator(".jp-OutputArea")
    try:
        output.locator(".vega-embed svg, .vega-embed canvas").first.wait_for(timeout=30_000)
    except Exception:  # noqa: BLE001  (recorded; the tests say what is missing)
        pass
    seen["vega_embed"] = output.locator(".vega-embed").count()
    seen["vega_drawing"] = output.locator(".vega-embed svg.marks, .vega-embed canvas").count()
    seen["static_images"] = output.locator("img, .jp-RenderedSVG, .jp-RenderedImage").count()
    seen["output_text"] = output.inner_text()[:500]
    marks = output.locator(".vega-embed g.role-mark [role='graphics-symbol']")
    seen["marks"] = marks.count()
    seen["tooltip"] = ""
    if seen["marks"]:
        marks.first.hover(force=True)
        tip = page.locator("#vg-tooltip-element.visible")
        try:
            tip.wait_for(state="visible", timeout=10_000)
            seen["tooltip"] = tip.inner_text()
        except Exception:  # noqa: BLE001
            pass
    path = clone / NOTEBOOK
    before = path.stat().st_mtime_ns
    page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first.click()
    page.keyboard.press("Control+s")
    end = time.monotonic() + 60
    while path.stat().st_mtime_ns == before and time.monotonic() < end:
        page.wait_for_timeout(200)  # not time.sleep: the request router runs only meanwhile
    seen["saved"] = (before, path.stat().st_mtime_ns)
    page.screenshot(path=str(clone.parent / "after-save.png"))  # for a person debugging
    return seen


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("lab")
    clone = _clone_working_tree(tmp / "clone")
    _sync_lab_env(clone)
    home, log = tmp / "home", tmp / "lab.log"
    home.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        str(clone / ".venv/bin/jupyter"), "lab", "--no-browser", "--allow-root",
        "--ip", "127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={clone}",
    ]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=clone, env=_lab_env(home), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    outside, local = [], []

    def route(r):
        if urlsplit(r.request.url).hostname == "127.0.0.1":
            local.append(r.request.url)
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    try:
        _wait_http(f"{base}/api/status?token={token}", proc, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.route("**/*", route)
                seen = _drive(page, base, token, clone)
            finally:
                browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    seen.update(outside=outside, local=len(local), clone=clone, log=log)
    print(f"lab log: {log}; screenshot: {tmp / 'after-save.png'}")
    return seen


def test_no_request_left_the_machine(session):
    assert session["local"] > 0
    assert session["outside"] == [], session["outside"]


def test_notebook_ran_to_the_end(session):
    prompts = [p for p in session["prompts"] if p.strip()]
    assert prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts
    assert session["errors"] == 0


def test_chart_is_the_interactive_offline_renderer(session):
    """vega-embed drew the chart in the page (SVG or canvas) from altair's offline widget,
    not the static SVG image pipelines get and not the CDN-loading default renderer."""
    assert session["vega_embed"] == 1, session["output_text"]
    assert session["vega_drawing"] >= 1
    assert session["static_images"] == 0
    saved = json.loads((session["clone"] / NOTEBOOK).read_text())
    chart = next(c for c in saved["cells"] if CHART_CELL in "".join(c["source"]))
    mimes = {m for o in chart["outputs"] for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in mimes, mimes
    assert "image/svg+xml" not in mimes, mimes


def test_hover_shows_the_tooltip(session):
    assert session["marks"] > 0
    tip = session["tooltip"]
    assert all(field in tip for field in TOOLTIP_FIELDS), repr(tip)
    assert re.search(r"matmul_gflops|rng_msamples_per_s|membw_gb_per_s", tip), repr(tip)


def test_saved_notebook_stages_as_committed(session):
    """After Ctrl+S the working copy holds outputs, but the filter strips them: the diff is
    empty and ``git add`` stages nothing (``git status`` is clean afterwards; before it, git
    may list the file because its size changed, without running the filter)."""
    clone = session["clone"]
    before, after = session["saved"]
    assert after != before, "Ctrl+S did not write the notebook"
    saved = json.loads((clone / NOTEBOOK).read_text())
    assert any(c.get("outputs") for c in saved["cells"] if c["cell_type"] == "code")
    diff = _git(clone, "diff", "--no-textconv", "--exit-code", "--", NOTEBOOK, check=False)
    assert diff.returncode == 0, diff.stdout[-3000:]
    _git(clone, "add", "--", NOTEBOOK)
    assert _git(clone, "status", "--porcelain", "--", NOTEBOOK).stdout == ""
