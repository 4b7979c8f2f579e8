"""Amplify's @model transformer with conflict detection on (what DataStore apps deploy): its sync-enabled output,
imported with `import-cfn`, runs unchanged on DynamoDB Local — versions, conflicts, soft deletes, syncTodos."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gqlsync.app import load_app
from gqlsync.app.cloudformation import import_cloudformation
from gqlsync.sync.operation import OVERLAP_MS
from tests.helpers import ROOT, GraphQLClient, dynamodb_server

pytestmark = pytest.mark.integration
KEY = "da2-amplifysynctestkey000001"
META = "_version _deleted _lastChangedAt"
FIELDS = f"id name priority tags {META}"


def generate(tmp: Path, handler: str) -> Path:
    node = shutil.which("node")
    assert node, "node is required (tests/run.sh installs it)"
    config = {"project": {"ConflictDetection": "VERSION", "ConflictHandler": handler}}
    subprocess.run([node, str(ROOT / "tests/amplify/transform.cjs"), str(ROOT / "tests/amplify/todo/schema.graphql"),
                    str(tmp / "out"), json.dumps(config)], check=True, capture_output=True, timeout=300)
    result = import_cloudformation(sorted((tmp / "out").glob("cdk.out/*.template.json")), tmp / "out", tmp / "app",
                                   api_key=KEY)
    assert result.notes == []  # every resource and property of the transformer's output is carried or irrelevant
    assert (tmp / "out/assets/resolvers/Query.syncTodos.req.vtl").is_file()
    return tmp / "app"


@pytest.fixture(scope="module", params=["AUTOMERGE", "OPTIMISTIC_CONCURRENCY"])
def app_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    return request.param, generate(tmp_path_factory.mktemp(request.param.lower()), request.param)


@pytest.fixture
async def c(app_dir: tuple[str, Path], dynamodb_endpoint: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(dynamodb_server(load_app(app_dir[1]), dynamodb_endpoint), api_key=KEY) as client:
        yield client


async def create(c: GraphQLClient, **input: object) -> dict:
    r = await c.query(f"mutation($in: CreateTodoInput!) {{ createTodo(input: $in) {{ {FIELDS} }} }}", {"in": input})
    assert "errors" not in r, r
    return r["data"]["createTodo"]


async def update(c: GraphQLClient, **input: object) -> dict:
    return await c.query(f"mutation($in: UpdateTodoInput!) {{ updateTodo(input: $in) {{ {FIELDS} }} }}",
                         {"in": input})


async def test_the_imported_app_is_versioned_with_its_delta_table(app_dir: tuple[str, Path]) -> None:
    handler, path = app_dir
    app = load_app(path)
    (ds,) = [d for d in app.data_sources.values() if d.type == "AMAZON_DYNAMODB"]
    assert ds.config["versioned"] is True and ds.config["deltaSyncConfig"]["deltaSyncTableTTL"] == 30
    assert any(t.name == ds.config["deltaSyncConfig"]["deltaSyncTableName"] for t in app.tables)
    assert {f.sync.conflict_handler for f in app.functions.values() if f.sync} == {handler}


async def test_create_update_and_soft_delete_carry_versions(c: GraphQLClient) -> None:
    todo = await create(c, name="milk", priority=1)
    assert todo["_version"] == 1 and todo["_deleted"] is None and isinstance(todo["_lastChangedAt"], int)
    r = await update(c, id=todo["id"], name="oat milk", _version=1)
    assert r["data"]["updateTodo"]["_version"] == 2 and r["data"]["updateTodo"]["name"] == "oat milk"
    r = await c.query(f"mutation($in: DeleteTodoInput!) {{ deleteTodo(input: $in) {{ {FIELDS} }} }}",
                      {"in": {"id": todo["id"], "_version": 2}})
    assert r["data"]["deleteTodo"]["_deleted"] is True and r["data"]["deleteTodo"]["_version"] == 3
    r = await c.query(f"query($id: ID!) {{ getTodo(id: $id) {{ {FIELDS} }} }}", {"id": todo["id"]})
    assert r["data"]["getTodo"]["_deleted"] is True  # soft: DataStore learns of the delete


async def test_a_stale_update_follows_the_conflict_handler(c: GraphQLClient, app_dir: tuple[str, Path]) -> None:
    todo = await create(c, name="a", priority=1, tags=["x"])
    await update(c, id=todo["id"], name="server", _version=1)
    r = await update(c, id=todo["id"], name="client", priority=5, tags=["y"], _version=1)
    if app_dir[0] == "AUTOMERGE":
        merged = r["data"]["updateTodo"]
        assert merged["name"] == "server" and merged["priority"] == 1  # scalars in conflict keep the server's
        assert merged["tags"] == ["x", "y"] and merged["_version"] == 3  # lists are concatenated
    else:
        assert r["data"]["updateTodo"] is None
        (err,) = r["errors"]
        assert err["errorType"] == "ConflictUnhandled" and err["data"]["name"] == "server"
        assert err["data"]["_version"] == 2
        # AppSync filters an error's data by the field's selection set (the template's __operation stays out)
        assert set(err["data"]) == set(FIELDS.split()) - {"_deleted"}


async def test_sync_todos_full_then_delta(c: GraphQLClient) -> None:
    query = f"""query($limit: Int, $next: String, $last: AWSTimestamp) {{
      syncTodos(limit: $limit, nextToken: $next, lastSync: $last) {{ items {{ {FIELDS} }} nextToken startedAt }} }}"""
    ids = [(await create(c, name=f"n{i}"))["id"] for i in range(3)]
    pages, token = [], None
    while True:
        r = await c.query(query, {"limit": 2, "next": token})
        assert "errors" not in r, r
        pages.append(r["data"]["syncTodos"])
        token = pages[-1]["nextToken"]
        if not token:
            break
    assert len({p["startedAt"] for p in pages}) == 1
    seen = {i["id"] for p in pages for i in p["items"]}
    assert set(ids) <= seen
    last_sync = pages[0]["startedAt"]
    await update(c, id=ids[0], name="changed", _version=1)
    r = await c.query(query, {"limit": 100, "last": last_sync})
    assert "errors" not in r, r
    delta = r["data"]["syncTodos"]["items"]
    assert (ids[0], "changed", 2) in [(i["id"], i["name"], i["_version"]) for i in delta]
    # only changes since lastSync (less the overlap that keeps late commits from being lost)
    assert all(i["_lastChangedAt"] >= last_sync - OVERLAP_MS for i in delta)
