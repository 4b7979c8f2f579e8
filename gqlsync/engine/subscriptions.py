"""Subscriptions in the engine: @aws_subscribe wiring, mutation events, subscribe-time plans, payload shaping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)
from graphql.execution.values import get_argument_values, get_directive_values
from graphql.type import GraphQLIncludeDirective, GraphQLSkipDirective


@dataclass(frozen=True)
class MutationEvent:
    """A mutation's non-null result, as the mutation selected it, for the subscriptions listening to it."""

    mutation_field: str
    data: Any
    subscription_fields: tuple[str, ...]


class Publisher(Protocol):
    """Implemented by the realtime stage; the engine knows no transport."""

    async def publish(self, app: str, events: list[MutationEvent]) -> None: ...

    async def invalidate(self, app: str, invalidations: list[dict[str, Any]]) -> None:
        """`$extensions.invalidateSubscriptions(...)` calls: close the subscriptions whose filter matches."""
        ...


def aws_subscribe_map(schema: GraphQLSchema) -> dict[str, tuple[str, ...]]:
    """mutation field -> subscription fields whose @aws_subscribe(mutations: [...]) lists it."""
    out: dict[str, list[str]] = {}
    sub = schema.subscription_type
    if sub is None:
        return {}
    for name, f in sub.fields.items():
        node = f.ast_node
        for d in (node.directives if node is not None else ()) or ():
            if d.name.value != "aws_subscribe":
                continue
            for arg in d.arguments or ():
                if arg.name.value == "mutations":
                    for m in value_from_ast_untyped(arg.value) or []:
                        out.setdefault(str(m), []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def mutation_events(operation: OperationDefinitionNode, data: dict[str, Any] | None,
                    listeners: dict[str, tuple[str, ...]]) -> list[MutationEvent]:
    """One event per top-level mutation field (by name, not alias) that returned non-null and is listened to."""
    if not data:
        return []
    events = []
    for sel in operation.selection_set.selections:
        if not isinstance(sel, FieldNode):
            continue
        name = sel.name.value
        key = sel.alias.value if sel.alias else name
        value = data.get(key)
        if value is not None and name in listeners:
            events.append(MutationEvent(name, value, listeners[name]))
    return events


@dataclass
class SubscriptionPlan:
    """A validated subscription: its field, argument values, filters, and how to shape each payload."""

    field_name: str
    response_key: str
    arguments: dict[str, Any]
    field_node: FieldNode
    return_type: GraphQLNamedType
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    document_key: int
    enhanced_filter: Any = None
    invalidation_filter: Any = None

    def argument_filter(self) -> dict[str, Any]:
        """AppSync's argument filter: every argument given (non-null) must equal the payload's field."""
        return {k: v for k, v in self.arguments.items() if v is not None}

    def shape(self, payload: Any, allowed: FieldCheck | None = None) -> dict[str, Any]:
        """The message body a subscriber receives: `{data}` shaped by its selection set (no resolvers run),
        plus `errors` for fields it may not read (null in `data`), as AppSync does."""
        errors: list[dict[str, Any]] = []
        data = {self.response_key: _shape(self.field_node.selection_set, payload, self.return_type,
                                          self.fragments, self.variables, allowed, [self.response_key], errors)}
        return {"data": data, "errors": errors} if errors else {"data": data}


def build_plan(schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: dict[str, Any],
               variables: dict[str, Any], document_key: int) -> SubscriptionPlan:
    """Raises ValueError for anything AppSync refuses (several root fields, unknown field)."""
    fields = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if len(fields) != 1 or len(operation.selection_set.selections) != 1:
        raise ValueError("A subscription must select exactly one top-level field.")
    node = fields[0]
    sub = schema.subscription_type
    assert sub is not None
    field_def = sub.fields[node.name.value]
    args = get_argument_values(field_def, node, variables)
    return SubscriptionPlan(field_name=node.name.value, response_key=node.alias.value if node.alias else
                            node.name.value, arguments=args, field_node=node,
                            return_type=get_named_type(field_def.type), fragments=fragments, variables=variables,
                            document_key=document_key)


def _included(node: Any, variables: dict[str, Any]) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    if skip and skip.get("if"):
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return not (include and not include.get("if"))


FieldCheck = Callable[[str, str], bool]


def _shape(selection_set: SelectionSetNode | None, value: Any, type_: GraphQLNamedType,
           fragments: dict[str, Any], variables: dict[str, Any], allowed: FieldCheck | None = None,
           path: list[Any] | None = None, errors: list[dict[str, Any]] | None = None) -> Any:
    if value is None or selection_set is None:
        return value
    if isinstance(value, list):
        return [_shape(selection_set, v, type_, fragments, variables, allowed, [*(path or []), i], errors)
                for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    _collect(selection_set, value, type_, fragments, variables, out, allowed, path or [], errors)
    return out


def _collect(selection_set: SelectionSetNode, value: dict[str, Any], type_: GraphQLNamedType,
             fragments: dict[str, Any], variables: dict[str, Any], out: dict[str, Any],
             allowed: FieldCheck | None = None, path: list[Any] | None = None,
             errors: list[dict[str, Any]] | None = None) -> None:
    path = path or []
    type_name = value.get("__typename") or type_.name
    for sel in selection_set.selections:
        if not _included(sel, variables):
            continue
        if isinstance(sel, FieldNode):
            name = sel.name.value
            key = sel.alias.value if sel.alias else name
            if name == "__typename":
                out[key] = type_name
                continue
            if allowed is not None and not allowed(type_.name, name):
                out[key] = None
                if errors is not None:
                    errors.append({"path": [*path, key], "errorType": "Unauthorized", "data": None,
                                   "errorInfo": None, "locations": None,
                                   "message": f"Not Authorized to access {name} on type {type_.name}"})
                continue
            child_type: GraphQLNamedType = type_
            if isinstance(type_, GraphQLObjectType) and name in type_.fields:
                child_type = get_named_type(type_.fields[name].type)
            child = _shape(sel.selection_set, value.get(name), child_type, fragments, variables, allowed,
                           [*path, key], errors)
            if key in out and isinstance(out[key], dict) and isinstance(child, dict):
                out[key].update(child)
            else:
                out[key] = child
        elif isinstance(sel, InlineFragmentNode):
            cond = sel.type_condition.name.value if sel.type_condition else None
            if cond is None or cond == type_name or cond == type_.name:
                _collect(sel.selection_set, value, type_, fragments, variables, out, allowed, path, errors)
        elif isinstance(sel, FragmentSpreadNode):
            frag = fragments.get(sel.name.value)
            if frag is not None and frag.type_condition.name.value in (type_name, type_.name):
                _collect(frag.selection_set, value, type_, fragments, variables, out, allowed, path, errors)
