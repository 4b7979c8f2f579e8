"""Prometheus metrics for one server: requests, latency, field errors, data-source calls."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
