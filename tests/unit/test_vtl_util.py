"""$util and Velocity semantics, with AppSync's documented examples as expectations."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gqlsync.errors import ResolverError, UnauthorizedError
from gqlsync.runtimes.vtl.velocity import java_str
from tests.unit.vtl_harness import make_ctx, render, respond


def out(template: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
    return render(template, args, **kw)


def text(expr: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
    """Render `expr` inside a JSON string literal and return the text."""
    return render('"' + expr + '"', args, **kw)


CASES: list[tuple[str, dict[str, Any], Any]] = [
    # core
    ("$util.toJson($ctx.args)", {"a": [1, "x", None, True]}, {"a": [1, "x", None, True]}),
    ("$util.toJson($util.parseJson('{\"a\":1}'))", {}, {"a": 1}),
    ("$util.toJson($util.isNull($ctx.args.x))", {}, True),
    ("$util.toJson($util.isNullOrEmpty(\"\"))", {}, True),
    ("$util.toJson($util.isNullOrBlank(\"  \"))", {}, True),
    ("$util.toJson($util.isNullOrBlank(\" a \"))", {}, False),
    ("$util.toJson($util.defaultIfNull($ctx.args.x, 20))", {}, 20),
    ("$util.toJson($util.defaultIfNull($ctx.args.x, 20))", {"x": 5}, 5),
    ("$util.toJson($util.defaultIfNullOrEmpty($ctx.args.x, \"d\"))", {"x": ""}, "d"),
    ("$util.toJson($util.defaultIfNullOrBlank($ctx.args.x, \"d\"))", {"x": " "}, "d"),
    ("$util.toJson([$util.isString(\"a\"), $util.isNumber(1), $util.isBoolean(true), $util.isList([]), $util.isMap({})])",
     {}, [True, True, True, True, True]),
    ("$util.toJson([$util.typeOf(1), $util.typeOf(\"s\"), $util.typeOf([]), $util.typeOf({}), $util.typeOf($x), $util.typeOf(true)])",
     {}, ["Number", "String", "List", "Map", "Null", "Boolean"]),
    ("$util.toJson($util.matches(\"a+b\", \"aaab\"))", {}, True),
    ("$util.toJson($util.matches(\"a+\", \"aaab\"))", {}, False),
    ("$util.toJson($util.urlEncode(\"a b&c=d/é\"))", {}, "a+b%26c%3Dd%2F%C3%A9"),
    ("$util.toJson($util.urlDecode(\"a+b%26c\"))", {}, "a b&c"),
    ("$util.toJson($util.base64Encode(\"hello\"))", {}, "aGVsbG8="),
    ("$util.toJson($util.base64Decode(\"aGVsbG8=\"))", {}, "hello"),
    # non-strings are encoded as their Java string form, never as bytes(n) (n NUL bytes)
    ("$util.toJson($util.base64Encode(5))", {}, "NQ=="),
    ("$util.toJson($util.base64Encode($ctx.args.n))", {"n": 12}, "MTI="),
    ("$util.toJson($util.base64Encode(true))", {}, "dHJ1ZQ=="),
    ("$util.toJson($util.base64Decode($util.base64Encode(0)))", {}, "0"),
    ("$util.toJson($util.escapeJavaScript('a\"b'))", {}, 'a\\"b'),
    ("$util.toJson($util.authType())", {}, "API Key Authorization"),
    # dynamodb (AppSync docs examples)
    ("$util.dynamodb.toDynamoDBJson(\"foo\")", {}, {"S": "foo"}),
    ("$util.dynamodb.toDynamoDBJson(12345)", {}, {"N": 12345}),
    ("$util.dynamodb.toDynamoDBJson(true)", {}, {"BOOL": True}),
    ("$util.dynamodb.toDynamoDBJson([\"foo\", 123, {\"bar\": \"baz\"}])", {},
     {"L": [{"S": "foo"}, {"N": 123}, {"M": {"bar": {"S": "baz"}}}]}),
    ("$util.dynamodb.toDynamoDBJson({\"foo\": \"bar\", \"baz\": 1234, \"beep\": [\"boop\"]})", {},
     {"M": {"foo": {"S": "bar"}, "baz": {"N": 1234}, "beep": {"L": [{"S": "boop"}]}}}),
    ("$util.dynamodb.toStringJson(\"foo\")", {}, {"S": "foo"}),
    ("$util.dynamodb.toStringSetJson([\"foo\", \"bar\", \"baz\"])", {}, {"SS": ["foo", "bar", "baz"]}),
    ("$util.dynamodb.toNumberJson(12345)", {}, {"N": 12345}),
    ("$util.dynamodb.toNumberSetJson([1, 23, 4.56])", {}, {"NS": [1, 23, 4.56]}),
    ("$util.dynamodb.toBinaryJson(\"dGhpcyBpcyBhIHRlc3Q=\")", {}, {"B": "dGhpcyBpcyBhIHRlc3Q="}),
    ("$util.dynamodb.toBooleanJson(true)", {}, {"BOOL": True}),
    ("$util.dynamodb.toNullJson()", {}, {"NULL": True}),
    ("$util.dynamodb.toMapValuesJson({\"foo\": \"bar\", \"baz\": 1234})", {}, {"foo": {"S": "bar"}, "baz": {"N": 1234}}),
    ("$util.dynamodb.toS3ObjectJson(\"foo\", \"bar\", \"baz\")", {},
     {"S": "{\"s3\":{\"key\":\"foo\",\"bucket\":\"bar\",\"region\":\"baz\"}}"}),
    ("$util.toJson($util.dynamodb.fromS3ObjectJson('{ \"s3\" : { \"key\" : \"foo\", \"bucket\" : \"bar\", \"region\" : \"baz\" } }'))",
     {}, {"key": "foo", "bucket": "bar", "region": "baz"}),
    # time (docs)
    ("$util.toJson($util.time.epochMilliSecondsToISO8601(1517943695750))", {}, "2018-02-06T19:01:35.750Z"),
    ("$util.toJson($util.time.epochMilliSecondsToSeconds(1517943695750))", {}, 1517943695),
    ("$util.toJson($util.time.epochMilliSecondsToFormatted(1517943695750, \"yyyy-MM-dd HH:mm:ssZ\"))", {},
     "2018-02-06 19:01:35+0000"),
    ("$util.toJson($util.time.epochMilliSecondsToFormatted(1517943695750, \"yyyy-MM-dd HH:mm:ssZ\", \"Australia/Perth\"))",
     {}, "2018-02-07 03:01:35+0800"),
    ("$util.toJson($util.time.parseFormattedToEpochMilliSeconds(\"2018-02-01 17:21:05.000+0000\", \"yyyy-MM-dd HH:mm:ss.SSSZ\"))",
     {}, 1517505665000),
    ("$util.toJson($util.time.parseFormattedToEpochMilliSeconds(\"2018-02-01 17:21:05\", \"yyyy-MM-dd HH:mm:ss\", \"Australia/Perth\"))",
     {}, 1517476865000),
    ("$util.toJson($util.time.parseISO8601ToEpochMilliSeconds(\"2018-02-01T17:21:05.000+08:00\"))", {}, 1517476865000),
    # list / map / str / math
    ("$util.toJson($util.list.copyAndRetainAll([1,2,3,4], [2,4,6]))", {}, [2, 4]),
    ("$util.toJson($util.list.copyAndRemoveAll([1,2,3,4], [2,4]))", {}, [1, 3]),
    ("$util.toJson($util.list.sortList([3,1,2], false, \"\"))", {}, [1, 2, 3]),
    ("$util.toJson($util.list.sortList([{\"n\":\"b\"},{\"n\":\"a\"}], true, \"n\"))", {}, [{"n": "b"}, {"n": "a"}]),
    ("$util.toJson($util.map.copyAndRetainAllKeys({\"a\":1,\"b\":2}, [\"a\"]))", {}, {"a": 1}),
    ("$util.toJson($util.map.copyAndRemoveAllKeys({\"a\":1,\"b\":2}, [\"a\"]))", {}, {"b": 2}),
    ("$util.toJson($util.str.toUpper(\"hello World\"))", {}, "HELLO WORLD"),
    ("$util.toJson($util.str.toLower(\"Hello\"))", {}, "hello"),
    ("$util.toJson($util.str.toReplace(\"hello world\", \"o\", \"0\"))", {}, "hell0 w0rld"),
    ("$util.toJson($util.str.normalize(\"e\u0301\", \"nfc\"))", {}, "\u00e9"),
    ("$util.toJson($util.math.roundNum(2.5))", {}, 3),
    ("$util.toJson($util.math.minVal(1, 2))", {}, 1),
    ("$util.toJson($util.math.maxVal(1, 2))", {}, 2),
    # transform (docs)
    ("$util.transform.toDynamoDBFilterExpression({\"title\":{\"contains\":\"Hello World\"}})", {},
     {"expression": "contains(#title, :title_contains)", "expressionNames": {"#title": "title"},
      "expressionValues": {":title_contains": {"S": "Hello World"}}}),
    ("$util.transform.toElasticsearchQueryDSL({\"upvotes\":{\"ne\":15,\"range\":[10,20]},\"title\":{\"eq\":\"hihihi\",\"wildcard\":\"h*i\"}})",
     {}, {"bool": {"must": [{"bool": {"must": [{"bool": {"must_not": {"term": {"upvotes": 15}}}},
                                               {"range": {"upvotes": {"gte": 10, "lte": 20}}}]}},
                            {"bool": {"must": [{"term": {"title": "hihihi"}}, {"wildcard": {"title": "h*i"}}]}}]}}),
]


@pytest.mark.parametrize("template,args,expected", CASES, ids=[c[0][:60] for c in CASES])
def test_util(template: str, args: dict[str, Any], expected: Any) -> None:
    assert out(template, args) == expected


def test_ids_have_their_formats() -> None:
    ids = out('["$util.autoId()", "$util.autoUlid()", "$util.autoKsuid()"]')
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", ids[0])
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", ids[1])
    assert re.fullmatch(r"[0-9A-Za-z]{27}", ids[2])
    assert len(set(out('["$util.autoId()", "$util.autoId()"]'))) == 2


def test_time_now() -> None:
    now = out('{"iso": "$util.time.nowISO8601()", "s": $util.time.nowEpochSeconds(), '
              '"ms": $util.time.nowEpochMilliSeconds(), "f": "$util.time.nowFormatted(\'yyyy-MM-dd\')"}')
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now["iso"])
    assert abs(now["ms"] // 1000 - now["s"]) <= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", now["f"])


def test_error_raises_with_type_and_data() -> None:
    with pytest.raises(ResolverError) as exc:
        out('$util.error("Bad thing", "MyType", {"a": 1}, {"info": true})')
    assert (exc.value.message, exc.value.error_type, exc.value.data, exc.value.error_info) == \
        ("Bad thing", "MyType", {"a": 1}, {"info": True})


def test_validate() -> None:
    assert out('#set($x = $util.validate(true, "no"))"ok"') == "ok"
    with pytest.raises(ResolverError, match="must be positive") as exc:
        out('#set($ok = $ctx.args.n > 0)$util.validate($ok, "must be positive")', {"n": -1})
    assert exc.value.error_type == "CustomTemplateException"


def test_unauthorized() -> None:
    with pytest.raises(UnauthorizedError) as exc:
        out("$util.unauthorized()")
    assert exc.value.message == "Not Authorized to access getThing on type Query"
    assert exc.value.error_type == "Unauthorized"


def test_append_error_keeps_going() -> None:
    ctx = make_ctx()
    from pathlib import Path

    from gqlsync.app.model import CodeFile
    from gqlsync.runtimes.vtl import VtlRuntime

    code = VtlRuntime().prepare(request=None, response=CodeFile(Path("t"), '$util.appendError("warn", "W")"done"'),
                                direct=True)
    assert respond(code, ctx) == "done"
    assert [(e.message, e.error_type) for e, _, _ in ctx.scope.appended_errors] == [("warn", "W")]


def test_log_goes_to_the_request() -> None:
    ctx = make_ctx()
    from pathlib import Path

    from gqlsync.app.model import CodeFile
    from gqlsync.runtimes.vtl import VtlRuntime

    code = VtlRuntime().prepare(request=None, response=CodeFile(
        Path("t"), '$util.log.info("hello {}", 42)$util.log.error("bad")"x"'), direct=True)
    assert respond(code, ctx) == "x"
    assert [(log["level"], log["message"]) for log in ctx.scope.logs] == [("info", "hello 42"), ("error", "bad")]


# ------------------------------------------------------------ Velocity semantics


@pytest.mark.parametrize("template,args,expected", [
    ("#set($m = {})$util.qr($m.put(\"k\", 1))$util.toJson($m)", {}, {"k": 1}),
    ("#set($l = [])$util.quiet($l.add(1))$util.qr($l.addAll([2, 3]))$util.toJson($l)", {}, [1, 2, 3]),
    ("#set($l = [1, 2, 3])$util.qr($l.remove(0))$util.toJson([$l.size(), $l.isEmpty(), $l.contains(3), $l.get(0)])",
     {}, [2, False, True, 2]),
    ("$util.toJson([$ctx.args.m.keySet(), $ctx.args.m.containsKey(\"a\"), $ctx.args.m.size(), $ctx.args.m.isEmpty()])",
     {"m": {"a": 1, "b": 2}}, [["a", "b"], True, 2, False]),
    ("#set($out = [])#foreach($e in $ctx.args.m.entrySet())$util.qr($out.add(\"$e.key=$e.value\"))#end$util.toJson($out)",
     {"m": {"a": 1, "b": 2}}, ["a=1", "b=2"]),
    ("#set($out = [])#foreach($k in $ctx.args.m)$util.qr($out.add($k))#end$util.toJson($out)",
     {"m": {"a": 1, "b": 2}}, ["a", "b"]),
    ("#set($s = \"  x \")#set($ab = \"ab\")#set($csv = \"a,b,,\")#set($abc = \"abc\")#set($d = \"a1b2\")#set($e = \"\")"
     "$util.toJson([$s.trim(), $ab.toUpperCase(), $csv.split(\",\"), $abc.length(), $abc.startsWith(\"ab\"),"
     " $abc.endsWith(\"c\"), $abc.contains(\"b\"), $abc.indexOf(\"c\"), $abc.substring(1), $d.replaceAll(\"[0-9]\", \"#\"),"
     " $abc.equals(\"abc\"), $e.isEmpty(), $abc.charAt(1)])", {},
     ["x", "AB", ["a", "b"], 3, True, True, True, 2, "bc", "a#b#", True, True, "b"]),
    ("#set($n = 0)#foreach($i in [1,2,3])#set($n = $n + $i)#end$n", {}, 6),
    # a variable first set inside a loop is set after it (Velocity has no loop scope but the loop variable)
    ("#foreach($i in [1,2,3])#if(!$foreach.hasNext)#set($last = $i)#end#end$last", {}, 3),
    ("#set($a = 7 / 2)#set($b = -7 / 2)#set($c = 7 % 3)#set($d = -7 % 3)#set($e = 7.0 / 2)#set($f = 1 + 2 * 3)"
     "$util.toJson([$a, $b, $c, $d, $e, $f])", {}, [3, -3, 1, -1, 3.5, 7]),
    ("#set($a = \"a\" + 1)#set($b = 1 + \"a\")#set($c = 1 == 1.0)#set($d = \"1\" == 1)#set($e = $x == $y)"
     "#set($f = $x == 1)#set($g = $x > 1)#set($h = $x < 1)$util.toJson([$a, $b, $c, $d, $e, $f, $g, $h])", {},
     ["a1", "1a", True, True, True, False, False, False]),
    ("#set($a = !$x)#set($b = !true)#set($c = !$ctx.args.f)#set($d = $util.isNull($x) && true)"
     "$util.toJson([$a, $b, $c, $d])", {"f": False}, [True, False, True, True]),
    ("#if($ctx.args.list && $ctx.args.list.size() > 0)\"yes\"#else\"no\"#end", {}, "no"),
    ("#if($ctx.args.list.size() > 0)\"yes\"#else\"no\"#end", {"list": [1]}, "yes"),
    ("#set($x = {\"a\": {\"b\": [10, 20]}})$x.a.b[1]", {}, 20),
    ("#set($x = {})#set($x.y = 5)#set($x[\"z\"] = 6)$util.toJson($x)", {}, {"y": 5, "z": 6}),
    ("#define($block)\"defined\"#end$block", {}, "defined"),
    ("#macro(twice $v)$v$v#end\"#twice(\"ab\")\"", {}, "abab"),
    ("{\"v\": \"$ctx.args.missing\"}", {}, {"v": ""}),
    ("{\"v\": \"$!{ctx.args.missing}\"}", {}, {"v": ""}),
    ("\"${ctx.args.a}-$ctx.args.b\"", {"a": "x", "b": 2}, "x-2"),
    ("\"$ctx.args.m\"", {"m": {"a": 1, "b": [True, None]}}, "{a=1, b=[true, null]}"),
    ("## a comment\n#* block\ncomment *#\"ok\"", {}, "ok"),
    ("#set($e = {\"key\": \"title\"})\"#$e.key = :$e.key\"", {}, "#title = :title"),
    ("\"#${x}#\"", {}, "##"),
    ("#set($l = [\n  1,\n  {\"a\": [\n 2 ]}\n])$util.toJson($l)", {}, [1, {"a": [2]}]),
    ("$util.toJson($ctx.args.n.intValue())", {"n": 2.0}, 2),
    ("$util.toJson([$ctx.args.l.empty, $ctx.args.s.empty, $ctx.args.m.empty, $ctx.args.n.empty, $ctx.args.l.size])",
     {"l": [], "s": "x", "m": {"a": 1}, "n": 3}, [True, False, None, None, None]),
])
def test_velocity(template: str, args: dict[str, Any], expected: Any) -> None:
    assert out(template, args) == expected


@pytest.mark.parametrize("value,expected", [(None, "no"), (False, "no"), (True, "yes"), ({"a": 1}, "yes"),
                                            ("x", "yes"), (0, "no"), ("", "no"), ([], "no")])
def test_if_truthiness(value: Any, expected: str) -> None:
    args = {} if value is None else {"v": value}
    assert out('#if($ctx.args.v)"yes"#elseif($ctx.args.v)"never"#else"no"#end', args) == expected
    assert out('#if($ctx.error)"yes"#else"no"#end') == "no"


def test_break_stops_the_loop() -> None:
    assert out('#set($l = [])#foreach($i in [1,2,3,4])#if($i == 3)#break#end$util.qr($l.add($i))#end$util.toJson($l)') \
        == [1, 2]


def test_return_stops_rendering() -> None:
    assert out('#if(true)#return({"early": 1})#end{"late": 2}') == {"early": 1}
    assert out('#return\n{"late": 2}') is None
    assert out("#return($ctx.args.x)", {"x": [1, 2]}) == [1, 2]


def test_no_python_attribute_escape() -> None:
    assert out('"$ctx.args.s.__class__"', {"s": "x"}) == ""
    assert out('"$ctx.args.s.upper()"', {"s": "x"}) == ""
    assert out('"${util.__init__}"') == ""


def test_java_str() -> None:
    assert java_str({"a": [1, 2.0, None, False]}) == "{a=[1, 2.0, null, false]}"
    assert java_str(1e20) == "1.0E20"


def test_template_errors_are_mapping_template_errors() -> None:
    with pytest.raises(ResolverError) as exc:
        out('{"a": 1,}')
    assert exc.value.error_type == "MappingTemplate" and "JSON" in exc.value.message
    with pytest.raises(ResolverError) as exc:
        out('#set($x = $util.parseJson("{nope"))"x"')
    assert exc.value.error_type == "MappingTemplate"


def test_syntax_error_names_file_line_column() -> None:
    from pathlib import Path

    from gqlsync.app import AppError
    from gqlsync.app.model import CodeFile
    from gqlsync.runtimes.vtl import VtlRuntime

    with pytest.raises(AppError) as exc:
        VtlRuntime().prepare(request=CodeFile(Path("/x/req.vtl"), '{\n  "a": #if($x)\n'), response=None, direct=True)
    p = exc.value.problems[0]
    assert p.file == "/x/req.vtl" and p.line is not None and p.line >= 2 and "VTL syntax error" in p.message


def test_args_are_shared_and_mutable_like_appsync() -> None:
    ctx = make_ctx({"input": {"a": 1}})
    from pathlib import Path

    from gqlsync.app.model import CodeFile
    from gqlsync.runtimes.vtl import VtlRuntime

    code = VtlRuntime().prepare(request=None, response=CodeFile(
        Path("t"), '$util.qr($ctx.args.input.put("b", 2))$util.qr($ctx.stash.put("s", 1))$util.toJson($ctx.args)'),
        direct=True)
    assert respond(code, ctx) == {"input": {"a": 1, "b": 2}}
    assert ctx.arguments["input"] == {"a": 1, "b": 2} and ctx.stash == {"s": 1}
    assert json.dumps(ctx.arguments)
