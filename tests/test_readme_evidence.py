"""Every figure and table the README quotes matches the result file it names."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("readme_evidence", ROOT / "tools/readme_evidence.py")
ev = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = ev  # dataclasses look their module up
_spec.loader.exec_module(ev)


def test_readme_figures_and_tables_match_their_sources():
    text = (ROOT / "README.md").read_text()
    _, findings = ev.render(text, ROOT)
    assert not findings, (
        "README figures disagree with their sources (fix the source or run "
        "`uv run python tools/readme_evidence.py --write`):\n"
        + "\n".join(f.describe() for f in findings)
    )


# ---------------------------------------------------------------------------------------
# the tool itself, on a temporary README

METRICS = {
    "p99_ms": 12.3456,
    "delivery": 0.98765,
    "events": 1234567,
    "nested": {"list": [10, 20, 30]},
    "provenance": {"seed": 0},
}
BENCH = {
    "rows": [
        {"n": 1000, "d": 10, "rule": "mean", "ratio": 2.871, "rate": 19.0e6, "ref_s": 0.5},
        {"n": 1000, "d": 100, "rule": "mean", "ratio": 3.5, "rate": 20.0e6, "ref_s": None},
        {"n": 10000, "d": 10, "rule": "median", "ratio": 4.25, "rate": 25.2e6},
    ],
    "summary": {"geomean": 3.1},
}


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "reports/beacons").mkdir(parents=True)
    (tmp_path / "reports/beacons/metrics.json").write_text(json.dumps(METRICS))
    (tmp_path / "benchmarks/results").mkdir(parents=True)
    (tmp_path / "benchmarks/results/bench.json").write_text(json.dumps(BENCH))
    return tmp_path


def fig(spec: str, text: str) -> str:
    return f"<!-- fig: {spec} -->{text}<!-- /fig -->"


M = "reports/beacons/metrics.json"
B = "benchmarks/results/bench.json"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (f"{M}#p99_ms|.1f", "12.3"),
        (f"{M}#delivery|.2%", "98.77%"),
        (f"{M}#events|,d", "1,234,567"),
        (f"{M}#nested.list.1", "20"),
        (f"{M}#provenance.seed|d", "0"),
        (f"{B}#rows[n=10000].ratio|.2f", "4.25"),
        (f"{B}#rows[n=1000][d=100].rate|.3g", "2e+07"),
        (f"{B}#rows[rule=median].n|,d", "10,000"),
        (f"{B}#rows.0.ratio|.1f", "2.9"),
        (f"{B}#summary.geomean", "3.1"),
        (f"{B}#rows[n=10000].rate|/1e6:{{:.1f}} M/s", "25.2 M/s"),
        (f"{M}#delivery|*100:.1f", "98.8"),
    ],
)
def test_fresh_figures_pass_and_render(repo, spec, expected):
    readme = f"Latency is {fig(spec, expected)} ms.\n"
    assert ev.render(readme, repo) == (readme, [])


def test_stale_figure_is_caught_and_rewritten(repo):
    readme = "# t\n\nintro\n\np99 is " + fig(f"{M}#p99_ms|.1f", "11.0") + " ms, ok.\n"
    new, findings = ev.render(readme, repo)
    assert len(findings) == 1
    f = findings[0]
    assert (f.line, f.expected, f.found, f.error) == (5, "12.3", "11.0", None)
    msg = f.describe()
    assert "line 5" in msg and M in msg and "p99_ms" in msg and "'12.3'" in msg and "'11.0'" in msg
    assert new == readme.replace("11.0", "12.3")
    assert ev.render(new, repo) == (new, [])


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("reports/nosuch/metrics.json#p99_ms|.1f", "reports/nosuch/metrics.json does not exist"),
        (f"{M}#p99_mss|.1f", "has no key 'p99_mss'"),
        (f"{M}#nested.list.7", "list of 3; '7' is no index"),
        (f"{B}#rows[n=5].ratio", "no row of rows with n=5"),
        (f"{B}#rows[n=1000].ratio", "2 rows of rows with n=1000"),
        (f"{B}#rows[n=1000][d=7].ratio", "no row of rows with n=1000, d=7"),
        (f"{M}#p99_ms|,d", "cannot be formatted with ',d'"),
        (f"{M}", "SOURCE#PATH"),
    ],
)
def test_broken_marker_is_an_error(repo, spec, error):
    readme = "x " + fig(spec, "1") + "\n"
    new, findings = ev.render(readme, repo)
    assert new == readme
    assert len(findings) == 1 and findings[0].error is not None
    assert error in findings[0].error, findings[0].error


def test_unclosed_marker_is_an_error(repo):
    readme = f"a <!-- fig: {M}#p99_ms|.1f -->12.3\n\nb " + fig(f"{M}#events|,d", "1,234,567")
    _, findings = ev.render(readme, repo)
    assert findings and all("no closing" in f.error for f in findings)
    _, findings = ev.render(f"tail <!-- fig: {M}#p99_ms -->12.3\n", repo)
    assert len(findings) == 1 and "no closing" in findings[0].error


ROWS_TABLE = """
| N | rule | JAX / numpy |
|---|---|---|
| 1,000 | mean | 2.87 |
| 1,000 | mean | 3.50 |
| 10,000 | median | 4.25 |
"""
PIVOT_TABLE = """
| N | 10 | 100 |
|---|---|---|
| 1,000 | 2.87× | 3.50× |
| 10,000 | 4.25× | – |
"""


@pytest.mark.parametrize(
    ("spec", "body"),
    [
        (f"{B}#rows(n|,d|N; rule; ratio|.2f|JAX / numpy)", ROWS_TABLE),
        (f"{B}#pivot(n|,d|N; d; ratio|{{:.2f}}×)", PIVOT_TABLE),
    ],
)
def test_tables_render_and_stale_tables_are_caught(repo, spec, body):
    readme = f"before\n<!-- table: {spec} -->{body}<!-- /table -->\nafter\n"
    assert ev.render(readme, repo) == (readme, [])
    stale = readme.replace("4.25", "4.20")
    new, findings = ev.render(stale, repo)
    assert new == readme
    assert len(findings) == 1 and findings[0].kind == "table" and findings[0].line == 2
    assert "4.20" in findings[0].found and "4.25" in findings[0].expected


FILTERED_TABLE = """
| N | ref (s) |
|---|---|
| 1,000 | 0.50 |
| 1,000 | – |
"""


def test_table_row_filter_and_missing_values(repo):
    spec = f"{B}#rows([rule=mean][n=1000]; n|,d|N; ref_s|.2f|ref (s))"
    readme = f"<!-- table: {spec} -->{FILTERED_TABLE}<!-- /table -->"
    assert ev.render(readme, repo) == (readme, [])
    for bad, error in [
        (f"{B}#rows(n; nosuch)", "no row has 'nosuch'"),
        (f"{B}#rows([rule=max]; n)", "no row matches [rule=max]"),
        (f"{B}#pivot([rule=mean]; n; d)", "INDEX; COLUMNS; VALUE"),
    ]:
        _, findings = ev.render(f"<!-- table: {bad} -->x<!-- /table -->", repo)
        assert len(findings) == 1 and error in findings[0].error, findings


def test_unknown_table_function_is_an_error(repo):
    _, findings = ev.render(f"<!-- table: {B}#nosuch(n) -->\n<!-- /table -->", repo)
    assert "unknown table" in findings[0].error and "rows" in findings[0].error


def test_cli_checks_and_writes(repo, capsys):
    readme = repo / "README.md"
    readme.write_text("p99 " + fig(f"{M}#p99_ms|.2f", "0.00") + "\n")
    assert ev.main([str(readme)]) == 1
    assert "expected '12.35', found '0.00'" in capsys.readouterr().err
    assert ev.main([str(readme), "--write"]) == 0
    assert "12.35" in readme.read_text()
    assert ev.main([str(readme)]) == 0
