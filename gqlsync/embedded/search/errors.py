"""OpenSearch's error responses: one exception type that renders `{"error": {...}, "status": N}`."""

from __future__ import annotations

from typing import Any


class SearchError(Exception):
    """An error the REST layer answers as OpenSearch does: status code plus the typed error body.

    `shard_level` errors (a query that parses but cannot run against the mapping, e.g. sorting on
    a text field) are wrapped like OpenSearch wraps them: a `search_phase_execution_exception`
    whose `root_cause` and `failed_shards` carry the real cause.
    """

    def __init__(self, status: int, error_type: str, reason: str, *, shard_level: bool = False,
                 index: str | None = None, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.shard_level = shard_level
        self.index = index
        self.extra = extra

    def cause(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.error_type, "reason": self.reason}
        if self.index is not None:
            body["index"] = self.index
            body.setdefault("index_uuid", "_na_")
        body.update(self.extra)
        return body

    def body(self) -> dict[str, Any]:
        cause = self.cause()
        if not self.shard_level:
            return {"error": {"root_cause": [cause], **cause}, "status": self.status}
        failed = {"shard": 0, "index": self.index, "node": "gqlsync-embedded", "reason": cause}
        return {"error": {"root_cause": [cause], "type": "search_phase_execution_exception",
                          "reason": "all shards failed", "phase": "query", "grouped": True,
                          "failed_shards": [failed], "caused_by": cause}, "status": self.status}


def parsing(reason: str) -> SearchError:
    """A request body OpenSearch's parser rejects (unknown query, agg, key or option)."""
    return SearchError(400, "parsing_exception", reason)


def illegal(reason: str) -> SearchError:
    return SearchError(400, "illegal_argument_exception", reason)


def unsupported(what: str) -> SearchError:
    """Valid OpenSearch the embedded engine does not implement: said plainly, never answered wrongly."""
    return SearchError(400, "illegal_argument_exception",
                       f"{what} is not supported by gqlsync's embedded search engine")


def query_shard(reason: str, index: str) -> SearchError:
    """A query that parses but fails against the index's mapping (OpenSearch's query_shard_exception)."""
    return SearchError(400, "query_shard_exception", reason, shard_level=True, index=index)


def index_not_found(name: str) -> SearchError:
    extra: dict[str, Any] = {"resource.type": "index_or_alias", "resource.id": name}
    return SearchError(404, "index_not_found_exception", f"no such index [{name}]", index=name, **extra)


def fielddata_reason(field: str) -> str:
    """Why OpenSearch refuses to sort or aggregate on a text field."""
    return ("Text fields are not optimised for operations that require per-document field data like aggregations "
            "and sorting, so these operations are disabled by default. Please use a keyword field instead. "
            f"Alternatively, set fielddata=true on [{field}] in order to load field data by uninverting the "
            "inverted index. Note that this can use significant memory.")


def mapper_parsing(reason: str) -> SearchError:
    return SearchError(400, "mapper_parsing_exception", reason)
