"""`util.transform`: filter maps (Amplify's ModelFilterInput shape) to DynamoDB/OpenSearch expressions, as objects."""

from __future__ import annotations

from typing import Any

from gqlsync.errors import ResolverError
from gqlsync.subscription_filters import to_subscription_filter
from gqlsync.util.dynamodb import to_attribute

_COMPARE = {"eq": "=", "ne": "<>", "le": "<=", "lt": "<", "ge": ">=", "gt": ">"}


def _wrap(expr: str) -> str:
    """`(expr)`, unless expr is already one parenthesized group (DynamoDB refuses redundant parentheses)."""
    if expr.startswith("("):
        depth = 0
        for i, ch in enumerate(expr):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                if i == len(expr) - 1:
                    return expr
                break
    return f"({expr})"


class _ExpressionBuilder:
    """Builds one DynamoDB expression with unique #name / :value placeholders."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, field: str) -> str:
        placeholder = "#" + "".join(c if c.isalnum() or c == "_" else "_" for c in field)
        base, n = placeholder, 0
        while self.names.get(placeholder, field) != field:
            n += 1
            placeholder = f"{base}_{n}"
        self.names[placeholder] = field
        return placeholder

    def value(self, hint: str, value: Any) -> str:
        base = ":" + "".join(c if c.isalnum() or c == "_" else "_" for c in hint)
        placeholder, n = base, 0
        while placeholder in self.values:
            n += 1
            placeholder = f"{base}_{n}"
        self.values[placeholder] = to_attribute(value)
        return placeholder

    def group(self, spec: Any) -> str:
        """The conditions of one filter map, ANDed; nested and/or/not become parenthesized groups."""
        if not isinstance(spec, dict):
            raise ValueError("a filter must be a map of field names to conditions")
        parts: list[str] = []
        for key, cond in spec.items():
            if cond is None:
                continue
            if key in ("and", "or"):
                subs = [x for x in (self.group(c) for c in (cond or []) if c) if x]
                if len(subs) == 1:
                    parts.append(subs[0])
                elif subs:
                    parts.append(_wrap(f" {key.upper()} ".join(_wrap(x) for x in subs)))
            elif key == "not":
                inner = self.group(cond)
                if inner:
                    parts.append(f"NOT {_wrap(inner)}")
            else:
                parts.extend(self.field(key, cond))
        if len(parts) <= 1:
            return parts[0] if parts else ""
        return " AND ".join(_wrap(p) for p in parts)

    def field(self, field: str, cond: Any) -> list[str]:
        if not isinstance(cond, dict):
            raise ValueError(f"the condition on {field!r} must be a map of operators (eq, ne, ...)")
        n = self.name(field)
        out: list[str] = []
        for op, arg in cond.items():
            hint = f"{field}_{op}"
            if op in _COMPARE:
                out.append(f"{n} {_COMPARE[op]} {self.value(hint, arg)}")
            elif op == "contains":
                out.append(f"contains({n}, {self.value(hint, arg)})")
            elif op == "notContains":
                out.append(f"NOT contains({n}, {self.value(hint, arg)})")
            elif op == "beginsWith":
                out.append(f"begins_with({n}, {self.value(hint, arg)})")
            elif op == "between":
                if not isinstance(arg, list) or len(arg) != 2:
                    raise ValueError(f"between on {field!r} takes a list of two values")
                lo, hi = self.value(hint + "_0", arg[0]), self.value(hint + "_1", arg[1])
                out.append(f"{n} BETWEEN {lo} AND {hi}")
            elif op == "attributeExists":
                out.append(f"attribute_exists({n})" if arg else f"attribute_not_exists({n})")
            elif op == "attributeType":
                out.append(f"attribute_type({n}, {self.value(hint, arg)})")
            elif op == "in":
                vals = ", ".join(self.value(f"{hint}_{i}", v) for i, v in enumerate(arg or []))
                out.append(f"{n} IN ({vals})")
            elif op == "size":
                for sop, sval in (arg or {}).items():
                    if sop in _COMPARE:
                        out.append(f"size({n}) {_COMPARE[sop]} {self.value(f'{hint}_{sop}', sval)}")
                    elif sop == "between":
                        lo = self.value(f"{hint}_between_0", sval[0])
                        hi = self.value(f"{hint}_between_1", sval[1])
                        out.append(f"size({n}) BETWEEN {lo} AND {hi}")
                    else:
                        raise ValueError(f"unsupported size operator {sop!r} on {field!r}")
            else:
                raise ValueError(f"unsupported filter operator {op!r} on {field!r}")
        return out

    def document(self, expression: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"expression": expression}
        doc["expressionNames"] = self.names
        doc["expressionValues"] = self.values
        return doc


def dynamodb_expression(spec: Any) -> dict[str, Any] | None:
    if not spec:
        return None
    builder = _ExpressionBuilder()
    expression = builder.group(spec)
    if not expression:
        return None
    return builder.document(expression)


def _all(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"bool": {"must": clauses}}


def _es_condition(field: str, op: str, arg: Any) -> dict[str, Any]:
    """One `field: {op: arg}` of an Amplify @searchable filter, as AppSync's toElasticsearchQueryDSL writes it."""
    if op == "eq":
        return {"term": {field: arg}}
    if op == "ne":
        return {"bool": {"must_not": _es_condition(field, "eq", arg)}}
    if op in ("match", "wildcard", "regexp"):
        return {op: {field: arg}}
    if op in ("matchPhrase", "matchPhrasePrefix"):
        return {"match_phrase" if op == "matchPhrase" else "match_phrase_prefix": {field: arg}}
    if op == "multiMatch":
        return {"multi_match": {"query": arg, "fields": [field]}}
    if op == "exists":
        if not isinstance(arg, bool):
            raise ValueError(f"exists on {field!r} takes a boolean, got {arg!r}")
        exists = {"exists": {"field": field}}
        return exists if arg else {"bool": {"must_not": exists}}
    if op in ("gt", "gte", "lt", "lte"):
        return {"range": {field: {op: arg}}}
    if op == "range":
        if not isinstance(arg, list) or len(arg) != 2:
            raise ValueError(f"range on {field!r} takes [from, to], got {arg!r}")
        return {"range": {field: {"gte": arg[0], "lte": arg[1]}}}
    raise ValueError(f"unsupported search filter operator {op!r} on {field!r}")


