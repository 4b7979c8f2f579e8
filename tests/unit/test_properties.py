"""Property tests for behaviour with rules: conversions round-trip, arithmetic is Java's, expressions are closed."""

from __future__ import annotations

import math
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gqlsync.datasources.dynamodb.marshal import decode_token, encode_token, plain, to_wire
from gqlsync.util.dynamodb import to_attribute
from gqlsync.util.transform import dynamodb_expression
from tests.unit.vtl_harness import render

json_scalars = st.none() | st.booleans() | st.integers(-(10**15), 10**15) | \
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: f == 0 or 1e-100 < abs(f) < 1e100) | \
    st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4) |
                           st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4), max_leaves=20)


@given(json_values)
def test_dynamodb_values_round_trip(value: Any) -> None:
    assert plain(to_wire(to_attribute(value))) == value


@given(st.dictionaries(st.sampled_from(["pk", "sk", "gsi"]),
                       st.one_of(st.builds(lambda s: {"S": s}, st.text(max_size=30)),
                                 st.builds(lambda n: {"N": str(n)}, st.integers())), min_size=1))
def test_next_token_round_trips(key: dict[str, Any]) -> None:
    token = encode_token(key, "table")
    assert token is not None and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert decode_token(token, "table") == key


@settings(max_examples=60, deadline=None)
@given(st.integers(-10_000, 10_000), st.integers(-100, 100).filter(lambda b: b != 0))
def test_velocity_integer_arithmetic_is_javas(a: int, b: int) -> None:
    q, r = render(f"#set($q = {a} / {b})#set($r = {a} % {b})$util.toJson([$q, $r])")
    assert q * b + r == a
    assert q == math.trunc(a / b)
    assert r == 0 or (r > 0) == (a > 0)


operand = st.integers(0, 9) | st.text(max_size=3)
conditions = st.fixed_dictionaries({}, optional={
    "eq": operand, "ne": operand, "le": operand, "lt": operand, "ge": operand, "gt": operand,
    "contains": operand, "notContains": operand, "beginsWith": st.text(max_size=3),  # begins_with takes S or B
    "between": st.tuples(st.integers(0, 4), st.integers(5, 9)).map(list),
    "attributeExists": st.booleans()}).filter(bool)
leaf = st.dictionaries(st.sampled_from(["title", "n", "done", "a.b", "tags"]), conditions, min_size=1, max_size=2)
filters = st.recursive(leaf, lambda children: st.one_of(
    st.builds(lambda xs: {"and": xs}, st.lists(children, min_size=1, max_size=3)),
    st.builds(lambda xs: {"or": xs}, st.lists(children, min_size=1, max_size=3)),
    st.builds(lambda x: {"not": x}, children)), max_leaves=8)


@given(filters)
def test_filter_expressions_are_closed_and_balanced(spec: dict[str, Any]) -> None:
    doc = dynamodb_expression(spec)
    assert doc is not None
    expr = doc["expression"]
    assert set(re.findall(r"#[A-Za-z0-9_]+", expr)) == set(doc["expressionNames"])
    assert set(re.findall(r":[A-Za-z0-9_]+", expr)) == set(doc["expressionValues"])
    depth = 0
    for ch in expr:
        depth += (ch == "(") - (ch == ")")
        assert depth >= 0
    assert depth == 0
