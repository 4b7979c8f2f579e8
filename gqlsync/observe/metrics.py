"""Prometheus metrics for one server: requests, latency, field errors, data-source calls."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """A registry of its own per server, so several apps (and tests) can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("gqlsync_requests", "GraphQL requests served", ["app", "operation_type", "status"],
                                registry=self.registry)
        self.latency = Histogram("gqlsync_request_seconds", "GraphQL request latency", ["app"],
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.field_errors = Counter("gqlsync_field_errors", "GraphQL errors per field and errorType",
                                    ["app", "field", "error_type"], registry=self.registry)
        self.datasource_latency = Histogram("gqlsync_datasource_seconds", "Data-source call latency",
                                            ["app", "datasource", "type"], buckets=_LATENCY_BUCKETS,
                                            registry=self.registry)
        self.version_requests = Counter("gqlsync_version_requests", "Requests per API version, ok or with errors",
                                        ["api", "version", "outcome"], registry=self.registry)
        self.cache_requests = Counter("gqlsync_cache_requests", "Server-side cache lookups per resolver, hit or miss",
                                      ["app", "field", "outcome"], registry=self.registry)
        self.datasource_errors = Counter("gqlsync_datasource_errors", "Data-source calls that failed",
                                         ["app", "datasource", "type", "error_type"], registry=self.registry)
        labels = ["app", "datasource", "type"]
        self.datasource_invocations = Counter("gqlsync_datasource_invocations",
                                              "Attempts sent to a data source (a retried call counts each attempt)",
                                              labels, registry=self.registry)
        self.datasource_in_flight = Gauge("gqlsync_datasource_in_flight", "Data-source calls in flight now",
                                          labels, registry=self.registry)
        self.datasource_throttles = Counter("gqlsync_datasource_throttles",
                                            "Calls refused after waiting queueTimeoutMs behind maxConcurrency",
                                            labels, registry=self.registry)
        self.datasource_retries = Counter("gqlsync_datasource_retries", "Data-source calls retried after a "
                                          "failure that was safe to retry", labels, registry=self.registry)
        self.datasource_queue_wait = Histogram("gqlsync_datasource_queue_seconds", "Time calls waited for a free "
                                               "slot of a data source's maxConcurrency", labels,
                                               buckets=_LATENCY_BUCKETS, registry=self.registry)

        self._request_children: dict[tuple[str, str, int, str, bool], tuple[Any, Any, Any]] = {}

    def request(self, app: str, operation_type: str, status: int, version: str, errored: bool,
                seconds: float) -> None:
        """Count one GraphQL request (the label children are looked up once per combination, then kept)."""
        key = (app, operation_type, status, version, errored)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(app, operation_type, str(status)), self.latency.labels(app),
                        self.version_requests.labels(app, version, "error" if errored else "ok"))
            if len(self._request_children) < 10_000:  # bounded: versions come and go
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        children[2].inc()

    def datasource(self, app: str, name: str, type_: str) -> DataSourceMeter:
        """The metrics of one data source of one app, labels bound once (the Invoker keeps it)."""
        return DataSourceMeter(self, app, name, type_)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class DataSourceMeter:
    """One data source's metric children; also what gqlsync.datasources.limits reports to (`LimitMeter`)."""

    __slots__ = ("_errors", "_labels", "in_flight", "invocations", "latency", "queue_wait", "retries", "throttles")

    def __init__(self, metrics: Metrics, app: str, name: str, type_: str) -> None:
        labels = (app, name, type_)
        self._labels = labels
        self._errors = metrics.datasource_errors
        self.latency: Any = metrics.datasource_latency.labels(*labels)
        self.invocations: Any = metrics.datasource_invocations.labels(*labels)
        self.in_flight: Any = metrics.datasource_in_flight.labels(*labels)
        self.throttles: Any = metrics.datasource_throttles.labels(*labels)
        self.retries: Any = metrics.datasource_retries.labels(*labels)
        self.queue_wait: Any = metrics.datasource_queue_wait.labels(*labels)

    def error(self, error_type: str) -> None:
        self._errors.labels(*self._labels, error_type).inc()

    def throttled(self) -> None:
        self.throttles.inc()

    def retried(self) -> None:
        self.retries.inc()

    def queued(self, seconds: float) -> None:
        self.queue_wait.observe(seconds)