def _es_clauses(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, value in spec.items():
        if value is None:
            continue
        if key in ("and", "or"):
            parts = [_all(_es_clauses(v)) for v in value or [] if v]
            if parts:
                out.append({"bool": {"must": parts}} if key == "and" else
                           {"bool": {"should": parts, "minimum_should_match": 1}})
        elif key == "not":
            out.append({"bool": {"must_not": _all(_es_clauses(value))}})
        elif isinstance(value, dict):
            conditions = [_es_condition(key, op, arg) for op, arg in value.items() if arg is not None]
            if conditions:
                out.append({"bool": {"must": conditions}})  # each field's conditions, as AppSync's example has them
        else:
            raise ValueError(f"the filter on {key!r} must be an object of operators, got {value!r}")
    return out


def elasticsearch_query(spec: Any) -> dict[str, Any] | None:
    """`toElasticsearchQueryDSL`: an Amplify @searchable filter (`field: {eq, ne, gt, ..., match, matchPhrase,
    matchPhrasePrefix, multiMatch, exists, wildcard, regexp, range}`, `and`, `or`, `not`) as OpenSearch query DSL:
    each field's conditions ANDed in a `bool.must`, fields ANDed, `or` as `bool.should` with minimum_should_match 1,
    `not` as `bool.must_not`, `eq` a `term` (AppSync's documented example). None for an empty filter."""
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise ValueError(f"a search filter must be an object, got {spec!r}")
    clauses = _es_clauses(spec)
    return _all(clauses) if clauses else None


def subscription_filter(spec: Any, ignored_fields: Any = None, rules: Any = None) -> dict[str, Any]:
    """`toSubscriptionFilter`; an invalid filter raises a MappingTemplate ResolverError."""
    try:
        return to_subscription_filter(spec, ignored_fields, rules)
    except ValueError as exc:
        raise ResolverError(f"Invalid subscription filter: {exc}", "MappingTemplate") from None


class TransformUtil:
    """The `util.transform` family returning objects (VTL's twin returns the expressions as JSON text)."""

    def toDynamoDBFilterExpression(self, spec: Any) -> dict[str, Any] | None:  # noqa: N802 - AppSync names
        return dynamodb_expression(spec)

    def toDynamoDBConditionExpression(self, spec: Any) -> dict[str, Any] | None:  # noqa: N802
        return dynamodb_expression(spec)

    def toElasticsearchQueryDSL(self, spec: Any) -> dict[str, Any] | None:  # noqa: N802
        try:
            return elasticsearch_query(spec)
        except ValueError as exc:
            raise ResolverError(f"Invalid search filter: {exc}", "MappingTemplate") from None

    def toSubscriptionFilter(self, spec: Any, ignored_fields: Any = None, rules: Any = None) -> dict[str, Any]:  # noqa: N802
        return subscription_filter(spec, ignored_fields, rules)
