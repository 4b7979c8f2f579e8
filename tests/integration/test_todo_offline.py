"""examples/todo-offline (Amplify's DataStore output, checked in) validates and syncs on the embedded default."""

from __future__ import annotations

from pathlib import Path

from gqlsync.app import load_app
from gqlsync.server import GqlsyncServer, ServerSettings, check_app
from tests.helpers import ROOT, GraphQLClient

APP = ROOT / "examples/todo-offline"
KEY = "da2-gqlsynctodoofflinedevkey1"
FIELDS = "id name _version _deleted _lastChangedAt"


def test_the_example_validates() -> None:
    api = check_app(APP).api
    assert {"Query.syncTodos", "Mutation.updateTodo"} <= {r.coordinate for r in api.app.resolvers}


async def test_the_example_syncs_on_the_embedded_store(tmp_path: Path) -> None:
    server = GqlsyncServer(load_app(APP), ServerSettings(embedded_dynamodb_dir=tmp_path / "ddb", create_tables=True))
    async with GraphQLClient(server, api_key=KEY) as c:
        r = await c.query(f'mutation {{ createTodo(input: {{name: "milk"}}) {{ {FIELDS} }} }}')
        todo = r["data"]["createTodo"]
        assert todo["_version"] == 1
        sync = "query($last: AWSTimestamp) { syncTodos(limit: 100, lastSync: $last) { items { id name _version } " \
               "startedAt } }"
        full = (await c.query(sync))["data"]["syncTodos"]
        assert [i["id"] for i in full["items"]] == [todo["id"]]
        r = await c.query("mutation($in: UpdateTodoInput!) { updateTodo(input: $in) { id name _version } }",
                          {"in": {"id": todo["id"], "name": "oat milk", "_version": 1}})
        assert r["data"]["updateTodo"]["_version"] == 2
        r = await c.query("mutation($in: UpdateTodoInput!) { updateTodo(input: $in) { id name _version } }",
                          {"in": {"id": todo["id"], "name": "stale", "_version": 1}})
        assert r["data"]["updateTodo"] == {"id": todo["id"], "name": "oat milk", "_version": 3}  # automerged
        delta = (await c.query(sync, {"last": full["startedAt"]}))["data"]["syncTodos"]["items"]
        assert max(i["_version"] for i in delta if i["id"] == todo["id"]) == 3
