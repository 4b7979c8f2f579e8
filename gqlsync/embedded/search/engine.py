"""SearchEngine: the indices of one data directory and OpenSearch's index, document, bulk and search APIs.

Each method takes the request's parsed parts and returns `(status, body)` as OpenSearch answers,
or raises SearchError; the REST layer (api.py) only translates HTTP. The engine is synchronous
and thread-safe (a lock per index; one for the catalog), so it is also usable in-process.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from gqlsync.embedded.search.analysis import tokenize
from gqlsync.embedded.search.errors import SearchError, illegal, index_not_found, parsing, unsupported
from gqlsync.embedded.search.mapping import Mapping
from gqlsync.embedded.search.query import Compiler
from gqlsync.embedded.search.searcher import Searcher, count
from gqlsync.embedded.search.source_filter import filter_source, merge, source_params
from gqlsync.embedded.search.store import PRIMARY_TERM, SHARDS, IndexStore, WriteResult

VERSION = "2.17.0"
_RAW = "\x00raw"  # a bulk item's source line, kept beside its parsed metadata
LUCENE_VERSION = "9.11.1"
_INVALID_NAME_CHARS = set('\\/*?"<>| ,#:')
_STATIC_SETTINGS = {"number_of_shards", "codec", "routing_partition_size", "soft_deletes", "shard"}
_DYNAMIC_SETTINGS = {"number_of_replicas", "refresh_interval", "max_result_window", "auto_expand_replicas",
                     "blocks", "max_inner_result_window", "max_terms_count", "max_regex_length", "translog",
                     "query", "search", "mapping", "hidden", "priority", "write", "highlight", "knn", "analysis",
                     "similarity", "sort", "plugins", "replication", "indexing", "merge", "unassigned",
                     "routing", "lifecycle", "number_of_routing_shards", "default_pipeline", "final_pipeline"}


def check_index_name(name: str) -> None:
    """OpenSearch's index name rules (invalid_index_name_exception)."""
    def bad(why: str) -> SearchError:
        return SearchError(400, "invalid_index_name_exception", f"Invalid index name [{name}], {why}",
                           index=name)

    if not name:
        raise bad("must not be empty")
    if name != name.lower():
        raise bad("must be lowercase")
    if name in (".", ".."):
        raise bad("must not be '.' or '..'")
    if name[0] in "_-+":
        raise bad("must not start with '_', '-', or '+'")
    if any(c in _INVALID_NAME_CHARS for c in name):
        raise bad('must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]')
    if len(name.encode()) > 255:
        raise bad("index name is too long, (" + str(len(name.encode())) + " > 255)")


def check_doc_id(doc_id: str) -> None:
    if doc_id == "":
        raise SearchError(400, "action_request_validation_exception",
                          "Validation Failed: 1: if _id is specified it must not be empty;")
    if len(doc_id.encode()) > 512:
        raise SearchError(400, "action_request_validation_exception",
                          f"Validation Failed: 1: id [{doc_id}] is too long, must be no longer than 512 bytes but was: "
                          f"{len(doc_id.encode())};")


