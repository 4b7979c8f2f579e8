"""`$ctx.info.selectionSetList` / `selectionSetGraphQL` computed from a field's selection set."""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode, print_ast


def _walk(selection_set: SelectionSetNode | None, fragments: dict[str, Any], prefix: str,
          out: list[str], seen: set[str]) -> None:
    if selection_set is None:
        return
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            name = sel.name.value
            if name.startswith("__"):
                continue
            path = f"{prefix}{name}"
            if path not in seen:
                seen.add(path)
                out.append(path)
            _walk(sel.selection_set, fragments, f"{path}/", out, seen)
        elif isinstance(sel, InlineFragmentNode):
            _walk(sel.selection_set, fragments, prefix, out, seen)
        elif isinstance(sel, FragmentSpreadNode):
            frag = fragments.get(sel.name.value)
            if frag is not None:
                _walk(frag.selection_set, fragments, prefix, out, seen)


def selection_set_list(info: Any) -> list[str]:
    """Field paths below the resolved field, `a`, `a/b`, with fragments expanded, AppSync's order."""
    out: list[str] = []
    seen: set[str] = set()
    for node in info.field_nodes:
        _walk(node.selection_set, info.fragments, "", out, seen)
    return out


def selection_set_graphql(info: Any) -> str:
    """The field's selection set printed as GraphQL (empty string for a leaf)."""
    parts = [print_ast(node.selection_set) for node in info.field_nodes if node.selection_set]
    return "\n".join(parts)
