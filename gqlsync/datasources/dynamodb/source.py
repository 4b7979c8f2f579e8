"""The AMAZON_DYNAMODB data source: typed config, lifecycle, request documents run on the lean client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gqlsync.datasources.base import DATA_SOURCES, Call, DataSourceEnv
from gqlsync.datasources.dynamodb.errors import client_error
from gqlsync.datasources.dynamodb.operations import TableOperations
from gqlsync.datasources.dynamodb.wire import DynamoDBWireClient
from gqlsync.errors import DataSourceError, ResolverError

VERSIONS = ("2017-02-28", "2018-05-29")


@dataclass(frozen=True)
class DynamoDBConfig:
    """`endpoint` overrides the server-wide DynamoDB endpoint for this table (another region, a local store)."""

    table_name: str
    region: str | None = None
    endpoint: str | None = None
    use_caller_credentials: bool = False

    def check(self) -> None:
        if self.use_caller_credentials:
            raise ValueError("config.useCallerCredentials is not supported yet (gqlsync calls DynamoDB with its own "
                             "credentials)")


@DATA_SOURCES.register("AMAZON_DYNAMODB")
class DynamoDBDataSource:
    """GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan, batches across tables and transactions."""

    type = "AMAZON_DYNAMODB"
    config_type = DynamoDBConfig
    direct = False

    def __init__(self, name: str, config: DynamoDBConfig, env: DataSourceEnv) -> None:
        self.name = name
        self.config = config
        self.table = config.table_name
        self.operations = TableOperations(config.table_name)
        self._clients = env.clients
        self._client: DynamoDBWireClient | None = None

    async def start(self) -> None:
        # The endpoint is known only now: the embedded store picks its port when the server starts.
        self._client = self._clients.dynamodb(self.config.region, self.config.endpoint)

    async def close(self) -> None:
        self._client = None  # pooled by the ClientProvider, which closes it

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        version = request.get("version")
        if version not in VERSIONS:
            raise ResolverError(f"Unsupported or missing template version {version!r}; use one of "
                                f"{', '.join(VERSIONS)}.", "MappingTemplate")
        client = self._client or self._clients.dynamodb(self.config.region, self.config.endpoint)
        try:
            return await self.operations.run(client, request)
        except ClientError as exc:
            raise client_error(exc) from None
        except (BotoCoreError, TimeoutError, OSError) as exc:
            raise DataSourceError(f"DynamoDB is unreachable: {exc}", "DynamoDB:ServiceUnavailable") from None
