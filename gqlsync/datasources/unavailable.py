"""A data source whose type this build does not serve yet: every call fails clearly, nothing crashes."""

from __future__ import annotations

from typing import Any

from gqlsync.app.model import DataSourceConfig
from gqlsync.errors import DataSourceError


class UnavailableDataSource:
    def __init__(self, config: DataSourceConfig) -> None:
        self.name = config.name
        self.type: str = config.type

    async def invoke(self, request: dict[str, Any]) -> Any:
        raise DataSourceError(f"Data source {self.name} of type {self.type} is not supported by this gqlsync "
                              "version", "UnsupportedDataSource")
