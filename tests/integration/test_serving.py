"""Serving concerns: embedding under a mount, request logs, API-key expiry, request limits."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings, create_app
from gqlsync.observe import JsonFormatter
from tests.helpers import EVENT_KEY, ROOT, GraphQLClient, event_server

pytestmark = pytest.mark.integration
KEY = "da2-limitstestkey000001"


@pytest.fixture
async def limits() -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(GqlsyncServer(load_app(ROOT / "tests/apps/limits"), ServerSettings()),
                             api_key=KEY) as client:
        yield client


async def test_mounted_inside_another_starlette_app(dynamodb_endpoint: str) -> None:
    server = event_server(dynamodb_endpoint)
    api = create_app(server)

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("host app")

    host = Starlette(routes=[Route("/", home), Mount("/api", app=api)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://host.test") as http:
        assert (await http.get("/")).text == "host app"
        r = await http.post("/api/graphql", headers={"x-api-key": EVENT_KEY}, json={
            "query": 'mutation { createEvent(name: "m", when: "w", where: "x", description: "d") { name } }'})
        assert r.json() == {"data": {"createEvent": {"name": "m"}}}
        assert (await http.get("/api/healthz")).json()["started"] is True
    await server.stop()


async def test_one_json_log_line_per_request_with_resolver_logs(limits: GraphQLClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gqlsync")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        resp = await limits.post({"query": "query Named { logged }", "operationName": "Named"})
        assert resp.json() == {"data": {"logged": "ok"}}
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [line for line in lines if line["msg"] == "request"]
    assert len(requests) == 1
    req = requests[0]
    assert req["request_id"] == resp.headers["x-amzn-RequestId"]
    assert (req["app"], req["operation"], req["operation_type"], req["status"]) == ("limits", "Named", "query", 200)
    assert req["duration_ms"] > 0 and req["error_types"] == []
    assert [(x["level"], x["message"], x["resolver"]) for x in req["resolver_logs"]] == \
        [("info", "looking up logged", "Query.logged"), ("error", "and failing softly", "Query.logged")]
    resolver_lines = [line for line in lines if line["logger"] == "gqlsync.resolver"]
    assert {line["request_id"] for line in resolver_lines} == {req["request_id"]}


async def test_expired_api_key_is_refused(limits: GraphQLClient) -> None:
    resp = await limits.post({"query": "{ logged }"}, headers={"x-api-key": "da2-limitsexpiredkey0001"})
    assert resp.status_code == 401 and resp.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert resp.json()["errors"][0]["message"] == "API key has expired."


async def test_max_resolver_executions(limits: GraphQLClient) -> None:
    q = "{ root { children { children { children { children { id } } } } } }"
    r = await limits.query(q)
    types = {e["errorType"] for e in r.get("errors", [])}
    assert "ResolverExecutionLimitReached" in types
    assert r["data"]["root"]["children"] is not None  # what ran within the limit is kept


async def test_max_depth(limits: GraphQLClient) -> None:
    q = "{ root { children { children { children { children { children { children { id } } } } } } } }"
    r = await limits.query(q)
    assert r["data"] is None and r["errors"][0]["errorType"] == "ValidationError"
    assert "depth" in r["errors"][0]["message"]


async def test_runaway_template_is_stopped_and_server_keeps_serving(limits: GraphQLClient) -> None:
    r = await limits.query("{ root { slow } }")
    assert r["data"] == {"root": {"slow": None}}
    assert r["errors"][0]["errorType"] == "MappingTemplateTimeout" and r["errors"][0]["path"] == ["root", "slow"]
    assert await limits.query("{ logged }") == {"data": {"logged": "ok"}}


async def test_request_timeout_with_a_backend_that_never_answers() -> None:
    import asyncio
    import dataclasses

    from gqlsync.app.model import CodeFile, DataSourceConfig

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    tcp = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    app = load_app(ROOT / "tests/apps/limits")
    node = next(r for r in app.resolvers if r.field_name == "root")
    req = CodeFile(ROOT / "tests/apps/limits/vtl/http.req.vtl", (ROOT / "tests/apps/limits/vtl/http.req.vtl").read_text())
    hang = dataclasses.replace(node, field_name="logged", data_source="Hang", request=req)
    app = dataclasses.replace(
        app, limits={**app.limits, "requestTimeoutSeconds": 1},
        data_sources={**app.data_sources, "Hang": DataSourceConfig("Hang", "HTTP", {"endpoint": f"http://127.0.0.1:{port}"})},
        resolvers=(*(r for r in app.resolvers if r.field_name != "logged"), hang))
    client = GraphQLClient(GqlsyncServer(app, ServerSettings()), api_key=KEY)
    try:
        r = await client.query("{ logged }")
        assert r["data"] is None and r["errors"][0]["errorType"] == "ExecutionTimeout", r
        assert (await client.query("{ root { id } }")) == {"data": {"root": {"id": "root"}}}
    finally:
        await client.close()
        tcp.close()


async def test_backend_down_at_start_gives_appsync_shaped_errors_then_recovers(tmp_path: object) -> None:
    from gqlsync.datasources import AwsSettings
    from tests.services import DynamoDBLocal

    ddb = DynamoDBLocal()  # not started yet: its port refuses connections
    server = event_server(ddb.endpoint)
    server.clients.settings = AwsSettings(dynamodb_endpoint=ddb.endpoint, connect_timeout=0.5, max_attempts=1)
    client = GraphQLClient(server)
    try:
        resp = await client.post({"query": "{ listEvents { nextToken } }"})
        assert resp.status_code == 500
        assert resp.json()["errors"][0]["errorType"] == "InternalFailure"
        assert resp.headers["x-amzn-ErrorType"] == "InternalFailure"
        ddb.start()
        r = await client.query("{ listEvents { items { id } nextToken } }")
        assert r == {"data": {"listEvents": {"items": [], "nextToken": None}}}
    finally:
        await client.close()
        ddb.stop()
