"""DynamoDB going away yields field errors, never a crash; its return needs no gqlsync restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from gqlsync.datasources import AwsSettings
from tests.helpers import GraphQLClient, event_server
from tests.services import DynamoDBLocal

pytestmark = pytest.mark.integration


async def test_dynamodb_down_then_back(tmp_path: Path) -> None:
    ddb = DynamoDBLocal(db_path=tmp_path).start()
    server = event_server(ddb.endpoint)
    server.clients.settings = AwsSettings(dynamodb_endpoint=ddb.endpoint, connect_timeout=1.0, max_attempts=1)
    c = GraphQLClient(server)
    try:
        r = await c.query('mutation { createEvent(name: "n", when: "w", where: "x", description: "d") { id } }')
        event_id = r["data"]["createEvent"]["id"]
        ddb.stop()
        for _ in range(3):
            r = await c.query('query($id: ID!) { getEvent(id: $id) { id } }', {"id": event_id})
            assert r["data"] == {"getEvent": None}
            (err,) = r["errors"]
            assert err["errorType"] == "DynamoDB:ServiceUnavailable" and err["path"] == ["getEvent"]
        # the rest of the server keeps serving
        assert (await c.http.get("/healthz")).status_code == 200
        r = await c.query("{ nope }")
        assert r["errors"][0]["errorType"] == "ValidationError"
        ddb.start()
        r = await c.query('query($id: ID!) { getEvent(id: $id) { id } }', {"id": event_id})
        assert r == {"data": {"getEvent": {"id": event_id}}}
    finally:
        await c.close()
        ddb.stop()
