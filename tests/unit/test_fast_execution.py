"""FastExecutionContext answers exactly as graphql-core's ExecutionContext: data, errors, paths, null propagation."""

from __future__ import annotations

import asyncio
import math
import types
from typing import Any

from graphql import (
    ExecutionContext,
    ExecutionResult,
    GraphQLObjectType,
    default_field_resolver,
    execute,
    parse,
    validate,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gqlsync.engine.errors import format_error
from gqlsync.engine.execution import FastExecutionContext
from gqlsync.engine.guards import GuardedResolver
from gqlsync.engine.schema import build_schema
from gqlsync.request import RequestScope

SDL = """
enum Color { RED GREEN }
interface Named { name: String }
type Item implements Named {
  id: ID!
  name: String
  n: Int
  f: Float
  ok: Boolean
  when: AWSDateTime
  doc: AWSJSON
  color: Color
  req: String!
  secret: String
  greet(who: String): String
  child: Item
  kids: [Item]
  strictKids: [Item!]
}
type Query {
  item: Item
  items: [Item]
  strictItems: [Item!]!
  named: [Named]
  later: [Item]
}
"""
LEAVES = ["id", "name", "n", "f", "ok", "when", "doc", "color", "req", "secret"]


class Guard:
    """Item.secret only for Cognito callers."""

    def unrestricted(self, type_name: str, field: str) -> bool:
        return (type_name, field) != ("Item", "secret")

    def allows(self, type_name: str, field: str, mode: str, identity: dict[str, Any] | None) -> bool:
        return self.unrestricted(type_name, field) or mode == "AMAZON_COGNITO_USER_POOLS"


def make_schema() -> Any:
    schema = build_schema(SDL)
    item = schema.type_map["Item"]
    assert isinstance(item, GraphQLObjectType)
    item.fields["secret"].resolve = GuardedResolver(default_field_resolver, "Item", "secret", Guard())
    query = schema.type_map["Query"]
    assert isinstance(query, GraphQLObjectType)

    async def later(root: Any, _info: Any) -> Any:
        """The items, each second one an awaitable (as a batched resolver's items can be)."""
        await asyncio.sleep(0)

        async def wrap(x: Any) -> Any:
            return x

        return [wrap(x) if i % 2 else x for i, x in enumerate(root.get("items") or [])]

    query.fields["later"].resolve = later
    return schema


SCHEMA = make_schema()


class Counting(FastExecutionContext):
    """Counts the fields that went graphql-core's own way."""

    slow: list[str] = []

    def execute_field(self, parent_type: Any, source: Any, field_nodes: Any, path: Any) -> Any:
        Counting.slow.append(f"{parent_type.name}.{field_nodes[0].name.value}")
        return super().execute_field(parent_type, source, field_nodes, path)


def run(context_class: type[ExecutionContext], query: str, root: Any, variables: dict[str, Any] | None = None,
        mode: str = "API_KEY") -> tuple[Any, list[dict[str, Any]]]:
    document = parse(query)
    assert not validate(SCHEMA, document)
    scope = RequestScope(request_id="r", identity=None, headers={}, auth_type=mode)
    result = execute(SCHEMA, document, root_value=root, context_value=scope, variable_values=variables,
                     execution_context_class=context_class)
    if not isinstance(result, ExecutionResult):
        result = asyncio.run(result)  # type: ignore[arg-type]
    assert isinstance(result, ExecutionResult)
    return result.data, [format_error(e) for e in result.errors or ()]


def both(query: str, root: Any, variables: dict[str, Any] | None = None,
         mode: str = "API_KEY") -> tuple[Any, list[dict[str, Any]]]:
    """The fast answer, checked to be graphql-core's."""
    fast = run(FastExecutionContext, query, root, variables, mode)
    assert fast == run(ExecutionContext, query, root, variables, mode)
    return fast


def item(**values: Any) -> dict[str, Any]:
    return {"id": "1", "name": "a", "req": "r", **values}


def err(message: str, error_type: str, path: list[Any], line: int, column: int) -> dict[str, Any]:
    return {"path": path, "data": None, "errorType": error_type, "errorInfo": None,
            "locations": [{"line": line, "column": column, "sourceName": None}], "message": message}


def test_leaves_of_dict_items_skip_graphql_cores_per_field_execution() -> None:
    Counting.slow = []
    data, errors = run(Counting, "{ items { id name n __typename } }", {"items": [item(n=1), item(n=2), item(n=3)]})
    assert data == {"items": [{"id": "1", "name": "a", "n": i, "__typename": "Item"} for i in (1, 2, 3)]}
    assert errors == []
    assert Counting.slow == ["Query.items"]


def test_null_in_a_non_null_leaf_of_a_list_item_nulls_the_item() -> None:
    data, errors = both("{ items { id req } }", {"items": [item(), item(req=None), item()]})
    assert data == {"items": [{"id": "1", "req": "r"}, None, {"id": "1", "req": "r"}]}
    assert errors == [err("Cannot return null for non-nullable field Item.req.", "NullValueInNonNullableField",
                          ["items", 1, "req"], 1, 14)]


def test_null_in_a_non_null_leaf_of_a_non_null_item_nulls_the_list_up_to_a_nullable_parent() -> None:
    data, errors = both("{ item { strictKids { req } } strictItems { req } }",
                        {"item": item(strictKids=[item(), item(req=None)]), "strictItems": [item(req=None)]})
    assert data is None  # strictItems is [Item!]!: the null reaches the root
    assert [e["path"] for e in errors] == [["item", "strictKids", 1, "req"], ["strictItems", 0, "req"]]
    data, errors = both("{ item { strictKids { req } } }", {"item": item(strictKids=[item(), item(req=None)])})
    assert data == {"item": {"strictKids": None}}
    assert [e["path"] for e in errors] == [["item", "strictKids", 1, "req"]]


def test_a_scalar_that_fails_to_serialize_is_a_field_error_at_its_path() -> None:
    data, errors = both("{ items { when n } }",
                        {"items": [item(when="2026-01-01T10:00:00Z", n=1), item(when="tomorrow", n=1.5)]})
    assert data == {"items": [{"when": "2026-01-01T10:00:00Z", "n": 1}, {"when": None, "n": None}]}
    assert [(e["path"], e["errorType"]) for e in errors] == [(["items", 1, "when"], "DataFetchingException"),
                                                            (["items", 1, "n"], "DataFetchingException")]
    assert errors[0]["message"].startswith("Unable to serialize 'tomorrow' as a valid DateTime")


def test_awsjson_and_enums_serialize_as_before() -> None:
    data, errors = both("{ items { doc color } }", {"items": [item(doc={"a": [1, 2]}, color="RED"),
                                                              item(doc='{"b":1}', color="BLUE")]})
    assert data == {"items": [{"doc": '{"a":[1,2]}', "color": "RED"}, {"doc": '{"b":1}', "color": None}]}
    assert [e["path"] for e in errors] == [["items", 1, "color"]]


def test_aliases_fragments_and_typename() -> None:
    query = """query { items { first: name second: name ...F ... on Item { k: id } __typename } }
               fragment F on Item { name id }"""
    data, errors = both(query, {"items": [item(), item(name="b")]})
    assert errors == []
    assert data == {"items": [{"first": "a", "second": "a", "name": "a", "id": "1", "k": "1", "__typename": "Item"},
                              {"first": "b", "second": "b", "name": "b", "id": "1", "k": "1", "__typename": "Item"}]}


def test_field_level_auth_denial_inside_list_items() -> None:
    root = {"items": [item(secret="s1"), item(secret="s2")]}
    data, errors = both("{ items { id secret } }", root)
    assert data == {"items": [{"id": "1", "secret": None}, {"id": "1", "secret": None}]}
    assert errors == [err("Not Authorized to access secret on type Item", "Unauthorized", ["items", i, "secret"], 1, 14)
                      for i in (0, 1)]
    assert both("{ items { id secret } }", root, mode="AMAZON_COGNITO_USER_POOLS") == (
        {"items": [{"id": "1", "secret": "s1"}, {"id": "1", "secret": "s2"}]}, [])


def test_values_the_fast_path_does_not_take() -> None:
    """Callables (the default resolver calls them), exceptions, objects, non-dict parents and items."""
    root = {"items": [item(name=lambda info, **_: f"called {info.field_name}"), item(name=ValueError("no")),
                      item(name=object()), types.SimpleNamespace(id="2", name="ns", req="r"), None, "text",
                      item(greet=lambda _info, who=None: f"hi {who}")],
            "named": [{"__typename": "Item", "name": "n"}, None]}
    data, errors = both('{ items { id name greet(who: "x") } named { name ... on Item { id } } }', root)
    assert data["items"][0]["name"] == "called name" and data["items"][3]["name"] == "ns"
    assert data["items"][6]["greet"] == "hi x"
    assert sorted(e["path"] for e in errors) == [["items", 1, "name"], ["items", 2, "name"], ["items", 5, "id"],
                                                 ["named", 0, "id"]]
    assert [e["errorType"] for e in errors if e["path"] == ["items", 1, "name"]] == ["InternalFailure"]


def test_awaitable_items_and_async_resolvers() -> None:
    data, errors = both("{ later { id req } }", {"items": [item(), item(req=None), item(), item()]})
    assert data == {"later": [{"id": "1", "req": "r"}, None, {"id": "1", "req": "r"}, {"id": "1", "req": "r"}]}
    assert [e["path"] for e in errors] == [["later", 1, "req"]]


# ---------------------------------------------------------------- equivalence over generated data and selections

_FIELD_VALUES: dict[str, Any] = {
    "id": st.sampled_from(["x", 7, 2.0, 2.5, True, None, [1], {"a": 1}]),
    "name": st.sampled_from(["a", "", 3, 1.5, math.inf, False, None, [], {"k": "v"}]),
    "n": st.sampled_from([0, -3, 2**31, 1.0, 1.5, "4", True, None]),
    "f": st.sampled_from([0.5, 3, math.nan, "1.5", None, False]),
    "ok": st.sampled_from([True, False, 0, 1, "true", None]),
    "when": st.sampled_from(["2026-02-03T04:05:06.789Z", "2026-02-30T00:00:00Z", "2026-01-01", 5, None]),
    "doc": st.sampled_from([{"a": [1, None]}, [1, "2"], "raw", 3, None, True]),
    "color": st.sampled_from(["RED", "GREEN", "BLUE", 1, None]),
    "req": st.sampled_from(["r", None, 1, ""]),
    "secret": st.sampled_from(["s", None, 2]),
}


def _items(depth: int) -> Any:
    fields = {k: v for k, v in _FIELD_VALUES.items()}
    if depth > 0:
        children = st.lists(st.one_of(_items(depth - 1), st.none()), max_size=3) | st.none()
        fields.update(child=st.one_of(_items(depth - 1), st.none()), kids=children, strictKids=children)
    return st.fixed_dictionaries({}, optional=fields)


def _selection(depth: int) -> Any:
    leaf = st.sampled_from([*LEAVES, "__typename"])
    simple = st.tuples(leaf, st.booleans()).map(lambda t: (t[0], None, t[1]))
    if depth == 0:
        return st.lists(simple, min_size=1, max_size=5)
    nested = st.tuples(st.sampled_from(["child", "kids", "strictKids"]), st.deferred(lambda: _selection(depth - 1)),
                       st.booleans())
    return st.lists(simple | nested, min_size=1, max_size=6)


def _render(selection: list[tuple[str, Any, bool]], fragment: bool) -> str:
    parts = []
    for i, (name, sub, aliased) in enumerate(selection):
        text = f"a{i}_{name.strip('_')}: {name}" if aliased else name
        if sub is not None:
            # a field selected twice unaliased must select the same way; alias every object field
            text = f"o{i}_{name}: {name} {{ {_render(sub, False)} }}"
        parts.append(text)
    body = " ".join(parts)
    return f"... on Item {{ {body} }}" if fragment else body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.one_of(_items(2), st.none()), max_size=4), selection=_selection(2),
       fragment=st.booleans(), mode=st.sampled_from(["API_KEY", "AMAZON_COGNITO_USER_POOLS"]),
       show=st.booleans())
def test_fast_and_graphql_core_answers_are_the_same(items: list[Any], selection: list[Any], fragment: bool,
                                                    mode: str, show: bool) -> None:
    sel = _render(selection, fragment)
    query = (f"query($show: Boolean!) {{ items {{ {sel} }} item {{ {sel} }} later @include(if: $show) {{ {sel} }} "
             f"named {{ name ... on Item {{ {sel} }} }} }}")
    root = {"items": items, "item": items[0] if items else None, "strictItems": items,
            "named": [dict(x, __typename="Item") if x else x for x in items]}
    both(query, root, {"show": show}, mode)
    both(f"{{ strictItems {{ {sel} }} }}", root, None, mode)  # where a null may reach the root
