"""Typed configs: every key checked, nested mappings read into their own dataclasses with their own keys checked."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gqlsync.typed_config import KEY, ConfigError, parse_config


@dataclass(frozen=True)
class Inner:
    ttl_minutes: int = field(default=30, metadata={KEY: "TTL"})
    name: str = ""


@dataclass(frozen=True)
class Outer:
    table_name: str
    inner: Inner | None = None
    flags: tuple[str, ...] = ()


def test_nested_mappings_become_dataclasses() -> None:
    assert parse_config(Outer, {"tableName": "t", "inner": {"TTL": 5}, "flags": ["a"]}) == \
        Outer("t", Inner(5, ""), ("a",))


@pytest.mark.parametrize("raw,key,reason", [
    ({"tableName": "t", "inner": {"ttl": 5}}, "config.inner.ttl", "unknown key (known: TTL, name)"),
    ({"tableName": "t", "inner": 3}, "config.inner", "expected a mapping (TTL, name), got 3"),
    ({"tableName": "t", "inner": {"TTL": "5"}}, "config.inner.TTL", "expected <class 'int'>"),
    ({}, None, "config.tableName: required"),
    ({"tableName": 1}, "config.tableName", "expected <class 'str'>"),
])
def test_every_problem_names_its_key(raw: dict, key: str | None, reason: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(Outer, raw)
    ((at, message),) = exc.value.problems
    assert at == key and reason in message
