"""Test helpers: apps with per-test table names, GraphQL calls over ASGI."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import httpx

from gqlsync.app import App, load_app
from gqlsync.http import GqlsyncServer, ServerSettings, create_app

ROOT = Path(__file__).resolve().parent.parent
EVENT_APP = ROOT / "examples" / "event-app"
EVENT_KEY = "da2-gqlsynclocaldevelopmentkey01"


def with_table_prefix(app: App, prefix: str) -> App:
    """The same app with every table name prefixed, so tests sharing one DynamoDB never collide."""
    sources = {
        name: dataclasses.replace(ds, config={**ds.config, "tableName": prefix + ds.config["tableName"]})
        if "tableName" in ds.config else ds
        for name, ds in app.data_sources.items()
    }
    tables = tuple(dataclasses.replace(t, name=prefix + t.name) for t in app.tables)
    return dataclasses.replace(app, data_sources=sources, tables=tables)


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}_"


class GraphQLClient:
    """POSTs GraphQL to a gqlsync Starlette app in-process (real ASGI, real backends)."""

    def __init__(self, server: GqlsyncServer, api_key: str | None = EVENT_KEY) -> None:
        self.server = server
        self.asgi = create_app(server)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.asgi), base_url="http://gqlsync.test")
        self.api_key = api_key

    async def post(self, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> httpx.Response:
        h = {"content-type": "application/json"}
        if self.api_key:
            h["x-api-key"] = self.api_key
        h.update(headers or {})
        if raw is not None:
            return await self.http.post("/graphql", content=raw, headers=h)
        return await self.http.post("/graphql", json=body, headers=h)

    async def query(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        body.update(kw)
        resp = await self.post(body)
        assert resp.headers["content-type"].startswith("application/json")
        data: dict[str, Any] = resp.json()
        return data

    async def close(self) -> None:
        await self.http.aclose()
        await self.server.stop()

    async def __aenter__(self) -> GraphQLClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def dynamodb_server(app: App, endpoint: str, prefix: str | None = None) -> GqlsyncServer:
    """`app` on the given DynamoDB with its own table names, tables created on start."""
    return GqlsyncServer(with_table_prefix(app, prefix or unique_prefix()),
                         ServerSettings(dynamodb_endpoint=endpoint, create_tables=True))


def event_server(endpoint: str, prefix: str | None = None) -> GqlsyncServer:
    return dynamodb_server(load_app(EVENT_APP), endpoint, prefix)
