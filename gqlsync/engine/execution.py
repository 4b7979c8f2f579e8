"""graphql-core's execution with fast paths for the common case of list items: leaves read straight off dicts.

graphql-core executes every field the same way: a Path, a GraphQLResolveInfo, argument coercion, the resolver
call, then `complete_value`'s chain of type checks and the scalar's `serialize`, with an awaitable check at
each step. For a leaf field that has no resolver of its own (default property access), takes no arguments and
whose parent value is a plain dict, all of that reduces to `dict.get` and `serialize`. `FastExecutionContext`
does exactly that for such fields and, whenever the value is not the plain case (None in a non-null field, a
value that is not plain JSON data, a serialization that fails or yields nothing, a field-level auth rule that
denies the caller), executes that one field through graphql-core's own `execute_field` instead, so errors,
their paths and locations, and null propagation are exactly graphql-core's. Lists of objects whose items are
plain dicts are completed item by item without going through `complete_value`'s type dispatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLString,
    default_field_resolver,
    located_error,
)
from graphql.execution import ExecutionContext
from graphql.pyutils import Path, Undefined
from graphql.pyutils import is_awaitable as default_is_awaitable

from gqlsync.engine.guards import GuardedResolver

#: Value types a DynamoDB item, a JSON document or a mapping template's result hold: never awaitable, never
#: callable, never an Exception, so the default resolver returns them as they are and completion serializes them.
PLAIN_TYPES = frozenset({str, int, float, bool, dict, list})


class FieldCheck(NamedTuple):
    """A field-level authorization check the fast path must make before reading a leaf (see guards.GuardedResolver)."""

    allows: Callable[[str, str, str, dict[str, Any] | None], bool]
    type_name: str
    field_name: str


class Leaf(NamedTuple):
    """How to complete one leaf field of a dict parent without graphql-core's per-field machinery."""

    key: str  # the field's name (not its alias): the dict key the default resolver reads
    serialize: Callable[[Any], Any]
    str_identity: bool  # serialize(s) is s for a str s
    non_null: bool
    check: FieldCheck | None
    typename: str | None = None  # __typename: this constant (graphql-core's meta field resolves to it)


#: Leaves by field name, per object type of the schemas executed (an ApiVersion's schema is never changed once
#: built; a type no longer used drops out with its schema).
_LEAVES: WeakKeyDictionary[GraphQLObjectType, dict[str, Leaf | None]] = WeakKeyDictionary()
#: One selected field of an object: response name, its field nodes, and its Leaf when the fast path applies.
PlanEntry = tuple[str, list[FieldNode], Leaf | None]


def _is_awaitable(value: Any) -> bool:
    """graphql-core's check, answered at once for the values completion produces most (dicts, lists, strs, None)."""
    t = type(value)
    if t is dict or t is str or t is list or value is None:
        return False
    return default_is_awaitable(value)


def leaf_of(field_def: GraphQLField, name: str) -> Leaf | None:
    """The Leaf of field `name` if it resolves by default property access to a scalar or enum and takes no
    arguments, else None."""
    if field_def.args:
        return None
    check = None
    resolve = field_def.resolve
    if resolve is not None:
        if type(resolve) is not GuardedResolver or resolve.inner is not default_field_resolver:
            return None
        check = FieldCheck(resolve.guard.allows, resolve.type_name, resolve.field_name)
    type_: Any = field_def.type
    non_null = isinstance(type_, GraphQLNonNull)
    if non_null:
        type_ = type_.of_type
    if not isinstance(type_, (GraphQLScalarType, GraphQLEnumType)):
        return None
    # graphql-core's String and ID return a str unchanged
    return Leaf(name, type_.serialize, type_ is GraphQLString or type_ is GraphQLID, non_null, check)


