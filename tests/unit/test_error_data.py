"""An error's `data` is filtered by the field's selection set, as AppSync does (fragments, lists, nesting)."""

from __future__ import annotations

from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse

from gqlsync.engine.errors import selected


def test_only_selected_fields_remain_at_every_level() -> None:
    doc = parse("query { f { id ... on T { name } ...More items { a } } } fragment More on T { extra }")
    op = doc.definitions[0]
    assert isinstance(op, OperationDefinitionNode)
    field = op.selection_set.selections[0]
    assert isinstance(field, FieldNode)
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    data = {"id": 1, "name": "n", "extra": True, "secret": "s", "__operation": "Mutation",
            "items": [{"a": 1, "b": 2}, {"a": 3}]}
    assert selected(data, field.selection_set, fragments) == {
        "id": 1, "name": "n", "extra": True, "items": [{"a": 1}, {"a": 3}]}
    assert selected("text", field.selection_set, fragments) == "text"
    assert selected(None, field.selection_set, fragments) is None
