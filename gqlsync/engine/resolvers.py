"""Unit and pipeline resolvers: mapping code and data sources orchestrated per field, AppSync's way."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from gqlsync.datasources import DataSource
from gqlsync.errors import DataSourceError, GqlsyncError, ResolverError
from gqlsync.observe import Metrics
from gqlsync.runtimes import Compiled, EarlyReturn, InfoView, RequestScope, ResolverContext

#: Template version whose data-source errors are raised without running the response template.
RAISING_VERSION = "2017-02-28"


@dataclass
class Invoker:
    """Calls a data source and records its latency and errors."""

    app: str
    data_source: DataSource
    metrics: Metrics

    async def __call__(self, request: dict[str, Any]) -> Any:
        ds = self.data_source
        start = time.perf_counter()
        try:
            return await ds.invoke(request)
        except GqlsyncError as exc:
            self.metrics.datasource_errors.labels(self.app, ds.name, ds.type, exc.error_type).inc()
            raise
        finally:
            self.metrics.datasource_latency.labels(self.app, ds.name, ds.type).observe(time.perf_counter() - start)


def _direct_lambda_payload(ctx: ResolverContext) -> dict[str, Any]:
    return {"operation": "Invoke", "payload": {
        "arguments": ctx.arguments, "identity": ctx.identity, "source": ctx.source,
        "request": ctx.request_view(), "prev": {"result": ctx.prev_result},
        "info": ctx.info.as_dict(), "stash": ctx.stash}}


@dataclass
class Step:
    """Mapping code bound to a data source: a unit resolver, or one function of a pipeline."""

    name: str
    code: Compiled
    invoke: Invoker

    async def run(self, ctx: ResolverContext, *, raise_on_error: bool) -> Any:
        """Request code -> data source -> response code. Raises EarlyReturn from the request code."""
        if self.code.has_request:
            request = self.code.request(ctx)
            if not isinstance(request, dict):
                raise ResolverError(f"The request mapping code of {self.name} must produce a JSON object for "
                                    f"its data source, got {type(request).__name__}.", "MappingTemplate")
        else:
            request = _direct_lambda_payload(ctx)
        try:
            ctx.result = await self.invoke(request)
        except DataSourceError as exc:
            if raise_on_error and request.get("version", RAISING_VERSION) == RAISING_VERSION:
                raise
            ctx.error = {"message": exc.message, "type": exc.error_type}
            if exc.data is not None:
                ctx.error["data"] = exc.data  # e.g. the current item after a failed condition
            ctx.result = exc.result
            if not self.code.has_response:
                raise
        if not self.code.has_response:
            return ctx.result
        return self.code.response(ctx)


class FieldResolver:
    """The graphql-core resolver of one Type.field: UNIT (one step) or PIPELINE (before, steps, after)."""

    def __init__(self, coordinate: str, *, unit: Step | None = None, before_after: Compiled | None = None,
                 steps: tuple[Step, ...] = (), max_calls: int = 10_000) -> None:
        self.coordinate = coordinate
        self.unit = unit
        self.before_after = before_after
        self.steps = steps
        self.max_calls = max_calls

    def _context(self, scope: RequestScope, source: Any, info: GraphQLResolveInfo,
                 args: dict[str, Any]) -> ResolverContext:
        scope.resolver_calls += 1
        if scope.resolver_calls > self.max_calls:
            raise ResolverError(f"The request exceeded the limit of {self.max_calls} resolver executions.",
                                "ResolverExecutionLimitReached")
        return ResolverContext(scope=scope, arguments=args, source=source, info=InfoView(info), stash={},
                               where=self.coordinate, path=info.path.as_list())

    async def __call__(self, source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        ctx = self._context(info.context, source, info, args)
        if self.unit is not None:
            try:
                return await self.unit.run(ctx, raise_on_error=True)
            except EarlyReturn as ret:
                return ret.value
        return await self._pipeline(ctx)

    async def _pipeline(self, ctx: ResolverContext) -> Any:
        code = self.before_after
        prev: Any = None
        if code is not None and code.has_request:
            try:
                prev = code.request(ctx)
            except EarlyReturn as ret:
                return ret.value
        for step in self.steps:
            fctx = ResolverContext(scope=ctx.scope, arguments=ctx.arguments, source=ctx.source, info=ctx.info,
                                   stash=ctx.stash, prev_result=prev, where=f"{self.coordinate}/{step.name}",
                                   path=ctx.path, out_errors=ctx.out_errors)
            try:
                prev = await step.run(fctx, raise_on_error=False)
            except EarlyReturn as ret:
                prev = ret.value
        ctx.prev_result = prev
        if code is not None and code.has_response:
            return code.response(ctx)
        return prev
