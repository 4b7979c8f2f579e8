"""OpenSearch's REST API over a SearchEngine, as an ASGI app (Starlette): paths, params, status codes.

Both official clients work against it: opensearch-py as against OpenSearch, and elasticsearch-py
(8/9), which refuses servers that do not send `X-Elastic-Product: Elasticsearch` and asks for
`application/vnd.elasticsearch+json; compatible-with=N`: every response carries the header, and
the compatible media type is echoed when asked for. Paths are split on the raw (still encoded)
path, so document ids holding `/` work. Unknown query parameters are refused (400) as OpenSearch
refuses them, so nothing a client asks for is silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gqlsync.embedded.search.engine import SearchEngine
from gqlsync.embedded.search.errors import SearchError, illegal, unsupported

_COMMON = {"pretty", "human", "error_trace", "filter_path", "timeout", "master_timeout", "cluster_manager_timeout",
           "wait_for_active_shards", "format", "source", "source_content_type"}
_WRITE = _COMMON | {"refresh", "routing", "if_seq_no", "if_primary_term", "op_type", "require_alias", "pipeline",
                    "version", "version_type"}
_GET = _COMMON | {"_source", "_source_includes", "_source_excludes", "_source_include", "_source_exclude",
                  "realtime", "refresh", "routing", "preference", "stored_fields", "version", "version_type"}
_SEARCH = _COMMON | {"q", "size", "from", "sort", "_source", "_source_includes", "_source_excludes",
                     "_source_include", "_source_exclude", "track_total_hits", "track_scores", "typed_keys",
                     "rest_total_hits_as_int", "version", "seq_no_primary_term", "ignore_unavailable",
                     "allow_no_indices", "expand_wildcards", "search_type", "request_cache", "preference", "routing",
                     "batched_reduce_size", "max_concurrent_shard_requests", "pre_filter_shard_size",
                     "ccs_minimize_roundtrips", "allow_partial_search_results", "explain", "scroll", "stats",
                     "default_operator", "df", "analyzer", "lenient", "analyze_wildcard", "terminate_after",
                     "stored_fields", "docvalue_fields", "suggest_field", "min_score", "cancel_after_time_interval",
                     "phase_took", "include_named_queries_score", "search_pipeline"}
_MSEARCH = _COMMON | {"max_concurrent_searches", "typed_keys", "rest_total_hits_as_int", "search_type",
                      "ccs_minimize_roundtrips", "max_concurrent_shard_requests", "pre_filter_shard_size"}
_UNSUPPORTED_PARAMS = {"scroll": "scroll searches", "pipeline": "ingest pipelines", "stored_fields": "stored_fields",
                       "docvalue_fields": "docvalue_fields", "terminate_after": "terminate_after",
                       "default_operator": "[q] query string options", "df": "[q] query string options",
                       "analyzer": "[q] query string options", "search_pipeline": "search pipelines",
                       "suggest_field": "suggesters"}
_ELASTIC_MEDIA = re.compile(r"application/vnd\.elasticsearch\+json;\s*compatible-with=(\d+)")

Handler = Callable[..., Awaitable[tuple[int, Any]]]


def _filter_path(body: Any, patterns: list[list[str]]) -> Any:
    """OpenSearch's `filter_path`: keep only the dotted paths named (`*` one level, `**` any depth)."""
    if isinstance(body, list):
        return [v for v in (_filter_path(item, patterns) for item in body) if v is not _NOTHING]
    if not isinstance(body, dict):
        return body if any(not p for p in patterns) else _NOTHING
    out = {}
    for key, value in body.items():
        rest: list[list[str]] = []
        keep = False
        for p in patterns:
            if not p:
                continue
            head = p[0]
            if head == "**":
                rest.append(p)
                rest.append(p[1:])
                if len(p) == 1:
                    keep = True
                continue
            if head == "*" or head == key or (("*" in head) and re.fullmatch(head.replace("*", ".*"), key)):
                if len(p) == 1:
                    keep = True
                else:
                    rest.append(p[1:])
        if keep:
            out[key] = value
        elif rest and isinstance(value, dict | list):
            sub = _filter_path(value, rest)
            if sub not in (_NOTHING, {}, []):
                out[key] = sub
    return out


_NOTHING = object()


