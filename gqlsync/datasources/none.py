"""The NONE data source: the request's payload is the result (local resolvers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gqlsync.datasources.base import DATA_SOURCES, Call, DataSourceEnv, WithoutConnections


@dataclass(frozen=True)
class NoneConfig:
    """NONE takes no config."""


@DATA_SOURCES.register("NONE")
class NoneDataSource(WithoutConnections):
    type = "NONE"
    config_type = NoneConfig
    direct = False

    def __init__(self, name: str, config: NoneConfig, env: DataSourceEnv) -> None:
        self.name = name

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        return request.get("payload")
