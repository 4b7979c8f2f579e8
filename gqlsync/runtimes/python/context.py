"""`ctx` as Python resolvers see it: the AppSync context with attribute access (snake_case and AppSync's names)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from gqlsync.runtimes.context import InfoView, ResolverContext

__all__ = ["Context", "Info"]


class Info:
    """`ctx.info`: field_name, parent_type_name, variables, selection_set_list, selection_set_graphql."""

    __slots__ = ("_view",)

    def __init__(self, view: InfoView) -> None:
        self._view = view

    @property
    def field_name(self) -> str:
        return self._view.fieldName

    @property
    def parent_type_name(self) -> str:
        return self._view.parentTypeName

    @property
    def variables(self) -> dict[str, Any]:
        return self._view.variables

    @property
    def selection_set_list(self) -> list[str]:
        return self._view.selectionSetList

    @property
    def selection_set_graphql(self) -> str:
        return self._view.selectionSetGraphQL

    # AppSync's names
    fieldName = field_name  # noqa: N815
    parentTypeName = parent_type_name  # noqa: N815
    selectionSetList = selection_set_list  # noqa: N815
    selectionSetGraphQL = selection_set_graphql  # noqa: N815

    def __repr__(self) -> str:
        return f"Info({self.parent_type_name}.{self.field_name})"


class Context:
    """One resolver (or pipeline function) invocation: `arguments`/`args`, `source`, `identity`, `request.headers`,
    `info`, `stash` (shared by a pipeline's steps), `prev.result`, and in `response`: `result`, `error`.

    Values are the plain JSON-like Python values AppSync passes (dicts, lists, str, int, float, bool, None).
    """

    __slots__ = ("_ctx", "info")

    def __init__(self, ctx: ResolverContext) -> None:
        self._ctx = ctx
        self.info = Info(ctx.info)

    @property
    def arguments(self) -> dict[str, Any]:
        return self._ctx.arguments

    args = arguments

    @property
    def source(self) -> Any:
        return self._ctx.source

    @property
    def identity(self) -> dict[str, Any] | None:
        return self._ctx.identity

    @property
    def request(self) -> SimpleNamespace:
        """`ctx.request.headers` (lower-case names) and `ctx.request.domain_name`."""
        view = self._ctx.request_view()
        return SimpleNamespace(headers=view["headers"], domain_name=view["domainName"],
                               domainName=view["domainName"])

    @property
    def stash(self) -> dict[str, Any]:
        return self._ctx.stash

    @property
    def prev(self) -> SimpleNamespace:
        return SimpleNamespace(result=self._ctx.prev_result)

    @property
    def result(self) -> Any:
        return self._ctx.result

    @result.setter
    def result(self, value: Any) -> None:
        self._ctx.result = value

    @property
    def error(self) -> dict[str, Any] | None:
        """The data source's error as `{"message", "type"[, "data"]}`, or None."""
        return self._ctx.error

    @property
    def out_errors(self) -> list[dict[str, Any]]:
        """The errors `util.append_error` recorded so far."""
        return self._ctx.out_errors

    outErrors = out_errors  # noqa: N815

    def __repr__(self) -> str:
        return f"Context({self._ctx.where}, arguments={self.arguments!r})"
