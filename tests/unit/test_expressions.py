"""Combining DynamoDB expressions: grouped once, never in the redundant parentheses DynamoDB refuses."""

from __future__ import annotations

import pytest

from gqlsync.datasources.dynamodb.expressions import all_of


@pytest.mark.parametrize(("parts", "combined"), [
    (["#a = :a"], "#a = :a"),
    (["(#a = :a)"], "(#a = :a)"),
    (["#a = :a", "#b = :b"], "(#a = :a) AND (#b = :b)"),
    # Amplify's Sync and update templates send their filter/condition as one group already
    (["((#o = :o) OR (#g = :g))", "attribute_exists(#id)"], "((#o = :o) OR (#g = :g)) AND (attribute_exists(#id))"),
    (["(#a = :a) OR (#b = :b)", "(#c = :c)"], "((#a = :a) OR (#b = :b)) AND (#c = :c)"),
    ([None, "", "#a = :a", None], "#a = :a"),
])
def test_all_of_groups_each_part_once(parts: list[str | None], combined: str) -> None:
    assert all_of(*parts) == combined
