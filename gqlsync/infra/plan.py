"""What an app needs on AWS, read from its manifest: tables, the tables it touches, streams routes, Redis, search."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gqlsync.app import App, StreamConfig, TableConfig

SEARCH_TYPES = ("AMAZON_OPENSEARCH_SERVICE", "AMAZON_ELASTICSEARCH")


class InfraError(ValueError):
    """The app asks for something the template cannot give it (named in the message)."""


@dataclass(frozen=True)
class TableAccess:
    """A table the server reads and writes through a data source: declared in the template or existing already."""

    name: str
    #: the data source's config.region (None: the stack's region)
    region: str | None
    declared: bool


@dataclass(frozen=True)
class InfraPlan:
    """The facts the template is built from."""

    app: App
    #: tables the stack creates: the manifest's `tables:` and Delta Sync's change-record tables
    tables: tuple[TableConfig, ...]
    #: tables the server's task role may use (every DynamoDB data source's, and the change-record tables)
    access: tuple[TableAccess, ...]
    routes: tuple[StreamConfig, ...]
    search_sources: tuple[str, ...]
    #: Lambda functions (AWS_LAMBDA data sources with config.functionArn) the server calls
    functions: tuple[str, ...]
    #: data sources with limits.maxConcurrency: only they ever count gqlsync_datasource_throttles_total
    bounded_sources: tuple[str, ...]
    dynamodb_sources: tuple[str, ...]
    #: why the service needs Redis (subscriptions fan out across tasks, the API cache is shared); empty: it does not
    redis_reasons: tuple[str, ...]

    @property
    def needs_search(self) -> bool:
        return bool(self.search_sources)


def logical_id(*parts: str) -> str:
    """A CloudFormation logical id (alphanumeric) from names such as `search-events`."""
    words = [w for p in parts for w in re.split(r"[^A-Za-z0-9]+", p) if w]
    return "".join(w[:1].upper() + w[1:] for w in words)


def plan_app(app_dir: str | Path) -> InfraPlan:
    """Load and check the app as `gqlsync validate` does (AppError lists its problems), then read what it needs."""
    from gqlsync.server import check_app

    served = check_app(app_dir)
    api = served.api
    app = api.app
    tables: dict[str, TableConfig] = {t.name: t for t in app.tables}
    for ds in api.data_sources.values():
        for t in ds.tables:
            tables.setdefault(t.name, t)
    access: dict[str, TableAccess] = {}
    dynamodb_sources: list[str] = []
    functions: list[str] = []
    for cfg in app.data_sources.values():
        if cfg.type == "AMAZON_DYNAMODB":
            dynamodb_sources.append(cfg.name)
            name = str(cfg.config["tableName"])
            access.setdefault(name, TableAccess(name, cfg.config.get("region"), name in tables))
        elif cfg.type == "AWS_LAMBDA" and cfg.config.get("functionArn"):
            functions.append(str(cfg.config["functionArn"]))
    for ds in api.data_sources.values():
        for t in ds.tables:
            access.setdefault(t.name, TableAccess(t.name, None, True))
    for i, route in enumerate(app.streams):
        if route.table not in tables:
            raise InfraError(f"{app.manifest}: streams[{i}] reads table {route.table}, which is not declared under "
                             "tables:, so the template cannot enable its stream or map it to the sync function: "
                             "declare it (its keys and stream)")
    reasons: list[str] = []
    if api.schema.subscription_type is not None:
        reasons.append("subscriptions fan out across tasks")
    if app.caching is not None:
        reasons.append("the API cache is shared by the tasks")
    return InfraPlan(
        app=app, tables=tuple(tables.values()), access=tuple(access.values()), routes=app.streams,
        search_sources=tuple(n for n, c in app.data_sources.items() if c.type in SEARCH_TYPES),
        functions=tuple(dict.fromkeys(functions)),
        bounded_sources=tuple(n for n, c in app.data_sources.items()
                              if c.limits is not None and c.limits.max_concurrency is not None),
        dynamodb_sources=tuple(dynamodb_sources), redis_reasons=tuple(reasons))
