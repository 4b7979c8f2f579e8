"""Real JavaScript clients against a running gqlsync: graphql-ws, and aws-amplify v6 over HTTPS/WSS."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.http.tls import ensure_local_certificate
from tests.helpers import EVENT_APP, EVENT_KEY, ROOT, unique_prefix, with_table_prefix
from tests.live import live_server

pytestmark = pytest.mark.integration
NODE_DIR = ROOT / "tests" / "node"


async def run_node(script: str, env: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is required (tests/run.sh installs it)"
    import asyncio

    proc = await asyncio.create_subprocess_exec(node, str(NODE_DIR / script), cwd=NODE_DIR,
                                                env={**os.environ, **env}, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{out.decode()}\n{err.decode()}"
    last = out.decode().strip().splitlines()[-1]
    return dict(json.loads(last))


SERVERS: dict[str, GqlsyncServer] = {}


@pytest.fixture
async def tls_server(dynamodb_endpoint: str, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    cert = ensure_local_certificate(tmp_path / "tls")
    app = with_table_prefix(load_app(EVENT_APP), unique_prefix())
    server = GqlsyncServer(app, ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True))
    async with live_server(server, ssl_certfile=str(cert.cert), ssl_keyfile=str(cert.key)) as base:
        SERVERS[base] = server
        yield base, cert.ca


async def create_events(base: str, ca: Path, n: int = 2) -> list[str]:
    ids = []
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca)), headers={"x-api-key": EVENT_KEY}) as http:
        for i in range(n):
            r = await http.post(f"{base}/graphql", json={"query": f'mutation {{ createEvent(name: "n{i}", when: "w", '
                                                                    f'where: "x", description: "d") {{ id }} }}'})
            ids.append(r.json()["data"]["createEvent"]["id"])
    return ids


async def test_graphql_ws_library(tls_server: tuple[str, Path]) -> None:
    base, ca = tls_server
    a, b = await create_events(base, ca)
    result = await run_node("graphql-ws-client.mjs", {"GQLSYNC_URL": base, "GQLSYNC_KEY": EVENT_KEY, "EVENT_A": a,
                                                      "EVENT_B": b, "NODE_EXTRA_CA_CERTS": str(ca)})
    assert result["received"] == [{"eventId": a, "content": "one"}, {"eventId": a, "content": "two"}]
    assert result["mutation"] == {"eventId": a, "content": "two"}
    assert result["wrongKey"] == {"code": 4403, "reason": "Forbidden"}


async def test_amplify_js_v6_over_https_and_wss(tls_server: tuple[str, Path]) -> None:
    base, ca = tls_server
    a, b = await create_events(base, ca)
    result = await run_node("amplify-client.mjs", {"GQLSYNC_URL": base, "GQLSYNC_KEY": EVENT_KEY, "EVENT_A": a,
                                                   "EVENT_B": b, "NODE_EXTRA_CA_CERTS": str(ca)})
    assert result["errors"] == []
    assert [(r["eventId"], r["content"]) for r in result["received"]] == [(a, "first"), (a, "second")]
    assert "Unauthorized" in result["httpWrongKey"], result["httpWrongKey"]
    assert "UnauthorizedException" in result["socketWrongKey"], result["socketWrongKey"]
    # Amplify reuses its open socket (the refusal comes from per-start authorization) or opens one more;
    # it must not reconnect again and again after being refused.
    assert SERVERS[base].hub.accepted <= 2


async def test_amplify_js_v6_with_a_user_pool_token(tmp_path: Path) -> None:
    from tests.integration.test_auth_cognito import Keys, multiauth_app, token
    from tests.services import JwksServer

    jwks = JwksServer()
    keys = Keys("amplify-key")
    jwks.jwks = {"keys": [keys.jwk()]}
    cert = ensure_local_certificate(tmp_path / "tls")
    app = multiauth_app(jwks.issuer)
    try:
        async with live_server(GqlsyncServer(app, ServerSettings()), ssl_certfile=str(cert.cert),
                               ssl_keyfile=str(cert.key)) as base:
            admin = {"cognito:groups": ["admins"]}
            access = token((jwks, keys), token_use="access", aud=None, client_id="web-client-1", username="ann", **admin)
            ident = token((jwks, keys), **admin)
            result = await run_node("amplify-userpool.mjs", {
                "GQLSYNC_URL": base, "ACCESS_TOKEN": access, "ID_TOKEN": ident, "POOL_ID": "us-east-1_TestPool",
                "CLIENT_ID": "web-client-1", "NODE_EXTRA_CA_CERTS": str(cert.ca)})
    finally:
        jwks.stop()
    assert result["errors"] == []
    assert result["whoami"] == {"authType": "User Pool Authorization", "username": "ann", "groups": ["admins"],
                                "sub": "user-1"}
    assert result["received"] == ["from amplify"]
