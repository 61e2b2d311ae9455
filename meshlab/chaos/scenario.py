"""Chaos scenarios as pure data: targets, faults, schedules; validated on construction.

A :class:`Scenario` is a named list of :class:`Fault` s; a fault says *what* breaks
(``kind``), *where* (a :class:`Target` selector or a partition ``layout``) and *when*
(``start`` round, ``duration`` in rounds or ``None`` = until the run ends, optional
``every`` / ``times`` repetition). The vocabulary mirrors the tools operators know:

* targets (Jepsen ``nemesis/combined.clj`` node specs, Chaos Mesh ``mode``): ``one``,
  ``count``, ``percent``, ``random_max_percent``, ``ids``, ``minority``, ``majority``,
  ``minority_third``, ``region`` (a disc of a geometric graph), ``highest_degree``;
* network (Jepsen ``net.clj``, netem, toxiproxy): ``partition`` (layouts ``isolate_one``,
  ``bisect``, ``minority_third``, ``majorities_ring``, ``bridge``, ``groups``; direction
  ``both``/``to``/``from``), ``latency``, ``loss``, ``burst_loss`` (netem ``gemodel``),
  ``bandwidth`` (toxiproxy ``bandwidth``), ``flapping``, ``link_down``;
* node (Chaos Mesh PodChaos, Jepsen kill/pause/clock): ``crash`` (optional ``restart_after``),
  ``pause``, ``slowdown``, ``clock_skew``, ``churn`` (Weibull sessions), ``cascade``;
* Byzantine: ``invalid``, ``replay``, ``equivocate``, ``byzantine_growth``;
* crypto / identity: ``verify_failure``, ``kem_failure``, ``identity_outage``,
  ``ca_rotation``, ``ca_compromise``;
* ``endurance``: random faults at a mean time between failures (Chaos Monkey).

How each kind is modelled in the beacon simulation is said in :mod:`meshlab.chaos.compile`.
Errors name the scenario, the fault and the field: ``scenarios[3] 'net-bisect'
faults[0].target.fraction``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CATEGORIES",
    "DIRECTIONS",
    "KINDS",
    "LATENCY_DISTS",
    "LAYOUTS",
    "SELECTORS",
    "VERDICTS",
    "Fault",
    "Scenario",
    "Target",
    "load",
    "load_catalogue",
]

SELECTORS = (
    "one",
    "count",
    "percent",
    "random_max_percent",
    "ids",
    "minority",
    "majority",
    "minority_third",
    "region",
    "highest_degree",
    "all",
)
LAYOUTS = ("isolate_one", "bisect", "minority_third", "majorities_ring", "bridge", "groups")
"""Partition layouts (Jepsen ``nemesis/combined.clj``): ``majorities_ring`` (every node
keeps links to the nearest half of the ring, no two the same) and ``bridge`` (two halves
joined by one node) cut individual links; the others assign groups."""
DIRECTIONS = ("both", "to", "from")
KINDS = {
    # kind: (needs a target, numeric fields it reads with their allowed ranges)
    "partition": False,
    "latency": True,
    "loss": True,
    "burst_loss": True,
    "bandwidth": True,
    "flapping": True,
    "link_down": True,
    "crash": True,
    "pause": True,
    "slowdown": True,
    "clock_skew": True,
    "churn": True,
    "cascade": True,
    "invalid": True,
    "replay": True,
    "equivocate": True,
    "byzantine_growth": False,
    "verify_failure": True,
    "kem_failure": True,
    "identity_outage": True,
    "ca_rotation": True,
    "ca_compromise": True,
    "endurance": False,
}
CATEGORIES = ("baseline", "network", "node", "byzantine", "crypto", "combined", "endurance")
VERDICTS = ("recovers", "degrades", "not_recovered")
"""Expected verdicts: ``recovers`` (service back within objective before the run ends),
``degrades`` (stays out of objective while the fault lasts, back after it ends),
``not_recovered`` (out of objective at the end of the run)."""

# numeric fields: name -> (low, high, low_open)
_RANGES = {
    "fraction": (0.0, 1.0, False),
    "p": (0.0, 1.0, False),
    "extra_s": (0.0, 60.0, False),
    "factor": (0.0, 1e6, True),
    "rate_bps": (0.0, 1e12, True),
    "radius": (0.0, 10.0, True),
    "p_enter": (0.0, 1.0, True),
    "p_exit": (0.0, 1.0, True),
    "loss_bad": (0.0, 1.0, False),
    "weibull_shape": (0.0, 100.0, True),
    "final_fraction": (0.0, 1.0, False),
    "jitter_s": (0.0, 60.0, False),
    "drift_ppm": (0.0, 1e6, False),
    "growth": (0.0, 1e6, True),
    "threshold": (1.0, 1e6, True),
    "shape": (0.0, 1e3, True),
}
_INTS = {
    "start": 0,
    "duration": 1,
    "every": 1,
    "times": 1,
    "restart_after": 1,
    "period": 2,
    "down_rounds": 1,
    "count": 0,
    "keep_state": 0,
    "mean_session": 1,
    "mean_down": 1,
    "mtbf": 1,
    "steps": 1,
    "ttl": 0,
    "handshake_rounds": 1,
    "per_message": 0,
}
LATENCY_DISTS = ("normal", "uniform", "lognormal", "pareto")
"""Latency jitter laws (``dist`` of a ``latency`` fault; :data:`meshlab.mesh.faults.LATENCY_DISTS`):
the link gets ``max(0, extra_s + X)`` with ``X`` = ``jitter_s * Z`` (normal), ``jitter_s *
(2U - 1)`` (uniform), ``jitter_s * exp(shape * Z)`` (lognormal), ``jitter_s * (U^(-1/shape) -
1)`` (pareto, Lomax). ``per_message: 1`` (default) draws ``X`` per message, ``0`` once per
link for the whole run (static per-link delay). The stored option is the index into this tuple."""
_LATENCY_ONLY = ("dist", "shape", "per_message")


def _real(where: str, name: str, value: Any) -> float:
    low, high, low_open = _RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where}.{name} must be a number, got {value!r}")
    v = float(value)
    bad = v != v or v > high or v < low or (low_open and v == low)
    if bad:
        lo = "(" if low_open else "["
        raise ValueError(f"{where}.{name} must be in {lo}{low}, {high}], got {value!r}")
    return v


def _int(where: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}.{name} must be an int, got {value!r}")
    if value < _INTS[name]:
        raise ValueError(f"{where}.{name} must be >= {_INTS[name]}, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class Target:
    """Which nodes a fault hits (resolved against a topology by :mod:`meshlab.chaos.targets`).

    Attributes:
        select: one of :data:`SELECTORS`.
        count: number of nodes (``count``, ``highest_degree``).
        fraction: share of nodes in [0, 1] (``percent``; the upper bound for
            ``random_max_percent``).
        ids: explicit node ids (``ids``).
        center: ``(x, y)`` centre of a ``region`` in the unit square.
        radius: radius of the ``region`` disc.
    """

    select: str = "one"
    count: int = 1
    fraction: float = 0.0
    ids: tuple[int, ...] = ()
    center: tuple[float, float] = (0.5, 0.5)
    radius: float = 0.1

    @classmethod
    def parse(cls, raw: Any, where: str) -> Target:
        """A target from a YAML mapping (or a selector name), errors naming ``where``."""
        if isinstance(raw, str):
            raw = {"select": raw}
        if not isinstance(raw, Mapping):
            raise TypeError(f"{where} must be a mapping or a selector name, got {raw!r}")
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"{where} has unknown fields {sorted(unknown)}")
        sel = raw.get("select", "one")
        if sel not in SELECTORS:
            raise ValueError(f"{where}.select must be one of {SELECTORS}, got {sel!r}")
        kw: dict[str, Any] = {"select": sel}
        if "count" in raw:
            kw["count"] = _int(where, "count", raw["count"])
        if "fraction" in raw:
            kw["fraction"] = _real(where, "fraction", raw["fraction"])
        if "ids" in raw:
            ids = raw["ids"]
            if not isinstance(ids, Sequence) or not all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids
            ):
                raise ValueError(f"{where}.ids must be a list of node ids >= 0, got {ids!r}")
            if len(set(ids)) != len(ids):
                raise ValueError(f"{where}.ids must be distinct, got {ids!r}")
            kw["ids"] = tuple(ids)
        if "center" in raw:
            c = raw["center"]
            if not isinstance(c, Sequence) or len(c) != 2:
                raise ValueError(f"{where}.center must be [x, y], got {c!r}")
            kw["center"] = (float(c[0]), float(c[1]))
        if "radius" in raw:
            kw["radius"] = _real(where, "radius", raw["radius"])
        if sel in ("percent", "random_max_percent") and "fraction" not in raw:
            raise ValueError(f"{where}.fraction is required for select={sel!r}")
        if sel == "ids" and not kw.get("ids"):
            raise ValueError(f"{where}.ids is required (non-empty) for select='ids'")
        return cls(**kw)


@dataclasses.dataclass(frozen=True)
class Fault:
    """One fault: kind, target, window, magnitude (validated by :meth:`parse`).

    Attributes:
        kind: one of :data:`KINDS`.
        start: first round (>= 0).
        duration: rounds it lasts (>= 1) or ``None``: until the run ends (never healed).
        target: the nodes it hits (kinds that need one).
        every, times: repeat the window ``times`` times, ``every`` rounds apart.
        direction: ``both`` / ``to`` / ``from`` (link kinds and partitions).
        layout: partition layout (:data:`LAYOUTS`); ``groups`` gives explicit groups.
        groups: explicit group id per node (``layout: groups``).
        options: the kind's numeric options (``p``, ``extra_s``, ``factor``, ...).
    """

    kind: str
    start: int = 0
    duration: int | None = None
    target: Target = Target()
    every: int = 0
    times: int = 1
    direction: str = "both"
    layout: str = "bisect"
    groups: tuple[int, ...] = ()
    options: tuple[tuple[str, float], ...] = ()

    def option(self, name: str, default: float) -> float:
        """The numeric option ``name`` (or ``default``)."""
        return dict(self.options).get(name, default)

    def windows(self) -> list[tuple[int, int | None]]:
        """``[(start, end_exclusive_or_None), ...]`` of every repetition."""
        out = []
        for i in range(self.times):
            s = self.start + i * self.every
            out.append((s, None if self.duration is None else s + self.duration))
        return out

    @classmethod
    def parse(cls, raw: Any, where: str) -> Fault:
        """A fault from a YAML mapping; errors name ``where`` and the field."""
        if not isinstance(raw, Mapping):
            raise TypeError(f"{where} must be a mapping, got {raw!r}")
        kind = raw.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{where}.kind must be one of {sorted(KINDS)}, got {kind!r}")
        base = {"kind", "start", "duration", "target", "every", "times", "direction", "layout"}
        base |= {"groups", "dist"}
        numeric = set(_RANGES) | (set(_INTS) - {"start", "duration", "every", "times"})
        unknown = set(raw) - base - numeric
        if unknown:
            raise ValueError(
                f"{where} has unknown fields {sorted(unknown)}; allowed {sorted(base | numeric)}"
            )
        kw: dict[str, Any] = {"kind": kind}
        kw["start"] = _int(where, "start", raw.get("start", 0))
        if raw.get("duration") is not None:
            kw["duration"] = _int(where, "duration", raw["duration"])
        kw["every"] = _int(where, "every", raw["every"]) if "every" in raw else 0
        kw["times"] = _int(where, "times", raw.get("times", 1))
        if kw["times"] > 1 and (kw["every"] < 1 or kw.get("duration") is None):
            raise ValueError(f"{where}.every and .duration are required when times > 1")
        if kw["times"] > 1 and kw["duration"] > kw["every"]:
            raise ValueError(
                f"{where}.duration={kw['duration']} must be <= every={kw['every']} "
                "(repetitions of one fault must not overlap)"
            )
        d = raw.get("direction", "both")
        if d not in DIRECTIONS:
            raise ValueError(f"{where}.direction must be one of {DIRECTIONS}, got {d!r}")
        kw["direction"] = d
        if KINDS[kind] or "target" in raw:
            kw["target"] = Target.parse(raw.get("target", "one"), f"{where}.target")
        if kind == "partition":
            layout = raw.get("layout", "bisect")
            if layout not in LAYOUTS:
                raise ValueError(f"{where}.layout must be one of {LAYOUTS}, got {layout!r}")
            kw["layout"] = layout
            if layout == "groups":
                g = raw.get("groups")
                if not isinstance(g, Sequence) or not g:
                    raise ValueError(f"{where}.groups is required (a group id per node)")
                if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in g):
                    raise ValueError(f"{where}.groups must be ints >= 0, got {g!r}")
                if len(set(g)) < 2:
                    raise ValueError(
                        f"{where}.groups must split the nodes into >= 2 groups, got {g!r}"
                    )
                kw["groups"] = tuple(g)
        opts = {}
        for name in sorted(set(raw) & numeric):
            if name in _RANGES:
                opts[name] = _real(where, name, raw[name])
            else:
                opts[name] = float(_int(where, name, raw[name]))
        used = sorted(set(raw) & set(_LATENCY_ONLY))
        if used and kind != "latency":
            raise ValueError(f"{where}.{used[0]} applies to kind latency only, not {kind!r}")
        if "dist" in raw:
            if raw["dist"] not in LATENCY_DISTS:
                raise ValueError(
                    f"{where}.dist must be one of {LATENCY_DISTS}, got {raw['dist']!r}"
                )
            opts["dist"] = float(LATENCY_DISTS.index(raw["dist"]))
        if opts.get("per_message", 1) > 1:
            raise ValueError(f"{where}.per_message must be 0 or 1, got {raw['per_message']!r}")
        if opts.get("keep_state", 0) > 1:
            raise ValueError(f"{where}.keep_state must be 0 or 1, got {raw['keep_state']!r}")
        if kind == "flapping" and opts.get("down_rounds", 3) >= opts.get("period", 10):
            raise ValueError(
                f"{where}.down_rounds={opts.get('down_rounds', 3):g} must be < "
                f"period={opts.get('period', 10):g}"
            )
        kw["options"] = tuple(sorted(opts.items()))
        return cls(**kw)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A named chaos scenario: a list of faults and what we expect of it.

    Attributes:
        name: unique id (``net-bisect``).
        category: one of :data:`CATEGORIES`.
        description: one line.
        expected: expected verdict (:data:`VERDICTS`).
        faults: the faults (the first is the *primary* fault MTTD / MTTR refer to).
        claim: optional claim it measures (``recovery_5s``, ``byzantine_30``, ...).
    """

    name: str
    category: str
    description: str
    expected: str
    faults: tuple[Fault, ...]
    claim: str = ""

    @classmethod
    def parse(cls, raw: Any, where: str) -> Scenario:
        """A scenario from a YAML mapping; errors name ``where`` (``scenarios[3] 'x'``)."""
        if not isinstance(raw, Mapping):
            raise TypeError(f"{where} must be a mapping, got {raw!r}")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name must be a non-empty string, got {name!r}")
        where = f"{where} {name!r}"
        unknown = set(raw) - {"name", "category", "description", "expected", "faults", "claim"}
        if unknown:
            raise ValueError(f"{where} has unknown fields {sorted(unknown)}")
        cat = raw.get("category")
        if cat not in CATEGORIES:
            raise ValueError(f"{where}.category must be one of {CATEGORIES}, got {cat!r}")
        exp = raw.get("expected")
        if exp not in VERDICTS:
            raise ValueError(f"{where}.expected must be one of {VERDICTS}, got {exp!r}")
        desc = raw.get("description", "")
        if not isinstance(desc, str) or not desc:
            raise ValueError(f"{where}.description must be a non-empty string")
        faults = raw.get("faults", [])
        if not isinstance(faults, Sequence) or isinstance(faults, str):
            raise TypeError(f"{where}.faults must be a list, got {faults!r}")
        parsed = tuple(Fault.parse(f, f"{where}.faults[{i}]") for i, f in enumerate(faults))
        _check_overlaps(parsed, where)
        return cls(name, cat, desc, exp, parsed, str(raw.get("claim", "")))

    def check_fits(self, n_rounds: int, n_nodes: int, where: str = "") -> None:
        """Raises if a window starts outside ``[0, n_rounds)`` or explicit ids/groups do not fit.

        Args:
            n_rounds: rounds of the run.
            n_nodes: nodes of the mesh.
            where: prefix of the error messages.
        """
        where = where or f"scenario {self.name!r}"
        for i, f in enumerate(self.faults):
            fw = f"{where}.faults[{i}]"
            for s, e in f.windows():
                if s >= n_rounds:
                    raise ValueError(
                        f"{fw}.start: window starting at round {s} is outside the "
                        f"{n_rounds}-round run (allowed 0 <= start < {n_rounds})"
                    )
                if e is not None and e > n_rounds:
                    raise ValueError(
                        f"{fw}.duration: window [{s}, {e}) ends after the {n_rounds}-round run"
                    )
            if f.target.ids and max(f.target.ids) >= n_nodes:
                raise ValueError(
                    f"{fw}.target.ids must be node ids in [0, {n_nodes}), got {f.target.ids}"
                )
            if f.layout == "groups" and f.kind == "partition" and len(f.groups) != n_nodes:
                raise ValueError(
                    f"{fw}.groups must give a group to each of the {n_nodes} nodes "
                    f"(a partition of the nodes), got {len(f.groups)} entries"
                )


