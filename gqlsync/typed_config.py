"""Typed configs: a manifest's `config:` mapping read into a frozen dataclass, every key checked, none ignored."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

C = TypeVar("C")

#: Keys of the field's metadata: the manifest's (camelCase) name, and a reason the key is refused for now.
KEY = "key"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


@cache
def _fields(cls: Any) -> dict[str, tuple[dataclasses.Field[Any], Any]]:
    hints = typing.get_type_hints(cls)
    return {f.metadata.get(KEY, camel(f.name)): (f, hints[f.name]) for f in dataclasses.fields(cls)}


def _accepts(annotation: Any, value: Any) -> bool:
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return not args or all(_accepts(args[0], v) for v in value)
    if origin in (dict, Mapping) or annotation is dict or dataclasses.is_dataclass(annotation):
        return isinstance(value, Mapping)
    if typing.get_origin(annotation) is typing.Literal:
        return value in typing.get_args(annotation)
    return isinstance(value, annotation)


def _dataclass_of(annotation: Any) -> type | None:
    """The dataclass a field holds (also as `X | None`), read recursively with its own keys checked."""
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(annotation) if dataclasses.is_dataclass(a) and isinstance(a, type)]
        return found[0] if len(found) == 1 else None
    return None


def _describe(annotation: Any) -> str:
    nested = _dataclass_of(annotation)
    if nested is not None:
        return f"a mapping ({', '.join(sorted(_fields(nested)))})"
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    return str(annotation).replace("typing.", "").replace("NoneType", "null")


class ConfigError(ValueError):
    """Config that cannot work: (the key at fault, or None for the whole config; the reason) for each problem."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(reason for _, reason in problems))
        self.problems = problems


def parse_config(cls: type[C], raw: Mapping[str, Any] | None, where: str = "config",
                 refused: Mapping[str, str] | None = None) -> C:
    """Build `cls` from `raw`; raises ConfigError (a ValueError) naming each key at fault and the reason.

    `refused` maps keys that AppSync has but this gqlsync does not serve yet to the reason, so they are
    refused clearly instead of being accepted and ignored.
    """
    raw = raw or {}
    target: Any = cls
    fields = _fields(target)
    problems: list[tuple[str | None, str]] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if refused and key in refused:
            problems.append((f"{where}.{key}", f"{where}.{key}: {refused[key]}"))
            continue
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            problems.append((f"{where}.{key}", f"{where}.{key}: unknown key (known: {known})"))
            continue
        f, annotation = fields[key]
        if not _accepts(annotation, value):
            problems.append((f"{where}.{key}", f"{where}.{key}: expected {_describe(annotation)}, got {value!r}"))
            continue
        nested = _dataclass_of(annotation)
        if nested is not None and isinstance(value, Mapping):
            try:
                value = parse_config(nested, value, f"{where}.{key}")
            except ConfigError as exc:
                problems.extend((k or f"{where}.{key}", reason) for k, reason in exc.problems)
                continue
        values[f.name] = tuple(value) if isinstance(value, list) else value
    for key, (f, _) in fields.items():
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in values \
                and key not in raw:
            problems.append((None, f"{where}.{key}: required"))
    if problems:
        raise ConfigError(problems)
    config = cls(**values)
    check = getattr(config, "check", None)
    if callable(check):
        try:
            check()
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError([(None, str(exc))]) from None
    return config
