"""Grafana dashboards generated from an :class:`~meshlab.slo.spec.SloSpec`.

Built with Grafana's own maintained builder library, ``grafana-foundation-sdk`` (typed
builders generated from Grafana's schemas, so the JSON matches the version it targets,
Grafana 10.1; ``grafanalib`` is the older, community-maintained alternative and lags the
schema). Five dashboards, one per area of the modelled system:

=================  ========================  ==========================================
file               title                     components
=================  ========================  ==========================================
mesh.json          Mesh network              mesh, membership
pqc.json           PQC performance           pqc
identity.json      SPIFFE identity           identity
fl.json            FL training               fl
system.json        System health             system
=================  ========================  ==========================================

Each objective gets a row of three panels: its SLI (good-event ratio over 5 m and 1 h)
against the objective, its burn rate over 1 h and 6 h against the fast-page factor, and
the share of its error budget left over the compliance window. Every query reads only
the counters the simulation exporter publishes (see :mod:`meshlab.slo.prometheus`).
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
)

from meshlab.slo.burn import alert_windows
from meshlab.slo.prometheus import EVENTS_METRIC, GOOD_METRIC, window_label
from meshlab.slo.spec import Objective, SloSpec

__all__ = ["DASHBOARDS", "dashboard_json", "dashboards", "panel_queries"]

DASHBOARDS = {
    "mesh": ("Mesh network", ("mesh", "membership")),
    "pqc": ("PQC performance", ("pqc",)),
    "identity": ("SPIFFE identity", ("identity",)),
    "fl": ("FL training", ("fl",)),
    "system": ("System health", ("system",)),
}
_DS = DataSourceRef(type_val="prometheus", uid="${datasource}")


def _ratio(o: Objective, window: str) -> str:
    sel = f'slo="{o.name}"'
    return f"sum(rate({GOOD_METRIC}{{{sel}}}[{window}])) / sum(rate({EVENTS_METRIC}{{{sel}}}[{window}]))"


def panel_queries(o: Objective) -> dict[str, list[tuple[str, str]]]:
    """PromQL of each panel of an objective's row: ``{panel: [(expr, legend), ...]}``."""
    page = alert_windows(o.window_s)[0]
    budget = o.error_budget
    window = window_label(o.window_s)
    return {
        "sli": [(_ratio(o, "5m"), "SLI 5m"), (_ratio(o, "1h"), "SLI 1h")],
        "burn": [
            (f"(1 - {_ratio(o, w)}) / {budget:.10g}", f"burn rate {w}")
            for w in (window_label(page.long_s), "6h")
        ],
        "budget": [
            (
                f'1 - (1 - sum(increase({GOOD_METRIC}{{slo="{o.name}"}}[{window}]))'
                f' / sum(increase({EVENTS_METRIC}{{slo="{o.name}"}}[{window}]))) / {budget:.10g}',
                "budget left",
            )
        ],
    }


def _thresholds(steps: list[tuple[float | None, str]]):
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


def _targets(panel, queries):
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(
            prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i))
        )
    return panel


def _row_panels(o: Objective, y: int) -> list[Any]:
    q = panel_queries(o)
    page = alert_windows(o.window_s)[0]
    sli = (
        timeseries.Panel()
        .title(f"{o.name}: SLI (objective {o.target:.6g})")
        .description(o.description)
        .datasource(_DS)
        .unit("percentunit")
        .thresholds(_thresholds([(None, "red"), (o.target, "green")]))
        .grid_pos(GridPos(h=7, w=10, x=0, y=y))
    )
    burn = (
        timeseries.Panel()
        .title(f"{o.name}: burn rate (page at {page.factor:.3g}x)")
        .datasource(_DS)
        .thresholds(_thresholds([(None, "green"), (1.0, "yellow"), (page.factor, "red")]))
        .grid_pos(GridPos(h=7, w=10, x=10, y=y))
    )
    left = (
        stat.Panel()
        .title(f"{o.name}: error budget left ({o.window})")
        .datasource(_DS)
        .unit("percentunit")
        .thresholds(_thresholds([(None, "red"), (0.25, "yellow"), (0.5, "green")]))
        .grid_pos(GridPos(h=7, w=4, x=20, y=y))
    )
    return [_targets(sli, q["sli"]), _targets(burn, q["burn"]), _targets(left, q["budget"])]


def dashboards(spec: SloSpec) -> dict[str, Any]:
    """The five dashboards as builder objects, ``{file stem: Dashboard}``."""
    out = {}
    for stem, (title, comps) in DASHBOARDS.items():
        board = (
            dashboard.Dashboard(f"meshlab: {title}")
            .uid(f"meshlab-{stem}")
            .tags(["meshlab", "slo", *comps])
            .refresh("30s")
            .time("now-6h", "now")
            .with_variable(dashboard.DatasourceVariable("datasource").type("prometheus"))
        )
        y = 0
        for o in spec.objectives:
            if o.component not in comps:
                continue
            row = dashboard.Row(f"{o.name} ({o.component})").grid_pos(GridPos(h=1, w=24, x=0, y=y))
            board = board.with_row(row)
            y += 1
            for panel in _row_panels(o, y):
                board = board.with_panel(panel)
            y += 7
        out[stem] = board
    return out


def dashboard_json(board) -> str:
    """Classic dashboard JSON (sorted keys, 2-space indent) for a builder."""
    return (
        json.dumps(json.loads(JSONEncoder(sort_keys=True).encode(board.build())), indent=2) + "\n"
    )
