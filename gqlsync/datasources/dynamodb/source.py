"""The AMAZON_DYNAMODB data source: typed config, lifecycle, request documents run on the lean client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gqlsync.app.model import KeyAttribute, TableConfig
from gqlsync.datasources.base import DATA_SOURCES, Call, DataSourceEnv
from gqlsync.datasources.dynamodb.errors import client_error
from gqlsync.datasources.dynamodb.operations import TableOperations
from gqlsync.datasources.dynamodb.wire import DynamoDBWireClient
from gqlsync.errors import DataSourceError, ResolverError
from gqlsync.sync import delta
from gqlsync.sync.config import TTL_ATTRIBUTE, DeltaSyncConfig
from gqlsync.sync.operation import SyncOperation
from gqlsync.sync.versioned import VersionedTable
from gqlsync.typed_config import ConfigError

VERSIONS = ("2017-02-28", "2018-05-29")
VERSIONED_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
UNVERSIONED_ONLY = ("BatchPutItem", "BatchDeleteItem", "TransactWriteItems")


@dataclass(frozen=True)
class DynamoDBConfig:
    """`endpoint` overrides the server-wide DynamoDB endpoint for this table (another region, a local store)."""

    table_name: str
    region: str | None = None
    endpoint: str | None = None
    use_caller_credentials: bool = False
    versioned: bool = False
    delta_sync_config: DeltaSyncConfig | None = None

    def check(self) -> None:
        if self.versioned and self.delta_sync_config is None:
            raise ConfigError([("config.versioned", "config.versioned: a versioned data source needs "
                                "config.deltaSyncConfig.deltaSyncTableName (where its change records go)")])
        if self.delta_sync_config is not None and not self.versioned:
            raise ConfigError([("config.deltaSyncConfig", "config.deltaSyncConfig is only read when config.versioned "
                                "is true")])
        if self.use_caller_credentials:
            raise ConfigError([("config.useCallerCredentials", "config.useCallerCredentials is not supported yet "
                                "(gqlsync calls DynamoDB with its own credentials)")])


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
        # Delta Sync: versioned writes and Sync go through gqlsync.sync, which wraps this table.
        ds = config.delta_sync_config
        self.versioned = VersionedTable(self.table, ds, env.root, config.region) if config.versioned and ds else None
        self.sync = SyncOperation(self.table, ds) if config.versioned and ds else None
        self.tables: tuple[TableConfig, ...] = () if ds is None else (TableConfig(
            ds.delta_sync_table_name, KeyAttribute(delta.PK), KeyAttribute(delta.SK), ttl_attribute=TTL_ATTRIBUTE),)

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
        op = request.get("operation")
        try:
            if op in VERSIONED_WRITES and self.versioned is not None:
                return await self.versioned.write(client, request, call)
            if op == "Sync":
                if self.sync is None:
                    raise ResolverError(f"Sync needs a versioned data source; {self.name} is not "
                                        "(config.versioned, config.deltaSyncConfig)", "MappingTemplate")
                return await self.sync.run(client, request)
            if op in UNVERSIONED_ONLY and self.versioned is not None:
                raise DataSourceError(f"Unsupported operation '{op}'. Datasource Versioning only supports the "
                                      "following operations (TransactGetItems,PutItem,BatchGetItem,Scan,Query,"
                                      "GetItem,DeleteItem,UpdateItem,Sync)", "UnsupportedOperation")
            return await self.operations.run(client, request)
        except ClientError as exc:
            raise client_error(exc) from None
        except (BotoCoreError, TimeoutError, OSError) as exc:
            raise DataSourceError(f"DynamoDB is unreachable: {exc}", "DynamoDB:ServiceUnavailable") from None
