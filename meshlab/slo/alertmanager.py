"""``alertmanager.yml`` generated from an :class:`~meshlab.slo.spec.SloSpec`.

Routing: the root groups alerts by alert name and objective; one child route per
component, and under it one route per severity, each to its own receiver
(``<component>-critical``, ``<component>-warning``, ``<component>-info``). Escalation is
expressed as timing: critical alerts repeat every hour, warnings every 12 hours, info
once a day. Inhibition keeps alert storms down: a firing critical alert silences the
warnings and infos of the same objective, a warning its infos, and a critical alert of the mesh silences the other
components' warnings for the same incident window (their SLIs follow the mesh's).

Receivers are webhooks. Their URLs are resolved when the file is generated, from
environment variables ``MESHLAB_ALERT_WEBHOOK_<RECEIVER>`` (receiver name upper-cased,
``-`` as ``_``), falling back to a loopback listener, so no endpoint or secret is ever
committed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from meshlab.slo.spec import SloSpec

__all__ = ["REPEAT", "alertmanager_config", "receiver_names", "webhook_env_var"]

REPEAT = {"critical": "1h", "warning": "12h", "info": "24h"}
_LOOPBACK = "http://127.0.0.1:5001/alerts/{name}"


def webhook_env_var(receiver: str) -> str:
    """The environment variable that overrides a receiver's webhook URL."""
    return "MESHLAB_ALERT_WEBHOOK_" + receiver.upper().replace("-", "_")


def receiver_names(spec: SloSpec) -> list[str]:
    """Every receiver the configuration defines, ``default`` first."""
    comps = sorted({o.component for o in spec.objectives})
    return ["default"] + [f"{c}-{s}" for c in comps for s in REPEAT]


def alertmanager_config(spec: SloSpec, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Alertmanager configuration as a dict (serialize with ``yaml.safe_dump``).

    Args:
        spec: the validated spec.
        env: where webhook URLs come from (default ``os.environ``; pass ``{}`` for the
            loopback defaults, as the committed file does).
    """
    env = os.environ if env is None else env
    comps = sorted({o.component for o in spec.objectives})
    receivers = [
        {
            "name": name,
            "webhook_configs": [
                {
                    "url": env.get(webhook_env_var(name), _LOOPBACK.format(name=name)),
                    "send_resolved": True,
                }
            ],
        }
        for name in receiver_names(spec)
    ]
    routes = []
    for c in comps:
        routes.append(
            {
                "matchers": [f'component="{c}"'],
                "receiver": f"{c}-warning",
                "routes": [
                    {
                        "matchers": [f'severity="{sev}"'],
                        "receiver": f"{c}-{sev}",
                        "repeat_interval": rep,
                        **({"group_wait": "10s"} if sev == "critical" else {}),
                    }
                    for sev, rep in REPEAT.items()
                ],
            }
        )
    inhibit = [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity=~"warning|info"'],
            "equal": ["slo"],
        },
        {
            "source_matchers": ['severity="warning"'],
            "target_matchers": ['severity="info"'],
            "equal": ["slo"],
        },
    ]
    if "mesh" in comps and len(comps) > 1:
        inhibit.append(
            {
                "source_matchers": ['severity="critical"', 'component="mesh"'],
                "target_matchers": ['severity="warning"', 'component!="mesh"'],
                "equal": ["window"],
            }
        )
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "slo"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "24h",
            "routes": routes,
        },
        "inhibit_rules": inhibit,
        "receivers": receivers,
    }
