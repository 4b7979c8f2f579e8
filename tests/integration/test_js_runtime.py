"""APPSYNC_JS served over HTTP on DynamoDB Local: every ddb builder, pipelines with earlyReturn, errors, a runaway."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gqlsync.app import load_app
from gqlsync.app.errors import AppError
from gqlsync.runtimes.js import engine as js_engine
from tests.helpers import ROOT, GraphQLClient, dynamodb_server

pytestmark = pytest.mark.integration

APP = ROOT / "tests" / "apps" / "js-semantics"
ITEM = "pk sk n name tags"


@pytest.fixture
async def js_client(dynamodb_endpoint: str) -> AsyncIterator[GraphQLClient]:
    server = dynamodb_server(load_app(APP), dynamodb_endpoint)
    async with GraphQLClient(server, api_key="da2-gqlsyncjssemanticstestkey01") as client:
        yield client


async def gql(c: GraphQLClient, query: str, variables: dict | None = None) -> dict:
    r = await c.query(query, variables or {})
    assert "errors" not in r, r
    return r["data"]


async def test_put_get_update_remove(js_client: GraphQLClient) -> None:
    put = await gql(js_client, f"mutation {{ putItem(pk: \"p\", sk: \"a\", n: 1, name: \"A\") {{ {ITEM} }} }}")
    assert put["putItem"] == {"pk": "p", "sk": "a", "n": 1, "name": "A", "tags": []}
    got = await gql(js_client, f"{{ getItem(pk: \"p\", sk: \"a\") {{ {ITEM} }} }}")
    assert got["getItem"] == put["putItem"]
    up = await gql(js_client, f"mutation {{ updateItem(pk: \"p\", sk: \"a\", by: 4, tag: \"x\") {{ {ITEM} }} }}")
    assert up["updateItem"] == {"pk": "p", "sk": "a", "n": 5, "name": "A", "tags": ["x"]}
    up = await gql(js_client, f"mutation {{ updateItem(pk: \"p\", sk: \"a\", tag: \"y\", dropName: true) {{ {ITEM} }} }}")
    assert up["updateItem"] == {"pk": "p", "sk": "a", "n": 6, "name": None, "tags": ["x", "y"]}
    missing = await js_client.query("mutation { updateItem(pk: \"p\", sk: \"nope\") { pk } }")
    assert missing["data"] == {"updateItem": None}
    assert missing["errors"][0]["errorType"] == "DynamoDB:ConditionalCheckFailedException"
    removed = await gql(js_client, "mutation { removeItem(pk: \"p\", sk: \"a\") { pk sk n } }")
    assert removed["removeItem"] == {"pk": "p", "sk": "a", "n": 6}
    assert (await gql(js_client, "{ getItem(pk: \"p\", sk: \"a\") { pk } }")) == {"getItem": None}


async def test_query_and_scan_with_filters_and_pages(js_client: GraphQLClient) -> None:
    for i, sk in enumerate(["a1", "a2", "a3", "b1"]):
        await gql(js_client, f"mutation {{ putItem(pk: \"q\", sk: \"{sk}\", n: {i}) {{ pk }} }}")
    await gql(js_client, "mutation { putItem(pk: \"other\", sk: \"a9\", n: 9) { pk } }")
    q = await gql(js_client, "{ queryItems(pk: \"q\", prefix: \"a\") { items { sk } nextToken } }")
    assert [i["sk"] for i in q["queryItems"]["items"]] == ["a3", "a2", "a1"]  # scanIndexForward: false
    seen, token = [], None
    while True:
        page = (await gql(js_client, "query($t: String) { queryItems(pk: \"q\", limit: 3, nextToken: $t) "
                                     "{ items { sk } nextToken } }", {"t": token}))["queryItems"]
        seen += [i["sk"] for i in page["items"]]
        token = page["nextToken"]
        if token is None:
            break
    assert seen == ["b1", "a3", "a2", "a1"]
    s = await gql(js_client, "{ scanItems(minN: 2) { items { pk sk n } } }")
    assert sorted((i["pk"], i["n"]) for i in s["scanItems"]["items"]) == [("other", 9), ("q", 2), ("q", 3)]


async def test_sync_on_a_versioned_source(js_client: GraphQLClient) -> None:
    put = await gql(js_client, "mutation { putVersioned(pk: \"v\", sk: \"1\", n: 7) { pk n _version } }")
    assert put["putVersioned"] == {"pk": "v", "n": 7, "_version": 1}
    synced = await gql(js_client, "{ syncItems { items { pk sk n _version } nextToken startedAt } }")
    assert synced["syncItems"]["items"] == [{"pk": "v", "sk": "1", "n": 7, "_version": 1}]
    assert isinstance(synced["syncItems"]["startedAt"], int)


async def test_pipeline_with_early_return(js_client: GraphQLClient) -> None:
    known = await gql(js_client, "{ cached(key: \"known\") }")
    # lookup returned early (no data source, no response handler); compute passed prev.result through
    assert known["cached"] == "from-cache|before,lookup,compute"
    other = await gql(js_client, "{ cached(key: \"k2\") }")
    assert other["cached"] == "computed-k2|before,lookup,lookup-response,compute"


async def test_util_error_with_data_and_error_info(js_client: GraphQLClient) -> None:
    r = await js_client.query("{ failing }")
    assert r["data"] == {"failing": None}
    err = r["errors"][0]
    assert (err["message"], err["errorType"], err["data"], err["errorInfo"], err["path"]) == (
        "Nope", "Custom.Failure", {"id": "x1"}, {"reason": "testing", "field": "failing"}, ["failing"])


async def test_append_error_keeps_the_value(js_client: GraphQLClient) -> None:
    r = await js_client.query("{ partial }")
    assert r["data"] == {"partial": "half done"}
    err = r["errors"][0]
    assert (err["message"], err["errorType"], err["data"], err["errorInfo"], err["path"]) == (
        "Something was skipped", "Partial", {"skipped": 1}, {"hint": "retry"}, ["partial"])


async def test_a_runaway_script_is_a_field_error_and_the_server_keeps_serving(
        js_client: GraphQLClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(js_engine, "BUDGET_SECONDS", 0.5)
    t = time.monotonic()
    r = await js_client.query("{ spin partial }")
    assert time.monotonic() - t < 5
    assert r["data"] == {"spin": None, "partial": "half done"}
    spin = next(e for e in r["errors"] if e["path"] == ["spin"])
    assert spin["errorType"] == "ExecutionTimeout" and "spin.js" in spin["message"]
    assert (await gql(js_client, "{ cached(key: \"known\") }"))["cached"].startswith("from-cache")


def test_a_syntax_error_is_reported_with_file_and_line_at_load(tmp_path: Path) -> None:
    from gqlsync.server import check_app  # the same check `gqlsync validate` runs

    app = tmp_path / "app"
    shutil.copytree(APP, app)
    (app / "resolvers" / "failing.js").write_text(
        "import { util } from '@aws-appsync/utils';\n\nexport function request(ctx) {\n  return { payload: 1 ;\n}\n"
        "export const response = (ctx) => ctx.result;\n")
    (app / "resolvers" / "partial.js").write_text(
        "export function request(ctx) {\n  while (true) {}\n}\nexport const response = (ctx) => ctx.result;\n")
    with pytest.raises(AppError) as exc:
        check_app(app)
    found = [str(p) for p in exc.value.problems]
    assert any(p.endswith("failing.js:4:23: APPSYNC_JS: syntax error: Unexpected token") for p in found), found
    assert any(p.endswith("partial.js:2:3: APPSYNC_JS: while loops are not supported by APPSYNC_JS; use for-of or "
                          "for-in") for p in found), found
