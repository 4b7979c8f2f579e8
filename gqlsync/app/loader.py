"""Loads an app folder's gqlsync.yaml, validates it against the JSON Schema, and reads its files."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

from gqlsync.app.errors import AppError, Problem
from gqlsync.app.model import (
    ApiKey,
    App,
    AuthConfig,
    AuthProvider,
    CachingConfig,
    CodeFile,
    DataSourceConfig,
    DataSourceLimits,
    FunctionConfig,
    IndexConfig,
    KeyAttribute,
    ResolverCachingConfig,
    ResolverConfig,
    StreamConfig,
    SyncConfig,
    TableConfig,
)
from gqlsync.app.yamlpos import PositionedYaml, load_positioned
from gqlsync.resources import data_dir, read_text
from gqlsync.typed_config import ConfigError, parse_config

MANIFEST_NAMES = ("gqlsync.yaml", "gqlsync.yml")
#: Code paths starting with this name files of the stock resolver library (the `resolvers/` folder).
STOCK_PREFIX = "stock:"
#: The data-source types a stream can feed.
SEARCH_TYPES = ("AMAZON_OPENSEARCH_SERVICE", "AMAZON_ELASTICSEARCH")


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(read_text("schema", "gqlsync.schema.json"))
    return jsonschema.Draft202012Validator(schema)


def find_manifest(path: Path) -> Path:
    if path.is_dir():
        for name in MANIFEST_NAMES:
            if (path / name).is_file():
                return path / name
        raise AppError([Problem(str(path), None, f"no {MANIFEST_NAMES[0]} in this folder")])
    if not path.is_file():
        raise AppError([Problem(str(path), None, "no such file or folder")])
    return path


def load_app(path: str | Path) -> App:
    """Load and check an app; raises AppError listing every problem with file and line."""
    manifest = find_manifest(Path(path)).resolve()
    text = manifest.read_text(encoding="utf-8")
    mf = str(manifest)
    try:
        doc = load_positioned(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise AppError([Problem(mf, line, f"YAML syntax error: {reason}", col)]) from None
    if not isinstance(doc.data, dict):
        raise AppError([Problem(mf, 1, "the manifest must be a mapping (schema:, dataSources:, ...)")])

    problems = [
        Problem(mf, doc.line_of(tuple(err.absolute_path)), _schema_message(err))
        for err in sorted(_validator().iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        raise AppError(problems)
    return _Builder(manifest, doc).build()


def _schema_message(err: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    return f"{where}: {err.message}"


class _Builder:
    """Turns a schema-valid manifest into an App, collecting cross-reference problems."""

    def __init__(self, manifest: Path, doc: PositionedYaml) -> None:
        self.manifest = manifest
        self.root = manifest.parent
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.problems: list[Problem] = []

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(str(self.manifest), self.doc.line_of(path), message))

    def code(self, path: tuple[str | int, ...], rel: str | dict[str, str] | None) -> CodeFile | None:
        if rel is None:
            return None
        if isinstance(rel, dict):  # `code: {inline: "..."}`: the module's source in the manifest itself
            return CodeFile(self.manifest, rel["inline"], self.doc.line_of((*path, "inline")), inline=True)
        if rel.startswith(STOCK_PREFIX):
            file = (data_dir("resolvers") / rel[len(STOCK_PREFIX):]).resolve()
        else:
            file = (self.root / rel).resolve()
        line = self.doc.line_of(path)
        if not file.is_file():
            self.problem(path, f"file not found: {rel}")
            return None
        try:
            return CodeFile(file, file.read_text(encoding="utf-8"), line)
        except UnicodeDecodeError as exc:
            self.problem(path, f"{rel} is not UTF-8 text: {exc}")
            return None

    def build(self) -> App:
        d = self.data
        schema_file = (self.root / d["schema"]).resolve()
        sdl = ""
        if schema_file.is_file():
            sdl = schema_file.read_text(encoding="utf-8")
        else:
            self.problem(("schema",), f"schema file not found: {d['schema']}")
        auth = self.auth()
        data_sources = {
            name: DataSourceConfig(name, spec["type"], dict(spec.get("config") or {}),
                                   self.doc.line_of(("dataSources", name)),
                                   {key: self.doc.line_of(("dataSources", name, *key.split(".")))
                                    for key in ("type", *(f"config.{k}" for k in spec.get("config") or {}))},
                                   self.data_source_limits(name, spec), spec.get("enabled", True))
            for name, spec in (d.get("dataSources") or {}).items()
        }
        functions = self.functions(data_sources)
        resolvers = self.resolvers(data_sources, functions)
        tables = tuple(self.table(i, t) for i, t in enumerate(d.get("tables") or []))
        seen_tables: set[str] = set()
        for i, t in enumerate(tables):
            if t.name in seen_tables:
                self.problem(("tables", i, "name"), f"table {t.name!r} is declared twice")
            seen_tables.add(t.name)
        streams = self.streams(data_sources, tables)
        if streams:
            tables = self.streamed(tables, streams)
        if self.problems:
            raise AppError(self.problems)
        return App(
            name=d.get("name") or self.root.name,
            root=self.root,
            manifest=self.manifest,
            schema_file=schema_file,
            schema_sdl=sdl,
            auth=auth,
            data_sources=data_sources,
            resolvers=resolvers,
            functions=functions,
            tables=tables,
            limits=dict(d.get("limits") or {}),
            streams=streams,
            caching=self.caching(),
        )

    def data_source_limits(self, name: str, spec: dict[str, Any]) -> DataSourceLimits | None:
        """`limits:` of one data source (types and ranges are the JSON Schema's; the keys' interplay is here)."""
        if "limits" not in spec:
            return None
        raw = spec["limits"] or {}
        path = ("dataSources", name, "limits")
        limits = DataSourceLimits(raw.get("maxConcurrency"), raw.get("timeoutMs"), raw.get("retries", 0),
                                  raw.get("queueTimeoutMs"))
        if limits.queue_timeout_ms is not None and limits.max_concurrency is None:
            self.problem((*path, "queueTimeoutMs"), f"dataSources.{name}.limits.queueTimeoutMs: calls queue only "
                                                    "behind maxConcurrency; set limits.maxConcurrency too")
        if spec["type"] == "NONE" and (limits.max_concurrency or limits.timeout_ms or limits.retries):
            self.problem(path, f"dataSources.{name}.limits: a NONE data source calls no backend; limits have "
                               "nothing to protect")
        return limits

    def auth(self) -> AuthConfig:
        spec = self.data.get("auth") or {}
        default = spec.get("default") or {"mode": "API_KEY"}
        keys = []
        for i, k in enumerate(spec.get("apiKeys") or []):
            expires = None
            if k.get("expires"):
                try:
                    expires = datetime.fromisoformat(str(k["expires"]).replace("Z", "+00:00"))
                    if expires.tzinfo is None:
                        self.problem(("auth", "apiKeys", i, "expires"), "expiry needs a UTC offset (e.g. Z)")
                except ValueError:
                    self.problem(("auth", "apiKeys", i, "expires"), f"not an ISO-8601 date-time: {k['expires']}")
            keys.append(ApiKey(k["id"], expires, k.get("description", "")))
        additional = tuple(AuthProvider(a["mode"], dict(a.get("config") or {}),
                                        self.doc.line_of(("auth", "additional", i)))
                           for i, a in enumerate(spec.get("additional") or []))
        # Each mode's config is checked by the mode itself when the server is built (gqlsync.auth.modes).
        cfg = AuthConfig(AuthProvider(default["mode"], dict(default.get("config") or {}),
                                      self.doc.line_of(("auth", "default")) if "default" in spec else None),
                         additional, tuple(keys), self.doc.line_of(("auth",)) if "auth" in self.data else None)
        return cfg

    def functions(self, data_sources: dict[str, DataSourceConfig]) -> dict[str, FunctionConfig]:
        out: dict[str, FunctionConfig] = {}
        for name, spec in (self.data.get("functions") or {}).items():
            path = ("functions", name)
            if spec["dataSource"] not in data_sources:
                self.problem((*path, "dataSource"), f"function {name}: unknown data source {spec['dataSource']!r}")
            runtime = spec.get("runtime", "VTL")
            ds = data_sources.get(spec["dataSource"])
            if spec.get("maxBatchSize") and ds is not None and ds.type != "AWS_LAMBDA":
                self.problem((*path, "maxBatchSize"), f"function {name}: maxBatchSize batches Lambda invocations; "
                                                      f"data source {ds.name} is {ds.type}")
            out[name] = FunctionConfig(
                name=name, data_source=spec["dataSource"], runtime=runtime,
                request=self.code((*path, "request"), spec.get("request")),
                response=self.code((*path, "response"), spec.get("response")),
                code=self.code((*path, "code"), spec.get("code")),
                line=self.doc.line_of(path), sync=self.sync(path, spec), max_batch_size=spec.get("maxBatchSize"))
        return out

    def sync(self, path: tuple[str | int, ...], spec: dict[str, Any]) -> SyncConfig | None:
        """`syncConfig:` read key by key (conflictDetection, conflictHandler, lambdaConflictHandlerConfig)."""
        if "syncConfig" not in spec:
            return None
        try:
            config = parse_config(SyncConfig, spec["syncConfig"], "syncConfig", refused={
                "lambdaConflictHandlerArn": "remote conflict handlers are not supported yet; give "
                                            "lambdaConflictHandlerConfig.handler (file.py:function)"})
            handler = config.lambda_conflict_handler_config
            if handler is not None and not (self.root / handler.handler.partition(":")[0]).is_file():
                raise ConfigError([("syncConfig.lambdaConflictHandlerConfig.handler",
                                    f"syncConfig.lambdaConflictHandlerConfig.handler: file not found: "
                                    f"{handler.handler.partition(':')[0]}")])
            return config
        except ConfigError as exc:
            for key, reason in exc.problems:
                self.problem((*path, *(key or "syncConfig").split(".")), reason)
            return None

    def resolvers(self, data_sources: dict[str, DataSourceConfig],
                  functions: dict[str, FunctionConfig]) -> tuple[ResolverConfig, ...]:
        out: list[ResolverConfig] = []
        seen: dict[str, int] = {}
        for i, spec in enumerate(self.data.get("resolvers") or []):
            path: tuple[str | int, ...] = ("resolvers", i)
            coord = f"{spec['type']}.{spec['field']}"
            if coord in seen:
                self.problem(path, f"duplicate resolver for {coord} (first at line {seen[coord]})")
            seen[coord] = self.doc.line_of(path) or 0
            kind: Literal["UNIT", "PIPELINE"] = spec.get("kind") or ("PIPELINE" if "functions" in spec else "UNIT")
            runtime = spec.get("runtime", "VTL")
            ds = spec.get("dataSource")
            if kind == "UNIT":
                if ds is None:
                    self.problem(path, f"resolver {coord}: a UNIT resolver needs `dataSource:`")
                elif ds not in data_sources:
                    self.problem((*path, "dataSource"), f"resolver {coord}: unknown data source {ds!r}")
                if "functions" in spec:
                    self.problem((*path, "functions"), f"resolver {coord}: `functions:` needs kind PIPELINE")
            else:
                if ds is not None:
                    self.problem((*path, "dataSource"),
                                 f"resolver {coord}: a PIPELINE resolver takes `functions:`, not `dataSource:`")
                if not spec.get("functions"):
                    self.problem(path, f"resolver {coord}: a PIPELINE resolver needs a list of `functions:`")
                for j, fn in enumerate(spec.get("functions") or []):
                    if fn not in functions:
                        self.problem((*path, "functions", j), f"resolver {coord}: unknown function {fn!r}")
            # Which code files a resolver needs is its runtime's rule, checked when the version is built.
            if spec.get("maxBatchSize"):
                if kind == "PIPELINE":
                    self.problem((*path, "maxBatchSize"), f"resolver {coord}: maxBatchSize batches the Lambda calls "
                                                          "of one step: set it on the pipeline's functions")
                elif ds in data_sources and data_sources[ds].type != "AWS_LAMBDA":
                    self.problem((*path, "maxBatchSize"), f"resolver {coord}: maxBatchSize batches Lambda "
                                                          f"invocations; data source {ds} is {data_sources[ds].type}")
            out.append(ResolverConfig(
                type_name=spec["type"], field_name=spec["field"], kind=kind, runtime=runtime,
                data_source=ds,
                request=self.code((*path, "request"), spec.get("request")),
                response=self.code((*path, "response"), spec.get("response")),
                functions=tuple(spec.get("functions") or ()),
                code=self.code((*path, "code"), spec.get("code")),
                line=self.doc.line_of(path), sync=self.sync(path, spec), max_batch_size=spec.get("maxBatchSize"),
                caching=self.resolver_caching(path, coord, spec)))
        return tuple(out)

    def caching(self) -> CachingConfig | None:
        spec = self.data.get("caching")
        if spec is None:
            return None
        return CachingConfig(spec["behavior"], float(spec.get("ttl", 3600)), self.doc.line_of(("caching",)))

    def resolver_caching(self, path: tuple[str | int, ...], coord: str,
                         spec: dict[str, Any]) -> ResolverCachingConfig | None:
        c = spec.get("cachingConfig")
        if c is None:
            return None
        from gqlsync.engine.caching import valid_key

        keys = tuple(str(k) for k in c.get("cachingKeys") or ())
        for j, k in enumerate(keys):
            if not valid_key(k):
                self.problem((*path, "cachingConfig", "cachingKeys", j),
                             f"resolver {coord}: caching key {k!r} is not an entry of $context.arguments, "
                             "$context.source or $context.identity (e.g. $context.arguments.id)")
        if "caching" not in self.data:
            self.problem((*path, "cachingConfig"), f"resolver {coord}: cachingConfig needs the API's caching: "
                                                   "(behavior PER_RESOLVER_CACHING or FULL_REQUEST_CACHING)")
        ttl = c.get("ttl")
        return ResolverCachingConfig(float(ttl) if ttl is not None else None, keys,
                                     self.doc.line_of((*path, "cachingConfig")))

    def streams(self, data_sources: dict[str, DataSourceConfig],
                tables: tuple[TableConfig, ...]) -> tuple[StreamConfig, ...]:
        out: list[StreamConfig] = []
        seen: dict[str, int] = {}
        declared = {t.name: t for t in tables}
        for i, spec in enumerate(self.data.get("streams") or []):
            path: tuple[str | int, ...] = ("streams", i)
            config = StreamConfig(spec["table"], spec["searchDataSource"], spec.get("index"),
                                  spec.get("batchSize", 1000), spec.get("backfill", True), self.doc.line_of(path))
            ds = data_sources.get(config.search_data_source)
            if ds is None:
                self.problem((*path, "searchDataSource"), f"unknown data source {config.search_data_source!r}")
            elif ds.type not in SEARCH_TYPES:
                self.problem((*path, "searchDataSource"), f"data source {ds.name} is {ds.type}; a stream feeds an "
                                                          f"index of {' or '.join(SEARCH_TYPES)}")
            table = declared.get(config.table)
            if table is not None and table.stream in ("KEYS_ONLY", "OLD_IMAGE"):
                self.problem(("tables", tables.index(table), "stream"),
                             f"table {table.name} feeds index {config.index_name} (streams[{i}]), which needs the "
                             f"new images: stream NEW_AND_OLD_IMAGES or NEW_IMAGE, not {table.stream}")
            if config.key in seen:
                self.problem(path, f"table {config.table} already feeds index {config.index_name} "
                                   f"(line {seen[config.key]})")
            seen[config.key] = config.line or 0
            out.append(config)
        return tuple(out)

    @staticmethod
    def streamed(tables: tuple[TableConfig, ...], streams: tuple[StreamConfig, ...]) -> tuple[TableConfig, ...]:
        """A declared table that feeds an index and names no stream gets one (new and old images)."""
        fed = {s.table for s in streams}
        return tuple(dataclasses.replace(t, stream="NEW_AND_OLD_IMAGES") if t.name in fed and not t.stream else t
                     for t in tables)

    def table(self, i: int, t: dict[str, Any]) -> TableConfig:
        def key(k: dict[str, Any] | None) -> KeyAttribute | None:
            return KeyAttribute(k["name"], k.get("type", "S")) if k else None

        def index(ix: dict[str, Any]) -> IndexConfig:
            pk = key(ix["partitionKey"])
            assert pk is not None
            return IndexConfig(ix["name"], pk, key(ix.get("sortKey")), ix.get("projection", "ALL"),
                               tuple(ix.get("nonKeyAttributes") or ()))

        pk = key(t["partitionKey"])
        assert pk is not None
        lsis = tuple(index(ix) for ix in t.get("localSecondaryIndexes") or [])
        for j, ix in enumerate(lsis):
            if ix.partition_key.name != pk.name:
                self.problem(("tables", i, "localSecondaryIndexes", j),
                             f"table {t['name']}: a local index must share the table's partition key {pk.name!r}")
        return TableConfig(
            name=t["name"], partition_key=pk, sort_key=key(t.get("sortKey")),
            global_indexes=tuple(index(ix) for ix in t.get("globalSecondaryIndexes") or []),
            local_indexes=lsis, stream=t.get("stream"), ttl_attribute=t.get("ttlAttribute"),
            line=self.doc.line_of(("tables", i)))
