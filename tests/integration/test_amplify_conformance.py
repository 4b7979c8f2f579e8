"""Amplify's @model transformer (run by Node) generates a Todo API; gqlsync serves its VTL unchanged.

The generated templates are imported from the synthesized CloudFormation with `gqlsync import-cfn`
and run against DynamoDB Local: create/get/list/update/delete, with conditions and filters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gqlsync.app import load_app
from gqlsync.app.cloudformation import import_cloudformation
from tests.helpers import ROOT, GraphQLClient, amplify_transform, dynamodb_server

pytestmark = pytest.mark.integration
KEY = "da2-amplifytodotestkey00001"
FIELDS = "id name description priority done tags createdAt updatedAt __typename"


@pytest.fixture(scope="module")
def todo_app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("amplify")
    templates = amplify_transform(ROOT / "tests/amplify/todo/schema.graphql", work / "out")
    assert len(templates) >= 2
    result = import_cloudformation(templates, work / "out", work / "app", api_key=KEY)
    assert result.notes == [] and result.resolvers >= 8
    generated = {p.name for p in (work / "out/assets/resolvers").iterdir()}
    assert {"Query.getTodo.req.vtl", "Query.listTodos.req.vtl", "Mutation.createTodo.req.vtl",
            "Mutation.updateTodo.req.vtl", "Mutation.deleteTodo.req.vtl", "Query.getTodo.auth.1.req.vtl"} <= generated
    return work / "app"


@pytest.fixture
async def c(todo_app_dir: Path, dynamodb_endpoint: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(dynamodb_server(load_app(todo_app_dir), dynamodb_endpoint), api_key=KEY) as client:
        yield client


async def create(c: GraphQLClient, **input: object) -> dict:
    r = await c.query(f"mutation($in: CreateTodoInput!) {{ createTodo(input: $in) {{ {FIELDS} }} }}", {"in": input})
    assert "errors" not in r, r
    return r["data"]["createTodo"]


async def test_generated_templates_are_unchanged(todo_app_dir: Path) -> None:
    generated = sorted((todo_app_dir.parent / "out/assets/resolvers").iterdir())
    for src in generated:
        copies = list((todo_app_dir / "templates").glob(f"fn.*.{src.name.rsplit('.', 2)[-2]}.vtl"))
        assert any(c.read_bytes() == src.read_bytes() for c in copies), f"{src.name} was not imported verbatim"


async def test_create_and_get(c: GraphQLClient) -> None:
    todo = await create(c, name="Write tests", priority=2, tags=["a", "b"])
    assert todo["name"] == "Write tests" and todo["priority"] == 2 and todo["tags"] == ["a", "b"]
    assert todo["__typename"] == "Todo" and todo["createdAt"] == todo["updatedAt"]
    assert len(todo["id"]) == 36 and todo["createdAt"].endswith("Z")
    r = await c.query(f"query($id: ID!) {{ getTodo(id: $id) {{ {FIELDS} }} }}", {"id": todo["id"]})
    assert r == {"data": {"getTodo": todo}}
    r = await c.query("query { getTodo(id: \"missing\") { id } }")
    assert r == {"data": {"getTodo": None}}


async def test_create_with_given_id_refuses_duplicates(c: GraphQLClient) -> None:
    await create(c, id="fixed-1", name="first")
    r = await c.query("mutation { createTodo(input: {id: \"fixed-1\", name: \"again\"}) { id } }")
    assert r["data"] == {"createTodo": None}
    assert r["errors"][0]["errorType"] == "DynamoDB:ConditionalCheckFailedException"


async def test_update_with_condition(c: GraphQLClient) -> None:
    todo = await create(c, name="Update me", priority=1)
    r = await c.query(f"mutation($in: UpdateTodoInput!) {{ updateTodo(input: $in) {{ {FIELDS} }} }}",
                      {"in": {"id": todo["id"], "done": True, "description": "now done"}})
    assert "errors" not in r, r
    updated = r["data"]["updateTodo"]
    assert updated["done"] is True and updated["description"] == "now done" and updated["name"] == "Update me"
    assert updated["updatedAt"] >= todo["updatedAt"] and updated["createdAt"] == todo["createdAt"]
    r = await c.query("mutation($in: UpdateTodoInput!, $cond: ModelTodoConditionInput) "
                      "{ updateTodo(input: $in, condition: $cond) { id priority } }",
                      {"in": {"id": todo["id"], "priority": 5}, "cond": {"priority": {"gt": 3}}})
    assert r["data"] == {"updateTodo": None}
    assert r["errors"][0]["errorType"] == "DynamoDB:ConditionalCheckFailedException"
    r = await c.query("mutation($in: UpdateTodoInput!, $cond: ModelTodoConditionInput) "
                      "{ updateTodo(input: $in, condition: $cond) { id priority } }",
                      {"in": {"id": todo["id"], "priority": 5}, "cond": {"priority": {"eq": 1}, "done": {"eq": True}}})
    assert r == {"data": {"updateTodo": {"id": todo["id"], "priority": 5}}}
    r = await c.query("mutation { updateTodo(input: {id: \"nope\", name: \"x\"}) { id } }")
    assert r["errors"][0]["errorType"] == "DynamoDB:ConditionalCheckFailedException"


async def test_list_with_filters_and_pagination(c: GraphQLClient) -> None:
    for i in range(7):
        await create(c, name=f"item {i}", priority=i, done=i % 2 == 0, description="even" if i % 2 == 0 else "odd")

    async def names(flt: dict | None, limit: int = 3) -> list[str]:
        out, token = [], None
        while True:
            r = await c.query("query($f: ModelTodoFilterInput, $l: Int, $t: String) { listTodos(filter: $f, "
                              "limit: $l, nextToken: $t) { items { name } nextToken } }",
                              {"f": flt, "l": limit, "t": token})
            assert "errors" not in r, r
            out += [t["name"] for t in r["data"]["listTodos"]["items"]]
            token = r["data"]["listTodos"]["nextToken"]
            if not token:
                return sorted(out)

    assert await names(None) == [f"item {i}" for i in range(7)]
    assert await names({"done": {"eq": True}}) == ["item 0", "item 2", "item 4", "item 6"]
    assert await names({"priority": {"between": [2, 4]}}) == ["item 2", "item 3", "item 4"]
    assert await names({"name": {"beginsWith": "item 1"}}) == ["item 1"]
    assert await names({"or": [{"priority": {"lt": 1}}, {"priority": {"ge": 6}}]}) == ["item 0", "item 6"]
    assert await names({"and": [{"description": {"contains": "od"}}, {"not": {"priority": {"eq": 3}}}]}) == \
        ["item 1", "item 5"]
    assert await names({"description": {"attributeExists": False}}) == []


async def test_delete_with_condition(c: GraphQLClient) -> None:
    todo = await create(c, name="Delete me", priority=9)
    r = await c.query("mutation($id: ID!) { deleteTodo(input: {id: $id}, condition: {priority: {eq: 1}}) { id } }",
                      {"id": todo["id"]})
    assert r["errors"][0]["errorType"] == "DynamoDB:ConditionalCheckFailedException"
    r = await c.query("mutation($id: ID!) { deleteTodo(input: {id: $id}) { id name } }", {"id": todo["id"]})
    assert r == {"data": {"deleteTodo": {"id": todo["id"], "name": "Delete me"}}}
    r = await c.query("query($id: ID!) { getTodo(id: $id) { id } }", {"id": todo["id"]})
    assert r == {"data": {"getTodo": None}}
