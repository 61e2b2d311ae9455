"""Tie the README's figures and tables to the result files that produced them.

A figure is an inline marker pair whose text is rendered from a JSON source::

    <!-- fig: reports/beacons/metrics.json#p99_ms_random_regular_largest|.1f -->12.3<!-- /fig -->

``SOURCE#PATH|FORMAT``: SOURCE is a path relative to the README (``reports/<stage>/metrics.json``
or ``benchmarks/results/<name>.json``); PATH is dot-separated keys, integer list indices and
``[key=value]`` row selectors (``rows[n=1000].ratio``, ``rows[n=1000][d=10000].ratio``); FORMAT
is a Python format spec (``.1f``, ``.2%``, ``,d``, ``.3g``) or a format string with a
``{}`` field for surrounding text (``{:.1f}×``), optionally after a scale (``/1e6:{:.1f} M/s``);
without ``|FORMAT`` the value is written with ``str``. A whole table is a block marker pair::

    <!-- table: benchmarks/results/beacons.json#rows(n_nodes|,d|N; ratio|.2f|JAX / numpy) -->
    | N | JAX / numpy |
    |---|---|
    | 1,000 | 2.87 |
    <!-- /table -->

``SOURCE#NAME(ARGS)`` names a table function of :data:`TABLES`:

* ``rows(COL; COL; ...)``: one table row per element of the source's ``rows`` list; a COL is
  ``path|format|header`` (format and header optional; the path is relative to the row); a
  row without a value for a column shows an en dash.
* ``pivot(INDEX; COLUMNS; VALUE)``: one table row per distinct INDEX value, one column per
  distinct COLUMNS value, cells from VALUE; each part is ``path|format|header``.

Both take an optional leading row filter: ``rows([case=throughput]; n_nodes|,d|N; ...)``.

Usage::

    uv run python tools/readme_evidence.py            # check: exit 1 and list what is stale
    uv run python tools/readme_evidence.py --write    # rewrite the marked text from its sources

``tests/test_readme_evidence.py`` runs the check on every test run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "TABLES",
    "Finding",
    "EvidenceError",
    "check",
    "format_value",
    "main",
    "render",
    "resolve",
    "table",
]

ROOT = Path(__file__).resolve().parent.parent

FIG = re.compile(r"<!-- fig: (?P<spec>[^>]*?) -->(?P<text>.*?)<!-- /fig -->", re.DOTALL)
TABLE = re.compile(r"<!-- table: (?P<spec>[^>]*?) -->(?P<text>.*?)<!-- /table -->", re.DOTALL)
OPENERS = re.compile(r"<!-- (fig|table): ")


class EvidenceError(ValueError):
    """A marker whose source, path, format or table spec cannot be resolved."""


@dataclass(frozen=True)
class Finding:
    """One marker that is stale (``expected`` differs from ``found``) or broken (``error``).

    Attributes:
        kind: ``"fig"`` or ``"table"``.
        line: 1-based line of the marker in the README.
        spec: the marker's ``SOURCE#PATH|FORMAT`` or ``SOURCE#TABLE(ARGS)``.
        expected: the text rendered from the source (``None`` when broken).
        found: the text now between the markers.
        error: why the marker could not be rendered, else ``None``.
    """

    kind: str
    line: int
    spec: str
    expected: str | None
    found: str
    error: str | None = None

    def describe(self) -> str:
        where = f"README line {self.line}: {self.kind} {self.spec!r}"
        if self.error:
            return f"{where}: {self.error}"
        return f"{where}: expected {self.expected!r}, found {self.found!r}"


# ---------------------------------------------------------------------------------------
# JSON paths


_TOKEN = re.compile(r"\[(?P<key>[^\]=]+)=(?P<value>[^\]]*)\]|(?P<name>[^.\[\]]+)|\.")


def _tokens(path: str) -> list[list[tuple[str, str]] | str]:
    """Path tokens: key/index strings, and lists of consecutive ``[key=value]`` selectors."""
    out: list[list[tuple[str, str]] | str] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            raise EvidenceError(f"cannot parse path {path!r} at {path[pos:]!r}")
        if m.group("key") is not None:
            cond = (m.group("key").strip(), m.group("value").strip())
            if out and isinstance(out[-1], list) and path[m.start() - 1] == "]":
                out[-1].append(cond)
            else:
                out.append([cond])
        elif m.group("name") is not None:
            out.append(m.group("name"))
        pos = m.end()
    if not out:
        raise EvidenceError("empty path")
    return out


def _matches(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    if isinstance(value, int | float):
        try:
            return float(wanted) == float(value)
        except ValueError:
            return False
    return str(value) == wanted


def resolve(doc: Any, path: str) -> Any:
    """Follows ``path`` (keys, list indices, ``[key=value]`` selectors) into ``doc``.

    Raises:
        EvidenceError: naming the step that has no match (with what is there instead).
    """
    cur, done = doc, ""
    for tok in _tokens(path):
        if isinstance(tok, list):
            sel = "".join(f"[{k}={v}]" for k, v in tok)
            if not isinstance(cur, list):
                raise EvidenceError(f"{done or 'the document'} is not a list of rows")
            hits = [
                r
                for r in cur
                if isinstance(r, dict) and all(k in r and _matches(r[k], v) for k, v in tok)
            ]
            if len(hits) != 1:
                key = tok[0][0]
                have = sorted({str(r.get(key)) for r in cur if isinstance(r, dict)})[:20]
                what = "no row" if not hits else f"{len(hits)} rows"
                raise EvidenceError(
                    f"{what} of {done or 'the document'} with {sel[1:-1].replace('][', ', ')} "
                    f"({key} values: {have})"
                )
            cur = hits[0]
            done += sel
        elif isinstance(cur, list):
            try:
                cur = cur[int(tok)]
            except (ValueError, IndexError):
                raise EvidenceError(
                    f"{done or 'the document'} is a list of {len(cur)}; {tok!r} is no index"
                ) from None
            done += f".{tok}" if done else tok
        elif isinstance(cur, dict):
            if tok not in cur:
                keys = sorted(cur)[:30]
                raise EvidenceError(f"{done or 'the document'} has no key {tok!r} (keys: {keys})")
            cur = cur[tok]
            done += f".{tok}" if done else tok
        else:
            raise EvidenceError(f"{done} is a {type(cur).__name__}, it has no {tok!r}")
    return cur


_SCALE = re.compile(
    r"^(?P<op>[*/])(?P<factor>[0-9.]+(?:[eE][+-]?[0-9]+)?):(?P<rest>.*)$", re.DOTALL
)


def format_value(value: Any, fmt: str | None) -> str:
    """Formats a value for the README.

    ``fmt`` is a format spec (``format(value, fmt)``, e.g. ``.1f``), a format string with a
    ``{}`` field (``fmt.format(value)``, e.g. ``{:.1f}×``), either one after a scale
    ``/FACTOR:`` or ``*FACTOR:`` (``/1e6:{:.1f} M/s`` writes 19012345 as ``19.0 M/s``), or
    ``None`` for ``str(value)``.

    Raises:
        EvidenceError: if the value cannot take that format (e.g. ``None`` with ``.1f``).
    """
    if fmt is None or fmt == "":
        return str(value)
    try:
        if m := _SCALE.match(fmt):
            factor = float(m.group("factor"))
            value = value / factor if m.group("op") == "/" else value * factor
            fmt = m.group("rest")
        return fmt.format(value) if "{" in fmt else format(value, fmt)
    except (TypeError, ValueError, ZeroDivisionError) as e:
        raise EvidenceError(f"value {value!r} cannot be formatted with {fmt!r}: {e}") from None


# ---------------------------------------------------------------------------------------
# tables

TABLES: dict[str, Callable[[Any, list[str]], list[list[str]]]] = {}
"""Table functions by name: ``(source document, args) -> [header, row, ...]`` of strings."""


def table(name: str):
    """Registers a table function under ``name`` (decorator)."""

    def register(fn):
        TABLES[name] = fn
        return fn

    return register


def _column(arg: str) -> tuple[str, str | None, str]:
    parts = [p.strip() for p in arg.split("|")]
    if not parts[0] or len(parts) > 3:
        raise EvidenceError(
            f"column spec {arg!r} must be 'path', 'path|format' or 'path|format|header'"
        )
    path = parts[0]
    fmt = parts[1] if len(parts) > 1 and parts[1] else None
    header = parts[2] if len(parts) > 2 and parts[2] else path
    return path, fmt, header


def _rows(doc: Any, args: list[str]) -> tuple[list, list[str]]:
    """The source's ``rows``, filtered by a leading ``[key=value]...`` argument if any."""
    rows = resolve(doc, "rows")
    if not isinstance(rows, list) or not rows:
        raise EvidenceError("the source's 'rows' is not a non-empty list")
    if args and args[0].startswith("["):
        conds = _tokens(args[0])
        if len(conds) != 1 or not isinstance(conds[0], list):
            raise EvidenceError(f"row filter {args[0]!r} must be [key=value][key=value]...")
        rows = [
            r
            for r in rows
            if isinstance(r, dict) and all(k in r and _matches(r[k], v) for k, v in conds[0])
        ]
        if not rows:
            raise EvidenceError(f"no row matches {args[0]}")
        args = args[1:]
    return rows, args


