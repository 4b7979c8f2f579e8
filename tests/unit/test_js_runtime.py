"""APPSYNC_JS without a server: module checks at load, util and ddb builders, errors, early return, time limit."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import gqlsync.runtimes.js as js_runtime
from gqlsync.app.errors import AppError
from gqlsync.app.model import CodeFile
from gqlsync.errors import ResolverError, UnauthorizedError
from gqlsync.runtimes import EarlyReturn, get_runtime
from gqlsync.runtimes.base import CodeShapeError
from gqlsync.runtimes.js import JsCompiled
from gqlsync.runtimes.js import engine as js_engine
from tests.unit.vtl_harness import make_ctx

HEAD = "import { util, runtime, extensions } from '@aws-appsync/utils';\nimport * as ddb from '@aws-appsync/utils/dynamodb';\n"


def prepare(source: str, name: str = "m.js") -> JsCompiled:
    compiled = get_runtime("APPSYNC_JS").prepare(request=None, response=None, code=CodeFile(Path(name), source))
    assert isinstance(compiled, JsCompiled)
    return compiled


def request(source: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
    return asyncio.run(prepare(HEAD + source + "\nexport function response(ctx) { return ctx.result; }\n")
                       .request(make_ctx(args, **kw)))


def response(body: str, result: Any = None, **kw: Any) -> Any:
    ctx = make_ctx(kw.pop("args", None), **kw)
    ctx.result = result
    code = HEAD + "export function request(ctx) { return {}; }\nexport function response(ctx) {\n" + body + "\n}\n"
    return asyncio.run(prepare(code).response(ctx))


def problems(source: str) -> list[str]:
    with pytest.raises(AppError) as exc:
        prepare(source, "bad.js")
    return [str(p) for p in exc.value.problems]


# -- loading
def test_syntax_error_names_file_line_and_column() -> None:
    assert problems("export function request(ctx) {\n  return {a: };\n}\n") == [
        "bad.js:2:14: APPSYNC_JS: syntax error: Unexpected token"]


@pytest.mark.parametrize(("code", "reason"), [
    ("try { x() } catch (e) {}", "try/catch/finally is not supported"),
    ("throw new Error('x')", "throw is not supported"),
    ("while (true) {}", "while loops are not supported"),
    ("do {} while (false)", "do-while loops are not supported"),
    ("for (let i = 0; i < 2; i += 1) {}", "for(initialization; condition; afterthought)"),
    ("let i = 0; i++", "the ++ operator is not supported"),
    ("const y = ~1", "the ~ operator is not supported"),
    ("const y = 'a' in ctx", "the in operator is not supported"),
    ("class A {}", "classes are not supported"),
    ("const p = new Promise(() => 1)", "promises are not supported"),
    ("for (const x of [1]) { continue }", "continue is not supported"),
    ("outer: for (const x of [1]) { break outer }", "labeled statements are not supported"),
])
def test_runtime_restrictions_are_enforced_at_load(code: str, reason: str) -> None:
    found = problems(f"export function request(ctx) {{\n  {code};\n  return {{}};\n}}\nexport const response = (c) => c.result;\n")
    assert any(reason in p and p.startswith("bad.js:2:") for p in found), found


def test_async_functions_and_foreign_imports_are_refused() -> None:
    found = problems("import x from 'lodash';\nexport async function request(ctx) { return {}; }\n"
                     "export function response(ctx) { return 1; }\n")
    assert any("bad.js:1:1" in p and "cannot import 'lodash'" in p for p in found), found
    assert any("bad.js:2:8" in p and "async functions" in p for p in found), found


def test_a_module_must_export_both_halves() -> None:
    assert problems("export function request(ctx) { return {}; }\n") == [
        "bad.js:1: APPSYNC_JS: the module must export a `response` function"]


def test_supported_features_load() -> None:
    prepare(HEAD + "export function request(ctx) {\n  const out = [];\n  for (const k in ctx.args) { out.push(k); }\n"
            "  for (const v of [1, 2]) { if (v === 2) break; }\n  switch (ctx.args?.x ?? 1) { case 1: break; default: }\n"
            "  const f = (...r) => r.length;\n  return { out, n: f(1, 2), t: `x${1}`, has: Object.hasOwn(ctx, 'args') };\n}\n"
            "export { request as unused };\nexport const response = (ctx) => ctx.result;\n")


def test_vtl_style_files_are_refused_for_js() -> None:
    with pytest.raises(CodeShapeError):
        get_runtime("APPSYNC_JS").prepare(request=CodeFile(Path("a.vtl"), "{}"), response=None, code=None)


def test_inline_code_problems_point_into_the_manifest() -> None:
    code = CodeFile(Path("gqlsync.yaml"), "export function request(ctx) {\n  while (1) {}\n}\n", manifest_line=10,
                    inline=True)
    with pytest.raises(AppError) as exc:
        get_runtime("APPSYNC_JS").prepare(request=None, response=None, code=code)
    assert str(exc.value.problems[0]).startswith("gqlsync.yaml:12:3: APPSYNC_JS: while loops")


# -- context and util
def test_context_shape_and_stash_round_trip() -> None:
    stash: dict[str, Any] = {"before": 1}
    doc = request("export function request(ctx) {\n  ctx.stash.seen = ctx.stash.before + 1;\n"
                  "  return { a: ctx.args.id, b: ctx.arguments.id, h: ctx.request.headers['x-h'],"
                  " f: ctx.info.fieldName, p: ctx.info.parentTypeName, sel: ctx.info.selectionSetList,"
                  " prev: ctx.prev.result, who: ctx.identity?.sub };\n}", {"id": "e1"}, headers={"x-h": "v"},
                  stash=stash, identity={"sub": "u1"})
    assert doc == {"version": "2018-05-29", "a": "e1", "b": "e1", "h": "v", "f": "getThing", "p": "Query",
                   "sel": ["id", "name"], "prev": None, "who": "u1"}
    assert stash == {"before": 1, "seen": 2}


def test_util_calls_into_the_shared_core() -> None:
    out = response("return { id: util.autoId(), ulid: util.autoUlid(), now: util.time.nowISO8601(),"
                   " ms: util.time.parseISO8601ToEpochMilliSeconds('2024-01-02T03:04:05.678Z'),"
                   " d: util.dynamodb.toMapValues({a: 1, b: 'x', c: [true]}), up: util.str.toUpper('ab'),"
                   " r: util.math.roundNum(2.5), t: util.typeOf([1]), e: util.isNullOrEmpty(''),"
                   " f: JSON.parse(util.transform.toDynamoDBFilterExpression({n: {gt: 1}})),"
                   " b64: util.base64Encode('hi'), def: util.defaultIfNull(null, 5) };")
    assert len(out["id"]) == 36 and len(out["ulid"]) == 26 and out["now"].endswith("Z")
    assert out["ms"] == 1704164645678
    assert out["d"] == {"a": {"N": 1}, "b": {"S": "x"}, "c": {"L": [{"BOOL": True}]}}
    assert (out["up"], out["r"], out["t"], out["e"], out["b64"], out["def"]) == ("AB", 3, "List", True, "aGk=", 5)
    assert out["f"] == {"expression": "#n > :n_gt", "expressionNames": {"#n": "n"},
                        "expressionValues": {":n_gt": {"N": 1}}}


def test_util_error_stops_with_type_data_and_error_info() -> None:
    with pytest.raises(ResolverError) as exc:
        response("util.error('boom', 'Custom', {id: 1}, {why: 'x'});\nreturn 1;")
    assert (exc.value.message, exc.value.error_type, exc.value.data, exc.value.error_info) == (
        "boom", "Custom", {"id": 1}, {"why": "x"})


def test_append_error_carries_on() -> None:
    ctx = make_ctx()
    code = prepare(HEAD + "export function request(ctx) { return {}; }\nexport function response(ctx) {\n"
                   "  util.appendError('half', 'Partial', {n: 1});\n  return 'ok';\n}\n")
    assert asyncio.run(code.response(ctx)) == "ok"
    assert [(e.message, e.error_type, e.data) for e, _, _ in ctx.scope.appended_errors] == [("half", "Partial", {"n": 1})]


def test_unauthorized_and_early_return() -> None:
    with pytest.raises(UnauthorizedError):
        response("util.unauthorized();")
    with pytest.raises(EarlyReturn) as ret:
        request("export function request(ctx) { runtime.earlyReturn({cached: true}); return {}; }")
    assert ret.value.value == {"cached": True}


def test_a_javascript_error_is_a_field_error() -> None:
    with pytest.raises(ResolverError, match=r"m\.js \(response\): TypeError"):
        response("return ctx.result.nothing.here;")


def test_a_runaway_loop_is_stopped_and_the_pool_keeps_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(js_engine, "BUDGET_SECONDS", 0.3)
    # for(;;) and while are refused at load, so a runaway script has to recurse or iterate a huge array.
    looping = prepare(HEAD + "export function request(ctx) {\n  let n = 0;\n"
                      "  for (const x of Array(2 ** 31 - 2).keys()) { n += x; }\n  return { n };\n}\n"
                      "export const response = (ctx) => 1;\n")
    t = time.monotonic()
    with pytest.raises(ResolverError) as exc:
        asyncio.run(looping.request(make_ctx()))
    assert exc.value.error_type == "ExecutionTimeout" and time.monotonic() - t < 5
    assert request("export function request(ctx) { return { ok: 1 }; }") == {"version": "2018-05-29", "ok": 1}


_TAIL = "\nexport function response(ctx) { return ctx.result; }\n"


@pytest.mark.parametrize(("body", "bounded"), [
    ("export function request(ctx) { return { id: ctx.args.id ?? util.autoId() }; }", True),
    ("function key(id) { return { id }; }\nexport const request = (ctx) => key(ctx.args.id);", True),
    ("export function request(ctx) { return { ok: Array.isArray(ctx.args.ids) }; }", True),
    ("export function request(ctx) { let n = 0; for (const id of ctx.args.ids) { n += id.length; } return { n }; }", False),
    ("export function request(ctx) { return { ids: ctx.args.ids.map((id) => id) }; }", False),
    ("function one(id) { return id; }\nexport function request(ctx) { return { ids: ctx.args.ids.map(one) }; }", False),
    ("function f(n) { return n ? f(n - 1) : 0; }\nexport function request(ctx) { return { n: f(3) }; }", False),
    ("function f(n) { return g(n); }\nfunction g(n) { return n ? f(n - 1) : 0; }\n"
     "export function request(ctx) { return { n: f(3) }; }", False),
    ("const o = { m() { return 1; } };\nexport function request(ctx) { return { n: o.m() }; }", False),
    ("export function request(ctx) { return { ok: /(a+)+$/.test(ctx.args.s) }; }", False),
    ("export function request(ctx) { return { s: 'x'.repeat(ctx.args.n) }; }", False),
    ("export function request(ctx) { return { a: Array(ctx.args.n).join('') }; }", False),
])
def test_bounded_modules_run_on_the_loop_and_the_others_on_the_pool(body: str, bounded: bool,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Modules whose running time is bounded by text and data run inline (as VTL templates without #foreach do);
    loops, callbacks, recursion, patterns and number-sized work go to the pool, where the loop never waits."""
    compiled = prepare(HEAD + body + _TAIL)
    assert compiled.module.bounded is bounded
    threads: list[str] = []
    real = js_engine.run_half

    def spy(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(js_runtime, "run_half", spy)
    asyncio.run(compiled.request(make_ctx({"id": "a", "ids": ["x"], "s": "aa", "n": 2})))
    assert threads and (threads[0] == "MainThread") is bounded, threads


# -- @aws-appsync/utils/dynamodb
def test_dynamodb_builders_write_the_data_source_documents() -> None:
    out = response("return [ddb.get({key: {id: 'a'}, consistentRead: true}),"
                   " ddb.put({key: {id: 'a'}, item: {n: 1, id: 'a'}, condition: {id: {attributeExists: false}}}),"
                   " ddb.remove({key: {id: 'a'}}),"
                   " ddb.update({key: {id: 'a'}, update: {name: 'x', count: ddb.operations.increment(2),"
                   "   old: ddb.operations.remove(), tags: ddb.operations.append(['t'])}}),"
                   " ddb.query({query: {pk: {eq: 'p'}, sk: {beginsWith: 's'}}, filter: {n: {gt: 1}}, limit: 5,"
                   "   scanIndexForward: false}),"
                   " ddb.scan({limit: 2, nextToken: 'tok'}), ddb.sync({limit: 3, lastSync: 5})];")
    get, put, remove, update, query, scan, sync = out
    assert get == {"version": "2018-05-29", "operation": "GetItem", "key": {"id": {"S": "a"}}, "consistentRead": True}
    assert put == {"version": "2018-05-29", "operation": "PutItem", "key": {"id": {"S": "a"}},
                   "attributeValues": {"n": {"N": 1}},
                   "condition": {"expression": "attribute_not_exists(#id)", "expressionNames": {"#id": "id"}}}
    assert remove["operation"] == "DeleteItem" and remove["key"] == {"id": {"S": "a"}}
    assert update["update"]["expression"] == ("SET #name = :name, #tags = list_append(if_not_exists(#tags, "
                                              ":tags_empty), :tags_append) ADD #count :count_increment REMOVE #old")
    assert query["query"]["expression"] == "#pk = :pk_eq AND begins_with(#sk, :sk_beginsWith)"
    assert query["filter"]["expression"] == "#n > :n_gt"
    assert (query["limit"], query["scanIndexForward"]) == (5, False)
    assert scan == {"version": "2018-05-29", "operation": "Scan", "limit": 2, "nextToken": "tok"}
    assert sync == {"version": "2018-05-29", "operation": "Sync", "limit": 3, "lastSync": 5}


def test_extensions_set_the_subscription_filter() -> None:
    ctx = make_ctx()
    code = prepare(HEAD + "export function request(ctx) { return {}; }\nexport function response(ctx) {\n"
                   "  extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter({eventId: {eq: 'e1'}}));\n"
                   "  return null;\n}\n")
    asyncio.run(code.response(ctx))
    assert ctx.scope.subscription_filter is not None
