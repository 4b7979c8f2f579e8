"""Realtime as metrics: open connections and subscriptions, connections accepted, deliveries, and fan-out time.

The fan-out histogram times one event's delivery in this process: from the moment the hub has the event (from the
mutation in this process, or from Redis) until its frames are handed to the kernel. Writes of one loop turn are
joined and flushed at the end of the turn (gqlsync/http/listener.py), so the clock stops in a callback queued
after delivery, which runs after those flushes. Counts are read from the hub when /metrics is scraped: nothing is
counted per delivery but the one histogram observation per event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gqlsync.realtime.hub import RealtimeHub

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RealtimeMetrics(Collector):
    """The realtime metrics of one server's hub; the hub calls `delivered` after each event it delivered."""

    def __init__(self, registry: CollectorRegistry, hub: RealtimeHub) -> None:
        self.hub = hub
        self.fanout = Histogram("gqlsync_realtime_fanout_seconds", "One event's delivery to this process's "
                                "matching subscribers, until its frames are written", buckets=_BUCKETS,
                                registry=registry)
        registry.register(self)
        hub.on_fanout = self.delivered

    def delivered(self, started: float) -> None:
        asyncio.get_running_loop().call_soon(self._observe, started)

    def _observe(self, started: float) -> None:
        self.fanout.observe(time.perf_counter() - started)

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        return self._families()

    def _families(self) -> Iterator[Metric]:
        hub = self.hub
        yield GaugeMetricFamily("gqlsync_realtime_connections", "Realtime websocket connections open now",
                                value=len(hub.connections))
        yield GaugeMetricFamily("gqlsync_realtime_subscriptions", "Subscriptions registered now",
                                value=hub.registry.count)
        yield CounterMetricFamily("gqlsync_realtime_connections_accepted", "Realtime websocket connections "
                                  "accepted (clients that reconnect count again)", value=hub.accepted)
        yield CounterMetricFamily("gqlsync_realtime_deliveries", "Subscription events sent to subscribers",
                                  value=hub.delivered)