_MISSING = object()


def _cell(row: dict, path: str, fmt: str | None) -> str | object:
    """A formatted cell; ``_MISSING`` if the row lacks the key or holds ``null``."""
    try:
        value = resolve(row, path)
    except EvidenceError:
        return _MISSING
    return _MISSING if value is None else format_value(value, fmt)


@table("rows")
def rows_table(doc: Any, args: list[str]) -> list[list[str]]:
    """One table row per element of ``doc["rows"]`` (optionally filtered by a leading
    ``[key=value]`` argument); the other args are ``path|format|header``. A row without a
    column's value shows an en dash; a column that no row has is an error."""
    rows, args = _rows(doc, args)
    if not args:
        raise EvidenceError("rows(...) needs at least one column")
    cols = [_column(a) for a in args]
    grid = [[_cell(row, p, f) for p, f, _ in cols] for row in rows]
    for j, (p, _, _) in enumerate(cols):
        if all(line[j] is _MISSING for line in grid):
            raise EvidenceError(f"no row has {p!r} (keys: {sorted(rows[0])[:30]})")
    body = [["–" if c is _MISSING else c for c in line] for line in grid]
    return [[h for _, _, h in cols], *body]


@table("pivot")
def pivot_table(doc: Any, args: list[str]) -> list[list[str]]:
    """``pivot([filter]; INDEX; COLUMNS; VALUE)`` over ``doc["rows"]``, in first-seen order;
    a missing (index, column) pair or a ``null`` value (not measured) renders as an en dash."""
    rows, args = _rows(doc, args)
    if len(args) != 3:
        raise EvidenceError(f"pivot(...) takes INDEX; COLUMNS; VALUE, got {len(args)} part(s)")
    (ip, ifmt, ih), (cp, cfmt, _), (vp, vfmt, _) = (_column(a) for a in args)
    index: dict[str, None] = {}
    columns: dict[str, None] = {}
    cells: dict[tuple[str, str], str] = {}
    for row in rows:
        i = format_value(resolve(row, ip), ifmt)
        c = format_value(resolve(row, cp), cfmt)
        if (i, c) in cells:
            raise EvidenceError(f"pivot: two rows for {ip}={i}, {cp}={c}")
        index.setdefault(i)
        columns.setdefault(c)
        value = resolve(row, vp)
        cells[(i, c)] = "–" if value is None else format_value(value, vfmt)
    out = [[ih, *columns]]
    out += [[i, *(cells.get((i, c), "–") for c in columns)] for i in index]
    return out


