"""OpenSLO v1 export of a spec, so the objectives can be taken to that ecosystem.

Each objective becomes one ``kind: SLO`` document (``apiVersion: openslo/v1``) with an
inline ratio indicator over the Prometheus counters meshlab exports (good and total events,
:mod:`meshlab.slo.prometheus`), a rolling time window, and its target; the component and
owner labels become OpenSLO labels, and a ``kind: Service`` document per component
groups them. See the OpenSLO v1 specification (``openslo.com``, ``README.md#slo``).
"""

from __future__ import annotations

from typing import Any

import yaml

from meshlab.slo.prometheus import EVENTS_METRIC, GOOD_METRIC, window_label
from meshlab.slo.spec import SloSpec

__all__ = ["openslo_documents", "openslo_yaml"]


def _name(text: str) -> str:
    return text.replace("_", "-")  # OpenSLO names are DNS-1123 labels


def openslo_documents(spec: SloSpec) -> list[dict[str, Any]]:
    """The spec as OpenSLO v1 documents: one ``Service`` per component, one ``SLO`` each."""
    docs: list[dict[str, Any]] = []
    for comp in sorted({o.component for o in spec.objectives}):
        docs.append(
            {
                "apiVersion": "openslo/v1",
                "kind": "Service",
                "metadata": {"name": f"meshlab-{comp}", "displayName": f"meshlab {comp}"},
                "spec": {"description": f"The {comp} component of the modelled mesh"},
            }
        )
    for o in spec.objectives:
        sel = f'slo="{o.name}"'
        docs.append(
            {
                "apiVersion": "openslo/v1",
                "kind": "SLO",
                "metadata": {
                    "name": _name(o.name),
                    "displayName": o.name,
                    "labels": {"component": [o.component], **{k: [v] for k, v in o.labels}},
                },
                "spec": {
                    "description": o.description,
                    "service": f"meshlab-{o.component}",
                    "indicator": {
                        "metadata": {"name": f"{_name(o.name)}-sli"},
                        "spec": {
                            "ratioMetric": {
                                "counter": True,
                                "good": {
                                    "metricSource": {
                                        "type": "Prometheus",
                                        "spec": {"query": f"{GOOD_METRIC}{{{sel}}}"},
                                    }
                                },
                                "total": {
                                    "metricSource": {
                                        "type": "Prometheus",
                                        "spec": {"query": f"{EVENTS_METRIC}{{{sel}}}"},
                                    }
                                },
                            }
                        },
                    },
                    "timeWindow": [{"duration": window_label(o.window_s), "isRolling": True}],
                    "budgetingMethod": "Occurrences",
                    "objectives": [{"displayName": o.name, "target": o.target}],
                },
            }
        )
    return docs


def openslo_yaml(spec: SloSpec) -> str:
    """The documents as one multi-document YAML stream."""
    return yaml.safe_dump_all(openslo_documents(spec), sort_keys=False, width=100)