def _check_overlaps(faults: Sequence[Fault], where: str) -> None:
    """Two partitions active at once contradict each other (which groups hold?)."""
    parts = [
        (i, s, e) for i, f in enumerate(faults) if f.kind == "partition" for s, e in f.windows()
    ]
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            (i, s1, e1), (j, s2, e2) = parts[a], parts[b]
            e1 = float("inf") if e1 is None else e1
            e2 = float("inf") if e2 is None else e2
            if i != j and s1 < e2 and s2 < e1:
                raise ValueError(
                    f"{where}.faults[{j}].start: partition overlaps faults[{i}] "
                    f"(windows [{s1}, {e1}) and [{s2}, {e2})): two partitions at once contradict"
                )


def load(raw: Any, where: str = "scenarios") -> list[Scenario]:
    """Scenarios from parsed YAML (a list, or a mapping with a ``scenarios`` list).

    Raises:
        ValueError / TypeError: a bad scenario, naming ``where[i] 'name'.faults[j].field``;
            duplicate names.
    """
    if isinstance(raw, Mapping):
        raw = raw.get("scenarios")
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise TypeError(f"{where} must be a list of scenarios, got {type(raw).__name__}")
    out = [Scenario.parse(s, f"{where}[{i}]") for i, s in enumerate(raw)]
    names = [s.name for s in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{where}: scenario names must be unique, duplicated {dup}")
    return out


def load_catalogue(path: str | Path | None = None) -> list[Scenario]:
    """The scenario catalogue (default: the packaged ``meshlab/chaos/data/catalogue.yaml``)."""
    if path is None:
        text = resources.files("meshlab.chaos").joinpath("data/catalogue.yaml").read_text()
        where = "catalogue.yaml:scenarios"
    else:
        text = Path(path).read_text()
        where = f"{path}:scenarios"
    return load(yaml.safe_load(text), where)
