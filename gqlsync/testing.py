"""Testing your API: serve an app in-process on the embedded backends, query it; the pytest plugin's fixtures."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported when an app is served: the plugin loads in every pytest run where gqlsync is installed
    import httpx

    from gqlsync.app import App
    from gqlsync.http import GqlsyncServer

try:  # async fixtures need pytest-asyncio (gqlsync[test]); in its strict mode too
    import pytest_asyncio

    _async_fixture: Any = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - the fixtures then say what is missing when used
    _async_fixture = pytest.fixture

__all__ = ["AppClient", "EmbeddedStore", "serve"]

#: `query(api_key=...)` default: the app's first API key.
_APP_KEY: Any = object()


class AppClient:
    """Sends GraphQL to one served app over real ASGI (`/graphql`), as an HTTP client would."""

    def __init__(self, server: GqlsyncServer) -> None:
        import httpx

        from gqlsync.http import create_app

        self.server = server
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(server)),
                                      base_url="http://gqlsync.test")
        keys = server.app.auth.api_keys
        self.api_key: str | None = keys[0].id if keys else None

    @property
    def app(self) -> App:
        return self.server.app

    async def post(self, body: Any, *, api_key: Any = _APP_KEY, headers: dict[str, str] | None = None
                   ) -> httpx.Response:
        """POST /graphql with `body` as JSON; the raw response (status, headers)."""
        h = {"content-type": "application/json"}
        key = self.api_key if api_key is _APP_KEY else api_key
        if key:
            h["x-api-key"] = key
        h.update(headers or {})
        return await self.http.post("/graphql", json=body, headers=h)

    async def query(self, query: str, variables: dict[str, Any] | None = None, *, operation_name: str | None = None,
                    api_key: Any = _APP_KEY, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """The response body (`{"data": ..., "errors": [...]}`) of one query or mutation.

        The app's first API key is sent unless `api_key` says otherwise (None: no key); `headers` adds others
        (e.g. `{"authorization": token}` for Cognito/OIDC/Lambda auth).
        """
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation_name is not None:
            body["operationName"] = operation_name
        resp = await self.post(body, api_key=api_key, headers=headers)
        data: dict[str, Any] = resp.json()
        return data

    async def close(self) -> None:
        await self.http.aclose()
        await self.server.stop()

    async def __aenter__(self) -> AppClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class EmbeddedStore:
    """The embedded DynamoDB (moto, in-process) with its data in `data_dir`; one per process at a time."""

    def __init__(self, data_dir: Path) -> None:
        if importlib.util.find_spec("moto") is None:
            raise RuntimeError("gqlsync.testing serves apps on the embedded DynamoDB, which needs moto: "
                               "pip install 'gqlsync[dev]'")
        from gqlsync.embedded.dynamodb import EmbeddedDynamoDB

        self.data_dir = data_dir
        self._db = EmbeddedDynamoDB(data_dir / "dynamodb")
        self.endpoint = self._db.start()

    def stop(self) -> None:
        self._db.stop()


async def start_app(app: str | Path | App, dynamodb_endpoint: str, data_dir: Path) -> AppClient:
    """`app` (a folder or a loaded App) served with its tables created on `dynamodb_endpoint` and the embedded
    search engine (started only if the app has search data sources) in `data_dir`; raises AppError if broken."""
    from gqlsync.app import App, load_app
    from gqlsync.http import GqlsyncServer, ServerSettings

    loaded = app if isinstance(app, App) else load_app(app)
    settings = ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True,
                              embedded_search_dir=data_dir / "search")
    server = GqlsyncServer(loaded, settings)
    await server.start()
    return AppClient(server)


@asynccontextmanager
async def serve(app: str | Path | App, data_dir: str | Path) -> AsyncIterator[AppClient]:
    """`async with serve("my-app", tmp_path) as client: await client.query(...)` — outside pytest's fixtures."""
    store = EmbeddedStore(Path(data_dir))
    try:
        async with await start_app(app, store.endpoint, Path(data_dir)) as client:
            yield client
    finally:
        store.stop()


# ---------------------------------------------------------------- the pytest plugin (entry point pytest11)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("gqlsync_app", "the app folder (with gqlsync.yaml) the gqlsync_client fixture serves, relative "
                                 "to the rootdir", default=".")


@pytest.fixture
def gqlsync_store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """A fresh embedded DynamoDB for the test, its data in the test's tmp_path."""
    store = EmbeddedStore(tmp_path / "gqlsync")
    yield store
    store.stop()


@_async_fixture
async def gqlsync_app(gqlsync_store: EmbeddedStore) -> AsyncIterator[Callable[..., Awaitable[AppClient]]]:
    """`client = await gqlsync_app("path/to/app")`: serve an app (tables created, empty) for this test."""
    clients: list[AppClient] = []

    async def serve_app(app: str | Path | App) -> AppClient:
        client = await start_app(app, gqlsync_store.endpoint, gqlsync_store.data_dir)
        clients.append(client)
        return client

    yield serve_app
    for client in clients:
        await client.close()


@pytest.fixture
def gqlsync_app_dir(request: pytest.FixtureRequest) -> Path:
    """The app `gqlsync_client` serves: the `gqlsync_app` ini option (default: the rootdir); override to change."""
    return Path(request.config.rootpath) / str(request.config.getini("gqlsync_app"))


@_async_fixture
async def gqlsync_client(gqlsync_app: Callable[..., Awaitable[AppClient]], gqlsync_app_dir: Path
                         ) -> AppClient:
    """A client of the project's app (`gqlsync_app_dir`), served on a fresh embedded DynamoDB for this test."""
    return await gqlsync_app(gqlsync_app_dir)