def _markdown(grid: list[list[str]]) -> str:
    esc = [[cell.replace("|", "\\|") for cell in row] for row in grid]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(esc[0])]
    lines += ["| " + " | ".join(row) + " |" for row in esc[1:]]
    return "\n" + "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# rendering


def _split_spec(spec: str) -> tuple[str, str]:
    if "#" not in spec:
        raise EvidenceError("marker needs SOURCE#PATH")
    source, rest = spec.split("#", 1)
    if not source.strip() or not rest.strip():
        raise EvidenceError("marker needs SOURCE#PATH")
    return source.strip(), rest.strip()


def _load(root: Path, source: str, cache: dict[str, Any]) -> Any:
    if source not in cache:
        path = root / source
        if not path.is_file():
            raise EvidenceError(f"source file {source} does not exist")
        try:
            cache[source] = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise EvidenceError(f"source file {source} is not valid JSON: {e}") from None
    return cache[source]


def _render_fig(spec: str, root: Path, cache: dict[str, Any]) -> str:
    source, rest = _split_spec(spec)
    path, _, fmt = rest.partition("|")
    try:
        value = resolve(_load(root, source, cache), path.strip())
    except EvidenceError as e:
        raise EvidenceError(f"{source}: {e}") from None
    return format_value(value, fmt.strip() or None)


