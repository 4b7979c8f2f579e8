"""Update expressions applied locally give exactly what DynamoDB Local gives (property test on random items and
expressions), since versioned writes store the image computed here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gqlsync.datasources.dynamodb.marshal import plain_item
from gqlsync.datasources.dynamodb.update_expression import apply_update
from gqlsync.errors import DataSourceError
from tests.helpers import unique_prefix

pytestmark = pytest.mark.integration

numbers = st.one_of(st.integers(-1000, 1000), st.decimals(-100, 100, places=2, allow_nan=False)).map(
    lambda n: {"N": str(n)})
strings = st.text("abcxyz", min_size=1, max_size=4).map(lambda s: {"S": s})
scalars = st.one_of(numbers, strings)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3).map(lambda xs: {"L": xs}),
    st.dictionaries(st.sampled_from(["x", "y"]), scalars, max_size=2).map(lambda m: {"M": m}),
    st.lists(st.text("pqr", min_size=1, max_size=2), min_size=1, max_size=3, unique=True).map(lambda s: {"SS": s}),
)
ATTRS = ["a", "b", "c", "d"]
items = st.dictionaries(st.sampled_from(ATTRS), values, max_size=4)


@st.composite
def expressions(draw: Any) -> tuple[str, dict[str, str], dict[str, Any]]:
    """One update expression over #a..#d with the placeholders it uses, clauses in any order."""
    used_values: dict[str, Any] = {}
    counter = iter(range(100))

    def value(strategy: Any = values) -> str:
        name = f":v{next(counter)}"
        used_values[name] = draw(strategy)
        return name

    paths = draw(st.permutations(ATTRS))
    clauses: dict[str, list[str]] = {}
    for path_name in paths[: draw(st.integers(1, 4))]:
        p = f"#{path_name}"
        action = draw(st.sampled_from(["set", "plus", "minus", "append", "ifnot", "nested", "index", "remove",
                                       "remove_index", "add_n", "add_ss", "delete_ss"]))
        if action == "set":
            clauses.setdefault("SET", []).append(f"{p} = {value()}")
        elif action in ("plus", "minus"):
            other = f"#{draw(st.sampled_from(ATTRS))}"
            op = "+" if action == "plus" else "-"
            clauses.setdefault("SET", []).append(f"{p} = {other} {op} {value(numbers)}")
        elif action == "append":
            clauses.setdefault("SET", []).append(f"{p} = list_append({p}, {value(st.lists(scalars, max_size=2).map(lambda xs: {'L': xs}))})")
        elif action == "ifnot":
            clauses.setdefault("SET", []).append(f"{p} = if_not_exists({p}, {value()})")
        elif action == "nested":
            clauses.setdefault("SET", []).append(f"{p}.x = {value(scalars)}")
        elif action == "index":
            clauses.setdefault("SET", []).append(f"{p}[{draw(st.integers(0, 4))}] = {value(scalars)}")
        elif action == "remove":
            clauses.setdefault("REMOVE", []).append(p)
        elif action == "remove_index":
            clauses.setdefault("REMOVE", []).append(f"{p}[{draw(st.integers(0, 3))}]")
        elif action == "add_n":
            clauses.setdefault("ADD", []).append(f"{p} {value(numbers)}")
        elif action == "add_ss":
            clauses.setdefault("ADD", []).append(f"{p} {value(st.just({'SS': ['p', 'z']}))}")
        else:
            clauses.setdefault("DELETE", []).append(f"{p} {value(st.just({'SS': ['p']}))}")
    order = draw(st.permutations(sorted(clauses)))
    text = " ".join(f"{c} {', '.join(clauses[c])}" for c in order)
    names = {f"#{a}": a for a in ATTRS if f"#{a}" in text}
    return text, names, used_values


def canonical(item: dict[str, Any]) -> Any:
    """Plain JSON with set members sorted (sets are unordered)."""
    def walk(av: Any) -> Any:
        (kind, v), = av.items()
        if kind in ("SS", "NS"):
            return {kind: sorted(v, key=str)}
        if kind == "M":
            return {"M": {k: walk(x) for k, x in v.items()}}
        if kind == "L":
            return {"L": [walk(x) for x in v]}
        return av
    return plain_item({k: walk(v) for k, v in item.items()})


@pytest.fixture(scope="module")
def table(dynamodb_local: Any) -> Iterator[tuple[Any, str]]:
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    name = unique_prefix() + "updates"
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    yield client, name
    client.delete_table(TableName=name)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item=items, expression=expressions())
def test_local_update_equals_dynamodb(table: tuple[Any, str], item: dict[str, Any],
                                      expression: tuple[str, dict[str, str], dict[str, Any]]) -> None:
    client, name = table
    text, names, vals = expression
    key = {"id": {"S": "k"}}
    client.put_item(TableName=name, Item={**key, **item})
    try:
        extra = {k: v for k, v in (("ExpressionAttributeNames", names), ("ExpressionAttributeValues", vals)) if v}
        out = client.update_item(TableName=name, Key=key, UpdateExpression=text, ReturnValues="ALL_NEW", **extra)
        remote: Any = canonical(out["Attributes"])
    except ClientError as exc:
        remote = ("refused", exc.response["Error"]["Code"])
    try:
        local: Any = canonical(apply_update({**key, **item}, text, names, vals))
    except DataSourceError as exc:
        local = ("refused", exc.error_type.split(":")[-1])
    assert local == remote, text
