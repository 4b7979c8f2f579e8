"""The request scope: per-request state every stage shares (identity, headers, appended errors, logs, counters)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gqlsync.errors import GqlsyncError

log = logging.getLogger("gqlsync.resolver")


@dataclass
class RequestScope:
    """Per-request state shared by every resolver call: identity, headers, appended errors, logs."""

    request_id: str
    identity: dict[str, Any] | None
    headers: dict[str, str]
    domain_name: str | None = None
    auth_type: str = "API_KEY"
    source_ip: str | None = None
    appended_errors: list[tuple[GqlsyncError, Any, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    resolver_calls: int = 0
    datasource_calls: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    subscription_filter: Any = None
    invalidation_filter: Any = None
    invalidations: list[dict[str, Any]] = field(default_factory=list)
    #: Batch loaders of this request, one per resolver step that batches (keyed by the engine).
    batches: dict[int, Any] = field(default_factory=dict)
    #: `evictFromApiCache` calls made: (type, field, caching-key values), applied when the request ends
    cache_evictions: list[tuple[str, str, Any]] = field(default_factory=list)

    def log(self, level: str, message: str, where: str) -> None:
        entry = {"level": level, "message": message, "resolver": where}
        self.logs.append(entry)
        log.log(logging.ERROR if level == "error" else logging.INFO, message,
                extra={"request_id": self.request_id, "resolver": where})
