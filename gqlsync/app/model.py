"""Plain dataclasses describing an app: schema, data sources, resolvers, functions, auth and tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

AuthMode = Literal["API_KEY", "AMAZON_COGNITO_USER_POOLS", "OPENID_CONNECT", "AWS_IAM", "AWS_LAMBDA"]
DataSourceType = Literal["AMAZON_DYNAMODB", "AWS_LAMBDA", "AMAZON_OPENSEARCH_SERVICE",
                         "AMAZON_ELASTICSEARCH", "HTTP", "NONE"]


@dataclass(frozen=True)
class CodeFile:
    """A mapping-code file (VTL template or JS module), its text, and where the manifest names it.

    `inline` code was written in the manifest itself (`code: {inline: ...}`): `path` is then the manifest and
    `manifest_line` the line its text starts after.
    """

    path: Path
    text: str
    manifest_line: int | None = None
    inline: bool = False

    @property
    def name(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class ApiKey:
    """An API key and its expiry (None: never expires)."""

    id: str
    expires: datetime | None = None
    description: str = ""


@dataclass(frozen=True)
class AuthProvider:
    """One auth mode with its settings (user pool, OIDC issuer, Lambda authorizer...)."""

    mode: AuthMode
    config: dict[str, Any] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class AuthConfig:
    """The default auth mode, the additional ones, and the API keys."""

    default: AuthProvider
    additional: tuple[AuthProvider, ...] = ()
    api_keys: tuple[ApiKey, ...] = ()
    line: int | None = None

    @property
    def modes(self) -> tuple[AuthMode, ...]:
        return (self.default.mode, *(p.mode for p in self.additional))


@dataclass(frozen=True)
class DataSourceLimits:
    """How gqlsync protects a data source's backend (`limits:` beside `type`/`config`; None: no bound).

    At most `max_concurrency` calls in flight per process (excess calls wait up to `queue_timeout_ms`, then fail
    with DataSource:Throttled); each attempt cut off after `timeout_ms` (DataSource:Timeout); up to `retries`
    further attempts of a call that failed in a way that is safe to retry (gqlsync.datasources.limits)."""

    max_concurrency: int | None = None
    timeout_ms: int | None = None
    retries: int = 0
    queue_timeout_ms: int | None = None


@dataclass(frozen=True)
class DataSourceConfig:
    """A named data source: its type and type-specific config (tableName, endpoint, ...)."""

    name: str
    type: DataSourceType
    config: dict[str, Any] = field(default_factory=dict)
    line: int | None = None
    #: Manifest line of `type` and of each `config.<key>`, so a refused key is reported where it is written.
    key_lines: dict[str, int | None] = field(default_factory=dict)
    #: The backend protection of `limits:` (None: calls go straight through).
    limits: DataSourceLimits | None = None
    #: `enabled: false`: every call to the source fails with DataSource:Disabled; the rest of the app serves.
    enabled: bool = True

    def line_of(self, key: str | None) -> int | None:
        """The line of `key` (`config.a.b` falls back to `config.a`, then to the data source's own line)."""
        parts = (key or "").split(".")
        while parts:
            line = self.key_lines.get(".".join(parts))
            if line:
                return line
            parts.pop()
        return self.line


@dataclass(frozen=True)
class LambdaConflictHandlerConfig:
    """The local Lambda handler (`file.py:function` in the app folder) that resolves conflicts."""

    handler: str
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class SyncConfig:
    """A resolver's or function's Delta Sync settings (AppSync's SyncConfig)."""

    conflict_detection: Literal["VERSION", "NONE"] = "VERSION"
    conflict_handler: Literal["OPTIMISTIC_CONCURRENCY", "AUTOMERGE", "LAMBDA"] = "OPTIMISTIC_CONCURRENCY"
    lambda_conflict_handler_config: LambdaConflictHandlerConfig | None = None

    def check(self) -> None:
        if self.conflict_handler == "LAMBDA" and self.lambda_conflict_handler_config is None:
            raise ValueError("conflictHandler LAMBDA needs lambdaConflictHandlerConfig.handler")
        if self.conflict_handler != "LAMBDA" and self.lambda_conflict_handler_config is not None:
            raise ValueError("lambdaConflictHandlerConfig is only read when conflictHandler is LAMBDA")


@dataclass(frozen=True)
class FunctionConfig:
    """A pipeline function: a data source plus request/response mapping code."""

    name: str
    data_source: str
    runtime: str
    request: CodeFile | None
    response: CodeFile | None
    code: CodeFile | None = None
    line: int | None = None
    sync: SyncConfig | None = None
    #: AppSync's maxBatchSize: how many list items' BatchInvoke payloads one Lambda call takes (None: 5).
    max_batch_size: int | None = None


@dataclass(frozen=True)
class CachingConfig:
    """The API's server-side cache (AppSync's ApiCache): FULL_REQUEST_CACHING or PER_RESOLVER_CACHING."""

    behavior: str
    ttl: float = 3600.0
    line: int | None = None


@dataclass(frozen=True)
class ResolverCachingConfig:
    """A resolver's `cachingConfig`: its TTL (None: the API's) and caching keys (`context.arguments.id`...)."""

    ttl: float | None = None
    keys: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class ResolverConfig:
    """A resolver bound to Type.field: UNIT (one data source) or PIPELINE (a list of functions)."""

    type_name: str
    field_name: str
    kind: Literal["UNIT", "PIPELINE"]
    runtime: str
    data_source: str | None
    request: CodeFile | None
    response: CodeFile | None
    functions: tuple[str, ...] = ()
    code: CodeFile | None = None
    line: int | None = None
    sync: SyncConfig | None = None
    #: AppSync's maxBatchSize (Lambda BatchInvoke; a direct Lambda resolver batches only when it is set above 0).
    max_batch_size: int | None = None
    caching: ResolverCachingConfig | None = None

    @property
    def coordinate(self) -> str:
        return f"{self.type_name}.{self.field_name}"


@dataclass(frozen=True)
class KeyAttribute:
    """A key attribute of a table or index: name and DynamoDB type (S, N, B)."""

    name: str
    type: Literal["S", "N", "B"] = "S"


@dataclass(frozen=True)
class IndexConfig:
    """A global or local secondary index."""

    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    projection: str = "ALL"
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableConfig:
    """A DynamoDB table the dev server creates: keys, indexes, stream and TTL."""

    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    global_indexes: tuple[IndexConfig, ...] = ()
    local_indexes: tuple[IndexConfig, ...] = ()
    stream: str | None = None
    ttl_attribute: str | None = None
    line: int | None = None


def amplify_index(table: str) -> str:
    """The index Amplify's @searchable keeps a table in: its name lower-cased up to the first '-' (tables are
    `Model-apiId-env`, the searchX resolvers read `/model/_search`)."""
    return table.lower().split("-")[0]


@dataclass(frozen=True)
class StreamConfig:
    """One table's DynamoDB stream kept in one search index (the DynamoDB-to-search sync function)."""

    table: str
    search_data_source: str
    #: None: Amplify's rule (the table name lower-cased up to its first '-')
    index: str | None = None
    #: stream records read per GetRecords call
    batch_size: int = 1000
    #: with no checkpoint yet, scan the table into the index first, then follow the stream from where the scan began
    backfill: bool = True
    line: int | None = None

    @property
    def key(self) -> str:
        """What its checkpoints are kept under: one table may feed several indexes."""
        return f"{self.table}>{self.index_name}"

    @property
    def index_name(self) -> str:
        return self.index or amplify_index(self.table)


@dataclass(frozen=True)
class App:
    """Everything gqlsync needs to serve one API."""

    name: str
    root: Path
    manifest: Path
    schema_file: Path
    schema_sdl: str
    auth: AuthConfig
    data_sources: dict[str, DataSourceConfig]
    resolvers: tuple[ResolverConfig, ...]
    functions: dict[str, FunctionConfig]
    tables: tuple[TableConfig, ...]
    limits: dict[str, Any] = field(default_factory=dict)
    streams: tuple[StreamConfig, ...] = ()
    caching: CachingConfig | None = None
