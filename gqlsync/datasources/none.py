"""The NONE data source: the request's payload is the result (local resolvers)."""

from __future__ import annotations

from typing import Any

from gqlsync.app.model import DataSourceConfig


class NoneDataSource:
    def __init__(self, config: DataSourceConfig) -> None:
        self.name = config.name
        self.type = "NONE"

    async def invoke(self, request: dict[str, Any]) -> Any:
        return request.get("payload")
