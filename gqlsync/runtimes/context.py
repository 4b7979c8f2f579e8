"""The resolver context ($ctx) that the engine builds and every runtime reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gqlsync.request import RequestScope

__all__ = ["InfoView", "RequestScope", "ResolverContext"]


class InfoView:
    """`$ctx.info`: built lazily from graphql-core's resolve info."""

    __slots__ = ("__dict__", "_info")

    def __init__(self, info: Any) -> None:
        self._info = info

    @property
    def fieldName(self) -> str:  # noqa: N802 - AppSync's name
        return str(self._info.field_name)

    @property
    def parentTypeName(self) -> str:  # noqa: N802
        return str(self._info.parent_type.name)

    @cached_property
    def variables(self) -> dict[str, Any]:
        return dict(self._info.variable_values or {})

    @cached_property
    def selectionSetList(self) -> list[str]:  # noqa: N802
        from gqlsync.runtimes.selection import selection_set_list

        return selection_set_list(self._info)

    @cached_property
    def selectionSetGraphQL(self) -> str:  # noqa: N802
        from gqlsync.runtimes.selection import selection_set_graphql

        return selection_set_graphql(self._info)

    def locations(self) -> list[dict[str, Any]] | None:
        out = []
        for node in self._info.field_nodes:
            if node.loc is not None:
                loc = node.loc.source.get_location(node.loc.start)
                out.append({"line": loc.line, "column": loc.column, "sourceName": None})
        return out or None

    def as_dict(self) -> dict[str, Any]:
        return {"fieldName": self.fieldName, "parentTypeName": self.parentTypeName,
                "variables": self.variables, "selectionSetList": self.selectionSetList,
                "selectionSetGraphQL": self.selectionSetGraphQL}


@dataclass
class ResolverContext:
    """One resolver (or pipeline function) invocation's context."""

    scope: RequestScope
    arguments: dict[str, Any]
    source: Any
    info: InfoView
    stash: dict[str, Any]
    prev_result: Any = None
    result: Any = None
    error: dict[str, Any] | None = None
    out_errors: list[dict[str, Any]] = field(default_factory=list)
    where: str = ""
    path: Any = None

    @property
    def identity(self) -> dict[str, Any] | None:
        return self.scope.identity

    def request_view(self) -> dict[str, Any]:
        return {"headers": self.scope.headers, "domainName": self.scope.domain_name}
