"""The stock resolver library (referenced as stock:...) doing CRUD + filtered lists on DynamoDB Local."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gqlsync.app import load_app
from tests.helpers import ROOT, GraphQLClient, dynamodb_server

pytestmark = pytest.mark.integration


@pytest.fixture
async def c(dynamodb_endpoint: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(dynamodb_server(load_app(ROOT / "tests/apps/stock"), dynamodb_endpoint),
                             api_key="da2-stocktestkey000001") as client:
        yield client


async def test_crud_and_filters(c: GraphQLClient) -> None:
    ids = []
    for i in range(6):
        r = await c.query("mutation($in: CreateTodoInput!) { createTodo(input: $in) { id title done priority } }",
                          {"in": {"title": f"todo {i}", "done": i % 2 == 0, "priority": i}})
        assert "errors" not in r, r
        ids.append(r["data"]["createTodo"]["id"])
    dup = await c.query("mutation($in: CreateTodoInput!) { createTodo(input: $in) { id title } }",
                        {"in": {"id": ids[0], "title": "again"}})
    assert dup["errors"][0]["errorType"] == "DynamoDB:ConditionalCheckFailedException"
    # the current item, filtered by the selection set as AppSync filters an error's data
    assert dup["errors"][0]["data"] == {"id": ids[0], "title": "todo 0"}

    r = await c.query("mutation($in: UpdateTodoInput!) { updateTodo(input: $in) { id title done priority } }",
                      {"in": {"id": ids[1], "title": "renamed", "priority": None}})
    assert r["data"]["updateTodo"] == {"id": ids[1], "title": "renamed", "done": False, "priority": None}
    missing = await c.query("mutation { updateTodo(input: {id: \"nope\", title: \"x\"}) { id } }")
    assert missing["errors"][0]["errorType"] == "DynamoDB:ConditionalCheckFailedException"

    async def titles(flt: dict) -> list[str]:
        out, token = [], None
        while True:
            r = await c.query("query($f: TodoFilter, $t: String) { listTodos(filter: $f, limit: 2, nextToken: $t) "
                              "{ items { title } nextToken } }", {"f": flt, "t": token})
            assert "errors" not in r, r
            out += [t["title"] for t in r["data"]["listTodos"]["items"]]
            token = r["data"]["listTodos"]["nextToken"]
            if not token:
                return sorted(out)

    assert await titles({"done": {"eq": True}}) == ["todo 0", "todo 2", "todo 4"]
    assert await titles({"priority": {"between": [2, 4]}, "title": {"beginsWith": "todo"}}) == \
        ["todo 2", "todo 3", "todo 4"]
    assert await titles({"or": [{"title": {"eq": "renamed"}}, {"priority": {"gt": 4}}]}) == ["renamed", "todo 5"]
    assert await titles({"not": {"title": {"contains": "todo"}}}) == ["renamed"]

    r = await c.query("mutation($id: ID!) { deleteTodo(id: $id) { id title } }", {"id": ids[2]})
    assert r["data"]["deleteTodo"] == {"id": ids[2], "title": "todo 2"}
    assert (await c.query("query($id: ID!) { getTodo(id: $id) { id } }", {"id": ids[2]}))["data"] == {"getTodo": None}
