"""The search data sources through both official clients (opensearch-py, elasticsearch) against the embedded
engine — the client path a real cluster gets: documents in and out, cluster errors as field errors, a timeout, and
the endpoint going down and coming back (through a relay the test cuts)."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opensearchpy import AsyncOpenSearch

from gqlsync.embedded.search import EmbeddedSearch
from gqlsync.server import GqlsyncServer, ServerSettings
from tests.helpers import GraphQLClient
from tests.relay import Relay

pytestmark = pytest.mark.integration
KEY = "da2-searchdatasourcetestkey01"
SCHEMA = """
type Doc { id: ID! title: String tags: [String] }
type Page { items: [Doc] total: Int }
type Query { find(text: String!): Page  raw(path: String!, body: String): AWSJSON }
type Mutation { put(id: ID!, title: String!, tags: [String]): Doc }
"""
PUT = """{"version": "2017-02-28", "operation": "PUT", "path": "/docs/_doc/$ctx.args.id",
 "params": {"queryString": {"refresh": "true"}, "body": $util.toJson($ctx.args)}}"""
FIND = """{"version": "2017-02-28", "operation": "GET", "path": "/docs/_search",
 "params": {"body": {"query": {"match": {"title": $util.toJson($ctx.args.text)}}, "sort": [{"id.keyword": "asc"}]}}}"""
FOUND = """#if($ctx.error) $util.error($ctx.error.message, $ctx.error.type) #end
#set($items = [])
#foreach($h in $ctx.result.hits.hits) $util.qr($items.add($h.get("_source"))) #end
$util.toJson({"items": $items, "total": $ctx.result.hits.total.value})"""
RAW = """{"version": "2017-02-28", "operation": "POST", "path": "$ctx.args.path",
 "params": {"body": #if($ctx.args.body) $ctx.args.body #else {} #end}}"""
PASS = """#if($ctx.error) $util.error($ctx.error.message, $ctx.error.type) #end
$util.toJson($ctx.args)"""
RAW_OUT = """#if($ctx.error) $util.error($ctx.error.message, $ctx.error.type) #end
$util.toJson($util.toJson($ctx.result))"""


def write_app(root: Path, endpoint: str, client: str) -> Path:
    (root / "t").mkdir(parents=True)
    for name, text in {"put.req.vtl": PUT, "find.req.vtl": FIND, "found.res.vtl": FOUND, "raw.req.vtl": RAW,
                       "pass.res.vtl": PASS, "raw.res.vtl": RAW_OUT}.items():
        (root / "t" / name).write_text(text)
    (root / "schema.graphql").write_text(SCHEMA)
    manifest = {
        "name": "search-ds", "schema": "schema.graphql",
        "auth": {"default": {"mode": "API_KEY"}, "apiKeys": [{"id": KEY}]},
        "dataSources": {"Index": {"type": "AMAZON_OPENSEARCH_SERVICE", "config": {
            "endpoint": endpoint, "client": client, "timeoutSeconds": 1}}},
        "resolvers": [
            {"type": "Mutation", "field": "put", "dataSource": "Index", "request": "t/put.req.vtl",
             "response": "t/pass.res.vtl"},
            {"type": "Query", "field": "find", "dataSource": "Index", "request": "t/find.req.vtl",
             "response": "t/found.res.vtl"},
            {"type": "Query", "field": "raw", "dataSource": "Index", "request": "t/raw.req.vtl",
             "response": "t/raw.res.vtl"}]}
    (root / "gqlsync.yaml").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def engine(search_engine: EmbeddedSearch) -> str:
    return search_engine.endpoint


@pytest.fixture
async def relay(engine: str) -> AsyncIterator[Relay]:
    port = urllib.parse.urlsplit(engine).port
    assert port
    r = await Relay(port).start()
    yield r
    await r.close()


@pytest.fixture(params=["opensearch", "elasticsearch"])
async def c(request: pytest.FixtureRequest, engine: str, relay: Relay, tmp_path: Path) -> AsyncIterator[GraphQLClient]:
    admin = AsyncOpenSearch(hosts=[engine])
    try:
        await admin.indices.delete(index="docs", ignore=404)
    finally:
        await admin.close()
    app = write_app(tmp_path / "app", f"http://127.0.0.1:{relay.port}", request.param)
    async with GraphQLClient(GqlsyncServer(app, ServerSettings()), api_key=KEY) as client:
        yield client


async def test_documents_go_in_and_come_back_through_the_client(c: GraphQLClient) -> None:
    for i, title in enumerate(["red apple", "green apple", "red car"]):
        r = await c.query("mutation($i: ID!, $t: String!) { put(id: $i, title: $t, tags: [\"x\"]) { id } }",
                          {"i": f"d{i}", "t": title})
        assert "errors" not in r, r
    r = await c.query('query { find(text: "apple") { items { id title tags } total } }')
    assert r["data"]["find"] == {"items": [{"id": "d0", "title": "red apple", "tags": ["x"]},
                                           {"id": "d1", "title": "green apple", "tags": ["x"]}], "total": 2}


async def put_one(c: GraphQLClient) -> None:
    r = await c.query('mutation { put(id: "d0", title: "red apple") { id } }')
    assert "errors" not in r, r


async def test_a_cluster_error_is_a_field_error_with_the_clusters_type(c: GraphQLClient) -> None:
    await put_one(c)
    r = await c.query('query { raw(path: "/no-such-index/_search") }')
    assert r["data"]["raw"] is None
    assert r["errors"][0]["errorType"] == "index_not_found_exception" and "no-such-index" in r["errors"][0]["message"]
    r = await c.query('query { raw(path: "/docs/_search", body: "{\\"query\\": {\\"nope\\": {}}}") }')
    assert r["errors"][0]["errorType"] in ("parsing_exception", "x_content_parse_exception")


async def test_a_cluster_that_is_down_fails_the_field_and_recovery_needs_no_restart(
        c: GraphQLClient, relay: Relay) -> None:
    await put_one(c)
    relay.cut()
    r = await c.query('query { find(text: "apple") { total } }')
    assert r["data"]["find"] is None and r["errors"][0]["errorType"] == "OpenSearch:ConnectionError"
    relay.restore()
    r = await c.query('query { find(text: "apple") { total } }')
    assert "errors" not in r, r


async def test_a_cluster_that_hangs_times_out(c: GraphQLClient, relay: Relay) -> None:
    await put_one(c)
    relay.stall()
    try:
        r = await asyncio.wait_for(c.query('query { find(text: "apple") { total } }'), 10)
    finally:
        relay.restore()
    assert r["data"]["find"] is None and r["errors"][0]["errorType"] == "OpenSearch:ConnectionError"
    assert "cannot be reached" in r["errors"][0]["message"]


async def test_a_bad_request_document_is_a_mapping_template_error(tmp_path: Path, relay: Relay) -> None:
    app = write_app(tmp_path / "app", f"http://127.0.0.1:{relay.port}", "opensearch")
    (app / "t" / "find.req.vtl").write_text('{"version": "2017-02-28", "operation": "PATCH", "path": "/docs"}')
    async with GraphQLClient(GqlsyncServer(app, ServerSettings()), api_key=KEY) as client:
        r = await client.query('query { find(text: "x") { total } }')
    assert r["errors"][0]["errorType"] == "MappingTemplate" and "PATCH" in r["errors"][0]["message"]