class FastExecutionContext(ExecutionContext):
    """graphql-core's ExecutionContext; leaves of dict parents and object items of lists completed directly."""

    is_awaitable = staticmethod(_is_awaitable)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: plans by (parent type, id of the collected fields), each kept with the fields it was made for
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[dict[str, list[FieldNode]], tuple[PlanEntry, ...]
                                                                | None]] = {}

    def _plan(self, parent_type: GraphQLObjectType,
              fields: dict[str, list[FieldNode]]) -> tuple[PlanEntry, ...] | None:
        """The fields with their Leaf where the fast path applies; None when it applies to none of them."""
        key = (parent_type, id(fields))
        cached = self._plans.get(key)
        if cached is not None and cached[0] is fields:
            return cached[1]
        leaves = _LEAVES.get(parent_type)
        if leaves is None:
            leaves = _LEAVES[parent_type] = {}
        entries: list[PlanEntry] = []
        fast = False
        for response_name, field_nodes in fields.items():
            name = field_nodes[0].name.value
            if name in leaves:
                leaf = leaves[name]
            else:
                if name == "__typename":
                    leaf = Leaf(name, str, True, True, None, parent_type.name)
                else:
                    field_def = None if name.startswith("__") else parent_type.fields.get(name)
                    leaf = leaf_of(field_def, name) if field_def is not None else None
                leaves[name] = leaf
            fast = fast or leaf is not None
            entries.append((response_name, field_nodes, leaf))
        plan = tuple(entries) if fast and self.middleware_manager is None else None
        self._plans[key] = (fields, plan)
        return plan

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any, path: Path | None,
                       fields: dict[str, list[FieldNode]]) -> Any:
        if type(source_value) is not dict:
            return super().execute_fields(parent_type, source_value, path, fields)
        plan = self._plan(parent_type, fields)
        if plan is None:
            return super().execute_fields(parent_type, source_value, path, fields)
        return self._execute_plan(parent_type, source_value, path, plan)

    def _execute_plan(self, parent_type: GraphQLObjectType, source_value: dict[str, Any], path: Path | None,
                      plan: tuple[PlanEntry, ...], index: int | None = None) -> Any:
        """execute_fields for a dict parent, by its plan; at `path` or, given an `index`, at list item `index` of
        `path` (that Path made only when a field needs it)."""
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        get = source_value.get
        scope = self.context_value
        for response_name, field_nodes, leaf in plan:
            if leaf is not None:
                if leaf.typename is not None:
                    results[response_name] = leaf.typename
                    continue
                value = get(leaf.key)
                check = leaf.check
                if check is None or check.allows(check.type_name, check.field_name, scope.auth_type,
                                                 scope.identity):
                    if value is None:
                        if not leaf.non_null:
                            results[response_name] = None
                            continue
                    elif type(value) in PLAIN_TYPES:
                        if leaf.str_identity and type(value) is str:
                            results[response_name] = value
                            continue
                        try:
                            serialized = leaf.serialize(value)
                        except Exception:
                            serialized = None
                        if serialized is not None and serialized is not Undefined:
                            results[response_name] = serialized
                            continue
            # graphql-core's own way, for every field the fast path does not cover and every value it does not
            # take: what it returns or raises (errors, their paths, null propagation) is graphql-core's
            if index is not None:
                path, index = Path(path, index, None), None
            result = self.execute_field(parent_type, source_value, field_nodes,
                                        Path(path, response_name, parent_type.name))
            if result is not Undefined:
                results[response_name] = result
                if _is_awaitable(result):
                    awaitable_fields.append(response_name)
        if not awaitable_fields:
            return results
        return self._gather_fields(results, awaitable_fields)

    @staticmethod
    async def _gather_fields(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
        from asyncio import gather

        results.update(zip(awaitable_fields, await gather(*(results[f] for f in awaitable_fields)), strict=True))
        return results

    def complete_list_value(self, return_type: GraphQLList[GraphQLOutputType], field_nodes: list[FieldNode],
                            info: GraphQLResolveInfo, path: Path, result: Iterable[Any] | Any) -> Any:
        item_type = return_type.of_type
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if type(result) is not list or not isinstance(object_type, GraphQLObjectType) or object_type.is_type_of:
            return super().complete_list_value(return_type, field_nodes, info, path, result)
        sub_fields = self.collect_subfields(object_type, field_nodes)
        plan = self._plan(object_type, sub_fields)
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        for index, item in enumerate(result):
            if type(item) is not dict:
                # graphql-core's completion of one item (None, awaitables, errors, anything not a dict)
                completed_item = self._complete_item(item_type, field_nodes, info, path.add_key(index, None), item)
            else:
                try:
                    completed_item = (self._execute_plan(object_type, item, path, plan, index) if plan is not None
                                      else super().execute_fields(object_type, item, path.add_key(index, None),
                                                                  sub_fields))
                except Exception as raw_error:
                    item_path = path.add_key(index, None)
                    self.handle_field_error(located_error(raw_error, field_nodes, item_path.as_list()), item_type,
                                            item_path)
                    completed_item = None
                else:
                    if _is_awaitable(completed_item):
                        completed_item = self._await_item(completed_item, item_type, field_nodes,
                                                          path.add_key(index, None))
            if _is_awaitable(completed_item):
                awaitable_indices.append(index)
            completed.append(completed_item)
        if not awaitable_indices:
            return completed
        return self._gather_items(completed, awaitable_indices)

    def _complete_item(self, item_type: GraphQLOutputType, field_nodes: list[FieldNode], info: GraphQLResolveInfo,
                       item_path: Path, item: Any) -> Any:
        """One list item completed as graphql-core's complete_list_value completes it."""
        if _is_awaitable(item):
            return self._await_raw_item(item, item_type, field_nodes, info, item_path)
        try:
            completed_item = self.complete_value(item_type, field_nodes, info, item_path, item)
        except Exception as raw_error:
            self.handle_field_error(located_error(raw_error, field_nodes, item_path.as_list()), item_type,
                                    item_path)
            return None
        if _is_awaitable(completed_item):
            return self._await_item(completed_item, item_type, field_nodes, item_path)
        return completed_item

    async def _await_raw_item(self, item: Any, item_type: GraphQLOutputType, field_nodes: list[FieldNode],
                              info: GraphQLResolveInfo, item_path: Path) -> Any:
        try:
            completed = self.complete_value(item_type, field_nodes, info, item_path, await item)
            if _is_awaitable(completed):
                return await completed
            return completed
        except Exception as raw_error:
            self.handle_field_error(located_error(raw_error, field_nodes, item_path.as_list()), item_type,
                                    item_path)
            return None

    async def _await_item(self, completed: Any, item_type: GraphQLOutputType, field_nodes: list[FieldNode],
                          item_path: Path) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(located_error(raw_error, field_nodes, item_path.as_list()), item_type,
                                    item_path)
            return None

    @staticmethod
    async def _gather_items(completed: list[Any], awaitable_indices: list[int]) -> list[Any]:
        from asyncio import gather

        for index, value in zip(awaitable_indices, await gather(*(completed[i] for i in awaitable_indices)),
                                strict=True):
            completed[index] = value
        return completed
