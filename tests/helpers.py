"""Test helpers: apps with per-test table names, GraphQL calls over ASGI."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from gqlsync.app import App, load_app
from gqlsync.app.model import AuthProvider
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
    # a stream follows its table to the new name and keeps feeding the index it fed
    streams = tuple(dataclasses.replace(s, table=prefix + s.table, index=s.index_name) for s in app.streams)
    return dataclasses.replace(app, data_sources=sources, tables=tables, streams=streams)


def with_cognito_issuer(app: App, issuer: str) -> App:
    """The same app with each Cognito mode's issuer (and so its JWKS) at `issuer`, a test server standing in for
    cognito-idp.REGION.amazonaws.com/POOL; every other setting stays the app's."""
    def point(p: AuthProvider) -> AuthProvider:
        if p.mode != "AMAZON_COGNITO_USER_POOLS":
            return p
        return dataclasses.replace(p, config={**p.config, "issuer": issuer, "jwksMinRefreshSeconds": 0})

    auth = dataclasses.replace(app.auth, default=point(app.auth.default),
                               additional=tuple(point(p) for p in app.auth.additional))
    return dataclasses.replace(app, auth=auth)


def run_gqlsync(*args: str | Path) -> tuple[int, str]:
    """Runs the `gqlsync` command; its exit status and what it printed (whitespace-normalized)."""
    proc = subprocess.run([sys.executable, "-m", "gqlsync.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "500"})
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def amplify_transform(schema: Path, out: Path, resolver_config: dict[str, Any] | None = None,
                      auth_config: dict[str, Any] | None = None) -> list[Path]:
    """Runs Amplify's transformer (tests/amplify/transform.cjs) on `schema` into `out`; the synthesized templates
    (root first, then the nested stacks) in `out/cdk.out`, the mapping templates in `out/assets`."""
    node = shutil.which("node")
    assert node, "node is required (tests/run.sh installs it)"
    args = [json.dumps(resolver_config) if resolver_config else "", json.dumps(auth_config) if auth_config else ""]
    subprocess.run([node, str(ROOT / "tests/amplify/transform.cjs"), str(schema), str(out), *args], check=True,
                   capture_output=True, timeout=300)
    return sorted((out / "cdk.out").glob("*.template.json"), key=lambda p: (".nested." in p.name, p.name))


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
