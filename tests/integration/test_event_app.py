"""The Event app over HTTP on DynamoDB Local: every field, pagination, nesting, and bad input.

One suite, every test run on each of the three resolver runtimes, asserting the same things on each:
examples/event-app (VTL), tests/apps/event-app-js (APPSYNC_JS) and tests/apps/event-app-py (PYTHON) are the
same app (schema, data sources, tables, name). What only the Python app does (its deleteEvent also deletes the
event's comments) is tested in tests/integration/test_python_runtime.py; nothing here depends on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gqlsync.app import load_app
from tests.helpers import EVENT_APP, ROOT, GraphQLClient, dynamodb_server

pytestmark = pytest.mark.integration

EVENT_APPS = {
    "vtl": EVENT_APP,
    "js": ROOT / "tests" / "apps" / "event-app-js",
    "python": ROOT / "tests" / "apps" / "event-app-py",
}
RUNTIMES = {"vtl": {"VTL"}, "js": {"APPSYNC_JS"}, "python": {"PYTHON"}}


@pytest.fixture(params=list(EVENT_APPS))
async def event_client(request: pytest.FixtureRequest, dynamodb_endpoint: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(dynamodb_server(load_app(EVENT_APPS[request.param]), dynamodb_endpoint)) as client:
        yield client

CREATE = """mutation Create($name: String!, $when: String!, $where: String!, $description: String!) {
  createEvent(name: $name, when: $when, where: $where, description: $description) { id name when where description }
}"""
COMMENT = """mutation C($eventId: ID!, $content: String!, $createdAt: String!) {
  commentOnEvent(eventId: $eventId, content: $content, createdAt: $createdAt) { eventId commentId content createdAt }
}"""


async def create_event(c: GraphQLClient, name: str) -> dict:
    r = await c.query(CREATE, {"name": name, "when": "2026-12-01", "where": "Berlin", "description": "d"})
    assert "errors" not in r, r
    return r["data"]["createEvent"]


async def test_the_same_app_in_each_runtime(event_client: GraphQLClient, request: pytest.FixtureRequest) -> None:
    app = event_client.server.app
    runtime = request.node.callspec.params["event_client"]
    assert {r.runtime for r in app.resolvers} == RUNTIMES[runtime]
    vtl = load_app(EVENT_APP)
    assert app.name == vtl.name
    assert {r.coordinate: r.data_source for r in app.resolvers} == {r.coordinate: r.data_source for r in vtl.resolvers}
    assert app.schema_sdl == vtl.schema_sdl


async def test_create_get_delete(event_client: GraphQLClient) -> None:
    ev = await create_event(event_client, "Launch")
    assert ev["name"] == "Launch" and ev["where"] == "Berlin" and len(ev["id"]) == 36
    got = await event_client.query("query($id: ID!) { getEvent(id: $id) { id name description } }", {"id": ev["id"]})
    assert got == {"data": {"getEvent": {"id": ev["id"], "name": "Launch", "description": "d"}}}
    deleted = await event_client.query("mutation($id: ID!) { deleteEvent(id: $id) { id name } }", {"id": ev["id"]})
    assert deleted["data"]["deleteEvent"] == {"id": ev["id"], "name": "Launch"}
    gone = await event_client.query("query($id: ID!) { getEvent(id: $id) { id } }", {"id": ev["id"]})
    assert gone == {"data": {"getEvent": None}}
    again = await event_client.query("mutation($id: ID!) { deleteEvent(id: $id) { id } }", {"id": ev["id"]})
    assert again == {"data": {"deleteEvent": None}}


async def test_list_events_paginates_through_everything(event_client: GraphQLClient) -> None:
    created = {(await create_event(event_client, f"E{i}"))["id"] for i in range(7)}
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        r = await event_client.query(
            "query($t: String) { listEvents(limit: 3, nextToken: $t) { items { id } nextToken } }", {"t": token})
        assert "errors" not in r, r
        page = r["data"]["listEvents"]
        assert len(page["items"]) <= 3
        seen.extend(i["id"] for i in page["items"])
        pages += 1
        token = page["nextToken"]
        if token is None:
            break
        assert isinstance(token, str) and token
    assert set(seen) == created and len(seen) == len(created)
    assert pages >= 3


async def test_nested_comments_paginated(event_client: GraphQLClient) -> None:
    ev = await create_event(event_client, "Talk")
    other = await create_event(event_client, "Other")
    for i in range(5):
        r = await event_client.query(COMMENT, {"eventId": ev["id"], "content": f"c{i}", "createdAt": f"t{i}"})
        assert r["data"]["commentOnEvent"]["content"] == f"c{i}"
    await event_client.query(COMMENT, {"eventId": other["id"], "content": "elsewhere", "createdAt": "t"})
    q = """query($id: ID!, $t: String) { getEvent(id: $id) { name comments(limit: 2, nextToken: $t) {
             items { eventId content } nextToken } } }"""
    contents: list[str] = []
    token = None
    while True:
        r = await event_client.query(q, {"id": ev["id"], "t": token})
        conn = r["data"]["getEvent"]["comments"]
        assert all(c["eventId"] == ev["id"] for c in conn["items"])
        contents += [c["content"] for c in conn["items"]]
        token = conn["nextToken"]
        if not token:
            break
    assert contents == [f"c{i}" for i in range(5)]  # ULID comment ids sort oldest first


async def test_list_events_with_comments_nested(event_client: GraphQLClient) -> None:
    ev = await create_event(event_client, "Nested")
    await event_client.query(COMMENT, {"eventId": ev["id"], "content": "x", "createdAt": "t"})
    r = await event_client.query("{ listEvents(limit: 50) { items { id comments { items { content } } } } }")
    mine = [e for e in r["data"]["listEvents"]["items"] if e["id"] == ev["id"]]
    assert mine == [{"id": ev["id"], "comments": {"items": [{"content": "x"}]}}]


async def test_operation_name_selects_among_several(event_client: GraphQLClient) -> None:
    ev = await create_event(event_client, "Ops")
    doc = "query A($id: ID!) { getEvent(id: $id) { name } } query B { listEvents(limit: 1) { nextToken } }"
    r = await event_client.query(doc, {"id": ev["id"]}, operationName="A")
    assert r == {"data": {"getEvent": {"name": "Ops"}}}
    r = await event_client.query(doc, {"id": ev["id"]})
    assert r["data"] is None and r["errors"][0]["errorType"] == "ValidationError"
    assert "operation name" in r["errors"][0]["message"]
    r = await event_client.query(doc, {"id": ev["id"]}, operationName="Nope")
    assert r["data"] is None and "Nope" in r["errors"][0]["message"]


# ---------------------------------------------------------------- bad input


async def test_missing_and_wrong_api_key_are_401(event_client: GraphQLClient) -> None:
    for headers in ({"x-api-key": "da2-wrong"}, {}):
        c = GraphQLClient(event_client.server, api_key=None)
        resp = await c.post({"query": "{ listEvents { nextToken } }"}, headers=headers)
        assert resp.status_code == 401
        assert resp.headers["x-amzn-ErrorType"] == "UnauthorizedException"
        body = resp.json()
        assert body["errors"][0]["errorType"] == "UnauthorizedException" and body["errors"][0]["message"]
        await c.http.aclose()


@pytest.mark.parametrize("raw,status,etype", [
    (b"{not json", 400, "MalformedHttpRequestException"),
    (b"[1, 2]", 400, "MalformedHttpRequestException"),
    (b"\"query\"", 400, "MalformedHttpRequestException"),
    (b"", 400, "MalformedHttpRequestException"),
    (b'{"query": 5}', 400, "MalformedHttpRequestException"),
    (b'{"query": "{ listEvents { nextToken } }", "variables": [1]}', 400, "MalformedHttpRequestException"),
])
async def test_malformed_bodies(event_client: GraphQLClient, raw: bytes, status: int, etype: str) -> None:
    resp = await event_client.post(None, raw=raw)
    assert resp.status_code == status
    assert resp.json()["errors"][0]["errorType"] == etype
    assert (await event_client.query("{ listEvents(limit: 1) { nextToken } }"))["data"] is not None


async def test_huge_body_is_refused(event_client: GraphQLClient) -> None:
    resp = await event_client.post(None, raw=b'{"query": "' + b" " * (2 * 1024 * 1024) + b'{ a }"}')
    assert resp.status_code == 413
    assert resp.json()["errors"][0]["errorType"] == "PayloadTooLargeException"


async def test_syntax_and_validation_errors_have_locations(event_client: GraphQLClient) -> None:
    r = await event_client.query("{ listEvents { ")
    assert r["data"] is None
    err = r["errors"][0]
    assert err["errorType"] == "InvalidSyntax" and err["locations"][0]["line"] == 1
    r = await event_client.query("{\n  getEvent(id: \"1\") { nope }\n}")
    err = r["errors"][0]
    assert err["errorType"] == "ValidationError"
    assert err["locations"] == [{"line": 2, "column": 23, "sourceName": None}]
    assert "nope" in err["message"]


async def test_variable_coercion_errors(event_client: GraphQLClient) -> None:
    r = await event_client.query("query($id: ID!) { getEvent(id: $id) { id } }", {})
    assert r["data"] is None and r["errors"][0]["errorType"] == "ValidationError"
    assert "$id" in r["errors"][0]["message"]
    r = await event_client.query("query($l: Int) { listEvents(limit: $l) { nextToken } }", {"l": "many"})
    assert r["data"] is None and "Int" in r["errors"][0]["message"]


async def test_subscription_over_http_is_refused(event_client: GraphQLClient) -> None:
    r = await event_client.query('subscription { subscribeToEventComments(eventId: "1") { content } }')
    assert r["data"] is None and r["errors"][0]["errorType"] == "UnsupportedOperation"


async def test_explorer_and_health_and_metrics(event_client: GraphQLClient) -> None:
    page = await event_client.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "gqlsync" in page.text and "GraphiQL" in page.text
    assert (await event_client.http.get("/graphql")).status_code == 405
    health = await event_client.http.get("/healthz")
    assert health.json()["status"] == "ok"
    await event_client.query("{ listEvents(limit: 1) { nextToken } }")
    await event_client.query("{ nope }")
    metrics = (await event_client.http.get("/metrics")).text
    assert 'gqlsync_requests_total{app="event-app",operation_type="query",status="200"}' in metrics
    assert "gqlsync_request_seconds_bucket" in metrics
    assert 'gqlsync_datasource_seconds_count{app="event-app",datasource="EventsTable",type="AMAZON_DYNAMODB"}' \
        in metrics
