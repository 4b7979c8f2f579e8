"""Table-driven search cases: YAML files of documents, requests and the answers OpenSearch gives for them.

A case file names a `dataset` (`<name>.dataset.yaml`: `mappings` and `docs` by id) or holds its own,
and lists `cases`: `body` and/or `params` of a `_search` (or `count: N` for `_count`) and `expect`:

- `ids`: hit ids in order; `id_set`: hit ids in any order (where OpenSearch's order is not defined)
- `total`, `relation`, `no_total`, `total_int`: `hits.total`
- `scores`: {id: score} (1e-4 relative), `max_score`, `sort_values`: each hit's `sort`
- `source`: {id: _source}, `hit_keys`: {id: [keys of the hit]}
- `aggs`: the aggregations, compared as a subset (lists element-wise, floats approximately)
- `page_through: N`: page with `size: N` and `search_after` until exhausted; the pages together
  must be `ids` exactly (nothing lost, nothing repeated)
- `error`: {status, type (top-level), root_cause (its first type), reason, reason_contains}

The same files run against the engine in-process (tests/unit/test_search_dsl.py) and through both
official clients over HTTP (tests/integration/test_search_engine_dsl.py).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CASES_DIR = Path(__file__).parent

# (params, body) -> (status, response body)
Search = Callable[[dict[str, str], dict[str, Any] | None], Awaitable[tuple[int, Any]]]
Count = Callable[[dict[str, Any] | None], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.file}: {self.name}"


def dataset(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CASES_DIR / f"{name}.dataset.yaml").read_text())
    return data


def case_files() -> list[Path]:
    return sorted(p for p in CASES_DIR.glob("*.yaml") if not p.name.endswith(".dataset.yaml"))


def load_file(path: Path) -> tuple[dict[str, Any], list[Case]]:
    spec = yaml.safe_load(path.read_text())
    data = dataset(spec["dataset"]) if "dataset" in spec else {"mappings": spec.get("mappings"), "docs": spec["docs"]}
    return data, [Case(path.stem, c["name"], c) for c in spec["cases"]]


def all_cases() -> list[Case]:
    return [case for path in case_files() for case in load_file(path)[1]]


def datasets() -> dict[str, dict[str, Any]]:
    return {path.stem: load_file(path)[0] for path in case_files()}


def _approx(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing key {key!r} in {actual!r}"
            _approx(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), \
            f"{where}: expected {len(expected)} elements {expected!r}, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _approx(e, a, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, int | float) and math.isclose(expected, actual, rel_tol=1e-4, abs_tol=1e-6), \
            f"{where}: expected {expected!r}, got {actual!r}"
    else:
        assert expected == actual and type(expected) is type(actual), f"{where}: expected {expected!r}, got {actual!r}"


def _hits(body: dict[str, Any]) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = body["hits"]["hits"]
    return hits


async def run_case(case: Case, search: Search, count: Count) -> None:
    spec = case.spec
    expect = spec.get("expect", {})
    params = {k: str(v) for k, v in (spec.get("params") or {}).items()}
    body = spec.get("body")
    if "count" in spec:
        status, result = await count(body)
        assert status == 200, result
        assert result["count"] == spec["count"], result
        return
    if "page_through" in expect:
        await _page_through(case, search, expect, params, body or {})
        return
    status, result = await search(params, body)
    if "error" in expect:
        err = expect["error"]
        assert status == err.get("status", 400), f"expected an error {err}, got {status}: {result}"
        error = result["error"]
        assert result["status"] == status
        if "type" in err:
            assert error["type"] == err["type"], error
        if "root_cause" in err:
            assert error["root_cause"][0]["type"] == err["root_cause"], error
        if "reason" in err:
            assert error["reason"] == err["reason"], error
        if "reason_contains" in err:
            assert err["reason_contains"] in error["root_cause"][0]["reason"], error
        return
    assert status == 200, result
    check_result(expect, result)


def check_result(expect: dict[str, Any], result: dict[str, Any]) -> None:
    hits = _hits(result)
    ids = [h["_id"] for h in hits]
    by_id = {h["_id"]: h for h in hits}
    if "ids" in expect:
        assert ids == expect["ids"], f"ids {ids} != {expect['ids']}"
    if "id_set" in expect:
        assert sorted(ids) == sorted(expect["id_set"]), f"ids {sorted(ids)} != {sorted(expect['id_set'])}"
        assert len(ids) == len(set(ids))
    total = result["hits"].get("total")
    if "total" in expect:
        assert total["value"] == expect["total"], total
    if "relation" in expect:
        assert total["relation"] == expect["relation"], total
    elif "total" in expect:
        assert total["relation"] == "eq", total
    if expect.get("no_total"):
        assert "total" not in result["hits"], result["hits"]
    if "total_int" in expect:
        assert total == expect["total_int"], total
    if "max_score" in expect:
        assert result["hits"]["max_score"] == expect["max_score"], result["hits"]["max_score"]
    for doc_id, score in (expect.get("scores") or {}).items():
        actual = by_id[doc_id]["_score"]
        if score is None:
            assert actual is None, actual
        else:
            assert actual is not None and math.isclose(actual, score, rel_tol=1e-4, abs_tol=1e-6), \
                f"score of {doc_id}: {actual} != {score}"
    if "sort_values" in expect:
        _approx(expect["sort_values"], [h.get("sort") for h in hits], "sort")
    for doc_id, source in (expect.get("source") or {}).items():
        assert by_id[doc_id]["_source"] == source, by_id[doc_id]
    for doc_id, keys in (expect.get("hit_keys") or {}).items():
        assert sorted(by_id[doc_id]) == sorted(keys), by_id[doc_id]
    if "aggs" in expect:
        _approx(expect["aggs"], result.get("aggregations"), "aggregations")


async def _page_through(case: Case, search: Search, expect: dict[str, Any], params: dict[str, str],
                        body: dict[str, Any]) -> None:
    size = int(expect["page_through"])
    seen: list[str] = []
    after: list[Any] | None = None
    for _ in range(100):
        page = dict(body, size=size)
        if after is not None:
            page["search_after"] = after
        status, result = await search(params, page)
        assert status == 200, result
        hits = _hits(result)
        assert len(hits) <= size
        if not hits:
            break
        seen.extend(h["_id"] for h in hits)
        after = hits[-1]["sort"]
    assert seen == expect["ids"], f"paged {seen} != {expect['ids']}"
