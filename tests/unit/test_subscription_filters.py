"""Enhanced subscription filters: every operator matches and refuses as AppSync documents; limits enforced."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gqlsync.subscription_filters import matches, to_subscription_filter, validate

EVENT = {"severity": 7, "status": "open", "title": "Disk full on db-1", "tags": ["urgent", "db"],
         "owner": {"team": {"name": "ops"}}, "count": 3, "nothing": None}

CASES: list[tuple[str, str, Any, bool]] = [
    ("severity", "eq", 7, True), ("severity", "eq", 6, False),
    ("severity", "ne", 6, True), ("severity", "ne", 7, False),
    ("severity", "le", 7, True), ("severity", "le", 6, False),
    ("severity", "lt", 8, True), ("severity", "lt", 7, False),
    ("severity", "ge", 7, True), ("severity", "ge", 8, False),
    ("severity", "gt", 6, True), ("severity", "gt", 7, False),
    ("title", "contains", "full", True), ("title", "contains", "empty", False),
    ("tags", "contains", "db", True), ("tags", "contains", "web", False),
    ("title", "notContains", "empty", True), ("title", "notContains", "full", False),
    ("title", "beginsWith", "Disk", True), ("title", "beginsWith", "disk", False),
    ("status", "in", ["open", "new"], True), ("status", "in", ["closed"], False),
    ("status", "notIn", ["closed"], True), ("status", "notIn", ["open"], False),
    ("severity", "between", [5, 7], True), ("severity", "between", [8, 9], False),
    ("status", "attributeExists", True, True), ("missing", "attributeExists", True, False),
    ("missing", "attributeExists", False, True), ("nothing", "attributeExists", True, False),
    ("tags", "containsAny", ["x", "urgent"], True), ("tags", "containsAny", ["x", "y"], False),
    ("owner.team.name", "eq", "ops", True), ("owner.team.name", "eq", "dev", False),
    ("severity", "gt", "6", False),  # no cross-type ordering
]


@pytest.mark.parametrize("field,op,value,expected", CASES, ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in CASES])
def test_operator(field: str, op: str, value: Any, expected: bool) -> None:
    flt = to_subscription_filter({field: {op: value}})
    assert flt == {"filterGroup": [{"filters": [{"fieldName": field, "operator": op, "value": value}]}]}
    assert matches(flt, EVENT) is expected


def test_and_or_become_groups() -> None:
    flt = to_subscription_filter({"severity": {"ge": 5}, "or": [{"status": {"eq": "open"}}, {"tags": {"contains": "vip"}}]})
    assert [[f["fieldName"] for f in g["filters"]] for g in flt["filterGroup"]] == [["severity", "status"],
                                                                                   ["severity", "tags"]]
    assert matches(flt, EVENT)
    assert not matches(flt, {**EVENT, "status": "closed"})
    assert matches(flt, {**EVENT, "status": "closed", "tags": ["vip"]})


def test_ignored_fields_and_empty_filter() -> None:
    assert to_subscription_filter({"severity": {"eq": 1}}, ["severity"]) == {"filterGroup": []}
    assert matches({"filterGroup": []}, EVENT)
    assert matches(None, EVENT)


@pytest.mark.parametrize("spec,reason", [
    ({"or": [{"a": {"eq": i}} for i in range(6)]}, "at most 5 filter groups"),
    ({f"f{i}": {"eq": 1} for i in range(6)}, "at most 5 filters"),
    ({"a": {"in": [1, 2, 3, 4, 5, 6]}}, "at most 5 values"),
    ({"a": {"containsAny": list(range(21))}}, "at most 20 values"),
    ({"a.b.c.d.e.f": {"eq": 1}}, "deeper than 5"),
    ({"a": {"between": [1]}}, "two values"),
    ({"a": {"regex": "x"}}, "unsupported"),
])
def test_limits(spec: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        to_subscription_filter(spec)


def test_validate_rejects_malformed() -> None:
    for bad in (None, {}, {"filterGroup": [{}]}, {"filterGroup": [{"filters": [{"operator": "eq"}]}]}):
        with pytest.raises(ValueError):
            validate(bad)


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-50, 50))
def test_between_agrees_with_ge_and_le(x: int, lo: int, hi: int) -> None:
    between = matches(to_subscription_filter({"v": {"between": [lo, hi]}}), {"v": x})
    both = matches(to_subscription_filter({"v": {"ge": lo, "le": hi}}), {"v": x})
    assert between == both == (lo <= x <= hi)


@given(st.lists(st.sampled_from("abcde"), max_size=4), st.lists(st.sampled_from("abcde"), min_size=1, max_size=4))
def test_contains_any_is_intersection(have: list[str], want: list[str]) -> None:
    assert matches(to_subscription_filter({"t": {"containsAny": want}}), {"t": have}) == bool(set(have) & set(want))
