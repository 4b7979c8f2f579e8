"""The data-source interface, the call context each invoke receives, and the registry of data-source types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gqlsync.app.model import DataSourceConfig, FunctionConfig, ResolverConfig, TableConfig
from gqlsync.datasources.batching import BatchLoader
from gqlsync.datasources.clients import ClientProvider
from gqlsync.registry import Registry, UnknownKind
from gqlsync.request import RequestScope
from gqlsync.typed_config import ConfigError, parse_config


@dataclass(slots=True)
class Call:
    """What a data source knows of the call it serves: the resolver (or pipeline function) making it, with its
    config (sync config, caching keys, ... as those features land), and the request it belongs to.

    Made once per resolver step (not frozen: a frozen dataclass costs more to build on this hot path)."""

    where: str
    config: ResolverConfig | FunctionConfig | None
    scope: RequestScope
    arguments: dict[str, Any] = field(default_factory=dict)  # the field's (a Lambda conflict handler gets them)
    #: The request's batch loader of this step when its data source takes BatchInvoke; `expected` while the
    #: loader counts the step as one that may still load.
    batch: BatchLoader | None = None
    expected: bool = False

    @property
    def identity(self) -> dict[str, Any] | None:
        return self.scope.identity


class DataSource(Protocol):
    """Takes exactly the request documents AppSync defines for its type; never sees GraphQL.

    The server calls `start()` before the first request and `close()` at shutdown. A source with a true
    `batch_invoke` attribute takes AppSync's `BatchInvoke` (a list of payloads in, a list of results out): the
    engine then gathers a resolver's BatchInvoke requests across a request's list items
    (gqlsync.datasources.batching) and sends them maxBatchSize at a time.
    """

    name: str
    type: str
    #: True when the source takes AppSync's resolver context itself where mapping code is omitted (direct Lambda).
    direct: bool
    #: DynamoDB tables the source needs beside the app's own (Delta Sync's change-record table); `dev` creates them.
    tables: tuple[TableConfig, ...]

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        """Run one request document; raises DataSourceError (or ResolverError for a bad document)."""
        ...


class WithoutConnections:
    """`start`/`close` for data sources that hold no connection of their own (and need no tables)."""

    tables: tuple[TableConfig, ...] = ()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class DataSourceEnv:
    """What a data source may use besides its own config: the shared clients and the app folder."""

    clients: ClientProvider
    root: Path


class DataSourceType(Protocol):
    """A registered type: `config_type` is the frozen dataclass its `config:` is read into (every key checked);
    calling the type builds the data source, raising ValueError for config that cannot work."""

    config_type: type[Any]

    def __call__(self, name: str, config: Any, env: DataSourceEnv) -> DataSource: ...


#: Data-source types by AppSync's name; each module of gqlsync.datasources registers its types.
DATA_SOURCES: Registry[DataSourceType] = Registry("data source type", "gqlsync.datasources")

def build_data_source(config: DataSourceConfig, env: DataSourceEnv) -> DataSource:
    """Raises ConfigError naming the key at fault: an unknown type, a config key that is wrong or unsupported,
    a handler that does not load."""
    try:
        kind = DATA_SOURCES.get(config.type)
    except UnknownKind as exc:
        raise ConfigError([("type", f"type: {exc}")]) from None
    typed = parse_config(kind.config_type, config.config, "config")
    try:
        return kind(config.name, typed, env)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError([(None, str(exc))]) from None
