"""The streams worker's Prometheus metrics: records applied by outcome, failures, lag, backfilled items."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from gqlsync.streams.handler import Outcome


class StreamMetrics:
    """Registered in the server's registry (`/metrics` of `gqlsync dev`) or the worker's own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.records = Counter("gqlsync_stream_records", "Stream records applied to the index, by outcome",
                               ["route", "outcome"], registry=self.registry)
        self.failures = Counter("gqlsync_stream_failures", "Stream batches that failed and wait to be retried",
                                ["route", "kind"], registry=self.registry)
        self.lag_seconds = Gauge("gqlsync_stream_lag_seconds",
                                 "Age of the newest record applied (ApproximateCreationDateTime to now)",
                                 ["route"], registry=self.registry)
        self.dead_letters = Counter("gqlsync_stream_dead_letters", "Records that could not be indexed",
                                    ["route"], registry=self.registry)
        self.backfill_items = Counter("gqlsync_stream_backfill_items", "Table items scanned into the index",
                                      ["route"], registry=self.registry)

    def outcome(self, route: str, outcome: Outcome) -> None:
        for name, count in (("indexed", outcome.indexed), ("deleted", outcome.deleted),
                            ("superseded", outcome.superseded), ("dead", len(outcome.dead))):
            if count:
                self.records.labels(route, name).inc(count)
        if outcome.dead:
            self.dead_letters.labels(route).inc(len(outcome.dead))

    def failure(self, route: str, kind: str) -> None:
        self.failures.labels(route, kind).inc()

    def lag(self, route: str, seconds: float) -> None:
        self.lag_seconds.labels(route).set(seconds)

    def backfilled(self, route: str, items: int) -> None:
        self.backfill_items.labels(route).inc(items)

    def value(self, name: str, **labels: str) -> float:
        got = self.registry.get_sample_value(name, labels)
        return float(got or 0.0)
