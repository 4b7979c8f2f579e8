"""The app model: what a user hands gqlsync (schema, data sources, resolvers, auth, tables)."""

from gqlsync.app.errors import AppError, Problem
from gqlsync.app.loader import load_app
from gqlsync.app.model import (
    ApiKey,
    App,
    AuthConfig,
    CodeFile,
    DataSourceConfig,
    FunctionConfig,
    IndexConfig,
    KeyAttribute,
    ResolverConfig,
    StreamConfig,
    TableConfig,
)

__all__ = [
    "ApiKey",
    "App",
    "AppError",
    "AuthConfig",
    "CodeFile",
    "DataSourceConfig",
    "FunctionConfig",
    "IndexConfig",
    "KeyAttribute",
    "Problem",
    "ResolverConfig",
    "StreamConfig",
    "TableConfig",
    "load_app",
]