_CALL = re.compile(r"^(?P<name>\w+)(?:\((?P<args>.*)\))?$", re.DOTALL)


def _render_table(spec: str, root: Path, cache: dict[str, Any]) -> str:
    source, rest = _split_spec(spec)
    m = _CALL.match(rest)
    if not m or m.group("name") not in TABLES:
        raise EvidenceError(f"unknown table {rest!r}; table functions: {sorted(TABLES)}")
    args = [a.strip() for a in (m.group("args") or "").split(";") if a.strip()]
    try:
        grid = TABLES[m.group("name")](_load(root, source, cache), args)
    except EvidenceError as e:
        raise EvidenceError(f"{source}: {e}") from None
    return _markdown(grid)


def render(text: str, root: str | Path = ROOT) -> tuple[str, list[Finding]]:
    """Renders every marker of a README text from its source.

    Args:
        text: the README's text.
        root: the folder marker sources are relative to.

    Returns:
        The text with every renderable marker's content replaced, and the findings: stale
        markers (rendered text differs) and broken ones (``error`` set; their text is kept),
        in README order.
    """
    root = Path(root)
    cache: dict[str, Any] = {}
    findings: list[Finding] = []
    spans: list[tuple[int, int, str]] = []
    regions: list[tuple[int, int]] = []

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    for kind, pattern, fn in (("table", TABLE, _render_table), ("fig", FIG, _render_fig)):
        for m in pattern.finditer(text):
            spec, found, line = m.group("spec"), m.group("text"), line_of(m.start())
            regions.append((m.start(), m.end()))
            if OPENERS.search(found):
                msg = f"marker has no closing <!-- /{kind} --> before the next marker"
                findings.append(Finding(kind, line, spec, None, found, msg))
                continue
            try:
                expected = fn(spec, root, cache)
            except EvidenceError as e:
                findings.append(Finding(kind, line, spec, None, found, str(e)))
                continue
            if expected != found:
                findings.append(Finding(kind, line, spec, expected, found))
                spans.append((m.start("text"), m.end("text"), expected))
    for m in OPENERS.finditer(text):
        if not any(a <= m.start() < b for a, b in regions):
            kind = m.group(1)
            msg = f"marker has no closing <!-- /{kind} -->"
            findings.append(Finding(kind, line_of(m.start()), "?", None, "", msg))

    out, pos = [], 0
    for start, end, new in sorted(spans):
        out += [text[pos:start], new]
        pos = end
    out.append(text[pos:])
    findings.sort(key=lambda f: f.line)
    return "".join(out), findings


def check(readme: str | Path, root: str | Path | None = None) -> list[Finding]:
    """Findings for a README file (sources relative to ``root``, default its folder)."""
    readme = Path(readme)
    return render(readme.read_text(), root or readme.parent)[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("readme", nargs="?", type=Path, default=ROOT / "README.md")
    ap.add_argument("--write", action="store_true", help="rewrite stale figures and tables")
    args = ap.parse_args(argv)
    text = args.readme.read_text()
    new, findings = render(text, args.readme.parent)
    broken = [f for f in findings if f.error]
    for f in findings:
        print(f.describe(), file=sys.stderr)
    n_markers = len(FIG.findall(text)) + len(TABLE.findall(text))
    if args.write and new != text:
        args.readme.write_text(new)
        print(f"{args.readme}: rewrote {len(findings) - len(broken)} stale marker(s)")
    elif not findings:
        print(f"{args.readme}: {n_markers} marker(s), all match their sources")
    if broken or (findings and not args.write):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
