"""Resolver semantics AppSync defines: unit/pipeline, early return, stash, errors, partial results, scalars."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from gqlsync.app import load_app
from tests.helpers import ROOT, GraphQLClient, dynamodb_server

pytestmark = pytest.mark.integration
KEY = "da2-semanticstestkey0001"


@pytest.fixture
async def c(dynamodb_endpoint: str) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(dynamodb_server(load_app(ROOT / "tests/apps/semantics"), dynamodb_endpoint),
                             api_key=KEY) as client:
        yield client


async def test_unit_resolver_none_datasource(c: GraphQLClient) -> None:
    assert await c.query('{ echo(msg: "hi") }') == {"data": {"echo": "hi"}}


async def test_early_return_skips_datasource(c: GraphQLClient) -> None:
    assert await c.query("{ early(x: 1) }") == {"data": {"early": "returned early"}}
    assert await c.query("{ early(x: 2) }") == {"data": {"early": "from data source"}}


async def test_util_error_shape(c: GraphQLClient) -> None:
    r = await c.query('query { fails(message: "boom", type: "Custom") }')
    assert r["data"] == {"fails": None}
    assert r["errors"] == [{"path": ["fails"], "data": {"d": 1}, "errorType": "Custom", "errorInfo": {"i": 2},
                            "locations": [{"line": 1, "column": 9, "sourceName": None}], "message": "boom"}]


async def test_partial_results_with_field_errors(c: GraphQLClient) -> None:
    r = await c.query("{ partial { id name secret } }")
    assert r["data"] == {"partial": [{"id": "1", "name": "a", "secret": "s-1"},
                                     {"id": "2", "name": "b", "secret": None}]}
    assert len(r["errors"]) == 1
    e = r["errors"][0]
    assert e["path"] == ["partial", 1, "secret"] and e["errorType"] == "Forbidden"


async def test_append_error_keeps_data(c: GraphQLClient) -> None:
    r = await c.query('{ withAppended: withAppended }')
    assert r["data"] == {"withAppended": None}
    r = await c.query('{ echo(msg: "x") withAppended }')
    assert r["data"]["echo"] == "x"
    assert [(e["errorType"], e["message"], e["path"]) for e in r["errors"]] == \
        [("Warning", "something odd", ["withAppended"])]


async def test_pipeline_order_prev_result_and_stash(c: GraphQLClient) -> None:
    # before: x=3 -> addOne 4 -> double 8 -> addOne 9
    r = await c.query("{ pipe(x: 3) }")
    assert r == {"data": {"pipe": "9:[addOne, double, addOne, after]"}}


async def test_pipeline_function_early_return_continues(c: GraphQLClient) -> None:
    # addOne(null)=1, skipper returns 100 without its data source, double -> 200
    r = await c.query("{ pipeEarly }")
    assert r == {"data": {"pipeEarly": "200:[addOne, skipper, double, after]"}}


async def test_stash_shared_across_pipeline(c: GraphQLClient) -> None:
    assert await c.query("{ stashy }") == {"data": {"stashy": "a=1 b=2"}}


async def test_non_null_violation(c: GraphQLClient) -> None:
    r = await c.query("{ nonNull }")
    assert r["data"] is None
    assert r["errors"][0]["path"] == ["nonNull"]
    assert r["errors"][0]["errorType"] == "NullValueInNonNullableField"


async def test_info_and_request_headers(c: GraphQLClient) -> None:
    resp = await c.post({"query": "query Q($m: String) { echo(msg: $m) info }", "variables": {"m": "x"}},
                        headers={"x-custom": "yes"})
    info = json.loads(resp.json()["data"]["info"])
    assert info == {"fieldName": "info", "parentTypeName": "Query", "selectionSetList": [], "variables": {"m": "x"},
                    "headers": "yes"}


async def test_aws_scalars_valid_roundtrip(c: GraphQLClient) -> None:
    r = await c.query("""{ scalars(d: "2026-11-23", t: "12:30:00.123Z", dt: "2026-11-23T12:30:00+01:00", ts: 1700000000,
        e: "a@b.io", j: "{\\"k\\": [1, 2]}", u: "https://x.io/p?q=1", p: "+1 (555) 010-0000", ip: "10.0.0.1/8") }""")
    assert "errors" not in r, r
    assert json.loads(r["data"]["scalars"]) == {
        "d": "2026-11-23", "t": "12:30:00.123Z", "dt": "2026-11-23T12:30:00+01:00", "ts": 1700000000,
        "e": "a@b.io", "j": {"k": [1, 2]}, "u": "https://x.io/p?q=1", "p": "+1 (555) 010-0000", "ip": "10.0.0.1/8"}


@pytest.mark.parametrize("arg,value", [
    ("d", "2026-13-01"), ("d", "23/11/2026"), ("t", "25:00"), ("dt", "2026-11-23T12:30:00"),
    ("dt", "2026-11-23"), ("ts", 1.5), ("ts", "123"), ("e", "no-at-sign"), ("j", "{bad json"),
    ("u", "not a url"), ("p", "call me"), ("ip", "300.1.1.1"),
])
async def test_aws_scalars_invalid_variables(c: GraphQLClient, arg: str, value: object) -> None:
    types = {"d": "AWSDate", "t": "AWSTime", "dt": "AWSDateTime", "ts": "AWSTimestamp", "e": "AWSEmail",
             "j": "AWSJSON", "u": "AWSURL", "p": "AWSPhone", "ip": "AWSIPAddress"}
    r = await c.query(f"query($v: {types[arg]}) {{ scalars({arg}: $v) }}", {"v": value})
    assert r["data"] is None
    assert r["errors"][0]["errorType"] == "ValidationError"
    assert "$v" in r["errors"][0]["message"]


async def test_scalar_output_is_validated(c: GraphQLClient) -> None:
    await c.query('mutation { put(id: "w", name: "x") { id } }')
    # A stored value that is not an AWSDateTime cannot be served as one.
    r = await c.query('{ item(id: "w") { id name } }')
    assert r == {"data": {"item": {"id": "w", "name": "x"}}}


async def test_2017_template_raises_datasource_errors(c: GraphQLClient) -> None:
    r = await c.query('{ oldStyle(id: "1") { id } }')
    assert r["data"] == {"oldStyle": None}
    assert r["errors"][0]["errorType"] == "DynamoDB:ResourceNotFoundException"
    assert r["errors"][0]["path"] == ["oldStyle"]


async def test_2018_template_sees_ctx_error(c: GraphQLClient) -> None:
    r = await c.query('{ newStyle(id: "1") { id name } }')
    assert r == {"data": {"newStyle": {"id": "handled", "name": "DynamoDB:ResourceNotFoundException"}}}


async def test_document_cache_hits(c: GraphQLClient) -> None:
    docs = c.server.api.documents
    before = docs.hits
    for _ in range(3):
        await c.query('{ echo(msg: "cached") }')
    assert docs.hits >= before + 2
