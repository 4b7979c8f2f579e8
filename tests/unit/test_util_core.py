"""gqlsync.util called directly, without VTL: the language-neutral core another runtime (APPSYNC_JS) will call."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest

from gqlsync.errors import ResolverError, UnauthorizedError
from gqlsync.runtimes.context import RequestScope, ResolverContext
from gqlsync.util import errors, ids
from gqlsync.util.core import UtilCore
from gqlsync.util.dynamodb import DynamoDBUtil, to_attribute
from gqlsync.util.families import ListUtil, sort_list
from gqlsync.util.time import TimeUtil, format_datetime, parse_formatted
from gqlsync.util.transform import TransformUtil, dynamodb_expression
from tests.helpers import ROOT


class Info:
    fieldName = "getPost"
    parentTypeName = "Query"

    def locations(self) -> None:
        return None


def context() -> ResolverContext:
    scope = RequestScope(request_id="r1", identity=None, headers={})
    return ResolverContext(scope=scope, arguments={}, source=None, info=Info(), stash={})  # type: ignore[arg-type]


def test_the_core_imports_no_runtime() -> None:
    code = ("import sys, gqlsync.util.core, gqlsync.util.transform, gqlsync.util.errors; "
            "print([m for m in sys.modules if m.startswith('gqlsync.runtimes.vtl')])")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_id_formats() -> None:
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", ids.auto_id())
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", ids.auto_ulid())
    ksuid = ids.auto_ksuid()
    assert re.fullmatch(r"[0-9A-Za-z]{27}", ksuid)
    n = 0
    for ch in ksuid:
        n = n * 62 + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".index(ch)
    assert abs((n >> 128) + 1400000000 - time.time()) < 5  # the first 4 bytes are the creation second
    assert re.fullmatch(r"[0-9a-f]{32}", ids.random_hex())
    assert len({ids.auto_id() for _ in range(50)}) == 50


def test_time_round_trips() -> None:
    t = TimeUtil()
    ms = 1700000000123
    iso = t.epochMilliSecondsToISO8601(ms)
    assert iso == "2023-11-14T22:13:20.123Z"
    assert t.parseISO8601ToEpochMilliSeconds(iso) == ms
    text = t.epochMilliSecondsToFormatted(ms, "yyyy-MM-dd HH:mm:ss.SSSZ", "Europe/Berlin")
    assert text == "2023-11-14 23:13:20.123+0100"
    assert t.parseFormattedToEpochMilliSeconds(text, "yyyy-MM-dd HH:mm:ss.SSSZ") == ms
    parsed = parse_formatted("14/11/2023 at 22:13 o'clock", "dd/MM/yyyy 'at' HH:mm 'o''clock'", "UTC")
    assert format_datetime(parsed, "yyyy-MM-dd'T'HH:mm:ssXXX") == "2023-11-14T22:13:00Z"
    assert abs(t.parseISO8601ToEpochMilliSeconds(t.nowISO8601()) - t.nowEpochMilliSeconds()) < 5000


def test_to_dynamodb_returns_nested_objects() -> None:
    value = {"id": "p1", "n": 3, "price": Decimal("2.5"), "ok": True, "none": None,
             "tags": ["a", 1, [False]], "meta": {"inner": {"x": 1.5}}, "set": {"s"}}
    expected = {"M": {
        "id": {"S": "p1"}, "n": {"N": 3}, "price": {"N": 2.5}, "ok": {"BOOL": True}, "none": {"NULL": True},
        "tags": {"L": [{"S": "a"}, {"N": 1}, {"L": [{"BOOL": False}]}]},
        "meta": {"M": {"inner": {"M": {"x": {"N": 1.5}}}}}, "set": {"SS": ["s"]}}}
    d = DynamoDBUtil()
    assert d.toDynamoDB(value) == expected == to_attribute(value)
    assert d.toMapValues(value) == expected["M"]
    assert d.toNumberSet([1, Decimal("2")]) == {"NS": [1, 2]}
    s3 = d.toS3Object("k", "b", "us-east-1")
    assert json.loads(s3["S"]) == {"s3": {"key": "k", "bucket": "b", "region": "us-east-1"}}
    assert d.fromS3ObjectJson(s3["S"]) == {"key": "k", "bucket": "b", "region": "us-east-1"}
    assert not any(name.endswith("Json") and name != "fromS3ObjectJson" for name in dir(d))


def test_filter_expression_is_an_object() -> None:
    spec = {"title": {"beginsWith": "Hello"}, "or": [{"views": {"gt": 10}}, {"draft": {"eq": True}}]}
    doc = TransformUtil().toDynamoDBFilterExpression(spec)
    assert doc == dynamodb_expression(spec)
    assert doc == {
        "expression": "(begins_with(#title, :title_beginsWith)) AND ((#views > :views_gt) OR (#draft = :draft_eq))",
        "expressionNames": {"#title": "title", "#views": "views", "#draft": "draft"},
        "expressionValues": {":title_beginsWith": {"S": "Hello"}, ":views_gt": {"N": 10},
                             ":draft_eq": {"BOOL": True}},
    }
    assert TransformUtil().toDynamoDBFilterExpression({}) is None
    assert TransformUtil().toElasticsearchQueryDSL({"title": {"eq": "x"}}) == {"bool": {"must": [{"term": {"title": "x"}}]}}
    with pytest.raises(ResolverError, match="Invalid subscription filter"):
        TransformUtil().toSubscriptionFilter({"title": {"nope": 1}})


def test_sort_list() -> None:
    lst = ListUtil()
    assert lst.sortList([3, 1, 2.5]) == [1, 2.5, 3]
    assert lst.sortList(["b", None, "a"]) == ["a", "b", None]
    assert lst.sortList(["b", None, "a"], True) == [None, "b", "a"]
    people = [{"name": "Cy", "age": 30}, {"name": "Al", "age": 5}, {"name": "Bo"}]
    assert [p["name"] for p in lst.sortList(people, False, "age")] == ["Al", "Cy", "Bo"]
    assert [p["name"] for p in lst.sortList(people, False, "name")] == ["Al", "Bo", "Cy"]
    big = list(range(1001, 0, -1))
    assert lst.sortList(big) == big  # AppSync leaves a list above 1000 entries unsorted


def test_sort_list_mixed_types_use_the_runtimes_stringify() -> None:
    mixed = [True, "a", 5]  # numbers beside text: every entry sorts by its text
    assert sort_list(mixed) == [5, True, "a"]  # str(): "5" < "True" < "a"
    assert ListUtil(lambda v: str(v).lower()).sortList(mixed) == [5, "a", True]  # "5" < "a" < "true"


def test_errors_need_only_a_resolver_context() -> None:
    ctx = context()
    with pytest.raises(ResolverError) as exc:
        errors.error("boom", "Custom", {"a": 1})
    assert (exc.value.message, exc.value.error_type, exc.value.data) == ("boom", "Custom", {"a": 1})
    with pytest.raises(ResolverError) as exc:
        errors.validate(False, "bad")
    assert exc.value.error_type == "CustomTemplateException"
    errors.validate(True, "fine")
    errors.append_error(ctx, None, None, {"d": 1})
    assert ctx.out_errors == [{"message": "Error", "type": "MappingTemplate", "data": {"d": 1}, "errorInfo": None}]
    assert len(ctx.scope.appended_errors) == 1
    with pytest.raises(UnauthorizedError, match="Not Authorized to access getPost on type Query"):
        errors.unauthorized(ctx)


def test_util_core_with_another_runtimes_stringify() -> None:
    def js_string(v: Any) -> str:  # a stand-in for JavaScript's String(v)
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    ctx = context()
    util = UtilCore(ctx, js_string)
    with pytest.raises(ResolverError, match=r"^42$"):
        util.error(42)
    assert util.base64Encode(True) == "dHJ1ZQ=="  # "true"
    assert util.urlEncode("a b*&") == "a+b*%26"
    assert util.typeOf(1.5) == "Number" and util.isNullOrBlank(" ")
    assert util.parseJson('{"a":[1]}') == {"a": [1]}
    util.log.info("x={} y={}", False, None)
    assert ctx.scope.logs[-1]["message"] == "x=false y=null"
    util.http.addResponseHeader("X-Flag", True)
    assert ctx.scope.response_headers == {"X-Flag": "true"}
    assert util.authType() == "API Key Authorization"
    assert util.time.epochMilliSecondsToSeconds(1500) == 1
    assert util.dynamodb.toDynamoDB([1]) == {"L": [{"N": 1}]}
    assert not hasattr(util, "toJson") and not hasattr(util, "qr")  # VTL's, not the core's


def test_search_filters_become_query_dsl() -> None:
    dsl = TransformUtil().toElasticsearchQueryDSL
    assert dsl({"or": [{"city": {"eq": "berlin"}}, {"attendees": {"gt": 10}}], "not": {"online": {"eq": True}}}) == {
        "bool": {"must": [
            {"bool": {"should": [{"bool": {"must": [{"term": {"city": "berlin"}}]}},
                                 {"bool": {"must": [{"range": {"attendees": {"gt": 10}}}]}}],
                      "minimum_should_match": 1}},
            {"bool": {"must_not": {"bool": {"must": [{"term": {"online": True}}]}}}}]}}
    assert dsl({"name": {"matchPhrasePrefix": "launch pa", "exists": False}}) == {"bool": {"must": [
        {"match_phrase_prefix": {"name": "launch pa"}}, {"bool": {"must_not": {"exists": {"field": "name"}}}}]}}
    assert dsl({"name": {"multiMatch": "launch"}}) == {"bool": {"must": [
        {"multi_match": {"query": "launch", "fields": ["name"]}}]}}
    assert dsl({}) is None and dsl(None) is None
    for bad in ({"name": {"startsWith": "x"}}, {"price": {"range": [1]}}, {"name": "x"}):
        with pytest.raises(ResolverError, match="Invalid search filter"):
            dsl(bad)
