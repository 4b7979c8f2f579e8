"""The data-source interface and the factory that builds one from its config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from gqlsync.app.model import DataSourceConfig
from gqlsync.datasources.clients import ClientProvider


class DataSource(Protocol):
    """Takes exactly the request documents AppSync defines for its type; never sees GraphQL."""

    name: str
    type: str

    async def invoke(self, request: dict[str, Any]) -> Any:
        """Run one request document; raises DataSourceError (or ResolverError for a bad document)."""
        ...


def build_data_source(config: DataSourceConfig, clients: ClientProvider, root: Path | None = None) -> DataSource:
    """Raises ValueError for config that cannot work (e.g. a Lambda handler that does not load)."""
    if config.type == "AMAZON_DYNAMODB":
        from gqlsync.datasources.dynamodb import DynamoDBDataSource

        return DynamoDBDataSource(config, clients)
    if config.type == "NONE":
        from gqlsync.datasources.none import NoneDataSource

        return NoneDataSource(config)
    if config.type == "AWS_LAMBDA":
        from gqlsync.datasources.lambda_ import LambdaDataSource

        return LambdaDataSource(config, root or Path("."))
    if config.type == "HTTP":
        from gqlsync.datasources.http import HttpDataSource

        return HttpDataSource(config, clients)
    from gqlsync.datasources.unavailable import UnavailableDataSource

    return UnavailableDataSource(config)