class SearchAPI:
    """Routes one HTTP request to the engine and renders OpenSearch's response."""

    def __init__(self, engine: SearchEngine) -> None:
        self.engine = engine

    def app(self) -> Starlette:
        methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=methods)])

    async def handle(self, request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        segments = [unquote(s) for s in path.split("/") if s]
        params = dict(request.query_params)
        method = request.method
        accept = request.headers.get("accept", "")
        try:
            found = self.route(method, segments)
            if found is None:
                raise illegal(f"no handler found for uri [{path}] and method [{method}]")
            handler, allowed, args = found
            for key in params:
                if key not in allowed:
                    raise illegal(f"request [{path}] contains unrecognized parameter: [{key}]")
                if key in _UNSUPPORTED_PARAMS and params[key] not in ("", "false"):
                    raise unsupported(f"the [{key}] parameter ({_UNSUPPORTED_PARAMS[key]})")
            body = await request.body()
            status, payload = await handler(*args, params=params, body=body)
        except SearchError as exc:
            status, payload = exc.status, exc.body()
        except Exception as exc:  # an engine bug must still answer in OpenSearch's shape
            err = SearchError(500, "exception", f"{type(exc).__name__}: {exc}")
            status, payload = 500, err.body()
        return self.respond(method, status, payload, params, accept)

    def respond(self, method: str, status: int, payload: Any, params: dict[str, str], accept: str) -> Response:
        m = _ELASTIC_MEDIA.search(accept)
        media = f"application/vnd.elasticsearch+json;compatible-with={m.group(1)}" if m else \
            "application/json; charset=UTF-8"
        headers = {"X-Elastic-Product": "Elasticsearch"}
        if method == "HEAD":
            return Response(status_code=status, headers=headers, media_type=media)
        if params.get("filter_path") and status < 300:
            patterns = [p.split(".") for p in params["filter_path"].split(",") if p]
            filtered = _filter_path(payload, patterns)
            payload = {} if filtered is _NOTHING else filtered
        option = orjson.OPT_INDENT_2 if params.get("pretty") in ("", "true") else 0
        if isinstance(payload, str):
            content = payload.encode()
            media = "text/plain; charset=UTF-8"
        else:
            content = orjson.dumps(payload, option=option | orjson.OPT_NON_STR_KEYS)
        return Response(content, status_code=status, headers=headers, media_type=media)

    # -- routing
    def shared_routes(self) -> dict[str, dict[str, tuple[Handler, set[str]]]]:
        """The operations served both on the cluster (`/_bulk`) and on one index (`/{index}/_bulk`)."""
        refresh = _COMMON | {"ignore_unavailable", "allow_no_indices", "expand_wildcards"}
        bulk = _WRITE | {"_source", "_source_includes", "_source_excludes"}
        return {"_bulk": {"POST": (self.bulk, bulk), "PUT": (self.bulk, bulk)},
                "_refresh": {"POST": (self.refresh, refresh), "GET": (self.refresh, refresh)},
                "_search": {"GET": (self.search, _SEARCH), "POST": (self.search, _SEARCH)},
                "_count": {"GET": (self.count, _SEARCH), "POST": (self.count, _SEARCH)}}

    def route(self, method: str, s: list[str]) -> tuple[Handler, set[str], tuple[Any, ...]] | None:
        def pick(table: dict[str, tuple[Handler, set[str]]], *args: Any) -> tuple[Handler, set[str], tuple[Any, ...]]:
            if method not in table:
                if method == "HEAD" and "GET" in table:
                    return (*table["GET"], args)
                allowed = ", ".join(sorted(table))
                raise SearchError(405, "illegal_argument_exception",
                                  f"Incorrect HTTP method for uri [/{'/'.join(s)}] and method [{method}], allowed: "
                                  f"[{allowed}]")
            return (*table[method], args)

        n = len(s)
        if n == 0:
            return pick({"GET": (self.info, _COMMON), "HEAD": (self.info, _COMMON)})
        first = s[0]
        if first.startswith("_"):
            if s[:2] == ["_cluster", "health"] and n <= 3:
                return pick({"GET": (self.health, _COMMON | {"wait_for_status", "level", "local",
                                                              "wait_for_no_relocating_shards",
                                                              "wait_for_no_initializing_shards", "wait_for_nodes",
                                                              "wait_for_events"})})
            if s[:2] == ["_cat", "indices"] and n <= 3:
                cat_params = _COMMON | {"v", "h", "s", "bytes", "health", "pri", "expand_wildcards", "local"}
                return pick({"GET": (self.cat_indices, cat_params)}, s[2] if n == 3 else None)
            if n == 1:
                tables: dict[str, dict[str, tuple[Handler, set[str]]]] = {
                    **self.shared_routes(),
                    "_mget": {"GET": (self.mget, _GET), "POST": (self.mget, _GET)},
                    "_msearch": {"GET": (self.msearch, _MSEARCH), "POST": (self.msearch, _MSEARCH)},
                    "_analyze": {"GET": (self.analyze, _COMMON), "POST": (self.analyze, _COMMON)},
                    "_mapping": {"GET": (self.get_mapping, _COMMON | {"local", "ignore_unavailable",
                                                                      "allow_no_indices", "expand_wildcards"})},
                    "_settings": {"GET": (self.get_settings, _COMMON | {"local", "include_defaults", "flat_settings",
                                                                        "ignore_unavailable", "expand_wildcards"}),
                                  "PUT": (self.put_settings, _COMMON | {"preserve_existing", "flat_settings"})},
                }
                if first in tables:
                    return pick(tables[first], None)
            return None
        index = first
        if n == 1:
            return pick({"HEAD": (self.index_exists, _COMMON | {"local", "ignore_unavailable", "allow_no_indices",
                                                               "expand_wildcards", "include_defaults",
                                                               "flat_settings"}),
                         "GET": (self.get_index, _COMMON | {"local", "ignore_unavailable", "allow_no_indices",
                                                           "expand_wildcards", "include_defaults", "flat_settings"}),
                         "PUT": (self.create_index, _COMMON | {"include_type_name"}),
                         "DELETE": (self.delete_index, _COMMON | {"ignore_unavailable", "allow_no_indices",
                                                                 "expand_wildcards"})}, index)
        op = s[1]
        if n == 2:
            tables2: dict[str, dict[str, tuple[Handler, set[str]]]] = {
                "_mapping": {"GET": (self.get_mapping, _COMMON | {"local", "ignore_unavailable", "allow_no_indices",
                                                                  "expand_wildcards"}),
                             "PUT": (self.put_mapping, _COMMON | {"write_index_only", "ignore_unavailable",
                                                                  "allow_no_indices", "expand_wildcards"}),
                             "POST": (self.put_mapping, _COMMON | {"write_index_only"})},
                "_settings": {"GET": (self.get_settings, _COMMON | {"local", "include_defaults", "flat_settings",
                                                                    "ignore_unavailable", "expand_wildcards"}),
                              "PUT": (self.put_settings, _COMMON | {"preserve_existing", "flat_settings"})},
                "_doc": {"POST": (self.index_doc, _WRITE)},
                **self.shared_routes(),
                "_flush": {"POST": (self.refresh, _COMMON | {"force", "wait_if_ongoing"}),
                           "GET": (self.refresh, _COMMON | {"force", "wait_if_ongoing"})},
                "_mget": {"GET": (self.mget, _GET), "POST": (self.mget, _GET)},
                "_msearch": {"GET": (self.msearch, _MSEARCH), "POST": (self.msearch, _MSEARCH)},
                "_analyze": {"GET": (self.analyze, _COMMON), "POST": (self.analyze, _COMMON)},
                "_delete_by_query": {"POST": (self.delete_by_query, _SEARCH | {"refresh", "conflicts", "slices",
                                                                               "wait_for_completion", "scroll_size",
                                                                               "requests_per_second", "max_docs"})},
            }
            if op == "_doc" and method in ("GET", "HEAD", "PUT", "DELETE"):
                return None
            if op in tables2:
                return pick(tables2[op], index)
            return None
        if n == 3:
            doc_id = s[2]
            if doc_id in ("_search", "_count"):  # legacy /{index}/{type}/_search (Elasticsearch 6/7 paths)
                return pick({"GET": (self.search if doc_id == "_search" else self.count, _SEARCH),
                             "POST": (self.search if doc_id == "_search" else self.count, _SEARCH)}, index)
            if op == "_doc":
                return pick({"GET": (self.get_doc, _GET), "HEAD": (self.get_doc, _GET),
                             "PUT": (self.index_doc, _WRITE), "POST": (self.index_doc, _WRITE),
                             "DELETE": (self.delete_doc, _WRITE)}, index, doc_id)
            if op == "_create":
                return pick({"PUT": (self.create_doc, _WRITE), "POST": (self.create_doc, _WRITE)}, index, doc_id)
            if op == "_source":
                return pick({"GET": (self.get_source, _GET), "HEAD": (self.get_source, _GET)}, index, doc_id)
            if op == "_update":
                return pick({"POST": (self.update_doc, _WRITE | {"retry_on_conflict", "_source", "_source_includes",
                                                                 "_source_excludes", "lang"})}, index, doc_id)
        return None

    # -- helpers
    @staticmethod
    def json(body: bytes, required: bool = False) -> Any:
        if not body.strip():
            if required:
                raise SearchError(400, "parse_exception", "request body is required")
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SearchError(400, "parse_exception", f"Failed to parse content to map: {exc}") from None

    @staticmethod
    def int_param(params: dict[str, str], name: str) -> int | None:
        if name not in params:
            return None
        try:
            return int(params[name])
        except ValueError:
            raise illegal(f"Failed to parse int parameter [{name}] with value [{params[name]}]") from None

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(fn, *args, **kwargs)

    # -- handlers: each returns (status, body)
    async def info(self, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.info)

    async def health(self, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.health)

    async def cat_indices(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        rows = await self.call(self.engine.cat_indices)
        if index:
            names = {s.name for s in self.engine.resolve(index)}
            rows = [r for r in rows if r["index"] in names]
        if params.get("format") == "json":
            return 200, rows
        cols = list(rows[0]) if rows else ["health", "status", "index", "uuid", "pri", "rep", "docs.count"]
        lines = [" ".join(cols)] if "v" in params else []
        lines += [" ".join(str(r[c]) for c in cols) for r in rows]
        return 200, "\n".join(lines) + ("\n" if lines else "")

    async def index_exists(self, index: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        stores = self.engine.resolve(index, ignore_unavailable=True)
        wanted = [p for p in index.split(",") if "*" not in p]
        ok = bool(stores) and all(self.engine.exists(p) for p in wanted)
        return (200 if ok else 404), {}

    async def get_index(self, index: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.get_index, index)

    async def create_index(self, index: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.create_index, index, self.json(body))

    async def delete_index(self, index: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.delete_index, index)

    async def get_mapping(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.get_mapping, index)

    async def put_mapping(self, index: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.put_mapping, index, self.json(body, required=True))

    async def get_settings(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.get_settings, index)

    async def put_settings(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.put_settings, index, self.json(body, required=True))

    async def refresh(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.refresh, index)

    async def index_doc(self, index: str, doc_id: str | None = None, *, params: dict[str, str],
                        body: bytes) -> tuple[int, Any]:
        status, result = await self.call(
            self.engine.index_doc, index, doc_id, self.json(body, required=True),
            op_type=params.get("op_type", "index"),
            if_seq_no=self.int_param(params, "if_seq_no"), if_primary_term=self.int_param(params, "if_primary_term"),
            version=self.int_param(params, "version"), version_type=params.get("version_type"))
        return status, result

    async def create_doc(self, index: str, doc_id: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return await self.call(self.engine.index_doc, index, doc_id, self.json(body, required=True), op_type="create",
                               version=self.int_param(params, "version"), version_type=params.get("version_type"))

    async def get_doc(self, index: str, doc_id: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        if "version" in params or "version_type" in params:
            raise unsupported("[version] checks on get")
        return await self.call(self.engine.get_doc, index, doc_id, params)

    async def get_source(self, index: str, doc_id: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        status, doc = await self.call(self.engine.get_doc, index, doc_id, params)
        if status == 404:
            raise SearchError(404, "resource_not_found_exception",
                              f"Document not found [{index}]/[_doc]/[{doc_id}]")
        return 200, doc.get("_source", {})

    async def delete_doc(self, index: str, doc_id: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return await self.call(self.engine.delete_doc, index, doc_id, if_seq_no=self.int_param(params, "if_seq_no"),
                               if_primary_term=self.int_param(params, "if_primary_term"),
                               version=self.int_param(params, "version"), version_type=params.get("version_type"))

    async def update_doc(self, index: str, doc_id: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        if params.get("_source") not in (None, "false"):
            raise unsupported("[_source] in an update request")
        if "version" in params or "version_type" in params:
            raise SearchError(400, "action_request_validation_exception",
                              "Validation Failed: 1: internal versioning can not be used for optimistic concurrency "
                              "control. Please use `if_seq_no` and `if_primary_term` instead;")
        return await self.call(self.engine.update_doc, index, doc_id, self.json(body, required=True),
                               if_seq_no=self.int_param(params, "if_seq_no"),
                               if_primary_term=self.int_param(params, "if_primary_term"))

    async def bulk(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        if not body.strip():
            raise SearchError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
        return 200, await self.call(self.engine.bulk, body, index)

    async def search(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.search, index, self.json(body), params)

    async def count(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.count, index, self.json(body), params)

    async def mget(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.mget, index, self.json(body, required=True), params)

    async def msearch(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.msearch, body, index, params)

    async def analyze(self, index: str | None, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, self.engine.analyze(self.json(body, required=True))

    async def delete_by_query(self, index: str, *, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, await self.call(self.engine.delete_by_query, index, self.json(body, required=True), params)
