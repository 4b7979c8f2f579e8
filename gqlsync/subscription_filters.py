"""Enhanced subscription filters: building them (toSubscriptionFilter) and matching events against them."""

from __future__ import annotations

from itertools import product
from typing import Any

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 5
MAX_PATH_DEPTH = 5
MAX_PATH_LENGTH = 256
MAX_IN_VALUES = 5
MAX_CONTAINS_ANY_VALUES = 20
OPERATORS = frozenset({"eq", "ne", "le", "lt", "ge", "gt", "contains", "notContains", "beginsWith", "in", "notIn",
                       "between", "attributeExists", "containsAny"})


def _conditions(spec: Any, ignored: set[str]) -> list[list[dict[str, Any]]]:
    """A filter map as disjunctive normal form: a list of groups (OR) of conditions (AND)."""
    if not isinstance(spec, dict):
        raise ValueError("a subscription filter must be a map")
    groups: list[list[dict[str, Any]]] = [[]]
    for key, cond in spec.items():
        if cond is None or key in ignored:
            continue
        if key == "and":
            parts = [_conditions(c, ignored) for c in cond or []]
            for p in parts:
                groups = [a + b for a, b in product(groups, p)]
        elif key == "or":
            alternatives: list[list[dict[str, Any]]] = []
            for c in cond or []:
                alternatives.extend(_conditions(c, ignored))
            if alternatives:
                groups = [a + b for a, b in product(groups, alternatives)]
        else:
            if not isinstance(cond, dict):
                raise ValueError(f"the condition on {key!r} must be a map of operators")
            for op, value in cond.items():
                groups = [[*g, _condition(key, op, value)] for g in groups]
    return groups


def _condition(path: str, op: str, value: Any) -> dict[str, Any]:
    if op not in OPERATORS:
        raise ValueError(f"unsupported subscription filter operator {op!r}")
    if len(path) > MAX_PATH_LENGTH or path.count(".") >= MAX_PATH_DEPTH:
        raise ValueError(f"filter field path {path[:40]!r} is deeper than {MAX_PATH_DEPTH} levels or longer than "
                         f"{MAX_PATH_LENGTH} characters")
    if op in ("in", "notIn") and (not isinstance(value, list) or len(value) > MAX_IN_VALUES):
        raise ValueError(f"{op} takes a list of at most {MAX_IN_VALUES} values")
    if op == "containsAny" and (not isinstance(value, list) or len(value) > MAX_CONTAINS_ANY_VALUES):
        raise ValueError(f"containsAny takes a list of at most {MAX_CONTAINS_ANY_VALUES} values")
    if op == "between" and (not isinstance(value, list) or len(value) != 2):
        raise ValueError("between takes a list of two values")
    return {"fieldName": path, "operator": op, "value": value}


def to_subscription_filter(spec: Any, ignored_fields: Any = None, rules: Any = None) -> dict[str, Any]:
    """AppSync's `util.transform.toSubscriptionFilter`: a filter map as {filterGroup: [{filters: [...]}]}."""
    groups = [g for g in _conditions(spec or {}, set(ignored_fields or [])) if g]
    if rules:
        extra = _conditions(rules, set())
        groups = [g + e for g in (groups or [[]]) for e in extra] if extra else groups
    return validate({"filterGroup": [{"filters": g} for g in groups]})


def validate(flt: Any) -> dict[str, Any]:
    """Check a filter object against AppSync's limits; raises ValueError with the reason."""
    if not isinstance(flt, dict) or not isinstance(flt.get("filterGroup"), list):
        raise ValueError("a subscription filter needs a 'filterGroup' list")
    groups = flt["filterGroup"]
    if len(groups) > MAX_GROUPS:
        raise ValueError(f"a subscription filter has at most {MAX_GROUPS} filter groups, got {len(groups)}")
    for g in groups:
        filters = g.get("filters") if isinstance(g, dict) else None
        if not isinstance(filters, list) or not filters:
            raise ValueError("each filter group needs a non-empty 'filters' list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise ValueError(f"a filter group has at most {MAX_FILTERS_PER_GROUP} filters, got {len(filters)}")
        for f in filters:
            if not isinstance(f, dict) or not isinstance(f.get("fieldName"), str):
                raise ValueError("each filter needs a 'fieldName'")
            _condition(f["fieldName"], f.get("operator", ""), f.get("value"))
    return flt


_MISSING = object()


def _get(payload: Any, path: str) -> Any:
    cur = payload
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ordered(a: Any, b: Any) -> bool:
    return (_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str))


def _check(f: dict[str, Any], payload: Any) -> bool:
    op, want = f["operator"], f.get("value")
    have = _get(payload, f["fieldName"])
    if op == "attributeExists":
        return (have is not _MISSING and have is not None) == bool(want)
    if have is _MISSING:
        return op in ("ne", "notContains", "notIn")
    if op == "eq":
        return bool(have == want)
    if op == "ne":
        return bool(have != want)
    if op in ("lt", "le", "gt", "ge"):
        if not _ordered(have, want):
            return False
        return {"lt": have < want, "le": have <= want, "gt": have > want, "ge": have >= want}[op]
    if op == "between":
        if not isinstance(want, list) or len(want) != 2:
            return False
        lo, hi = want
        return _ordered(have, lo) and _ordered(have, hi) and lo <= have <= hi
    if op == "contains":
        return (isinstance(have, str) and isinstance(want, str) and want in have) or \
            (isinstance(have, list) and want in have)
    if op == "notContains":
        return not ((isinstance(have, str) and isinstance(want, str) and want in have) or
                    (isinstance(have, list) and want in have))
    if op == "beginsWith":
        return isinstance(have, str) and isinstance(want, str) and have.startswith(want)
    if op == "in":
        return isinstance(want, list) and have in want
    if op == "notIn":
        return isinstance(want, list) and have not in want
    if op == "containsAny":
        return isinstance(have, list) and isinstance(want, list) and any(w in have for w in want)
    return False


def matches(flt: dict[str, Any] | None, payload: Any) -> bool:
    """True when some group has all its filters true (no filter: everything matches)."""
    if not flt:
        return True
    groups = flt.get("filterGroup") or []
    if not groups:
        return True
    return any(all(_check(f, payload) for f in g["filters"]) for g in groups)
