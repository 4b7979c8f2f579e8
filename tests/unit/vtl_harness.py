"""Render a VTL template the way a resolver would, without GraphQL or a data source."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gqlsync.app.model import CodeFile
from gqlsync.runtimes import RequestScope, ResolverContext
from gqlsync.runtimes.vtl import VtlRuntime


class FakeInfo:
    fieldName = "getThing"
    parentTypeName = "Query"
    variables: dict[str, Any] = {}
    selectionSetList = ["id", "name"]
    selectionSetGraphQL = "{\n  id\n  name\n}"

    def locations(self) -> None:
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"fieldName": self.fieldName, "parentTypeName": self.parentTypeName}


def make_ctx(args: dict[str, Any] | None = None, **kw: Any) -> ResolverContext:
    scope = RequestScope(request_id="r1", identity=kw.pop("identity", None), headers=kw.pop("headers", {}))
    return ResolverContext(scope=scope, arguments=args or {}, source=kw.pop("source", None), info=FakeInfo(),  # type: ignore[arg-type]
                           stash=kw.pop("stash", {}), **kw)


def render(template: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
    """The response-template result (parsed JSON, or the #return value)."""
    code = CodeFile(Path("t.vtl"), template)
    compiled = VtlRuntime().prepare(request=None, response=code, direct=True)
    return respond(compiled, make_ctx(args, **kw))


def respond(compiled: Any, ctx: ResolverContext) -> Any:
    """Run a compiled response template to completion (runtimes are async)."""
    return asyncio.run(compiled.response(ctx))
