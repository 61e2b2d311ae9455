"""A live ``/metrics`` endpoint that replays simulated SLI series to Prometheus.

The exporter uses the maintained Prometheus client library (``prometheus_client``) with
its own registry and serves on a loopback address. It replays per-bucket good/total
counts of each objective as the counters the generated rules and dashboards read, at
real time (``speed=1``: one simulated bucket per ``bucket_s`` seconds of wall time) or
accelerated (``speed=60``: an hour of simulation per minute)::

    exporter = meshlab.slo.exporter.serve(series, bucket_s=15.0, speed=60.0, port=9108)
    ...  # prometheus --config.file=monitoring/prometheus/prometheus.yml scrapes it
    exporter.close()

At wall time ``t`` after start, the counters hold the sum of the first
``floor(t · speed / bucket_s)`` buckets (all of them once the replay has finished).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily

from meshlab.slo.prometheus import EVENTS_METRIC, GOOD_METRIC
from meshlab.slo.spec import Objective

__all__ = ["Exporter", "ReplayCollector", "serve"]


class ReplayCollector:
    """A ``prometheus_client`` collector whose counters follow a simulated series.

    Args:
        series: ``{objective name: (objective, good[T], total[T])}`` counts per bucket.
        bucket_s: simulated seconds per bucket.
        speed: simulated seconds per wall-clock second (> 0).
        clock: wall clock (seconds); injectable for tests.
    """

    def __init__(
        self,
        series: Mapping[str, tuple[Objective, Sequence[float], Sequence[float]]],
        bucket_s: float,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if bucket_s <= 0 or speed <= 0:
            raise ValueError(f"bucket_s and speed must be > 0, got {bucket_s}, {speed}")
        self._rows = []
        for name, (objective, good, total) in series.items():
            g = np.cumsum(np.asarray(good, np.float64))
            t = np.cumsum(np.asarray(total, np.float64))
            if g.shape != t.shape or g.ndim != 1:
                raise ValueError(f"{name}: good and total must be equal 1-D series")
            self._rows.append((name, objective.component, g, t))
        self._bucket_s, self._speed, self._clock = float(bucket_s), float(speed), clock
        self._t0 = clock()

    def buckets_done(self) -> int:
        """How many buckets the replay has reached now."""
        return int((self._clock() - self._t0) * self._speed // self._bucket_s)

    def collect(self):
        """Called by the client library on every scrape."""
        k = self.buckets_done()
        events = CounterMetricFamily(
            EVENTS_METRIC.removesuffix("_total"),
            "SLI events (simulated)",
            labels=["slo", "component"],
        )
        good = CounterMetricFamily(
            GOOD_METRIC.removesuffix("_total"),
            "good SLI events (simulated)",
            labels=["slo", "component"],
        )
        for name, comp, g, t in self._rows:
            i = min(k, g.size)
            events.add_metric([name, comp], float(t[i - 1]) if i else 0.0)
            good.add_metric([name, comp], float(g[i - 1]) if i else 0.0)
        yield events
        yield good


class Exporter:
    """A running exporter; :meth:`close` stops it."""

    def __init__(self, server: Any, thread: Any, collector: ReplayCollector):
        self._server, self._thread, self.collector = server, thread, collector

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stops serving and joins the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(
    series: Mapping[str, tuple[Objective, Sequence[float], Sequence[float]]],
    bucket_s: float,
    *,
    speed: float = 1.0,
    port: int = 0,
    addr: str = "127.0.0.1",
) -> Exporter:
    """Starts a ``/metrics`` endpoint replaying ``series`` (``port=0``: a free port)."""
    registry = CollectorRegistry(auto_describe=True)
    collector = ReplayCollector(series, bucket_s, speed)
    registry.register(collector)
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return Exporter(server, thread, collector)
