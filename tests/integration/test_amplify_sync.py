"""Amplify's @model transformer with conflict detection on (what DataStore apps deploy): its sync-enabled output,
imported with `import-cfn`, runs unchanged on DynamoDB Local — versions, conflicts, soft deletes, syncTodos."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gqlsync.app import load_app
from gqlsync.app.cloudformation import import_cloudformation
from gqlsync.app.errors import AppError
from gqlsync.sync.operation import OVERLAP_MS
from tests.helpers import ROOT, GraphQLClient, amplify_transform, dynamodb_server

pytestmark = pytest.mark.integration
KEY = "da2-amplifysynctestkey000001"
META = "_version _deleted _lastChangedAt"
FIELDS = f"id name priority tags {META}"


CONFLICT_LAMBDA = "resolveConflict"
CONFLICT_HANDLER = ROOT / "tests/amplify/todo/conflicts.py"


def sync_config(handler: str) -> dict[str, Any]:
    """The resolver config `amplify update api` writes for DataStore with this conflict handler."""
    project: dict[str, Any] = {"ConflictDetection": "VERSION", "ConflictHandler": handler}
    if handler == "LAMBDA":
        project["LambdaConflictHandler"] = {"name": CONFLICT_LAMBDA}
    return {"project": project}


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[Path]]:
    """The transformer's templates for the Todo schema under a conflict handler (generated once per handler)."""
    cache: dict[str, list[Path]] = {}

    def templates(handler: str) -> list[Path]:
        if handler not in cache:
            out = tmp_path_factory.mktemp(handler.lower()) / "out"
            cache[handler] = amplify_transform(ROOT / "tests/amplify/todo/schema.graphql", out, sync_config(handler))
            assert (out / "assets/resolvers/Query.syncTodos.req.vtl").is_file()
        return cache[handler]

    return templates


@pytest.fixture(scope="module", params=["AUTOMERGE", "OPTIMISTIC_CONCURRENCY", "LAMBDA"])
def app_dir(request: pytest.FixtureRequest, transformed: Callable[[str], list[Path]]) -> tuple[str, Path]:
    handler = request.param
    templates = transformed(handler)
    out = templates[0].parent.parent
    lambdas = {CONFLICT_LAMBDA: f"{CONFLICT_HANDLER}:handler"} if handler == "LAMBDA" else None
    result = import_cloudformation(templates, out, out.parent / "app", api_key=KEY, lambdas=lambdas)
    assert result.notes == []  # every resource and property of the transformer's output is carried or irrelevant
    return handler, out.parent / "app"


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
    if handler == "LAMBDA":  # the deployed function's ARN became the local handler given for it
        handlers = {f.sync.lambda_conflict_handler_config.handler for f in app.functions.values()
                    if f.sync and f.sync.lambda_conflict_handler_config}
        assert handlers == {"lambdas/conflicts.py:handler"}
        assert (path / "lambdas/conflicts.py").read_bytes() == CONFLICT_HANDLER.read_bytes()


def test_a_lambda_conflict_handler_without_a_local_handler_fails_the_import(
        transformed: Callable[[str], list[Path]], tmp_path: Path) -> None:
    templates = transformed("LAMBDA")
    with pytest.raises(AppError) as exc:
        import_cloudformation(templates, templates[0].parent.parent, tmp_path / "app", api_key=KEY)
    update = next(p.message for p in exc.value.problems if "(run by Mutation.updateTodo)" in p.message)
    assert "(AWS::AppSync::FunctionConfiguration) SyncConfig.LambdaConflictHandlerConfig.LambdaConflictHandlerArn: " \
           "function MutationUpdateTodoDataResolverFn (run by Mutation.updateTodo) resolves conflicts with the " \
           "deployed Lambda function arn:aws:lambda:us-east-1:000000000000:function:resolveConflict; gqlsync runs " \
           "conflict handlers only as local Python handlers: pass --lambda resolveConflict=" in update


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
    elif app_dir[0] == "LAMBDA":  # tests/amplify/todo/conflicts.py decided
        resolved = r["data"]["updateTodo"]
        assert (resolved["name"], resolved["priority"], resolved["tags"], resolved["_version"]) == (
            "server", 5, ["x", "y"], 3)
        r = await c.query("query($id: ID!) { getTodo(id: $id) { description } }", {"id": todo["id"]})
        assert r["data"]["getTodo"]["description"] == "resolved by Mutation.updateTodo for version 1"
        r = await update(c, id=todo["id"], name="reject", _version=2)
        assert r["data"]["updateTodo"] is None and r["errors"][0]["errorType"] == "ConflictUnhandled"
        assert r["errors"][0]["data"]["_version"] == 3
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
