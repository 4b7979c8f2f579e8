"""Parsed and validated documents, cached per app version (LRU keyed by query text)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    Source,
    ValidationRule,
    parse,
    specified_rules,
    validate,
)

from gqlsync.engine.errors import format_error, format_syntax_error


@dataclass(frozen=True)
class PreparedDocument:
    """A document ready to execute, or the errors that keep it from executing."""

    document: DocumentNode | None
    errors: tuple[dict[str, Any], ...] = ()
    operations: tuple[OperationDefinitionNode, ...] = ()
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        if name is None:
            return self.operations[0] if len(self.operations) == 1 else None
        for op in self.operations:
            if op.name is not None and op.name.value == name:
                return op
        return None


def _depth_rule(max_depth: int) -> type[ValidationRule]:
    class MaxDepthRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {d.name.value: d for d in self.context.document.definitions
                         if isinstance(d, FragmentDefinitionNode)}
            depth = _depth(node.selection_set, fragments, 0, set())
            if depth > max_depth:
                self.report_error(GraphQLError(
                    f"Query depth {depth} exceeds the maximum allowed depth of {max_depth}.", node))

    return MaxDepthRule


def _depth(selection_set: Any, fragments: dict[str, Any], level: int, visiting: set[str]) -> int:
    if selection_set is None:
        return level
    deepest = level
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            deepest = max(deepest, _depth(sel.selection_set, fragments, level + 1, visiting))
        elif isinstance(sel, InlineFragmentNode):
            deepest = max(deepest, _depth(sel.selection_set, fragments, level, visiting))
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in visiting:
            frag = fragments.get(sel.name.value)
            if frag is not None:
                deepest = max(deepest, _depth(frag.selection_set, fragments, level, visiting | {sel.name.value}))
    return deepest


class DocumentCache:
    """parse+validate once per distinct query text; bounded LRU."""

    def __init__(self, schema: GraphQLSchema, maxsize: int = 1024, max_depth: int | None = None,
                 max_query_bytes: int = 256 * 1024) -> None:
        self.schema = schema
        self.maxsize = maxsize
        self.max_query_bytes = max_query_bytes
        self.rules = list(specified_rules)
        if max_depth:
            self.rules.append(_depth_rule(max_depth))
        self._cache: LRUCache[str, PreparedDocument] | None = LRUCache(maxsize) if maxsize > 0 else None
        self.hits = 0
        self.misses = 0

    def get(self, query: str) -> PreparedDocument:
        cached = self._cache.get(query) if self._cache is not None else None
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        prepared = self._prepare(query)
        if self._cache is not None:
            self._cache[query] = prepared
        return prepared

    def _prepare(self, query: str) -> PreparedDocument:
        if len(query.encode("utf-8", errors="replace")) > self.max_query_bytes:
            return PreparedDocument(None, (format_syntax_error(GraphQLError(
                f"The query is larger than the {self.max_query_bytes} bytes allowed.")),))
        try:
            document = parse(Source(query, "GraphQL request"), max_tokens=50_000)
        except GraphQLError as exc:
            return PreparedDocument(None, (format_syntax_error(exc),))
        errors = validate(self.schema, document, self.rules, max_errors=50)
        if errors:
            return PreparedDocument(None, tuple(format_error(e) for e in errors))
        ops = tuple(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        return PreparedDocument(document, (), ops, fragments)
