"""Service-level objectives as data: a validated model of ``monitoring/sla.yaml``.

A spec is a list of objectives. Each names its component, the meshlab measurement its
SLI is computed from, the target, the compliance window and the labels alerts carry::

    version: 1
    defaults: {window: 30d}
    objectives:
      - name: mesh_beacon_delivery
        component: mesh
        description: beacons accepted by their receivers
        sli: {source: beacons.delivery}
        target: 0.9999
      - name: mesh_beacon_latency_p99
        component: mesh
        sli: {source: beacons.latency, threshold: 100ms}
        target: 0.99
        labels: {owner: mesh}
        alerts:                       # threshold alerts besides the burn-rate ones
          - {name: MeshBeaconP99High, below: 0.99, over: 5m, for: 5m, severity: warning}

Latency SLIs count an event as good when it is faster than ``threshold`` (the
"percentage of requests faster than X" form of the SRE workbook), so every SLI is a
ratio of good to total events and one burn-rate machinery serves all.

Every objective gets the four multi-window burn-rate alerts. ``alerts`` adds threshold
alerts of the classic form: the SLI over the trailing ``over`` window is below ``below``
for at least ``for`` (a latency objective at ``below: 0.99`` is "p99 above the threshold";
an availability objective at ``below: 0.999`` is "more than 0.1 % of nodes down"). Each
carries its objective's name, so every alert traces back to one spec entry.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "COMPONENTS",
    "SEVERITIES",
    "SLI_SOURCES",
    "Objective",
    "SloSpec",
    "SpecError",
    "ThresholdAlert",
    "load_spec",
    "parse_duration",
    "parse_spec",
]

COMPONENTS = ("mesh", "membership", "pqc", "identity", "fl", "system")
SEVERITIES = ("critical", "warning", "info")

# SLI source -> (kind, what the good/total events are)
SLI_SOURCES: dict[str, tuple[str, str]] = {
    "beacons.delivery": ("ratio", "beacons accepted / beacons sent"),
    "beacons.latency": ("latency", "accepted beacons faster than the threshold"),
    "beacons.valid": ("ratio", "beacons that passed verification / beacons that arrived"),
    "mesh.node_availability": ("ratio", "node-rounds with the node up and beaconing / node-rounds"),
    "membership.detection_latency": (
        "latency",
        "crashes detected by every neighbour within the threshold",
    ),
    "membership.dissemination_latency": (
        "latency",
        "updates that reached 99.9 % of nodes within the threshold",
    ),
    "membership.false_suspicion": ("ratio", "live links not suspected / live links"),
    "pqc.op_latency": ("latency", "PQC operations faster than the threshold"),
    "pqc.handshake_latency": ("latency", "KEM handshakes faster than the threshold"),
    "pqc.success": ("ratio", "PQC operations that succeeded / all"),
    "identity.issuance_latency": ("latency", "SVID issuances faster than the threshold"),
    "identity.rotation": ("ratio", "SVID renewals that succeeded / attempted"),
    "identity.validity": ("ratio", "node-time with a valid SVID / node-time"),
    "fl.aggregation_latency": ("latency", "aggregations faster than the threshold"),
    "fl.round_success": ("ratio", "rounds whose aggregate was accepted / rounds"),
    "fl.convergence": ("ratio", "runs that reached the target accuracy within their round budget"),
    "fl.honest_kept": ("ratio", "honest client updates the Byzantine detector did not flag"),
    "system.cpu_headroom": ("ratio", "node-time below the CPU utilization threshold"),
    "system.memory_headroom": ("ratio", "node-time below the memory threshold"),
    "system.network_headroom": ("ratio", "link-time below the bandwidth utilization threshold"),
    "system.queue_headroom": (
        "ratio",
        "node-rounds whose verify backlog stayed below one interval",
    ),
}

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_ALERT_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class SpecError(ValueError):
    """A spec entry is invalid; the message names the objective and the field."""


def parse_duration(text: Any, *, where: str = "duration") -> float:
    """Parses a Prometheus-style duration (``90s``, ``5m``, ``1h30m``, ``30d``) to seconds.

    Raises:
        SpecError: not a string of ``<int><unit>`` parts (units ms, s, m, h, d, w), or zero.
    """
    if not isinstance(text, str) or not text:
        raise SpecError(f"{where} must be a duration such as '30d' or '5m', got {text!r}")
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or total <= 0:
        raise SpecError(f"{where} must be a duration such as '30d' or '5m', got {text!r}")
    return total


@dataclasses.dataclass(frozen=True)
class ThresholdAlert:
    """A threshold alert on one objective's SLI.

    Attributes:
        name: alert name (``[A-Z][A-Za-z0-9]*``), unique in the spec.
        below: fires when the good ratio over ``over_s`` is below this (in (0, 1]).
        over_s: trailing window of the ratio (seconds).
        for_s: how long the condition must hold before the alert fires (seconds, >= 0).
        severity: one of :data:`SEVERITIES`.
    """

    name: str
    below: float
    over_s: float
    for_s: float
    severity: str


@dataclasses.dataclass(frozen=True)
class Objective:
    """One objective of the spec.

    Attributes:
        name: unique identifier (``[a-z][a-z0-9_]*``), used in rule and alert names.
        component: one of :data:`COMPONENTS` (routes alerts, groups dashboards).
        source: the meshlab measurement (a key of :data:`SLI_SOURCES`).
        kind: ``"ratio"`` or ``"latency"`` (from the source).
        target: objective in (0, 1), e.g. 0.9999.
        window_s: compliance window in seconds (30 d by default).
        window: the window as written (e.g. ``"30d"``).
        threshold_s: latency threshold in seconds (latency SLIs only, else ``None``).
        description: one line for dashboards and alert annotations.
        labels: extra labels (owner, team, ...) as sorted ``(key, value)`` pairs.
        select: which instance of the source, as sorted ``(key, value)`` pairs (for
            example ``(("algorithm", "ML-DSA-65"), ("operation", "sign"))``).
        alerts: threshold alerts on this objective's SLI (besides the burn-rate alerts).
    """

    name: str
    component: str
    source: str
    kind: str
    target: float
    window_s: float
    window: str
    threshold_s: float | None
    description: str
    labels: tuple[tuple[str, str], ...]
    select: tuple[tuple[str, str], ...] = ()
    alerts: tuple[ThresholdAlert, ...] = ()

    @property
    def error_budget(self) -> float:
        """Allowed error ratio ``1 - target``."""
        return 1.0 - self.target


@dataclasses.dataclass(frozen=True)
class SloSpec:
    """A validated spec: objectives in file order, names unique."""

    objectives: tuple[Objective, ...]

    def by_name(self, name: str) -> Objective:
        """The objective called ``name`` (``KeyError`` naming the known ones otherwise)."""
        for o in self.objectives:
            if o.name == name:
                return o
        raise KeyError(f"no objective {name!r}; known: {[o.name for o in self.objectives]}")


def _objective(raw: Any, index: int, defaults: Mapping[str, Any]) -> Objective:
    if not isinstance(raw, Mapping):
        raise SpecError(f"objectives[{index}] must be a mapping, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SpecError(f"objectives[{index}].name must match [a-z][a-z0-9_]*, got {name!r}")
    where = f"objective {name!r}"
    allowed = {"name", "component", "description", "sli", "target", "window", "labels", "alerts"}
    unknown = set(raw) - allowed
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {sorted(unknown)}; allowed {sorted(allowed)}")
    component = raw.get("component")
    if component not in COMPONENTS:
        raise SpecError(f"{where}: component must be one of {COMPONENTS}, got {component!r}")
    sli = raw.get("sli")
    if not isinstance(sli, Mapping):
        raise SpecError(f"{where}: sli must be a mapping with a 'source', got {sli!r}")
    source = sli.get("source")
    if source not in SLI_SOURCES:
        raise SpecError(
            f"{where}: sli.source {source!r} is not a known SLI; known: {sorted(SLI_SOURCES)}"
        )
    kind = SLI_SOURCES[source][0]
    extra = set(sli) - {"source", "threshold", "select"}
    if extra:
        raise SpecError(f"{where}: unknown sli field(s) {sorted(extra)}")
    threshold = None
    if kind == "latency":
        if "threshold" not in sli:
            raise SpecError(f"{where}: latency SLI {source!r} needs sli.threshold (e.g. 100ms)")
        threshold = parse_duration(sli["threshold"], where=f"{where}: sli.threshold")
    elif "threshold" in sli:
        raise SpecError(
            f"{where}: sli.threshold applies to latency SLIs only ({source} is a ratio)"
        )
    target = raw.get("target")
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target < 1:
        raise SpecError(f"{where}: target must be a number in (0, 1), got {target!r}")
    window = raw.get("window", defaults.get("window", "30d"))
    window_s = parse_duration(window, where=f"{where}: window")
    labels = raw.get("labels", {}) or {}
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and _NAME.fullmatch(k) and isinstance(v, str) for k, v in labels.items()
    ):
        raise SpecError(f"{where}: labels must map [a-z_]+ names to strings, got {labels!r}")
    select = sli.get("select", {}) or {}
    if not isinstance(select, Mapping) or not all(
        isinstance(k, str) and _NAME.fullmatch(k) and isinstance(v, str) for k, v in select.items()
    ):
        raise SpecError(f"{where}: sli.select must map [a-z_]+ names to strings, got {select!r}")
    description = raw.get("description", SLI_SOURCES[source][1])
    if not isinstance(description, str):
        raise SpecError(f"{where}: description must be a string, got {description!r}")
    alerts = raw.get("alerts", []) or []
    if not isinstance(alerts, list):
        raise SpecError(f"{where}: alerts must be a list, got {alerts!r}")
    return Objective(
        name=name,
        component=component,
        source=source,
        kind=kind,
        target=float(target),
        window_s=window_s,
        window=window,
        threshold_s=threshold,
        description=description,
        labels=tuple(sorted(labels.items())),
        select=tuple(sorted(select.items())),
        alerts=tuple(_alert(a, f"{where}: alerts[{i}]") for i, a in enumerate(alerts)),
    )


def _alert(raw: Any, where: str) -> ThresholdAlert:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where} must be a mapping, got {raw!r}")
    allowed = {"name", "below", "over", "for", "severity"}
    unknown = set(raw) - allowed
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {sorted(unknown)}; allowed {sorted(allowed)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _ALERT_NAME.fullmatch(name):
        raise SpecError(f"{where}.name must match [A-Z][A-Za-z0-9]*, got {name!r}")
    below = raw.get("below")
    if isinstance(below, bool) or not isinstance(below, int | float) or not 0 < below <= 1:
        raise SpecError(f"{where}.below must be a number in (0, 1], got {below!r}")
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        raise SpecError(f"{where}.severity must be one of {SEVERITIES}, got {severity!r}")
    for_text = raw.get("for", "0s")
    for_s = 0.0 if for_text in ("0s", "0m") else parse_duration(for_text, where=f"{where}.for")
    return ThresholdAlert(
        name=name,
        below=float(below),
        over_s=parse_duration(raw.get("over", "5m"), where=f"{where}.over"),
        for_s=for_s,
        severity=severity,
    )


def parse_spec(raw: Any) -> SloSpec:
    """Validates a spec already read from YAML/JSON (a mapping).

    Raises:
        SpecError: any invalid entry, naming the objective and the field.
    """
    if not isinstance(raw, Mapping):
        raise SpecError(f"an SLO spec must be a mapping, got {type(raw).__name__}")
    if raw.get("version") != 1:
        raise SpecError(f"spec version must be 1, got {raw.get('version')!r}")
    unknown = set(raw) - {"version", "defaults", "objectives"}
    if unknown:
        raise SpecError(f"unknown top-level field(s) {sorted(unknown)}")
    defaults = raw.get("defaults", {}) or {}
    if not isinstance(defaults, Mapping) or set(defaults) - {"window"}:
        raise SpecError(f"defaults may only set 'window', got {defaults!r}")
    items = raw.get("objectives")
    if not isinstance(items, list) or not items:
        raise SpecError("objectives must be a non-empty list")
    objectives = tuple(_objective(o, i, defaults) for i, o in enumerate(items))
    seen: set[str] = set()
    alert_names: dict[str, str] = {}
    for o in objectives:
        if o.name in seen:
            raise SpecError(f"objective {o.name!r} is defined more than once")
        seen.add(o.name)
        for a in o.alerts:
            if a.name in alert_names:
                raise SpecError(
                    f"objective {o.name!r}: alert {a.name!r} is already defined by objective "
                    f"{alert_names[a.name]!r}"
                )
            alert_names[a.name] = o.name
    return SloSpec(objectives)


def load_spec(path: str | Path) -> SloSpec:
    """Reads and validates a YAML spec file (see the module docstring for the format)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        return parse_spec(yaml.safe_load(f))
