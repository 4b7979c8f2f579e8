"""The embedded search engine's Python API: mappings, documents, bulk, persistence, analysis, dates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gqlsync.embedded.search import SearchEngine, SearchError
from gqlsync.embedded.search.analysis import tokenize
from gqlsync.embedded.search.dates import date_format, parse_math
from gqlsync.embedded.search.patterns import lucene_regex
from gqlsync.embedded.search.scoring import norm_length


def ndjson(*lines: Any) -> bytes:
    return b"\n".join(orjson.dumps(line) for line in lines) + b"\n"


def ids(result: dict[str, Any]) -> list[str]:
    return [h["_id"] for h in result["hits"]["hits"]]


def error_of(fn: Any, *args: Any, **kwargs: Any) -> SearchError:
    with pytest.raises(SearchError) as info:
        fn(*args, **kwargs)
    return info.value


@pytest.fixture
def engine() -> SearchEngine:
    return SearchEngine(None)


# -- dynamic mapping
def test_dynamic_mapping_infers_opensearch_types(engine: SearchEngine) -> None:
    engine.index_doc("d", "1", {"s": "hello", "day": "2024-01-02", "stamp": "2024-01-02T10:00:00.000Z",
                                "slashed": "2015/09/02", "i": 5, "f": 1.5, "b": True, "o": {"x": "y", "n": 1},
                                "arr": [None, 3, 4], "nothing": None, "empty": [], "dotted.key": "v"})
    props = engine.get_mapping("d")["d"]["mappings"]["properties"]
    assert props["s"] == {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    assert props["day"] == {"type": "date"}
    assert props["stamp"] == {"type": "date"}
    assert props["slashed"] == {"type": "date", "format": "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd||epoch_millis"}
    assert props["i"] == {"type": "long"}
    assert props["f"] == {"type": "float"}
    assert props["b"] == {"type": "boolean"}
    assert props["o"] == {"properties": {"n": {"type": "long"}, "x": props["s"]}}
    assert props["arr"] == {"type": "long"}
    assert "nothing" not in props and "empty" not in props
    assert props["dotted"] == {"properties": {"key": props["s"]}}
    assert ids(engine.search("d", {"query": {"term": {"dotted.key.keyword": "v"}}})) == ["1"]
    assert ids(engine.search("d", {"query": {"range": {"slashed": {"gte": "2015/09/01"}}}})) == ["1"]


def test_dynamic_mapping_numeric_and_date_detection_settings(engine: SearchEngine) -> None:
    engine.create_index("d", {"mappings": {"numeric_detection": True, "date_detection": False}})
    engine.index_doc("d", "1", {"n": "42", "x": "4.5", "day": "2024-01-02"})
    props = engine.get_mapping("d")["d"]["mappings"]["properties"]
    assert props["n"] == {"type": "long"} and props["x"] == {"type": "float"}
    assert props["day"]["type"] == "text"


def test_dynamic_false_ignores_and_strict_rejects_new_fields(engine: SearchEngine) -> None:
    engine.create_index("loose", {"mappings": {"dynamic": False, "properties": {"a": {"type": "keyword"}}}})
    engine.index_doc("loose", "1", {"a": "x", "b": "kept in _source only"})
    assert "b" not in engine.get_mapping("loose")["loose"]["mappings"]["properties"]
    assert engine.get_doc("loose", "1")[1]["_source"]["b"] == "kept in _source only"
    assert engine.search("loose", {"query": {"match": {"b": "kept"}}})["hits"]["total"]["value"] == 0
    engine.create_index("strict", {"mappings": {"dynamic": "strict", "properties": {"a": {"type": "keyword"}}}})
    err = error_of(engine.index_doc, "strict", "1", {"a": "x", "b": 1})
    assert (err.status, err.error_type) == (400, "strict_dynamic_mapping_exception")
    assert engine.get_doc("strict", "1")[0] == 404


def test_a_rejected_document_does_not_grow_the_mapping(engine: SearchEngine) -> None:
    engine.index_doc("d", "1", {"n": 1})
    err = error_of(engine.index_doc, "d", "2", {"fresh": "x", "n": "not a number"})
    assert err.error_type == "mapper_parsing_exception"
    assert set(engine.get_mapping("d")["d"]["mappings"]["properties"]) == {"n"}


def test_explicit_mapping_validation(engine: SearchEngine) -> None:
    for body, kind in [({"properties": {"a": {"type": "no_such"}}}, "mapper_parsing_exception"),
                       ({"properties": {"a": {"type": "keyword", "colour": 1}}}, "mapper_parsing_exception"),
                       ({"properties": {"a": {"type": "text", "analyzer": "english"}}}, "mapper_parsing_exception"),
                       ({"properties": {"a": {"type": "geo_point"}}}, "mapper_parsing_exception"),
                       ({"properties": {"a": {"type": "date", "format": "qqq"}}}, "mapper_parsing_exception"),
                       ({"properties": {"a": {"type": "scaled_float"}}}, "illegal_argument_exception")]:
        err = error_of(engine.create_index, "bad", {"mappings": body})
        assert (err.status, err.error_type) == (400, kind), body
    assert not engine.exists("bad")


def test_put_mapping_adds_fields_and_refuses_type_changes(engine: SearchEngine) -> None:
    engine.create_index("m", {"mappings": {"properties": {"a": {"type": "text"}}}})
    engine.put_mapping("m", {"properties": {"b": {"type": "long"}, "a": {"type": "text", "fields": {
        "raw": {"type": "keyword"}}}}})
    props = engine.get_mapping("m")["m"]["mappings"]["properties"]
    assert props["b"] == {"type": "long"} and props["a"]["fields"] == {"raw": {"type": "keyword"}}
    err = error_of(engine.put_mapping, "m", {"properties": {"b": {"type": "keyword"}}})
    assert (err.status, err.error_type) == (400, "illegal_argument_exception")
    assert "cannot be changed from type [long] to [keyword]" in err.reason
    engine.index_doc("m", "1", {"a": "Hello There"})
    assert ids(engine.search("m", {"query": {"term": {"a.raw": "Hello There"}}})) == ["1"]


def test_nested_is_indexed_as_object(engine: SearchEngine) -> None:
    engine.create_index("n", {"mappings": {"properties": {"items": {"type": "nested", "properties": {
        "k": {"type": "keyword"}, "v": {"type": "long"}}}}}})
    engine.index_doc("n", "1", {"items": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]})
    q = {"bool": {"filter": [{"term": {"items.k": "a"}}, {"term": {"items.v": 2}}]}}
    assert ids(engine.search("n", {"query": q})) == ["1"]  # object semantics: values of different elements
    assert engine.get_mapping("n")["n"]["mappings"]["properties"]["items"]["type"] == "nested"


def test_number_types_round_as_lucene_stores_them(engine: SearchEngine) -> None:
    engine.create_index("n", {"mappings": {"properties": {
        "f": {"type": "float"}, "h": {"type": "half_float"}, "s": {"type": "scaled_float", "scaling_factor": 100},
        "i": {"type": "integer"}, "b": {"type": "byte"}}}})
    engine.index_doc("n", "1", {"f": 0.1, "h": 0.1, "s": 1.234, "i": "7", "b": 5.9})
    hit = engine.search("n", {"sort": ["f", "h", "s", "i", "b"]})["hits"]["hits"][0]
    assert hit["sort"] == [0.10000000149011612, 0.0999755859375, 1.23, 7, 5]
    assert hit["_source"] == {"f": 0.1, "h": 0.1, "s": 1.234, "i": "7", "b": 5.9}
    assert ids(engine.search("n", {"query": {"term": {"f": 0.1}}})) == ["1"]
    err = error_of(engine.index_doc, "n", "2", {"b": 300})
    assert err.error_type == "mapper_parsing_exception" and "out of range" in err.reason


def test_ignore_above_keeps_the_source_but_not_the_term(engine: SearchEngine) -> None:
    long_text = "x" * 300
    engine.index_doc("d", "1", {"t": long_text})
    assert engine.search("d", {"query": {"term": {"t.keyword": long_text}}})["hits"]["total"]["value"] == 0
    assert ids(engine.search("d", {"query": {"exists": {"field": "t"}}})) == ["1"]
    assert engine.search("d", {"query": {"exists": {"field": "t.keyword"}}})["hits"]["total"]["value"] == 0


# -- documents
def test_index_get_update_delete_lifecycle(engine: SearchEngine) -> None:
    status, body = engine.index_doc("p", "1", {"a": 1, "o": {"x": 1, "y": 2}})
    assert status == 201 and body["result"] == "created" and body["_version"] == 1 and body["_seq_no"] == 0
    status, body = engine.index_doc("p", "1", {"a": 2, "o": {"x": 1, "y": 2}})
    assert status == 200 and body["result"] == "updated" and body["_version"] == 2 and body["_seq_no"] == 1
    status, body = engine.update_doc("p", "1", {"doc": {"o": {"y": 3}, "b": True}})
    assert status == 200 and body["result"] == "updated" and body["_version"] == 3
    assert engine.get_doc("p", "1")[1]["_source"] == {"a": 2, "o": {"x": 1, "y": 3}, "b": True}
    status, body = engine.update_doc("p", "1", {"doc": {"b": True}})
    assert status == 200 and body["result"] == "noop" and body["_version"] == 3
    status, body = engine.get_doc("p", "1", {"_source_includes": "o.y"})
    assert body == {"_index": "p", "_id": "1", "_version": 3, "_seq_no": 2, "_primary_term": 1, "found": True,
                    "_source": {"o": {"y": 3}}}
    status, body = engine.delete_doc("p", "1")
    assert status == 200 and body["result"] == "deleted" and body["_version"] == 4
    assert engine.get_doc("p", "1") == (404, {"_index": "p", "_id": "1", "found": False})
    status, body = engine.delete_doc("p", "1")
    assert status == 404 and body["result"] == "not_found"
    assert engine.count("p")["count"] == 0


def test_update_upserts_and_missing_documents(engine: SearchEngine) -> None:
    engine.create_index("p")
    err = error_of(engine.update_doc, "p", "9", {"doc": {"a": 1}})
    assert (err.status, err.error_type) == (404, "document_missing_exception")
    assert engine.update_doc("p", "9", {"doc": {"a": 1}, "doc_as_upsert": True})[1]["result"] == "created"
    assert engine.update_doc("p", "8", {"doc": {"a": 1}, "upsert": {"a": 0}})[0] == 201
    assert engine.get_doc("p", "8")[1]["_source"] == {"a": 0}
    err = error_of(engine.update_doc, "p", "9", {"script": {"source": "ctx._source.a++"}})
    assert err.status == 400 and "scripted updates" in err.reason


def test_optimistic_concurrency_and_create(engine: SearchEngine) -> None:
    engine.index_doc("p", "1", {"a": 1})
    err = error_of(engine.index_doc, "p", "1", {"a": 2}, op_type="create")
    assert (err.status, err.error_type) == (409, "version_conflict_engine_exception")
    seq = engine.get_doc("p", "1")[1]["_seq_no"]
    err = error_of(engine.index_doc, "p", "1", {"a": 2}, if_seq_no=seq + 5, if_primary_term=1)
    assert err.status == 409
    assert engine.index_doc("p", "1", {"a": 2}, if_seq_no=seq, if_primary_term=1)[0] == 200


def test_generated_ids_and_id_rules(engine: SearchEngine) -> None:
    status, body = engine.index_doc("p", None, {"a": 1})
    assert status == 201 and len(body["_id"]) == 20
    assert engine.get_doc("p", body["_id"])[0] == 200
    assert error_of(engine.index_doc, "p", "x" * 513, {}).status == 400
    assert error_of(engine.index_doc, "p", "", {}).status == 400


def test_index_lifecycle_and_names(engine: SearchEngine) -> None:
    assert engine.create_index("i", {"settings": {"number_of_replicas": 0}}) == {
        "acknowledged": True, "shards_acknowledged": True, "index": "i"}
    assert engine.get_index("i")["i"]["settings"]["index"]["number_of_replicas"] == "0"
    err = error_of(engine.create_index, "i")
    assert (err.status, err.error_type) == (400, "resource_already_exists_exception")
    for bad in ("Upper", "_x", "a b", "a/b", "a*"):
        assert error_of(engine.create_index, bad).error_type == "invalid_index_name_exception"
    assert engine.delete_index("i") == {"acknowledged": True}
    err = error_of(engine.search, "i", {})
    assert (err.status, err.error_type) == (404, "index_not_found_exception")
    assert err.body()["error"]["root_cause"][0]["resource.id"] == "i"
    assert error_of(engine.create_index, "j", {"settings": {"index": {"no_such_setting": 1}}}).status == 400


# -- bulk
def test_bulk_applies_in_order_with_per_item_results(engine: SearchEngine) -> None:
    engine.create_index("b", {"mappings": {"properties": {"n": {"type": "long"}}}})
    result = engine.bulk(ndjson(
        {"index": {"_index": "b", "_id": "1"}}, {"n": 1},
        {"create": {"_index": "b", "_id": "1"}}, {"n": 2},
        {"index": {"_index": "b", "_id": "2"}}, {"n": "not a number"},
        {"update": {"_index": "b", "_id": "1"}}, {"doc": {"n": 5}},
        {"update": {"_index": "b", "_id": "404"}}, {"doc": {"n": 5}},
        {"delete": {"_index": "b", "_id": "3"}},
        {"index": {"_id": "4"}}, {"n": 4},
        {"index": {"_index": "other", "_id": "1"}}, {"x": "auto-created index"},
        {"delete": {"_index": "b", "_id": "4"}},
    ), default_index="b")
    assert result["errors"] is True
    items = [(next(iter(i)), next(iter(i.values()))) for i in result["items"]]
    assert [(a, i["status"]) for a, i in items] == [
        ("index", 201), ("create", 409), ("index", 400), ("update", 200), ("update", 404), ("delete", 404),
        ("index", 201), ("index", 201), ("delete", 200)]
    assert items[1][1]["error"]["type"] == "version_conflict_engine_exception"
    assert items[2][1]["error"]["type"] == "mapper_parsing_exception"
    assert items[4][1]["error"]["type"] == "document_missing_exception"
    assert "error" not in items[5][1] and items[5][1]["result"] == "not_found"
    assert engine.get_doc("b", "1")[1]["_source"] == {"n": 5}
    assert engine.count("b")["count"] == 1
    assert engine.count("other")["count"] == 1


def test_bulk_without_errors_and_malformed_requests(engine: SearchEngine) -> None:
    assert engine.bulk(ndjson({"index": {"_index": "b"}}, {"a": 1}))["errors"] is False
    for payload in (b'{"index": {"_index": "b"}}\n', b"not json\n", ndjson({"upsert": {"_index": "b"}}, {}),
                    ndjson({"index": {}}, {"a": 1})):
        err = error_of(engine.bulk, payload)
        assert err.status == 400, payload


def test_bulk_is_one_transaction_per_index_and_sees_its_own_writes(engine: SearchEngine) -> None:
    lines = []
    for i in range(50):
        lines += [{"index": {"_index": "t", "_id": str(i % 10)}}, {"i": i}]
    lines += [{"delete": {"_index": "t", "_id": "0"}}, {"update": {"_index": "t", "_id": "1"}}, {"doc": {"j": 1}}]
    result = engine.bulk(ndjson(*lines))
    assert not result["errors"]
    assert engine.count("t")["count"] == 9
    assert engine.get_doc("t", "1")[1]["_source"] == {"i": 41, "j": 1}
    assert engine.get_doc("t", "1")[1]["_version"] == 6
    assert engine.search("t", {"query": {"range": {"i": {"gte": 40}}}})["hits"]["total"]["value"] == 9


# -- persistence
def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    engine = SearchEngine(tmp_path)
    engine.create_index("p", {"mappings": {"properties": {"t": {"type": "text"}}}, "settings": {"number_of_replicas": 0}})
    engine.bulk(ndjson(*[x for i in range(100) for x in ({"index": {"_index": "p", "_id": str(i)}},
                                                           {"t": f"word{i} common", "n": i})]))
    engine.delete_doc("p", "5")
    engine.index_doc("q", "x", {"a": "b"})
    engine.delete_index("q")
    engine.close()
    again = SearchEngine(tmp_path)
    assert sorted(again.indices) == ["p"]
    assert again.count("p")["count"] == 99
    assert again.get_mapping("p")["p"]["mappings"]["properties"]["n"] == {"type": "long"}
    assert again.get_index("p")["p"]["settings"]["index"]["number_of_replicas"] == "0"
    assert ids(again.search("p", {"query": {"match": {"t": "word7"}}})) == ["7"]
    _, body = again.index_doc("p", "100", {"t": "new"})
    assert body["_seq_no"] == 101  # 100 index + 1 delete before
    assert [f.name for f in tmp_path.glob("*.sqlite3")] == [f"{again.indices['p'].uuid}.sqlite3"]
    again.close()


# -- analysis, dates, regexps
@pytest.mark.parametrize("text, tokens", [
    ("The Quick-Brown fox's tail", ["the", "quick", "brown", "fox's", "tail"]),
    ("U.S.A. and e.g. 3.14 or 1,000.5", ["u.s.a", "and", "e.g", "3.14", "or", "1,000.5"]),
    ("hello_world __ x_1", ["hello_world", "x_1"]),
    ("email me: a@b.com", ["email", "me", "a", "b.com"]),
    ("end.Start a:b 10:30", ["end.start", "a:b", "10", "30"]),
    ("Café DÉJÀ vu naïve", ["café", "déjà", "vu", "naïve"]),
    ("東京タワー へ", ["東", "京", "タワー", "へ"]),
    ("", []),
])
def test_standard_analyzer(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_long_tokens_are_split_at_255() -> None:
    assert [len(t) for t in tokenize("a" * 600)] == [255, 255, 90]


def test_norm_length_is_lucenes_smallfloat() -> None:
    assert [norm_length(n) for n in (0, 1, 23, 24, 25, 40, 100, 1000)] == [0, 1, 23, 24, 25, 40, 96, 984]


def test_date_formats_and_math() -> None:
    default = date_format(None)
    assert default.parse("2024-01-02") == 1704153600000
    assert default.parse("2024-01-02T10:00:00.5+01:00") == 1704186000500
    assert default.parse(1704153600000) == 1704153600000
    assert default.parse("1704153600000") == 1704153600000
    with pytest.raises(ValueError):
        default.parse("2024-02-30")
    custom = date_format("dd/MM/yyyy HH:mm||epoch_second")
    assert custom.parse("02/01/2024 10:30") == 1704191400000
    assert custom.parse(1704153600) == 1704153600000
    assert custom.render(1704191400000) == "02/01/2024 10:30"
    assert default.render(parse_math("2024-01-31||+1M", default)) == "2024-02-29T00:00:00.000Z"
    assert default.render(parse_math("2024-03-15T10:11:12Z||/w", default)) == "2024-03-11T00:00:00.000Z"
    assert default.render(parse_math("2024-03-15||/y", default, round_up=True)) == "2024-12-31T23:59:59.999Z"
    assert parse_math("now-1h", default, now=7200.0) == 3_600_000


@pytest.mark.parametrize("lucene, matches, misses", [
    ("ab.*", ["ab", "abc"], ["xab"]),
    ("a{2,3}", ["aa", "aaa"], ["a", "aaaa"]),
    ("[a-c]+x", ["abcx"], ["dx"]),
    ("[^a]b", ["bb"], ["ab"]),
    ('"a.b"c', ["a.bc"], ["axbc"]),
    ("a@", ["a", "azzz"], ["b"]),
    ("x|y(z)?", ["x", "y", "yz"], ["xz"]),
    ("a^$b", ["a^$b"], ["ab"]),
])
def test_lucene_regexp_translation(lucene: str, matches: list[str], misses: list[str]) -> None:
    import re

    rx = re.compile(lucene_regex(lucene), re.DOTALL)
    assert all(rx.fullmatch(m) for m in matches)
    assert not any(rx.fullmatch(m) for m in misses)


def test_scores_follow_lucene_bm25(engine: SearchEngine) -> None:
    """A single document: OpenSearch scores `hello` in "hello world" 0.13076457 (idf ln(4/3) / 2.2)."""
    engine.index_doc("s", "1", {"t": "hello world"})
    hit = engine.search("s", {"query": {"match": {"t": "hello"}}})["hits"]["hits"][0]
    assert hit["_score"] == pytest.approx(0.13076457, rel=1e-6)
    hit = engine.search("s", {"query": {"term": {"t.keyword": "hello world"}}})["hits"]["hits"][0]
    assert hit["_score"] == pytest.approx(0.13076457, rel=1e-6)


def test_phrase_does_not_cross_array_values(engine: SearchEngine) -> None:
    engine.index_doc("a", "1", {"t": ["new york", "city hall"]})
    assert engine.search("a", {"query": {"match_phrase": {"t": "york city"}}})["hits"]["total"]["value"] == 0
    assert ids(engine.search("a", {"query": {"match_phrase": {"t": "city hall"}}})) == ["1"]
    assert ids(engine.search("a", {"query": {"match": {"t": {"query": "york hall", "operator": "and"}}}})) == ["1"]


def test_refresh_is_a_no_op_because_writes_are_visible_at_once(engine: SearchEngine) -> None:
    engine.index_doc("r", "1", {"a": "b"})
    assert engine.count("r")["count"] == 1
    assert engine.refresh("r")["_shards"]["failed"] == 0


def test_delete_by_query(engine: SearchEngine) -> None:
    engine.bulk(ndjson(*[x for i in range(10) for x in ({"index": {"_index": "d", "_id": str(i)}}, {"n": i})]))
    result = engine.delete_by_query("d", {"query": {"range": {"n": {"gte": 5}}}})
    assert result["deleted"] == 5 and result["failures"] == []
    assert engine.count("d")["count"] == 5


def test_mget(engine: SearchEngine) -> None:
    engine.index_doc("m", "1", {"a": 1, "b": 2})
    got = engine.mget("m", {"docs": [{"_id": "1", "_source": ["a"]}, {"_id": "2"}, {"_index": "zz", "_id": "1"}]}, {})
    assert got["docs"][0]["_source"] == {"a": 1}
    assert got["docs"][1]["found"] is False
    assert got["docs"][2]["error"]["type"] == "index_not_found_exception"


def test_fts_keeps_the_analyzers_tokens_whole(engine: SearchEngine) -> None:
    """Tokens joined by U+2019, U+2044, U+00B7, `:` and the like stay one term, as the analyzer made them."""
    text = "don\u2019t 1\u20442 l\u00b7l a:b x_y U.S.A 3,5"
    engine.index_doc("t", "1", {"t": text})
    for token in tokenize(text):
        assert ids(engine.search("t", {"query": {"term": {"t": token}}})) == ["1"], token
        assert ids(engine.search("t", {"query": {"match_phrase": {"t": token}}})) == ["1"], token
    assert engine.search("t", {"query": {"term": {"t": "don"}}})["hits"]["total"]["value"] == 0


def test_amplify_streaming_bulk_with_types_and_external_versions(engine: SearchEngine) -> None:
    """What Amplify's DynamoDB-to-OpenSearch function sends for a Delta Sync table: `_type: _doc`, external versions."""
    result = engine.bulk(ndjson(
        {"index": {"_index": "todo", "_type": "_doc", "_id": "1", "version_type": "external", "version": 3}},
        {"id": "1", "name": "v3"},
        {"index": {"_index": "todo", "_type": "_doc", "_id": "1", "version_type": "external", "version": 2}},
        {"id": "1", "name": "stale"},
        {"index": {"_index": "todo", "_type": "_doc", "_id": "1", "version_type": "external", "version": 5}},
        {"id": "1", "name": "v5"},
        {"delete": {"_index": "todo", "_type": "_doc", "_id": "1", "version_type": "external", "version": 4}},
        {"index": {"_index": "todo", "_type": "_doc", "_id": "2"}}, {"id": "2"},
        {"delete": {"_index": "todo", "_type": "_doc", "_id": "2", "version_type": "external", "version": 7}},
    ))
    statuses = [next(iter(i.values()))["status"] for i in result["items"]]
    assert statuses == [201, 409, 200, 409, 201, 200]
    assert engine.get_doc("todo", "1")[1]["_version"] == 5
    assert engine.get_doc("todo", "1")[1]["_source"]["name"] == "v5"
    assert engine.get_doc("todo", "2")[0] == 404
    err = error_of(engine.bulk, ndjson({"index": {"_index": "todo", "_type": "post", "_id": "3"}}, {}))
    assert err.status == 400
    err = error_of(engine.index_doc, "todo", "9", {"a": 1}, version=3)
    assert err.status == 400 and "internal versioning" in err.reason
