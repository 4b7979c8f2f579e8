"""Session fixtures: the real services (started here) and clients on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aioboto3
import pytest

from gqlsync.embedded.search import EmbeddedSearch
from tests.helpers import GraphQLClient, event_server
from tests.services import CognitoPool, DynamoDBLocal, RedisServer


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    ddb = DynamoDBLocal().start()
    try:
        yield ddb
    finally:
        ddb.stop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cognito_pool() -> Iterator[CognitoPool]:
    pool = CognitoPool()
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="module")
def search_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSearch]:
    """The embedded search engine on loopback (one per test module; its indices under a temporary folder)."""
    engine = EmbeddedSearch(tmp_path_factory.mktemp("search"))
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamodb_local: DynamoDBLocal) -> str:
    return dynamodb_local.endpoint


@pytest.fixture
async def ddb(dynamodb_endpoint: str) -> AsyncIterator[object]:
    session = aioboto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    async with session.client("dynamodb", endpoint_url=dynamodb_endpoint) as client:
        yield client


@pytest.fixture
async def event_client(dynamodb_endpoint: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(event_server(dynamodb_endpoint)) as client:
        yield client