def _normalize_settings(body: Any) -> dict[str, Any]:
    """`{"index": {...}}`, `{"number_of_shards": 1}` and `{"index.x": ..}` all as {"index": {...}} of strings."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = value

    walk("", body or {})
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if parts[0] != "index":
            parts = ["index", *parts]
        cur = nested
        for part in parts[:-1]:
            cur = cur.setdefault(part, {})
        cur[parts[-1]] = value if isinstance(value, list) else ("true" if value is True else "false" if value is False
                                                                else str(value) if value is not None else None)
    return nested


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        elif v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


class SearchEngine:
    """OpenSearch's APIs over SQLite indices kept in `data_dir` (None: in memory, gone at close)."""

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.indices: dict[str, IndexStore] = {}
        self._lock = threading.RLock()
        self._bulk_lock = threading.Lock()  # a bulk may lock several indices: one bulk at a time, no deadlock
        self.cluster_uuid = "gqlsync-embedded-search"
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            id_file = self.data_dir / "cluster_uuid"
            if not id_file.exists():
                id_file.write_text(uuidlib.uuid4().hex[:22])
            self.cluster_uuid = id_file.read_text().strip()
            for path in sorted(self.data_dir.glob("*.sqlite3")):
                store = IndexStore.open(path)
                self.indices[store.name] = store

    def close(self) -> None:
        with self._lock:
            for store in self.indices.values():
                store.close()
            self.indices.clear()

    # -- cluster
    def info(self) -> dict[str, Any]:
        return {"name": "gqlsync-embedded", "cluster_name": "gqlsync", "cluster_uuid": self.cluster_uuid,
                "version": {"distribution": "opensearch", "number": VERSION, "build_type": "embedded",
                            "build_hash": "gqlsync", "build_date": "2024-01-01T00:00:00.000000Z",
                            "build_snapshot": False, "lucene_version": LUCENE_VERSION,
                            "minimum_wire_compatibility_version": "7.10.0",
                            "minimum_index_compatibility_version": "7.0.0"},
                "tagline": "The OpenSearch Project: https://opensearch.org/"}

    def health(self) -> dict[str, Any]:
        with self._lock:
            stores = list(self.indices.values())
        replicas = any(int(s.settings.get("index", {}).get("number_of_replicas", "1") or 0) > 0 for s in stores)
        return {"cluster_name": "gqlsync", "status": "yellow" if replicas else "green", "timed_out": False,
                "number_of_nodes": 1, "number_of_data_nodes": 1, "discovered_master": True,
                "discovered_cluster_manager": True, "active_primary_shards": len(stores),
                "active_shards": len(stores), "relocating_shards": 0, "initializing_shards": 0,
                "unassigned_shards": len(stores) if replicas else 0, "delayed_unassigned_shards": 0,
                "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
                "active_shards_percent_as_number": 50.0 if replicas else 100.0}

    def cat_indices(self) -> list[dict[str, Any]]:
        with self._lock:
            stores = sorted(self.indices.values(), key=lambda s: s.name)
        return [{"health": "yellow" if s.settings.get("index", {}).get("number_of_replicas", "1") != "0" else "green",
                 "status": "open", "index": s.name, "uuid": s.uuid, "pri": "1",
                 "rep": s.settings.get("index", {}).get("number_of_replicas", "1"), "docs.count": str(s.doc_count()),
                 "docs.deleted": "0", "store.size": f"{s.size_bytes() // 1024}kb",
                 "pri.store.size": f"{s.size_bytes() // 1024}kb"} for s in stores]

    # -- indices
    def store(self, name: str) -> IndexStore:
        store = self.indices.get(name)
        if store is None:
            raise index_not_found(name)
        return store

    def resolve(self, expression: str | None, *, ignore_unavailable: bool = False) -> list[IndexStore]:
        """The indices an index expression names: `a`, `a,b`, `logs-*`, `_all`, `*`, or none (all)."""
        with self._lock:
            if expression in (None, "", "_all", "*"):
                return [self.indices[n] for n in sorted(self.indices)]
            out: list[IndexStore] = []
            for part in expression.split(","):
                if "*" in part:
                    rx = re.compile("".join(".*" if c == "*" else re.escape(c) for c in part))
                    out.extend(self.indices[n] for n in sorted(self.indices) if rx.fullmatch(n))
                elif part in self.indices:
                    out.append(self.indices[part])
                elif not ignore_unavailable:
                    raise index_not_found(part)
            return list({id(s): s for s in out}.values())

    def exists(self, name: str) -> bool:
        return name in self.indices

    def create_index(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body or {}
        if not isinstance(body, dict):
            raise parsing("request body must be an object")
        for key in body:
            if key not in ("settings", "mappings", "aliases"):
                raise parsing(f"unknown key [{key}] for create index")
        if body.get("aliases"):
            raise unsupported("index aliases")
        check_index_name(name)
        settings = _normalize_settings(body.get("settings"))
        index_settings = settings.setdefault("index", {})
        for key in list(index_settings):
            if key not in _STATIC_SETTINGS | _DYNAMIC_SETTINGS:
                raise SearchError(400, "illegal_argument_exception", f"unknown setting [index.{key}] please check "
                                  "that any required plugins are installed, or check the breaking changes "
                                  "documentation for removed settings")
        mapping = Mapping(body.get("mappings") or None)
        with self._lock:
            if name in self.indices:
                existing = self.indices[name]
                raise SearchError(400, "resource_already_exists_exception",
                                  f"index [{name}/{existing.uuid}] already exists", index=name)
            uuid = uuidlib.uuid4().hex[:22]
            index_settings.setdefault("number_of_shards", "1")
            index_settings.setdefault("number_of_replicas", "1")
            index_settings["uuid"] = uuid
            index_settings["provided_name"] = name
            index_settings["creation_date"] = str(int(time.time() * 1000))
            index_settings["version"] = {"created": "136377827"}
            path = self.data_dir / f"{uuid}.sqlite3" if self.data_dir is not None else None
            self.indices[name] = IndexStore.create(path, name, uuid, mapping, settings)
        return {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def _auto_create(self, name: str) -> IndexStore:
        with self._lock:
            if name not in self.indices:
                self.create_index(name)
            return self.indices[name]

    def delete_index(self, expression: str) -> dict[str, Any]:
        if "*" in expression or expression in ("_all",):
            raise illegal("Wildcard expressions or all indices are not allowed")
        with self._lock:
            stores = self.resolve(expression)
            for store in stores:
                del self.indices[store.name]
                store.close()
                if store.path is not None:
                    for p in store.path.parent.glob(store.path.name + "*"):
                        with contextlib.suppress(FileNotFoundError):
                            p.unlink()
        return {"acknowledged": True}

    def get_index(self, expression: str) -> dict[str, Any]:
        return {s.name: {"aliases": {}, "mappings": self._mapping_json(s), "settings": self._settings_json(s)}
                for s in self.resolve(expression)}

    @staticmethod
    def _settings_json(store: IndexStore) -> dict[str, Any]:
        with store.lock:
            copy: dict[str, Any] = orjson.loads(orjson.dumps(store.settings))
            return copy

    @staticmethod
    def _mapping_json(store: IndexStore) -> dict[str, Any]:
        with store.lock:
            body = store.mapping.to_json()
        if not body.get("properties"):
            body.pop("properties", None)
        return body

    def get_mapping(self, expression: str | None) -> dict[str, Any]:
        return {s.name: {"mappings": self._mapping_json(s)} for s in self.resolve(expression)}

    def put_mapping(self, expression: str, body: dict[str, Any]) -> dict[str, Any]:
        for store in self.resolve(expression):
            store.put_mapping(body)
        return {"acknowledged": True}

    def get_settings(self, expression: str | None) -> dict[str, Any]:
        return {s.name: {"settings": self._settings_json(s)} for s in self.resolve(expression)}

    def put_settings(self, expression: str | None, body: dict[str, Any]) -> dict[str, Any]:
        settings = _normalize_settings(body.get("settings", body) if isinstance(body, dict) else {})
        for key in settings.get("index", {}):
            if key in _STATIC_SETTINGS:
                raise illegal(f"Can't update non dynamic settings [[index.{key}]] for open indices")
            if key not in _DYNAMIC_SETTINGS:
                raise illegal(f"unknown setting [index.{key}]")
        for store in self.resolve(expression):
            with store.lock:
                store.settings = _deep_merge(store.settings, settings)
                store.save_settings()
        return {"acknowledged": True}

    def refresh(self, expression: str | None = None) -> dict[str, Any]:
        """A no-op: every write is searchable as soon as it returns."""
        stores = self.resolve(expression)
        return {"_shards": {"total": 2 * len(stores), "successful": len(stores), "failed": 0}}

    # -- documents
    def index_doc(self, name: str, doc_id: str | None, source: Any, *, op_type: str = "index",
                  if_seq_no: int | None = None, if_primary_term: int | None = None, version: int | None = None,
                  version_type: str | None = None) -> tuple[int, dict[str, Any]]:
        if not isinstance(source, dict):
            raise SearchError(400, "mapper_parsing_exception", "failed to parse, document is empty"
                              if source in (None, b"", "") else "failed to parse: the document must be an object")
        if op_type not in ("index", "create"):
            raise illegal(f"opType must be 'create' or 'index', found: [{op_type}]")
        if doc_id is None:
            doc_id = self._new_id()
            op_type = "create"
        check_doc_id(doc_id)
        check_index_name(name)
        store = self.indices.get(name) or self._auto_create(name)
        with store.transaction():
            result = store.index(doc_id, source, op_type=op_type, if_seq_no=if_seq_no,
                                 if_primary_term=if_primary_term, version=version, version_type=version_type)
        return result.status, result.body()

    @staticmethod
    def _new_id() -> str:
        return secrets.token_urlsafe(15)

    def get_doc(self, name: str, doc_id: str, params: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        store = self.store(name)
        state = store.get(doc_id)
        if state is None:
            return 404, {"_index": name, "_id": doc_id, "found": False}
        body: dict[str, Any] = {"_index": name, "_id": doc_id, "_version": state.version, "_seq_no": state.seq_no,
                                "_primary_term": PRIMARY_TERM, "found": True}
        fetch, inc, exc = source_params(params or {})
        if fetch:
            src = orjson.loads(state.source)
            body["_source"] = filter_source(src, inc, exc) if inc or exc else src
        return 200, body

    def delete_doc(self, name: str, doc_id: str, *, if_seq_no: int | None = None, if_primary_term: int | None = None,
                   version: int | None = None, version_type: str | None = None) -> tuple[int, dict[str, Any]]:
        store = self.store(name)
        with store.transaction():
            result = store.delete(doc_id, if_seq_no=if_seq_no, if_primary_term=if_primary_term, version=version,
                                  version_type=version_type)
        return result.status, result.body()

    def update_doc(self, name: str, doc_id: str, body: Any, *, if_seq_no: int | None = None,
                   if_primary_term: int | None = None) -> tuple[int, dict[str, Any]]:
        check_index_name(name)
        self._check_update_body(body)
        store = self.indices.get(name)
        if store is None:
            if not (body.get("doc_as_upsert") or "upsert" in body):
                raise SearchError(404, "document_missing_exception", f"[{doc_id}]: document missing", index=name,
                                  shard="0")
            store = self._auto_create(name)
        with store.transaction():
            result = self._update(store, doc_id, body, if_seq_no, if_primary_term)
        return result.status, result.body()

    @staticmethod
    def _check_update_body(body: Any) -> None:
        if not isinstance(body, dict):
            raise parsing("[UpdateRequest] the update request body must be an object")
        for key in body:
            if key not in ("doc", "doc_as_upsert", "upsert", "detect_noop", "script", "scripted_upsert", "_source"):
                raise parsing(f"[UpdateRequest] unknown field [{key}]")
        if "script" in body:
            raise unsupported("scripted updates")
        if body.get("_source") not in (None, False):
            raise unsupported("[_source] in an update request")
        if "doc" not in body and "upsert" not in body:
            raise SearchError(400, "action_request_validation_exception",
                              "Validation Failed: 1: script or doc is missing;")

    def _update(self, store: IndexStore, doc_id: str, body: dict[str, Any], if_seq_no: int | None,
                if_primary_term: int | None) -> WriteResult:
        doc = body.get("doc")
        if doc is not None and not isinstance(doc, dict):
            raise parsing("[UpdateRequest] [doc] must be an object")
        current = store.current(doc_id)
        if current is None:
            if if_seq_no is not None or if_primary_term is not None:
                store.index(doc_id, {}, if_seq_no=if_seq_no, if_primary_term=if_primary_term)  # raises the conflict
            if body.get("doc_as_upsert") and doc is not None:
                return store.index(doc_id, doc, op_type="create")
            if "upsert" in body:
                if not isinstance(body["upsert"], dict):
                    raise parsing("[UpdateRequest] [upsert] must be an object")
                return store.index(doc_id, body["upsert"], op_type="create")
            raise SearchError(404, "document_missing_exception", f"[{doc_id}]: document missing", index=store.name,
                              shard="0")
        old = orjson.loads(current.source)
        merged = merge(old, doc or {})
        if body.get("detect_noop", True) and merged == old:
            if if_seq_no is not None or if_primary_term is not None:
                store.index(doc_id, merged, if_seq_no=if_seq_no, if_primary_term=if_primary_term)
            return WriteResult(store.name, doc_id, "noop", 200, current.version, current.seq_no)
        return store.index(doc_id, merged, if_seq_no=if_seq_no, if_primary_term=if_primary_term)

    def mget(self, default_index: str | None, body: Any, params: dict[str, str]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise parsing("[mget] the request body must be an object")
        if "docs" in body:
            specs = body["docs"]
        elif "ids" in body:
            specs = [{"_id": i} for i in body["ids"]]
        else:
            raise SearchError(400, "action_request_validation_exception", "Validation Failed: 1: no documents to get;")
        out = []
        for spec in specs:
            name = spec.get("_index", default_index)
            doc_id = str(spec.get("_id"))
            if name is None:
                raise SearchError(400, "action_request_validation_exception",
                                  "Validation Failed: 1: index is missing for doc 0;")
            doc_params = dict(params)
            if "_source" in spec:
                src = spec["_source"]
                doc_params["_source"] = ("true" if src is True else "false" if src is False
                                         else ",".join(src) if isinstance(src, list) else str(src))
            try:
                out.append(self.get_doc(name, doc_id, doc_params)[1])
            except SearchError as exc:
                out.append({"_index": name, "_id": doc_id, "error": exc.cause()})
        return {"docs": out}

    # -- bulk
    def bulk(self, payload: bytes | str, default_index: str | None = None) -> dict[str, Any]:
        """The `_bulk` API: NDJSON action/source pairs, applied in order, one transaction per index."""
        started = time.perf_counter()
        ops = self._parse_bulk(payload, default_index)
        items: list[dict[str, Any]] = []
        with self._bulk_lock, contextlib.ExitStack() as stack:
            open_tx: dict[str, IndexStore] = {}
            for action, meta, source in ops:
                name: str = meta["_index"]
                doc_id = meta.get("_id")
                try:
                    store = open_tx.get(name)
                    if store is None:
                        check_index_name(name)
                        existing = self.indices.get(name)
                        upsert = isinstance(source, dict) and (source.get("doc_as_upsert") or "upsert" in source)
                        if existing is None and action == "delete":
                            raise index_not_found(name)
                        if existing is None and action == "update" and not upsert:
                            raise SearchError(404, "document_missing_exception", f"[{doc_id}]: document missing",
                                              index=name, shard="0")
                        store = existing or self._auto_create(name)
                        stack.enter_context(store.transaction())
                        open_tx[name] = store
                        if existing is not None:
                            store.prefetch([m["_id"] for _, m, _ in ops if m["_index"] == name and m.get("_id")])
                    result = self._bulk_item(store, action, meta, source)
                    item = result.body()
                    item["status"] = result.status
                    items.append({action: item})
                except SearchError as exc:
                    entry: dict[str, Any] = {"_index": name, "_id": doc_id, "status": exc.status,
                                             "error": exc.cause()}
                    items.append({action: entry})
        return {"took": int((time.perf_counter() - started) * 1000),
                "errors": any("error" in next(iter(i.values())) for i in items), "items": items}

    def _bulk_item(self, store: IndexStore, action: str, meta: dict[str, Any], source: Any) -> WriteResult:
        doc_id = meta.get("_id")
        if_seq_no = meta.get("if_seq_no")
        if_primary_term = meta.get("if_primary_term")
        if action in ("index", "create"):
            if not isinstance(source, dict):
                raise SearchError(400, "mapper_parsing_exception", "failed to parse: the document must be an object")
            if doc_id is None:
                meta["_id"] = doc_id = self._new_id()
                action = "create"
            check_doc_id(str(doc_id))
            op_type = meta.get("op_type", action)
            return store.index(str(doc_id), source, op_type=op_type, if_seq_no=if_seq_no,
                               if_primary_term=if_primary_term, raw=meta.get(_RAW), version=meta.get("version"),
                               version_type=meta.get("version_type"))
        if doc_id is None:
            raise SearchError(400, "action_request_validation_exception", "Validation Failed: 1: id is missing;")
        if action == "delete":
            return store.delete(str(doc_id), if_seq_no=if_seq_no, if_primary_term=if_primary_term,
                                version=meta.get("version"), version_type=meta.get("version_type"))
        if meta.get("version") is not None or meta.get("version_type") is not None:
            raise SearchError(400, "action_request_validation_exception",
                              "Validation Failed: 1: can't provide version in upsert request;")
        self._check_update_body(source)
        return self._update(store, str(doc_id), source, if_seq_no, if_primary_term)

    def _parse_bulk(self, payload: bytes | str, default_index: str | None) -> list[tuple[str, dict[str, Any], Any]]:
        raw = payload.encode() if isinstance(payload, str) else payload
        lines = [line for line in raw.split(b"\n") if line.strip()]
        ops: list[tuple[str, dict[str, Any], Any]] = []
        i = 0
        while i < len(lines):
            try:
                action_line = orjson.loads(lines[i])
            except orjson.JSONDecodeError:
                raise illegal(f"Malformed action/metadata line [{i + 1}], expected START_OBJECT but found "
                              "[VALUE_STRING]") from None
            if not isinstance(action_line, dict) or len(action_line) != 1:
                raise illegal(f"Malformed action/metadata line [{i + 1}], expected a single-key object")
            (action, meta), = action_line.items()
            if action not in ("index", "create", "update", "delete"):
                raise illegal(f"Malformed action/metadata line [{i + 1}], expected field [create], [delete], "
                              f"[index] or [update] but found [{action}]")
            if not isinstance(meta, dict):
                raise illegal(f"Malformed action/metadata line [{i + 1}], expected START_OBJECT")
            meta = dict(meta)
            for key in meta:
                if key not in ("_index", "_id", "_type", "routing", "if_seq_no", "if_primary_term", "op_type",
                               "pipeline", "require_alias", "retry_on_conflict", "_source", "version", "version_type",
                               "dynamic_templates"):
                    raise illegal(f"Action/metadata line [{i + 1}] contains an unknown parameter [{key}]")
            if meta.pop("_type", "_doc") != "_doc":
                raise illegal(f"Action/metadata line [{i + 1}] names a mapping type: types are removed, use _doc")
            if meta.get("pipeline"):
                raise unsupported("ingest pipelines")
            meta.setdefault("_index", default_index)
            if meta["_index"] is None:
                raise SearchError(400, "action_request_validation_exception",
                                  "Validation Failed: 1: index is missing;")
            if meta.get("_id") is not None:
                meta["_id"] = str(meta["_id"])
            source: Any = None
            if action != "delete":
                i += 1
                if i >= len(lines):
                    raise illegal("The bulk request must be terminated by a newline [\\n]")
                try:
                    source = orjson.loads(lines[i])
                    meta[_RAW] = lines[i].strip()  # stored as the _source, byte for byte
                except orjson.JSONDecodeError:
                    source = None  # the item fails (mapper_parsing_exception), the others go on
            ops.append((action, meta, source))
            i += 1
        return ops

    # -- search
    def search(self, expression: str | None, body: dict[str, Any] | None = None,
               params: dict[str, str] | None = None) -> dict[str, Any]:
        params = params or {}
        ignore = params.get("ignore_unavailable") in ("true", "")
        stores = self.resolve(expression, ignore_unavailable=ignore)
        if len(stores) == 1:
            return Searcher(stores[0], body, params).run()
        if not stores:
            return {"took": 0, "timed_out": False, "_shards": {"total": 0, "successful": 0, "skipped": 0, "failed": 0},
                    "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []}}
        raise unsupported(f"searching several indices at once ({', '.join(s.name for s in stores)})")

    def msearch(self, payload: bytes, default_index: str | None, params: dict[str, str]) -> dict[str, Any]:
        """The `_msearch` API: NDJSON header/body pairs, each answered (or failed) on its own."""
        started = time.perf_counter()
        lines = [line for line in payload.split(b"\n") if line.strip()]
        if len(lines) % 2:
            raise illegal("The msearch request must be terminated by a newline [\\n] and hold header/body pairs")
        responses: list[dict[str, Any]] = []
        for i in range(0, len(lines), 2):
            try:
                header, body = orjson.loads(lines[i]), orjson.loads(lines[i + 1])
            except orjson.JSONDecodeError:
                raise illegal(f"Failed to parse msearch line [{i + 1}]") from None
            if not isinstance(header, dict) or not isinstance(body, dict):
                raise illegal(f"msearch line [{i + 1}] must hold JSON objects")
            index = header.get("index", default_index)
            if isinstance(index, list):
                index = ",".join(index)
            extra = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in header.items()
                     if k in ("ignore_unavailable", "preference", "routing", "search_type", "request_cache")}
            try:
                result = self.search(index, body, {**params, **extra})
                responses.append({**result, "status": 200})
            except SearchError as exc:
                responses.append({**exc.body()})
        return {"took": int((time.perf_counter() - started) * 1000), "responses": responses}

    @staticmethod
    def analyze(body: Any) -> dict[str, Any]:
        """The `_analyze` API for the one analyzer there is, `standard`."""
        if not isinstance(body, dict) or "text" not in body:
            raise SearchError(400, "action_request_validation_exception", "Validation Failed: 1: text is missing;")
        for key in body:
            if key not in ("text", "analyzer", "field"):
                raise unsupported(f"[{key}] in the _analyze API")
        if body.get("analyzer", "standard") != "standard":
            raise unsupported(f"analyzer [{body['analyzer']}] (only the standard analyzer)")
        texts = body["text"] if isinstance(body["text"], list) else [body["text"]]
        tokens, position, offset = [], 0, 0
        for text in texts:
            pos_in_text = 0
            for token in tokenize(str(text)):
                start = str(text).lower().find(token, pos_in_text)
                pos_in_text = start + len(token) if start >= 0 else pos_in_text
                tokens.append({"token": token, "start_offset": offset + max(start, 0),
                               "end_offset": offset + max(start, 0) + len(token), "type": "<ALPHANUM>",
                               "position": position})
                position += 1
            position += 100  # position_increment_gap between values
            offset += len(str(text)) + 1
        return {"tokens": tokens}

    def count(self, expression: str | None, body: dict[str, Any] | None = None,
              params: dict[str, str] | None = None) -> dict[str, Any]:
        params = params or {}
        stores = self.resolve(expression, ignore_unavailable=params.get("ignore_unavailable") in ("true", ""))
        total = 0
        for store in stores:
            total += count(store, body, params)["count"]
        return {"count": total, "_shards": {"total": len(stores), "successful": len(stores), "skipped": 0,
                                            "failed": 0}}

    def delete_by_query(self, expression: str, body: dict[str, Any] | None,
                        params: dict[str, str] | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        if not isinstance(body, dict) or "query" not in body:
            raise SearchError(400, "action_request_validation_exception",
                              "Validation Failed: 1: query is missing;")
        for key in body:
            if key not in ("query", "max_docs"):
                raise parsing(f"[delete_by_query] unknown field [{key}]")
        deleted = total = 0
        for store in self.resolve(expression):
            comp = Compiler(store)
            with store.transaction():
                node = comp.compile(body["query"], False)
                limit = f" LIMIT {int(body['max_docs'])}" if body.get("max_docs") else ""
                ids = [r[0] for r in store.conn.execute(
                    f"{comp.with_clause()}SELECT d.id FROM docs d WHERE {node.pred} ORDER BY d.rid{limit}",
                    comp.params)]
                for doc_id in ids:
                    store.delete(doc_id)
                deleted += len(ids)
                total += len(ids)
        return {"took": int((time.perf_counter() - started) * 1000), "timed_out": False, "total": total,
                "deleted": deleted, "batches": 1 if total else 0, "version_conflicts": 0, "noops": 0,
                "retries": {"bulk": 0, "search": 0}, "throttled_millis": 0, "requests_per_second": -1.0,
                "throttled_until_millis": 0, "failures": []}

    def iter_stores(self) -> Iterator[IndexStore]:
        with self._lock:
            return iter(list(self.indices.values()))


__all__ = ["SHARDS", "SearchEngine"]
