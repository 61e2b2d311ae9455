"""Prometheus files generated from an :class:`~meshlab.slo.spec.SloSpec`.

Every objective is exported as two counters, labelled with the objective's name and
component::

    meshlab_slo_events_total{slo="mesh_delivery", component="mesh"}   all events
    meshlab_slo_good_total{slo="mesh_delivery", component="mesh"}     good events

(a latency objective counts an event as good when it was faster than its threshold).
From them the generated rules record the error ratio over each alert window, Sloth's
naming ``slo:sli_error:ratio_rate<window>``, and raise the multi-window multi-burn-rate
alerts of :func:`meshlab.slo.burn.alert_windows` (page → ``severity="critical"``, ticket →
``severity="warning"``, with ``sloth_severity`` page/ticket), plus the spec's threshold
alerts (:func:`threshold_rules`: SLI over a window below a level, with ``for:``). Each
alert carries the objective, component and window in its labels, so it traces back to one
spec entry.
"""

from __future__ import annotations

from typing import Any

from meshlab.slo.burn import AlertWindow, alert_windows
from meshlab.slo.spec import Objective, SloSpec

__all__ = [
    "EVENTS_METRIC",
    "GOOD_METRIC",
    "SEVERITY",
    "alert_rules",
    "prometheus_config",
    "recording_rules",
    "rule_files",
    "threshold_rules",
    "window_label",
]

EVENTS_METRIC = "meshlab_slo_events_total"
GOOD_METRIC = "meshlab_slo_good_total"
SEVERITY = {"page": "critical", "ticket": "warning"}


def window_label(seconds: float) -> str:
    """Prometheus duration text for a window (``300 -> "5m"``, ``86400 -> "1d"``)."""
    s = int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def _windows(spec: SloSpec) -> dict[str, tuple[AlertWindow, ...]]:
    return {o.name: alert_windows(o.window_s) for o in spec.objectives}


def _record_name(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


def recording_rules(objective: Objective) -> list[dict[str, Any]]:
    """The error-ratio recording rules of one objective, one per distinct alert window."""
    sel = f'slo="{objective.name}"'
    seen: list[str] = []
    spans = [s for w in alert_windows(objective.window_s) for s in (w.short_s, w.long_s)]
    for s in spans + [a.over_s for a in objective.alerts]:
        label = window_label(s)
        if label not in seen:
            seen.append(label)
    rules = []
    for label in sorted(seen, key=lambda x: _seconds(x)):
        expr = (
            f"1 - (sum(rate({GOOD_METRIC}{{{sel}}}[{label}]))"
            f" / sum(rate({EVENTS_METRIC}{{{sel}}}[{label}])))"
        )
        rules.append(
            {
                "record": _record_name(label),
                "expr": expr,
                "labels": {"slo": objective.name, "component": objective.component},
            }
        )
    return rules


def _seconds(label: str) -> int:
    return int(label[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[label[-1]]


def alert_rules(objective: Objective) -> list[dict[str, Any]]:
    """Multi-window multi-burn-rate alerts of one objective (four conditions)."""
    sel = f'slo="{objective.name}"'
    budget = objective.error_budget
    rules = []
    for w in alert_windows(objective.window_s):
        long_l, short_l = window_label(w.long_s), window_label(w.short_s)
        thr = w.factor * budget
        expr = (
            f"({_record_name(long_l)}{{{sel}}} > {thr:.10g})"
            f" and ({_record_name(short_l)}{{{sel}}} > {thr:.10g})"
        )
        name = "".join(p.capitalize() for p in objective.name.split("_"))
        rules.append(
            {
                "alert": f"{name}BurnRate{long_l}",
                "expr": expr,
                "labels": {
                    "severity": SEVERITY[w.severity],
                    "sloth_severity": w.severity,
                    "slo": objective.name,
                    "component": objective.component,
                    "window": f"{long_l}/{short_l}",
                    **dict(objective.labels),
                },
                "annotations": {
                    "summary": (
                        f"{objective.name}: error budget burning at more than "
                        f"{w.factor:.3g}x over {long_l} and {short_l}"
                    ),
                    "description": (
                        f"{objective.description}. Objective {objective.target:.6g} over "
                        f"{objective.window}; this rate spends {w.budget_fraction:.0%} of the "
                        f"budget in {long_l}."
                    ),
                },
            }
        )
    return rules


def threshold_rules(objective: Objective) -> list[dict[str, Any]]:
    """The objective's threshold alerts (:class:`~meshlab.slo.spec.ThresholdAlert`)."""
    sel = f'slo="{objective.name}"'
    rules = []
    for a in objective.alerts:
        over = window_label(a.over_s)
        rule: dict[str, Any] = {
            "alert": a.name,
            "expr": f"{_record_name(over)}{{{sel}}} > {1.0 - a.below:.10g}",
        }
        if a.for_s > 0:
            rule["for"] = window_label(a.for_s)
        rule["labels"] = {
            "severity": a.severity,
            "slo": objective.name,
            "component": objective.component,
            "window": over,
            **dict(objective.labels),
        }
        rule["annotations"] = {
            "summary": f"{objective.name}: SLI below {a.below:.6g} over {over}",
            "description": (
                f"{objective.description}. Good ratio over the last {over} below "
                f"{a.below:.6g}"
                + (f" for {window_label(a.for_s)}" if a.for_s > 0 else "")
                + f" (objective {objective.target:.6g} over {objective.window})."
            ),
        }
        rules.append(rule)
    return rules


def rule_files(spec: SloSpec) -> dict[str, dict[str, Any]]:
    """Rule files by component: ``{"mesh.yml": {"groups": [...]}, ...}``.

    Each objective gets a recording group and an alerting group, so
    ``promtool check rules`` and the Prometheus UI show them per objective.
    """
    files: dict[str, dict[str, Any]] = {}
    for o in spec.objectives:
        groups = files.setdefault(f"{o.component}.yml", {"groups": []})["groups"]
        groups.append({"name": f"slo-{o.name}-recording", "rules": recording_rules(o)})
        groups.append(
            {"name": f"slo-{o.name}-alerts", "rules": alert_rules(o) + threshold_rules(o)}
        )
    return files


def prometheus_config(
    spec: SloSpec,
    *,
    scrape_interval: str = "15s",
    targets: dict[str, list[str]] | None = None,
    alertmanager: str = "127.0.0.1:9093",
    rule_glob: str = "rules/*.yml",
) -> dict[str, Any]:
    """``prometheus.yml``: a scrape job per component plus the simulation exporter.

    Args:
        spec: the spec (its components become jobs ``meshlab-<component>``).
        scrape_interval: global scrape and rule-evaluation interval.
        targets: ``{job: [host:port, ...]}`` overriding the loopback defaults.
        alertmanager: the Alertmanager address.
        rule_glob: where the rule files are, relative to the config file.
    """
    targets = dict(targets or {})
    components = sorted({o.component for o in spec.objectives})
    jobs = [("meshlab-simulation", ["127.0.0.1:9108"])]
    jobs += [(f"meshlab-{c}", [f"127.0.0.1:{9110 + i}"]) for i, c in enumerate(components)]
    scrape = [
        {
            "job_name": job,
            "static_configs": [{"targets": targets.get(job, default)}],
        }
        for job, default in jobs
    ]
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [rule_glob],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": scrape,
    }
