"""DynamoDB expression documents (condition, update, filter, projection) merged into one request's names and values."""

from __future__ import annotations

import re
from typing import Any

from gqlsync.datasources.dynamodb.marshal import to_wire
from gqlsync.errors import ResolverError


class Expressions:
    """Merges several AppSync expression documents into one set of names and values."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def add(self, doc: Any, what: str) -> str | None:
        if doc is None:
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("expression"), str):
            raise ResolverError(f"'{what}' must be an object with an 'expression' string", "MappingTemplate")
        for k, v in (doc.get("expressionNames") or {}).items():
            if self.names.get(k, v) != v:
                raise ResolverError(f"expression name {k} is defined twice with different values",
                                    "MappingTemplate")
            self.names[k] = v
        for k, v in (doc.get("expressionValues") or {}).items():
            wire = to_wire(v)
            if self.values.get(k, wire) != wire:
                raise ResolverError(f"expression value {k} is defined twice with different values",
                                    "MappingTemplate")
            self.values[k] = wire
        return str(doc["expression"])

    def into(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        return params


def add_projection(req: dict[str, Any], expr: Expressions, params: dict[str, Any]) -> None:
    proj = req.get("projection")
    if proj:
        params["ProjectionExpression"] = expr.add(proj, "projection")


def projection_with_keys(doc: Any, key_names: set[str]) -> tuple[tuple[str, dict[str, str]], list[str]]:
    """A BatchGetItem projection that also fetches the key attributes (each through its own #gqlsyncK name), so
    returned items can be matched to the requested keys; and the key attributes the user's projection left out."""
    expr = Expressions()
    text = expr.add(doc, "projection") or ""
    names = dict(expr.names)
    projected = set()
    for path in text.split(","):
        top = re.split(r"[.\[]", path.strip(), maxsplit=1)[0].strip()
        projected.add(names.get(top, top) if top.startswith("#") else top)
    added = sorted(key_names - projected)
    extra = []
    n = 0
    for attr in added:
        while f"#gqlsyncK{n}" in names:
            n += 1
        names[f"#gqlsyncK{n}"] = attr
        extra.append(f"#gqlsyncK{n}")
    return (", ".join([text, *extra]) if extra else text, names), added


def with_condition(params: dict[str, Any], cond: Any, expr: Expressions | None = None) -> dict[str, Any]:
    """Add the condition (and ask for the current item should it fail); `expr` holds names/values already used."""
    expr = expr or Expressions()
    if cond:
        params["ConditionExpression"] = expr.add(cond, "condition")
        params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return expr.into(params)


def _one_group(text: str) -> bool:
    """Is `text` a single parenthesized group, "( ... )" whose first parenthesis closes at its end?"""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(text) - 1
    return False


def all_of(*texts: str | None) -> str:
    """The expressions ANDed, each in parentheses unless it is one group already: DynamoDB refuses redundant
    parentheses ("((a = :a))"), and Amplify's templates send filters and conditions already grouped."""
    parts = [t.strip() for t in texts if t and t.strip()]
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(p if _one_group(p) else f"({p})" for p in parts)
