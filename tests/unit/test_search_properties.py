"""Properties: for random documents and random filters the engine's hits equal a plain Python filter.

Queries are built from term/terms/range/exists/bool (with minimum_should_match); sorts by a field
with missing and (sometimes) several values, paged with search_after or from/size, must list every
document once in Python's order; terms aggregation counts agree with Python's.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gqlsync.embedded.search import SearchEngine

KWS = ["a", "b", "c", "d"]
MAPPING = {"properties": {"kw": {"type": "keyword"}, "n": {"type": "long"}, "flag": {"type": "boolean"},
                          "t": {"type": "text"}}}

doc_strategy = st.fixed_dictionaries({}, optional={
    "kw": st.one_of(st.sampled_from(KWS), st.lists(st.sampled_from(KWS), max_size=3)),
    "n": st.one_of(st.integers(-5, 5), st.lists(st.integers(-5, 5), max_size=3)),
    "flag": st.booleans(),
    "t": st.lists(st.sampled_from(["red", "green", "blue"]), min_size=0, max_size=3).map(" ".join),
})


def leaf_queries() -> st.SearchStrategy[dict[str, Any]]:
    bound = st.integers(-6, 6)
    return st.one_of(
        st.sampled_from(KWS).map(lambda v: {"term": {"kw": v}}),
        st.lists(st.sampled_from(KWS), min_size=1, max_size=3).map(lambda vs: {"terms": {"kw": vs}}),
        st.dictionaries(st.sampled_from(["gt", "gte", "lt", "lte"]), bound, min_size=1, max_size=2)
          .map(lambda b: {"range": {"n": b}}),
        st.sampled_from(["kw", "n", "flag", "t"]).map(lambda f: {"exists": {"field": f}}),
        st.booleans().map(lambda b: {"term": {"flag": b}}),
        st.sampled_from(["red", "green", "blue"]).map(lambda w: {"match": {"t": w}}),
        st.just({"match_all": {}}),
    )


def bool_of(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    clauses = st.lists(children, max_size=3)
    return st.builds(
        lambda must, should, must_not, filt, msm: {"bool": {
            k: v for k, v in (("must", must), ("should", should), ("must_not", must_not), ("filter", filt),
                              ("minimum_should_match", msm)) if v not in ([], None)}},
        clauses, clauses, clauses, clauses, st.one_of(st.none(), st.integers(0, 3)))


queries = st.recursive(leaf_queries(), bool_of, max_leaves=8)


def values(doc: dict[str, Any], field: str) -> list[Any]:
    v = doc.get(field)
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def matches(q: dict[str, Any], doc: dict[str, Any]) -> bool:
    (kind, spec), = q.items()
    if kind == "match_all":
        return True
    if kind == "term":
        (field, value), = spec.items()
        return value in values(doc, field)
    if kind == "terms":
        return bool(set(spec["kw"]) & set(values(doc, "kw")))
    if kind == "range":
        ops = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
               "lte": lambda a, b: a <= b}
        return any(all(ops[op](v, b) for op, b in spec["n"].items()) for v in values(doc, "n"))
    if kind == "exists":
        field = spec["field"]
        return bool(values(doc, field)) if field != "t" else "t" in doc
    if kind == "match":
        return spec["t"] in doc.get("t", "").split()
    assert kind == "bool"
    must = [matches(c, doc) for c in spec.get("must", [])]
    filt = [matches(c, doc) for c in spec.get("filter", [])]
    must_not = [matches(c, doc) for c in spec.get("must_not", [])]
    should = [matches(c, doc) for c in spec.get("should", [])]
    if not (must or filt or must_not or should):
        return True  # an empty bool is match_all (minimum_should_match has no clause to apply to)
    required = spec.get("minimum_should_match") or 0
    if should and not (must or filt):
        required = max(required, 1)
    return all(must) and all(filt) and not any(must_not) and sum(should) >= required


def engine_with(docs: list[dict[str, Any]]) -> SearchEngine:
    engine = SearchEngine(None)
    engine.create_index("p", {"mappings": MAPPING})
    if docs:
        lines = [orjson.dumps(x) for i, d in enumerate(docs) for x in ({"index": {"_id": f"{i:03d}"}}, d)]
        result = engine.bulk(b"\n".join(lines) + b"\n", "p")
        assert not result["errors"], result
    return engine


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(doc_strategy, max_size=12), query=queries)
def test_hits_equal_a_python_filter(docs: list[dict[str, Any]], query: dict[str, Any]) -> None:
    engine = engine_with(docs)
    expected = sorted(f"{i:03d}" for i, d in enumerate(docs) if matches(query, d))
    result = engine.search("p", {"query": query, "size": 100})
    assert sorted(h["_id"] for h in result["hits"]["hits"]) == expected
    assert result["hits"]["total"] == {"value": len(expected), "relation": "eq"}
    assert engine.count("p", {"query": query})["count"] == len(expected)
    filtered = engine.search("p", {"query": {"bool": {"filter": query}}, "size": 0})
    assert filtered["hits"]["total"]["value"] == len(expected)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(doc_strategy, max_size=12), desc=st.booleans(), page=st.integers(1, 4),
       query=leaf_queries(), offset=st.integers(0, 3))
def test_sort_with_search_after_pages_through_python_order(docs: list[dict[str, Any]], desc: bool, page: int,
                                                            query: dict[str, Any], offset: int) -> None:
    engine = engine_with(docs)
    selected = [(f"{i:03d}", d) for i, d in enumerate(docs) if matches(query, d)]

    def key(item: tuple[str, dict[str, Any]]) -> tuple[Any, ...]:
        doc_id, d = item
        vals = values(d, "n")
        if not vals:
            return (1, 0, doc_id)  # missing sorts last both ways
        return (0, -max(vals) if desc else min(vals), doc_id)

    expected = [doc_id for doc_id, _ in sorted(selected, key=key)]
    body: dict[str, Any] = {"query": query, "sort": [{"n": "desc" if desc else "asc"}, {"_id": "asc"}], "size": page}
    seen: list[str] = []
    for _ in range(50):
        hits = engine.search("p", body)["hits"]["hits"]
        if not hits:
            break
        seen += [h["_id"] for h in hits]
        body["search_after"] = hits[-1]["sort"]
    assert seen == expected
    window = engine.search("p", {"query": query, "sort": body["sort"], "from": offset, "size": page})
    assert [h["_id"] for h in window["hits"]["hits"]] == expected[offset:offset + page]
    # terms aggregation counts agree with Python too
    buckets = engine.search("p", {"query": query, "size": 0, "aggs": {"k": {"terms": {"field": "kw"}}}})
    counts: dict[str, int] = {}
    for _, d in selected:
        for v in set(values(d, "kw")):
            counts[v] = counts.get(v, 0) + 1
    expected_buckets = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(b["key"], b["doc_count"]) for b in buckets["aggregations"]["k"]["buckets"]] == expected_buckets
