"""Data-source types not served yet (OpenSearch, Elasticsearch): every call fails clearly, nothing crashes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gqlsync.datasources.base import DATA_SOURCES, Call, DataSourceEnv, WithoutConnections
from gqlsync.errors import DataSourceError


@dataclass(frozen=True)
class SearchDomainConfig:
    """The domain an AppSync OpenSearch/Elasticsearch data source names (kept so imports load)."""

    endpoint: str | None = None
    region: str | None = None


class UnavailableDataSource(WithoutConnections):
    type: str
    config_type = SearchDomainConfig
    direct = False

    def __init__(self, name: str, config: SearchDomainConfig, env: DataSourceEnv) -> None:
        self.name = name

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        raise DataSourceError(f"Data source {self.name} of type {self.type} is not supported by this gqlsync "
                              "version", "UnsupportedDataSource")


@DATA_SOURCES.register("AMAZON_OPENSEARCH_SERVICE")
class OpenSearchDataSource(UnavailableDataSource):
    type = "AMAZON_OPENSEARCH_SERVICE"


@DATA_SOURCES.register("AMAZON_ELASTICSEARCH")
class ElasticsearchDataSource(UnavailableDataSource):
    type = "AMAZON_ELASTICSEARCH"
