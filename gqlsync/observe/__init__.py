"""Observability: Prometheus metrics and structured JSON logs (a leaf every stage may import)."""

from gqlsync.observe.logs import JsonFormatter, configure_logging
from gqlsync.observe.metrics import Metrics

__all__ = ["JsonFormatter", "Metrics", "configure_logging"]
