"""Every DynamoDB operation AppSync defines, run by the data source against DynamoDB Local."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from gqlsync.app.model import DataSourceConfig, IndexConfig, KeyAttribute, TableConfig
from gqlsync.datasources import AwsSettings, Call, ClientProvider, DataSourceEnv, build_data_source
from gqlsync.datasources.dynamodb.tables import ensure_tables
from gqlsync.errors import DataSourceError, ResolverError
from gqlsync.request import RequestScope
from gqlsync.util.transform import dynamodb_expression
from tests.helpers import ROOT, unique_prefix
from tests.unit.test_properties import filters

pytestmark = pytest.mark.integration
V = "2018-05-29"


def S(v: str) -> dict[str, Any]:
    return {"S": v}


def N(v: int | float) -> dict[str, Any]:
    return {"N": v}


class Env:
    def __init__(self, clients: ClientProvider, prefix: str) -> None:
        self.clients = clients
        self.posts = prefix + "posts"
        self.authors = prefix + "authors"
        self.ds = build_data_source(DataSourceConfig("Posts", "AMAZON_DYNAMODB", {"tableName": self.posts}),
                                    DataSourceEnv(clients, ROOT))

    async def __call__(self, req: dict[str, Any]) -> Any:
        return await self.ds.invoke({"version": V, **req}, CALL)


#: The call context a resolver would pass; these tests call the data source directly.
CALL = Call("Query.test", None, RequestScope(request_id="test", identity=None, headers={}))


@pytest.fixture
async def env(dynamodb_endpoint: str) -> AsyncIterator[Env]:
    clients = ClientProvider(AwsSettings(region="us-east-1", dynamodb_endpoint=dynamodb_endpoint))
    prefix = unique_prefix()
    tables = (
        TableConfig(prefix + "posts", KeyAttribute("author", "S"), KeyAttribute("id", "S"),
                    global_indexes=(IndexConfig("byCategory", KeyAttribute("category", "S"),
                                                KeyAttribute("votes", "N")),)),
        TableConfig(prefix + "authors", KeyAttribute("id", "S")),
    )
    await ensure_tables(await clients.aws("dynamodb"), tables)
    e = Env(clients, prefix)
    try:
        yield e
    finally:
        await clients.close()


async def seed(env: Env, n: int = 6) -> None:
    for i in range(n):
        await env({"operation": "PutItem", "key": {"author": S("ann" if i % 2 == 0 else "bob"), "id": S(f"p{i}")},
                   "attributeValues": {"title": S(f"Title {i}"), "votes": N(i), "category": S("news" if i < 4 else "misc"),
                                       "tags": {"SS": ["a", f"t{i}"]}, "meta": {"M": {"x": N(1.5)}},
                                       "flag": {"BOOL": i % 3 == 0}, "none": {"NULL": True}}})


async def test_put_get_unmarshalled(env: Env) -> None:
    put = await env({"operation": "PutItem", "key": {"author": S("ann"), "id": S("1")},
                     "attributeValues": {"votes": N(3), "ratio": N(0.25), "tags": {"SS": ["x"]},
                                         "nested": {"M": {"l": {"L": [N(1), S("two"), {"BOOL": True}]}}},
                                         "blob": {"B": "aGVsbG8="}, "nothing": {"NULL": True}}})
    assert put["votes"] == 3 and put["nested"] == {"l": [1, "two", True]}
    got = await env({"operation": "GetItem", "key": {"author": S("ann"), "id": S("1")}, "consistentRead": True})
    assert got == {"author": "ann", "id": "1", "votes": 3, "ratio": 0.25, "tags": ["x"],
                   "nested": {"l": [1, "two", True]}, "blob": "aGVsbG8=", "nothing": None}
    assert await env({"operation": "GetItem", "key": {"author": S("ann"), "id": S("missing")}}) is None
    proj = await env({"operation": "GetItem", "key": {"author": S("ann"), "id": S("1")},
                      "projection": {"expression": "#v, ratio", "expressionNames": {"#v": "votes"}}})
    assert proj == {"votes": 3, "ratio": 0.25}


async def test_put_condition_failure_returns_current_item(env: Env) -> None:
    key = {"author": S("ann"), "id": S("c")}
    await env({"operation": "PutItem", "key": key, "attributeValues": {"v": N(1)}})
    cond = {"expression": "attribute_not_exists(id)"}
    with pytest.raises(DataSourceError) as exc:
        await env({"operation": "PutItem", "key": key, "attributeValues": {"v": N(2)}, "condition": cond})
    assert exc.value.error_type == "DynamoDB:ConditionalCheckFailedException"
    assert exc.value.data == {"author": "ann", "id": "c", "v": 1}
    # Same desired state (ignoring v): AppSync treats the write as done.
    same = await env({"operation": "PutItem", "key": key, "attributeValues": {"v": N(9)},
                      "condition": {**cond, "equalsIgnore": ["v"]}})
    assert same == {"author": "ann", "id": "c", "v": 1}


async def test_update_item_and_conditions(env: Env) -> None:
    key = {"author": S("bob"), "id": S("u")}
    await env({"operation": "PutItem", "key": key, "attributeValues": {"votes": N(1), "title": S("t")}})
    out = await env({"operation": "UpdateItem", "key": key, "update": {
        "expression": "SET #t = :t ADD votes :one", "expressionNames": {"#t": "title"},
        "expressionValues": {":t": S("new"), ":one": N(1)}}})
    assert out == {"author": "bob", "id": "u", "votes": 2, "title": "new"}
    with pytest.raises(DataSourceError) as exc:
        await env({"operation": "UpdateItem", "key": key,
                   "update": {"expression": "SET votes = :v", "expressionValues": {":v": N(0)}},
                   "condition": {"expression": "votes > :min", "expressionValues": {":min": N(10)}}})
    assert exc.value.error_type == "DynamoDB:ConditionalCheckFailedException"
    assert exc.value.data["votes"] == 2


async def test_delete_item_returns_old_and_condition(env: Env) -> None:
    key = {"author": S("ann"), "id": S("d")}
    await env({"operation": "PutItem", "key": key, "attributeValues": {"v": N(1)}})
    with pytest.raises(DataSourceError) as exc:
        await env({"operation": "DeleteItem", "key": key,
                   "condition": {"expression": "v = :v", "expressionValues": {":v": N(2)}}})
    assert exc.value.data == {"author": "ann", "id": "d", "v": 1}
    assert await env({"operation": "DeleteItem", "key": key}) == {"author": "ann", "id": "d", "v": 1}
    assert await env({"operation": "DeleteItem", "key": key}) is None


async def test_query_index_filter_order_limit_token(env: Env) -> None:
    await seed(env)
    q = {"operation": "Query", "query": {"expression": "author = :a", "expressionValues": {":a": S("ann")}}}
    r = await env(q)
    assert [i["id"] for i in r["items"]] == ["p0", "p2", "p4"] and r["nextToken"] is None
    r = await env({**q, "scanIndexForward": False})
    assert [i["id"] for i in r["items"]] == ["p4", "p2", "p0"]
    r = await env({**q, "filter": {"expression": "votes > :v", "expressionValues": {":v": N(1)}}})
    assert [i["id"] for i in r["items"]] == ["p2", "p4"]
    pages, token = [], None
    while True:
        r = await env({**q, "limit": 2, **({"nextToken": token} if token else {})})
        pages.append([i["id"] for i in r["items"]])
        token = r["nextToken"]
        if not token:
            break
    assert [x for p in pages for x in p] == ["p0", "p2", "p4"] and len(pages) >= 2
    r = await env({"operation": "Query", "index": "byCategory",
                   "query": {"expression": "category = :c AND votes >= :v",
                             "expressionValues": {":c": S("news"), ":v": N(1)}}})
    assert [i["id"] for i in r["items"]] == ["p1", "p2", "p3"]
    r = await env({**q, "select": "COUNT"})
    assert r["items"] == [] and r["scannedCount"] == 3


async def test_scan_filter_and_parallel_segments(env: Env) -> None:
    await seed(env, 8)
    r = await env({"operation": "Scan", "filter": {"expression": "category = :c", "expressionValues": {":c": S("misc")}}})
    assert sorted(i["id"] for i in r["items"]) == ["p4", "p5", "p6", "p7"]
    seen: list[str] = []
    for seg in range(3):
        token = None
        while True:
            req = {"operation": "Scan", "segment": seg, "totalSegments": 3, "limit": 2}
            if token:
                req["nextToken"] = token
            r = await env(req)
            seen += [i["id"] for i in r["items"]]
            token = r["nextToken"]
            if not token:
                break
    assert sorted(seen) == [f"p{i}" for i in range(8)]


async def test_bad_next_token_is_a_clear_error(env: Env) -> None:
    for token in ("garbage!", "eyJ2IjoxfQ"):
        with pytest.raises(DataSourceError) as exc:
            await env({"operation": "Scan", "nextToken": token})
        assert exc.value.error_type == "DynamoDB:InvalidNextTokenException"


async def test_batch_get_put_delete_across_tables(env: Env) -> None:
    put = await env({"operation": "BatchPutItem", "tables": {
        env.posts: [{"author": S("ann"), "id": S(f"b{i}"), "n": N(i)} for i in range(30)],
        env.authors: [{"id": S("ann"), "name": S("Ann")}]}})
    assert len(put["data"][env.posts]) == 30 and put["unprocessedItems"] == {env.posts: [], env.authors: []}
    keys = [{"author": S("ann"), "id": S(f"b{i}")} for i in (3, 99, 1)]
    got = await env({"operation": "BatchGetItem", "tables": {
        env.posts: {"keys": keys, "consistentRead": True},
        env.authors: {"keys": [{"id": S("ann")}, {"id": S("zed")}]}}})
    assert [x and x["n"] for x in got["data"][env.posts]] == [3, None, 1]
    assert got["data"][env.authors] == [{"id": "ann", "name": "Ann"}, None]
    assert got["unprocessedKeys"] == {env.posts: [], env.authors: []}
    many = [{"author": S("ann"), "id": S(f"b{i}")} for i in range(30)]
    got = await env({"operation": "BatchGetItem", "tables": {env.posts: {"keys": many}}})  # > 100? no: chunks
    assert len([x for x in got["data"][env.posts] if x]) == 30
    deleted = await env({"operation": "BatchDeleteItem", "tables": {env.posts: many[:26]}})
    assert len(deleted["data"][env.posts]) == 26
    left = await env({"operation": "Query", "query": {"expression": "author = :a", "expressionValues": {":a": S("ann")}},
                      "consistentRead": True})
    assert sorted(i["id"] for i in left["items"]) == sorted(f"b{i}" for i in range(26, 30))


async def test_batch_get_projection_without_keys_returns_only_the_projection(env: Env) -> None:
    await seed(env)
    await env({"operation": "BatchPutItem", "tables": {env.authors: [{"id": S("ann"), "name": S("Ann"), "age": N(3)}]}})
    keys = [{"author": S("ann"), "id": S("p0")}, {"author": S("ann"), "id": S("nope")}, {"author": S("bob"), "id": S("p1")}]
    got = await env({"operation": "BatchGetItem", "tables": {
        env.posts: {"keys": keys, "consistentRead": True,
                    "projection": {"expression": "title, #v", "expressionNames": {"#v": "votes"}}},
        # the user's own names may look like the ones added for the keys
        env.authors: {"keys": [{"id": S("zed")}, {"id": S("ann")}], "consistentRead": True,
                      "projection": {"expression": "#gqlsyncK0", "expressionNames": {"#gqlsyncK0": "name"}}}}})
    assert got["data"][env.posts] == [{"title": "Title 0", "votes": 0}, None, {"title": "Title 1", "votes": 1}]
    assert got["data"][env.authors] == [None, {"name": "Ann"}]
    # a key attribute the projection names (literally or through a name) stays; nested paths are kept as projected
    got = await env({"operation": "BatchGetItem", "tables": {env.posts: {
        "keys": keys, "consistentRead": True,
        "projection": {"expression": "#i, meta.x, tags", "expressionNames": {"#i": "id"}}}}})
    assert got["data"][env.posts] == [{"id": "p0", "meta": {"x": 1.5}, "tags": ["a", "t0"]}, None,
                                      {"id": "p1", "meta": {"x": 1.5}, "tags": ["a", "t1"]}]


async def test_transact_get_and_write(env: Env) -> None:
    w = await env({"operation": "TransactWriteItems", "transactItems": [
        {"table": env.posts, "operation": "PutItem", "key": {"author": S("t"), "id": S("1")},
         "attributeValues": {"v": N(1)}},
        {"table": env.authors, "operation": "PutItem", "key": {"id": S("t")}, "attributeValues": {"posts": N(1)}},
    ]})
    assert w == {"keys": [{"author": "t", "id": "1"}, {"id": "t"}], "cancellationReasons": None}
    w = await env({"operation": "TransactWriteItems", "transactItems": [
        {"table": env.authors, "operation": "UpdateItem", "key": {"id": S("t")},
         "update": {"expression": "ADD posts :one", "expressionValues": {":one": N(1)}}},
        {"table": env.posts, "operation": "ConditionCheck", "key": {"author": S("t"), "id": S("1")},
         "condition": {"expression": "v = :v", "expressionValues": {":v": N(1)}}},
        {"table": env.posts, "operation": "DeleteItem", "key": {"author": S("t"), "id": S("zzz")}},
    ]})
    assert w["cancellationReasons"] is None
    g = await env({"operation": "TransactGetItems", "transactItems": [
        {"table": env.posts, "key": {"author": S("t"), "id": S("1")}},
        {"table": env.authors, "key": {"id": S("t")}},
        {"table": env.authors, "key": {"id": S("nobody")}}]})
    assert g == {"items": [{"author": "t", "id": "1", "v": 1}, {"id": "t", "posts": 2}, None],
                 "cancellationReasons": None}
    with pytest.raises(DataSourceError) as exc:
        await env({"operation": "TransactWriteItems", "transactItems": [
            {"table": env.authors, "operation": "UpdateItem", "key": {"id": S("t")},
             "update": {"expression": "ADD posts :one", "expressionValues": {":one": N(1)}}},
            {"table": env.posts, "operation": "PutItem", "key": {"author": S("t"), "id": S("1")},
             "attributeValues": {"v": N(5)}, "condition": {"expression": "attribute_not_exists(id)"}}]})
    err = exc.value
    assert err.error_type == "DynamoDB:TransactionCanceledException"
    assert err.result["keys"] is None
    reasons = err.result["cancellationReasons"]
    assert [r["type"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1].get("item") == {"author": "t", "id": "1", "v": 1}
    # nothing of the cancelled transaction was applied
    g = await env({"operation": "GetItem", "key": {"author": S("t"), "id": S("1")}, "consistentRead": True})
    assert g["v"] == 1


async def test_bad_documents_are_mapping_template_errors(env: Env) -> None:
    with pytest.raises(ResolverError, match="version"):
        await env.ds.invoke({"operation": "GetItem", "key": {"id": S("x")}}, CALL)
    with pytest.raises(ResolverError, match="Unsupported DynamoDB operation"):
        await env({"operation": "Explode"})
    with pytest.raises(ResolverError, match="key"):
        await env({"operation": "GetItem"})
    with pytest.raises(ResolverError, match="typed value"):
        await env({"operation": "GetItem", "key": {"author": "plain", "id": S("1")}})
    with pytest.raises(DataSourceError) as exc:
        await env({"operation": "GetItem", "key": {"nope": S("1")}})
    assert exc.value.error_type == "DynamoDB:ValidationException"


async def test_unreachable_endpoint_is_an_error_not_a_crash() -> None:
    from tests.services import free_port

    clients = ClientProvider(AwsSettings(dynamodb_endpoint=f"http://127.0.0.1:{free_port()}", connect_timeout=0.5,
                                         max_attempts=1))
    ds = build_data_source(DataSourceConfig("X", "AMAZON_DYNAMODB", {"tableName": "t"}), DataSourceEnv(clients, ROOT))
    with pytest.raises(DataSourceError) as exc:
        await ds.invoke({"version": V, "operation": "GetItem", "key": {"id": S("1")}}, CALL)
    assert exc.value.error_type == "DynamoDB:ServiceUnavailable"
    await clients.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=filters)
async def test_dynamodb_accepts_every_generated_filter(env: Env, spec: dict[str, Any]) -> None:
    doc = dynamodb_expression(spec)
    assert doc is not None
    if not doc["expressionValues"]:
        doc.pop("expressionValues")
    r = await env({"operation": "Scan", "filter": doc, "limit": 5})
    assert isinstance(r["items"], list)
