"""Long-lived AWS and HTTP clients, created once per app and shared by its data sources."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aioboto3
from botocore.config import Config

from gqlsync.sigv4 import Credentials

if TYPE_CHECKING:
    from gqlsync.datasources.dynamodb.wire import DynamoDBWireClient


def _default_region() -> str:
    """The region as the AWS SDKs find it (environment, then ~/.aws/config), else us-east-1."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        import botocore.session

        region = botocore.session.Session().get_config_variable("region")
    return str(region or "us-east-1")


@dataclass(frozen=True)
class AwsSettings:
    """Where AWS calls go: region, endpoint overrides (DynamoDB Local, moto) and timeouts."""

    region: str = field(default_factory=_default_region)
    dynamodb_endpoint: str | None = None
    #: Where every search data source's requests go instead of its own cluster (the embedded engine, a test's).
    search_endpoint: str | None = None
    connect_timeout: float = 2.0
    read_timeout: float = 10.0
    max_attempts: int = 3
    max_pool_connections: int = 100


def aws_settings(region: str | None = None, **endpoints: str | None) -> AwsSettings:
    """Settings with the endpoints given, in `region` or the environment's."""
    given: dict[str, Any] = endpoints
    return AwsSettings(**given) if region is None else AwsSettings(region=region, **given)


class ClientProvider:
    """Creates each client on first use and closes them all at shutdown."""

    def __init__(self, settings: AwsSettings | None = None) -> None:
        self.settings = settings or AwsSettings()
        self._stack = AsyncExitStack()
        self._clients: dict[tuple[str, str | None, str, int | None, float | None], Any] = {}
        self._lock = asyncio.Lock()
        self._dynamodb: dict[tuple[str, str], DynamoDBWireClient] = {}

    def use_dynamodb_endpoint(self, endpoint: str) -> None:
        """Send DynamoDB calls to `endpoint` from now on (the embedded store's port is known only once it runs);
        clients made for the previous endpoint are kept until `close`."""
        self.settings = dataclasses.replace(self.settings, dynamodb_endpoint=endpoint)

    def use_search_endpoint(self, endpoint: str) -> None:
        """Send every search data source's requests to `endpoint` (the embedded engine, once it runs)."""
        self.settings = dataclasses.replace(self.settings, search_endpoint=endpoint)

    @staticmethod
    def _local_credentials(endpoint: str | None) -> bool:
        """Local endpoints (DynamoDB Local, the embedded store) accept any credentials."""
        return bool(endpoint) and not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"))

    def dynamodb(self, region: str | None = None, endpoint: str | None = None) -> DynamoDBWireClient:
        """The data-plane DynamoDB client for (region, endpoint), created once."""
        region = region or self.settings.region
        endpoint = endpoint or self.settings.dynamodb_endpoint or f"https://dynamodb.{region}.amazonaws.com"
        client = self._dynamodb.get((endpoint, region))
        if client is None:
            from gqlsync.datasources.dynamodb.wire import CredentialSource, DynamoDBWireClient

            s = self.settings
            creds = CredentialSource(Credentials("local", "local") if self._local_credentials(endpoint) else None)
            client = DynamoDBWireClient(endpoint, region, creds, max_attempts=s.max_attempts,
                                        connect_timeout=s.connect_timeout, read_timeout=s.read_timeout,
                                        max_connections=s.max_pool_connections)
            self._dynamodb[(endpoint, region)] = client
        return client

    def _session(self, endpoint: str | None) -> aioboto3.Session:
        if self._local_credentials(endpoint):
            # Local endpoints (DynamoDB Local, the embedded store) accept any credentials.
            return aioboto3.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                    region_name=self.settings.region)
        return aioboto3.Session(region_name=self.settings.region)

    async def aws(self, service: str, region: str | None = None, endpoint: str | None = None, *,
                  max_attempts: int | None = None, read_timeout: float | None = None) -> Any:
        """The aioboto3 client for (service, region, endpoint), created once; `max_attempts` and `read_timeout`
        override the settings' for callers that retry themselves (Lambda) or wait longer."""
        region = region or self.settings.region
        if endpoint is None and service in ("dynamodb", "dynamodbstreams"):
            endpoint = self.settings.dynamodb_endpoint
        key = (service, endpoint, region, max_attempts, read_timeout)
        client = self._clients.get(key)
        if client is not None:
            return client
        async with self._lock:
            client = self._clients.get(key)
            if client is None:
                s = self.settings
                config = Config(connect_timeout=s.connect_timeout, read_timeout=read_timeout or s.read_timeout,
                                retries={"max_attempts": max_attempts or s.max_attempts, "mode": "standard"},
                                max_pool_connections=s.max_pool_connections)
                client = await self._stack.enter_async_context(
                    self._session(endpoint).client(service, region_name=region, endpoint_url=endpoint,
                                                   config=config))
                self._clients[key] = client
        return client

    async def close(self) -> None:
        for ddb in self._dynamodb.values():
            await ddb.close()
        self._dynamodb.clear()
        await self._stack.aclose()
        self._clients.clear()
        self._stack = AsyncExitStack()
