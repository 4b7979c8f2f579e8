"""Value predicates every runtime shares: numbers, AppSync type names, null/empty/blank checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: How a runtime turns an argument into text (VTL passes Java's toString, `java_str`).
Stringify = Callable[[Any], str]


def is_number(v: Any) -> bool:
    """An int or float, never a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_null_or_empty(v: Any) -> bool:
    return v is None or (hasattr(v, "__len__") and len(v) == 0)


def is_null_or_blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple))


def is_map(v: Any) -> bool:
    return isinstance(v, Mapping)


def type_of(v: Any) -> str:
    """AppSync's `util.typeOf` names: Null, Boolean, Number, String, Map, List, Object."""
    if v is None:
        return "Null"
    if isinstance(v, bool):
        return "Boolean"
    if is_number(v):
        return "Number"
    if isinstance(v, str):
        return "String"
    if isinstance(v, Mapping):
        return "Map"
    if isinstance(v, (list, tuple)):
        return "List"
    return "Object"
