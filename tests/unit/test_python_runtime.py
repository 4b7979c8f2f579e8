"""The PYTHON runtime on NONE data sources: load errors (file/line), util errors, pipelines, early return, names."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gqlsync.app import load_app
from gqlsync.app.errors import AppError
from gqlsync.app.model import CodeFile
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.runtimes import get_runtime
from tests.helpers import GraphQLClient

KEY = "da2-gqlsynclocaldevelopmentkey01"
SCHEMA = """
type Thing { id: ID! name: String tags: [String] note: String }
type Query {
  thing(id: ID!): Thing
  echo(text: String): String
  fails(kind: String): String
  partial: Thing
  piped(id: ID!): Thing
  skipped(id: ID!): Thing
  names: [String]
  who: String
}
type Mutation { save(id: ID!, name: String): Thing }
"""
MANIFEST = """
name: pyunit
schema: schema.graphql
auth: {default: {mode: API_KEY}, apiKeys: [{id: THE_KEY}]}
dataSources:
  Local: {type: NONE}
  Other: {type: NONE}
functions:
  loadThing: {dataSource: Local, runtime: PYTHON, code: fns/load_thing.py}
  nameThing: {dataSource: Other, runtime: PYTHON, code: fns/name_thing.py}
resolvers:
""".replace("THE_KEY", KEY)


def write_app(root: Path, resolvers: list[dict[str, Any]], files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "schema.graphql").write_text(SCHEMA)
    entries = "".join("  - {" + ", ".join(f"{k}: {v}" for k, v in r.items()) + "}\n" for r in resolvers)
    (root / "gqlsync.yaml").write_text(MANIFEST + entries)
    files = {"fns/load_thing.py": LOAD_THING, "fns/name_thing.py": NAME_THING, **files}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


LOAD_THING = '''
"""Pipeline function 1: request/response, an early return for the id "none"."""
from gqlsync.runtimes.python import early_return

async def request(ctx):
    if ctx.arguments["id"] == "none":
        early_return({"id": "none", "name": "returned early", "tags": ctx.stash.get("tags")})
    ctx.stash["loaded"] = True
    return {"payload": {"id": ctx.arguments["id"], "tags": [ctx.prev.result]}}

async def response(ctx):
    return ctx.result
'''
NAME_THING = '''
"""Pipeline function 2: resolve(), calling its own data source."""
async def resolve(ctx, datasources):
    named = await datasources.own.echo({**ctx.prev.result, "name": "thing " + ctx.prev.result["id"]})
    return {**named, "note": f"loaded={ctx.stash.get('loaded')} source={datasources.own.name}"}
'''


@pytest.fixture
async def client_for(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    clients: list[GraphQLClient] = []

    async def make(resolvers: list[dict[str, Any]], files: dict[str, str]) -> GraphQLClient:
        root = write_app(tmp_path / f"app{len(clients)}", resolvers, files)
        c = GraphQLClient(GqlsyncServer(load_app(root), ServerSettings()), api_key=KEY)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.close()


def unit(field: str, code: str, type_: str = "Query", ds: str = "Local") -> dict[str, Any]:
    return {"type": type_, "field": field, "dataSource": ds, "runtime": "PYTHON", "code": code}


# ---------------------------------------------------------------- load errors name file and line


def problems_of(tmp_path: Path, text: str) -> list[str]:
    root = write_app(tmp_path / "bad", [unit("echo", "r/bad.py")], {"r/bad.py": text})
    with pytest.raises(AppError) as info:
        GqlsyncServer(load_app(root), ServerSettings())
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("text,line,reason", [
    ("async def request(ctx):\n    return {\n\nasync def response(ctx): ...\n", 2, "Python syntax error: '{' was never closed"),
    ("import json\nimport not_a_module_here\n", 2, "ModuleNotFoundError: No module named 'not_a_module_here'"),
    ("X = 1\n", None, "defines none of `async def request(ctx)`"),
    ("\n\ndef request(ctx):\n    return {}\n", 3, "`request` must be `async def`"),
    ("async def resolve(ctx):\n    return 1\n", 1, "`resolve` must take (ctx, datasources)"),
    ("async def request(ctx): ...\n\nasync def resolve(ctx, datasources): ...\n", 3, "not both"),
    ("request = 5\n", None, "`request` must be an `async def` function, not int"),
])
def test_load_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int | None, reason: str) -> None:
    found = problems_of(tmp_path, text)
    where = str(tmp_path / "bad" / "r" / "bad.py") + (f":{line}" if line else "")
    assert any(p.startswith(where + ":") and reason in p for p in found), found


def test_manifest_shape_errors(tmp_path: Path) -> None:
    runtime = get_runtime("PYTHON")
    from gqlsync.runtimes import CodeShapeError

    f = CodeFile(tmp_path / "x.py", "async def request(ctx): ...\n")
    with pytest.raises(CodeShapeError) as info:
        runtime.prepare(request=f, response=None, code=None)
    assert any("PYTHON needs `code:`" in r for r in info.value.reasons)
    assert any("not `request:`" in r for r in info.value.reasons)


def test_each_app_version_runs_the_file_as_it_is_now(tmp_path: Path) -> None:
    runtime = get_runtime("PYTHON")
    path = tmp_path / "r.py"
    first = runtime.prepare(request=None, response=None, code=CodeFile(path, "V = 1\nasync def request(ctx): ...\n"))
    second = runtime.prepare(request=None, response=None, code=CodeFile(path, "V = 2\nasync def request(ctx): ...\n"))
    assert (first.module.module.V, second.module.module.V) == (1, 2)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- util errors as VTL's $util.error raises them


ECHO = '''
from gqlsync.runtimes.python import util

async def request(ctx):
    return {"payload": util.str.to_upper(ctx.args["text"])}

async def response(ctx):
    return ctx.result + " " + ctx.info.field_name + "@" + ctx.info.parentTypeName
'''
FAILS = '''
from gqlsync.runtimes.python import util, DataSourceError

async def resolve(ctx, datasources):
    kind = ctx.arguments["kind"]
    if kind == "error":
        util.error("Nope, not this one", "NopeError", {"k": 1}, {"why": "testing"})
    if kind == "bare":
        util.error()
    if kind == "unauthorized":
        util.unauthorized()
    if kind == "validate":
        util.validate(False, "must be valid")
    if kind == "raise":
        raise ValueError("a plain bug")
    if kind == "unknown":
        return await datasources.Missing.echo(1)
    return "ok"
'''
PARTIAL = '''
from gqlsync.runtimes.python import util

async def resolve(ctx, datasources):
    util.append_error("first problem", "Partial")
    util.appendError("second problem")
    return {"id": "p", "name": str(len(ctx.out_errors))}
'''


async def test_util_errors_become_appsync_errors(client_for: Callable[..., Any]) -> None:
    c = await client_for([unit("echo", "r/echo.py"), unit("fails", "r/fails.py"), unit("partial", "r/partial.py")],
                         {"r/echo.py": ECHO, "r/fails.py": FAILS, "r/partial.py": PARTIAL})
    assert await c.query('{ echo(text: "hi") }') == {"data": {"echo": "HI echo@Query"}}
    r = await c.query('{ fails(kind: "error") }')
    assert r["data"] == {"fails": None}
    err = r["errors"][0]
    assert (err["message"], err["errorType"], err["data"], err["errorInfo"], err["path"]) == \
        ("Nope, not this one", "NopeError", {"k": 1}, {"why": "testing"}, ["fails"])
    assert err["locations"][0]["line"] == 1
    bare = (await c.query('{ fails(kind: "bare") }'))["errors"][0]
    assert (bare["message"], bare["errorType"]) == ("Error", "MappingTemplate")
    unauthorized = (await c.query('{ fails(kind: "unauthorized") }'))["errors"][0]
    assert (unauthorized["message"], unauthorized["errorType"]) == \
        ("Not Authorized to access fails on type Query", "Unauthorized")
    invalid = (await c.query('{ fails(kind: "validate") }'))["errors"][0]
    assert (invalid["message"], invalid["errorType"]) == ("must be valid", "CustomTemplateException")
    bug = (await c.query('{ fails(kind: "raise") }'))["errors"][0]
    assert (bug["message"], bug["errorType"], bug["path"]) == \
        ("Error in resolver fails.py line 15: ValueError: a plain bug", "MappingTemplate", ["fails"])
    unknown = (await c.query('{ fails(kind: "unknown") }'))["errors"][0]
    assert "no data source 'Missing'" in unknown["message"] and "Local, Other" in unknown["message"]
    r = await c.query("{ partial { id name } }")
    assert r["data"] == {"partial": {"id": "p", "name": "2"}}
    assert [(e["message"], e["errorType"]) for e in r["errors"]] == \
        [("first problem", "Partial"), ("second problem", "MappingTemplate")]


# ---------------------------------------------------------------- pipelines and early return


BEFORE_AFTER = '''
async def request(ctx):
    ctx.stash["tags"] = ["from-before"]
    return "before"

async def response(ctx):
    return {**ctx.prev.result, "tags": ctx.prev.result.get("tags")}
'''
SKIPS = '''
from gqlsync.runtimes.python import util

async def request(ctx):
    util.early_return({"id": ctx.arguments["id"], "name": "skipped the data source"})

async def response(ctx):
    raise AssertionError("not reached")
'''


async def test_pipeline_functions_in_python(client_for: Callable[..., Any]) -> None:
    piped = {"type": "Query", "field": "piped", "kind": "PIPELINE", "runtime": "PYTHON", "code": "r/before_after.py",
             "functions": "[loadThing, nameThing]"}
    c = await client_for([piped, unit("skipped", "r/skips.py")], {"r/before_after.py": BEFORE_AFTER,
                                                                  "r/skips.py": SKIPS})
    r = await c.query('{ piped(id: "7") { id name tags note } }')
    assert r == {"data": {"piped": {"id": "7", "name": "thing 7", "tags": ["before"],
                                    "note": "loaded=True source=Other"}}}
    # an early return in the first function: its value is the next function's prev.result
    r = await c.query('{ piped(id: "none") { id name tags } }')
    assert r == {"data": {"piped": {"id": "none", "name": "thing none", "tags": ["from-before"]}}}
    # an early return in a unit resolver's request: the field's value, no data source, no response
    r = await c.query('{ skipped(id: "3") { id name } }')
    assert r == {"data": {"skipped": {"id": "3", "name": "skipped the data source"}}}


# ---------------------------------------------------------------- ctx and datasources


WHO = '''
async def resolve(ctx, datasources):
    assert ctx.args is ctx.arguments and ctx.source is None
    assert ctx.info.selection_set_list == [] and ctx.info.variables == {}
    return f"{ctx.request.headers.get('x-who')}|{ctx.identity}|{sorted(datasources.names())}|{'Other' in datasources}"
'''
SAVE = '''
async def resolve(ctx, datasources):
    other = await datasources["Other"].call({"version": "2018-05-29", "payload": dict(ctx.arguments)})
    return await datasources.Local.echo({**other, "note": repr(datasources.Other)})
'''


async def test_context_and_data_sources_by_name(client_for: Callable[..., Any]) -> None:
    c = await client_for([unit("who", "r/who.py"), unit("save", "r/save.py", "Mutation")],
                         {"r/who.py": WHO, "r/save.py": SAVE})
    resp = await c.post({"query": "{ who }"}, headers={"x-who": "me"})
    assert resp.json() == {"data": {"who": "me|None|['Local', 'Other']|True"}}
    r = await c.query('mutation { save(id: "1", name: "n") { id name note } }')
    assert r == {"data": {"save": {"id": "1", "name": "n", "note": "<NoneSource data source Other (NONE)>"}}}
    metrics = (await c.http.get("/metrics")).text
    assert 'gqlsync_datasource_seconds_count{app="pyunit",datasource="Other",type="NONE"}' in metrics


def test_util_names_fold_snake_case() -> None:
    from gqlsync.runtimes.python import util
    from gqlsync.runtimes.python.pyutil import _Core, _names

    folded: dict[str, list[str]] = {}
    for name in dir(_Core):
        if not name.startswith("_"):
            folded.setdefault(name.replace("_", "").lower(), []).append(name)
    assert [v for v in folded.values() if len(v) > 1] == []  # no two AppSync names fold together
    assert _names(_Core)["autoid"] == "autoId"
    with pytest.raises(RuntimeError, match="while it runs"):
        util.auto_id()


async def test_a_new_app_version_runs_the_edited_module(client_for: Callable[..., Any]) -> None:
    c = await client_for([unit("echo", "r/echo.py")], {"r/echo.py": ECHO})
    assert await c.query('{ echo(text: "a") }') == {"data": {"echo": "A echo@Query"}}
    path = c.server.app.root / "r" / "echo.py"
    path.write_text(path.read_text().replace('" " + ctx.info.field_name', '" v2 " + ctx.info.field_name'))
    await c.server.install(load_app(c.server.app.root))  # what `dev --watch` and a deploy do
    assert await c.query('{ echo(text: "a") }') == {"data": {"echo": "A v2 echo@Query"}}
    path.write_text("async def request(ctx):\n    return {\n")
    with pytest.raises(AppError) as info:
        await c.server.install(load_app(c.server.app.root))
    assert f"{path}:2" in str(info.value.problems[0])
    assert await c.query('{ echo(text: "a") }') == {"data": {"echo": "A v2 echo@Query"}}  # still the last good one


async def test_dynamodb_helpers_build_appsync_documents() -> None:
    from gqlsync.runtimes import DataSourceInfo
    from gqlsync.runtimes.python.datasources import DynamoDB

    sent: list[dict[str, Any]] = []

    async def call(doc: dict[str, Any]) -> Any:
        sent.append(doc)
        return {"data": {"tbl": [None]}, "items": [None]}

    t = DynamoDB(call, DataSourceInfo("T", "AMAZON_DYNAMODB", "tbl"))
    await t.get_item({"id": "1"}, consistent_read=True)
    await t.update_item({"id": "1"}, "SET #n = :n", names={"#n": "name"}, values={":n": 5},
                        condition={"expression": "attribute_exists(id)"})
    await t.batch_get([{"id": "1"}])
    await t.transact_write([{"operation": "PutItem", "key": {"id": "2"}, "attributeValues": {"tags": ["a"]}},
                            {"operation": "ConditionCheck", "key": {"id": "3"}, "table": "other",
                             "condition": {"expression": "v = :v", "expressionValues": {":v": True}}}])
    await t.scan(filter="x > :x", limit=2)
    v = "2018-05-29"
    assert sent[0] == {"version": v, "operation": "GetItem", "key": {"id": {"S": "1"}}, "consistentRead": True}
    assert sent[1] == {"version": v, "operation": "UpdateItem", "key": {"id": {"S": "1"}},
                       "update": {"expression": "SET #n = :n", "expressionNames": {"#n": "name"},
                                  "expressionValues": {":n": {"N": 5}}},
                       "condition": {"expression": "attribute_exists(id)"}}
    assert sent[2]["tables"] == {"tbl": {"keys": [{"id": {"S": "1"}}]}}
    assert sent[3]["transactItems"] == [
        {"table": "tbl", "operation": "PutItem", "key": {"id": {"S": "2"}},
         "attributeValues": {"tags": {"L": [{"S": "a"}]}}},
        {"table": "other", "operation": "ConditionCheck", "key": {"id": {"S": "3"}},
         "condition": {"expression": "v = :v", "expressionValues": {":v": {"BOOL": True}}}}]
    assert sent[4] == {"version": v, "operation": "Scan", "filter": {"expression": "x > :x"}, "limit": 2}
