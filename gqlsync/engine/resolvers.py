"""Unit and pipeline resolvers: mapping code and data sources orchestrated per field, AppSync's way."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLResolveInfo

from gqlsync.app.model import FunctionConfig, ResolverConfig
from gqlsync.datasources import Call, DataSource
from gqlsync.datasources.batching import BatchLoader
from gqlsync.datasources.limits import Limiter
from gqlsync.engine.caching import MISS, FieldCache
from gqlsync.errors import DataSourceError, GqlsyncError, ResolverError
from gqlsync.observe import Metrics
from gqlsync.runtimes import (
    Compiled,
    DataSourceDirectory,
    DataSourceInfo,
    EarlyReturn,
    InfoView,
    RequestScope,
    ResolverContext,
)

#: AppSync's batch size for BatchInvoke requests of a resolver that sets no maxBatchSize.
DEFAULT_BATCH_SIZE = 5
#: The keys of a batched result element that reports its item's error (AppSync's `data, errorMessage, errorType`).
_ITEM_ERROR_KEYS = frozenset({"data", "errorMessage", "errorType"})


@dataclass
class Invoker:
    """The one path from mapping code to a data source: bounded per request, metered, with the call context.

    On a data source that takes BatchInvoke, a step's BatchInvoke request (or, for a step without request code,
    its direct Invoke when the resolver sets maxBatchSize) goes through the request's batch loader of this step:
    the payloads of all list items are sent maxBatchSize at a time and each step gets its element back.
    """

    app: str
    data_source: DataSource
    metrics: Metrics
    config: ResolverConfig | FunctionConfig | None
    max_calls: int = 10_000
    #: Every data source of the app by name: native code may call any of them (`BoundCall.to`).
    peers: Mapping[str, DataSource] = field(default_factory=dict)
    #: The step has no request code (a direct Lambda resolver): its Invoke batches when maxBatchSize > 0.
    direct: bool = False
    #: The app version's limiters by data-source name (`limits:`, `enabled: false`); a source without one
    #: is called directly.
    limiters: Mapping[str, Limiter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._peer_invokers: dict[str, Invoker] = {}
        ds = self.data_source
        self.limiter = self.limiters.get(ds.name)
        self.meter = self.metrics.datasource(self.app, ds.name, ds.type)
        self.info = DataSourceInfo(ds.name, ds.type, getattr(ds, "table", None))
        size = getattr(self.config, "max_batch_size", None)
        self.batches = bool(getattr(ds, "batch_invoke", False))
        self.batch_size = size or DEFAULT_BATCH_SIZE
        self.batch_direct = self.batches and self.direct and bool(size)

    def call_for(self, ctx: ResolverContext) -> Call:
        return Call(ctx.where, self.config, ctx.scope, ctx.arguments)

    def bind(self, ctx: ResolverContext) -> BoundCall:
        """The data-source call one resolver step may make (any number of times, within the request's bound)."""
        return BoundCall(self, self.call_for(ctx))

    def peer(self, name: str) -> Invoker:
        """The same path (this step's config, metrics, bound) to another data source of the app; KeyError if none."""
        if name == self.data_source.name:
            return self
        invoker = self._peer_invokers.get(name)
        if invoker is None:
            if name not in self.peers:
                raise KeyError(name)
            invoker = Invoker(self.app, self.peers[name], self.metrics, self.config, self.max_calls, self.peers,
                              limiters=self.limiters)
            self._peer_invokers[name] = invoker
        return invoker

    def loader(self, call: Call) -> BatchLoader:
        """This step's batch loader in the call's request."""
        loaders = call.scope.batches
        loader: BatchLoader | None = loaders.get(id(self))
        if loader is None:
            loader = loaders[id(self)] = BatchLoader(self._send_batch, self.batch_size)
        return loader

    async def __call__(self, request: dict[str, Any], call: Call) -> Any:
        batch = call.batch
        if batch is not None:
            expected, call.expected = call.expected, False
            op = request.get("operation", "Invoke")
            if op == "BatchInvoke" or (self.batch_direct and op == "Invoke"):
                element = await batch.load((request, call), expected=expected)
                return self._item(element) if self.direct else element
            if expected:
                batch.release()
        return await self._invoke(request, call)

    async def _send_batch(self, items: list[tuple[dict[str, Any], Call]]) -> list[Any]:
        """One BatchInvoke of the items' payloads, made as the first item's step would make it."""
        first, call = items[0]
        request = {**first, "operation": "BatchInvoke", "payload": [r.get("payload") for r, _ in items]}
        out: list[Any] = await self._invoke(request, call)
        return out

    @staticmethod
    def _item(element: Any) -> Any:
        """A direct resolver's batched element: its value, or the item's error when it reports one."""
        if isinstance(element, dict) and element.get("errorMessage") is not None and element.keys() <= _ITEM_ERROR_KEYS:
            raise DataSourceError(str(element["errorMessage"]), str(element.get("errorType") or "Lambda:Unhandled"),
                                  data=element.get("data"))
        return element

    async def _invoke(self, request: dict[str, Any], call: Call) -> Any:
        scope = call.scope
        scope.datasource_calls += 1
        if scope.datasource_calls > self.max_calls:
            raise ResolverError(f"The request exceeded the limit of {self.max_calls} data source calls.",
                                "ResolverExecutionLimitReached")
        try:
            if self.limiter is None:
                return await self._attempt(request, call)
            return await self.limiter.call(self._attempt, request, call, self.meter)  # gqlsync.datasources.limits
        except GqlsyncError as exc:
            self.meter.error(exc.error_type)
            raise

    async def _attempt(self, request: dict[str, Any], call: Call) -> Any:
        """One request sent to the data source (a retried call makes several)."""
        meter = self.meter
        meter.invocations.inc()
        meter.in_flight.inc()
        start = time.perf_counter()
        try:
            return await self.data_source.invoke(request, call)
        finally:
            meter.in_flight.dec()
            meter.latency.observe(time.perf_counter() - start)


class BoundCall:
    """One step's data-source call (a `DataSourceCall`), and its way to the app's other data sources by name."""

    __slots__ = ("call", "invoker")

    def __init__(self, invoker: Invoker, call: Call) -> None:
        self.invoker = invoker
        self.call = call

    async def __call__(self, request: dict[str, Any]) -> Any:
        return await self.invoker(request, self.call)

    @property
    def info(self) -> DataSourceInfo:
        return self.invoker.info

    def to(self, name: str) -> DataSourceDirectory:
        c = self.call  # a call of its own: the step's batch loader belongs to the step's own data source
        return BoundCall(self.invoker.peer(name), Call(c.where, c.config, c.scope, c.arguments))

    def names(self) -> list[str]:
        return sorted(self.invoker.peers) or [self.invoker.data_source.name]


@dataclass
class Step:
    """Mapping code bound to a data source: a unit resolver, or one function of a pipeline."""

    name: str
    code: Compiled
    invoker: Invoker

    async def run(self, ctx: ResolverContext, *, raise_on_error: bool) -> Any:
        """One step as its runtime runs it (request -> data source -> response for templates).

        On a data source that batches, the step's batch loader counts it as one that may still load until it
        loads or ends, so the batch waits for every list item's step."""
        invoker = self.invoker
        call = invoker.call_for(ctx)
        bound = BoundCall(invoker, call)
        if not invoker.batches:
            return await self.code.run(ctx, bound, raise_on_error=raise_on_error)
        call.batch = invoker.loader(call)
        call.batch.expect()
        call.expected = True
        try:
            return await self.code.run(ctx, bound, raise_on_error=raise_on_error)
        finally:
            if call.expected:
                call.expected = False
                call.batch.release()


class FieldResolver:
    """The graphql-core resolver of one Type.field: UNIT (one step) or PIPELINE (before, steps, after)."""

    def __init__(self, coordinate: str, *, unit: Step | None = None, before_after: Compiled | None = None,
                 steps: tuple[Step, ...] = (), max_calls: int = 10_000, cache: FieldCache | None = None) -> None:
        self.coordinate = coordinate
        self.unit = unit
        self.before_after = before_after
        self.steps = steps
        self.max_calls = max_calls
        self.cache = cache

    def _context(self, scope: RequestScope, source: Any, info: GraphQLResolveInfo,
                 args: dict[str, Any]) -> ResolverContext:
        scope.resolver_calls += 1
        if scope.resolver_calls > self.max_calls:
            raise ResolverError(f"The request exceeded the limit of {self.max_calls} resolver executions.",
                                "ResolverExecutionLimitReached")
        return ResolverContext(scope=scope, arguments=args, source=source, info=InfoView(info), stash={},
                               where=self.coordinate, path=info.path.as_list())

    async def __call__(self, source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        if self.cache is not None:
            return await self._cached(source, info, args)
        return await self._resolve(source, info, args)

    async def _cached(self, source: Any, info: GraphQLResolveInfo, args: dict[str, Any]) -> Any:
        """The cached result for these caching keys, else the resolver's (kept when it had no errors)."""
        assert self.cache is not None
        scope: RequestScope = info.context
        key = self.cache.key(args, scope.identity, source)
        value = await self.cache.get(key)
        if value is not MISS:
            return value
        errors = len(scope.appended_errors)
        value = await self._resolve(source, info, args)
        if len(scope.appended_errors) == errors:
            await self.cache.set(key, value)
        return value

    async def _resolve(self, source: Any, info: GraphQLResolveInfo, args: dict[str, Any]) -> Any:
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
                prev = await code.request(ctx)
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
            return await code.response(ctx)
        return prev
