"""What only the Python Event app (tests/apps/event-app-py) does, over HTTP on DynamoDB Local.

The behaviours it shares with the VTL and APPSYNC_JS apps are tested by tests/integration/test_event_app.py, one
suite parametrized over the three runtimes; here: its deleteEvent also deletes the event's comments (a second data
source, called by name), and those calls are metered per data source.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gqlsync.app import load_app
from tests.helpers import ROOT, GraphQLClient, dynamodb_server
from tests.integration.test_event_app import COMMENT, create_event

pytestmark = pytest.mark.integration

PY_EVENT_APP = ROOT / "tests" / "apps" / "event-app-py"


@pytest.fixture
async def event_client(dynamodb_endpoint: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(dynamodb_server(load_app(PY_EVENT_APP), dynamodb_endpoint)) as client:
        yield client


async def test_every_field_is_resolved_in_python() -> None:
    app = load_app(PY_EVENT_APP)
    assert {r.runtime for r in app.resolvers} == {"PYTHON"}
    assert {r.coordinate for r in app.resolvers} == {r.coordinate for r in load_app(ROOT / "examples/event-app").resolvers}


async def test_delete_takes_the_comments_along(event_client: GraphQLClient) -> None:
    ev = await create_event(event_client, "Cascade")
    other = await create_event(event_client, "Stays")
    for i in range(30):  # more than one page of the resolver's query
        await event_client.query(COMMENT, {"eventId": ev["id"], "content": f"c{i}", "createdAt": "t"})
    await event_client.query(COMMENT, {"eventId": other["id"], "content": "kept", "createdAt": "t"})
    r = await event_client.query("mutation($id: ID!) { deleteEvent(id: $id) { id name } }", {"id": ev["id"]})
    assert r == {"data": {"deleteEvent": {"id": ev["id"], "name": "Cascade"}}}
    q = "query($id: ID!) { getEvent(id: $id) { comments(limit: 50) { items { content } } } }"
    kept = await event_client.query(q, {"id": other["id"]})
    assert kept["data"]["getEvent"]["comments"]["items"] == [{"content": "kept"}]
    # the comments are gone from the table, not only unreachable through the event
    import aioboto3

    table = next(ds.config["tableName"] for ds in event_client.server.app.data_sources.values()
                 if ds.name == "CommentsTable")
    session = aioboto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    endpoint = event_client.server.settings.dynamodb_endpoint
    async with session.client("dynamodb", endpoint_url=endpoint) as ddb:
        out = await ddb.query(TableName=table, KeyConditionExpression="eventId = :e",
                              ExpressionAttributeValues={":e": {"S": ev["id"]}})
    assert out["Items"] == []


async def test_calls_by_name_are_metered_per_data_source(event_client: GraphQLClient) -> None:
    ev = await create_event(event_client, "Metered")
    await event_client.query("mutation($id: ID!) { deleteEvent(id: $id) { id } }", {"id": ev["id"]})
    metrics = (await event_client.http.get("/metrics")).text
    for ds in ("EventsTable", "CommentsTable"):  # deleteEvent's own data source and the one it calls by name
        assert f'gqlsync_datasource_seconds_count{{app="event-app",datasource="{ds}",type="AMAZON_DYNAMODB"}}' \
            in metrics
