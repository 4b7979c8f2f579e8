"""An API version: one app's schema, documents cache, data sources and bound resolvers, built once, never mutated."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
    default_field_resolver,
)
from graphql import execute as gql_execute
from graphql.execution.values import get_variable_values

from gqlsync.app.errors import AppError, Problem
from gqlsync.app.model import App, CodeFile, FunctionConfig, ResolverConfig
from gqlsync.datasources import ClientProvider, DataSource, DataSourceEnv, build_data_source
from gqlsync.datasources.limits import build_limiters
from gqlsync.engine.caching import ApiCache, Backend, FieldCache, MemoryBackend, app_digest
from gqlsync.engine.documents import DocumentCache
from gqlsync.engine.errors import appsync_error, format_error
from gqlsync.engine.execution import FastExecutionContext
from gqlsync.engine.guards import FieldGuard, GuardedResolver
from gqlsync.engine.resolvers import FieldResolver, Invoker, Step
from gqlsync.engine.schema import build_schema
from gqlsync.engine.subscriptions import (
    Publisher,
    SubscriptionPlan,
    aws_subscribe_map,
    build_plan,
    mutation_events,
)
from gqlsync.observe import Metrics
from gqlsync.registry import UnknownKind
from gqlsync.runtimes import CodeShapeError, Compiled, RequestScope, get_runtime
from gqlsync.typed_config import ConfigError

DEFAULT_LIMITS: dict[str, Any] = {
    "maxResolverExecutions": 10_000,
    "maxDepth": None,
    "requestTimeoutSeconds": 30.0,
    "maxBodyBytes": 1024 * 1024,
    "documentCacheSize": 1024,
}
_INDEX = re.compile(r"\.\d+")
log = logging.getLogger("gqlsync.engine")


@dataclass
class Outcome:
    """What one execution produced: the response body and facts for logs and metrics."""

    body: dict[str, Any]
    operation_name: str | None = None
    operation_type: str | None = None
    error_types: list[str] = field(default_factory=list)


class ApiVersion:
    """Serves one version of one API. Built by `build_api` with every collaborator; nothing is set afterwards.

    Requests and subscriptions keep the version they started on, so a newer version can replace it in the
    server's registry at any moment (`gqlsync.apis.ApiRegistry`).
    """

    def __init__(self, *, api_id: str, version: str, app: App, schema: GraphQLSchema,
                 data_sources: dict[str, DataSource], limits: dict[str, Any], metrics: Metrics,
                 guard: FieldGuard | None = None, publisher: Publisher | None = None,
                 cache: ApiCache | None = None) -> None:
        self.api_id = api_id
        #: the server-side cache (None: the app has no `caching:`)
        self.cache = cache
        self.version = version
        self.app = app
        self.schema = schema
        self.data_sources = data_sources
        self.limits = limits
        self.metrics = metrics
        self.guard = guard
        self.publisher = publisher
        self.documents = DocumentCache(schema, int(limits["documentCacheSize"]), limits["maxDepth"])
        self.listeners = aws_subscribe_map(schema)

    async def start(self) -> None:
        """Start every data source (connections, endpoints known only once the server runs)."""
        for ds in self.data_sources.values():
            await ds.start()

    async def close(self) -> None:
        for ds in self.data_sources.values():
            try:
                await ds.close()
            except Exception:
                log.exception("closing a data source failed", extra={"data_source": ds.name})

    async def execute(self, query: Any, variables: Any, operation_name: Any, scope: RequestScope) -> Outcome:
        if not isinstance(query, str) or not query.strip():
            return _fail("The request has no GraphQL query.", "MalformedHttpRequestException")
        if variables is not None and not isinstance(variables, dict):
            return _fail("Variables must be a JSON object.", "MalformedHttpRequestException")
        if operation_name is not None and not isinstance(operation_name, str):
            return _fail("operationName must be a string.", "MalformedHttpRequestException")
        prepared = self.documents.get(query)
        if prepared.document is None:
            return Outcome({"data": None, "errors": list(prepared.errors)},
                           operation_name, None, [e["errorType"] for e in prepared.errors])
        op = prepared.operation(operation_name)
        op_type = op.operation.value if op is not None else None
        if op is not None and op.operation == OperationType.SUBSCRIPTION:
            return _fail("Subscriptions are served on the websocket endpoint /graphql/realtime, not over HTTP.",
                         "UnsupportedOperation", operation_name, op_type)
        name = operation_name or (op.name.value if op is not None and op.name is not None else None)
        try:
            result = gql_execute(self.schema, prepared.document, context_value=scope,
                                 variable_values=variables, operation_name=operation_name,
                                 execution_context_class=FastExecutionContext)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                async with asyncio.timeout(float(self.limits["requestTimeoutSeconds"])):  # no extra task, as wait_for
                    result = await result
        except TimeoutError:
            return _fail(f"Execution timed out after {self.limits['requestTimeoutSeconds']} seconds.",
                         "ExecutionTimeout", name, op_type)
        assert isinstance(result, ExecutionResult)
        if scope.cache_evictions and self.cache is not None:
            try:
                for type_name, field_name, pairs in scope.cache_evictions:
                    await self.cache.evict(type_name, field_name, pairs)
            except Exception:
                log.exception("evicting from the API cache failed", extra={"request_id": scope.request_id})
                return _fail("The cache entries the resolvers evicted could not be removed.", "CacheEvictionFailed",
                             name, op_type)
        if op is not None and op.operation == OperationType.MUTATION and self.publisher is not None:
            events = mutation_events(op, result.data, self.listeners)
            try:
                if events:
                    await self.publisher.publish(self.api_id, events)
                if scope.invalidations:
                    await self.publisher.invalidate(self.api_id, scope.invalidations)
            except Exception:
                log.exception("publishing mutation results failed", extra={"request_id": scope.request_id})
        return self._outcome(result, scope, name, op_type, prepared.fragments)

    async def subscribe(self, query: Any, variables: Any, operation_name: Any, scope: RequestScope,
                        may_subscribe: Callable[[str], bool] | None = None
                        ) -> tuple[SubscriptionPlan | None, list[dict[str, Any]]]:
        """Validate a subscription, ask `may_subscribe(field)` (the realtime stage's authorization), and run
        the field's resolver (if any) now, at subscribe time.

        Returns (plan, []) or (None, AppSync-shaped errors).
        """
        if not isinstance(query, str) or not query.strip():
            return None, [appsync_error("The subscription has no GraphQL query.", "BadRequestException")]
        if variables is not None and not isinstance(variables, dict):
            return None, [appsync_error("Variables must be a JSON object.", "BadRequestException")]
        prepared = self.documents.get(query)
        if prepared.document is None:
            return None, list(prepared.errors)
        op = prepared.operation(operation_name if isinstance(operation_name, str) else None)
        if op is None:
            return None, [appsync_error("Must provide a valid operation name for a document with several "
                                        "operations.", "ValidationError")]
        if op.operation != OperationType.SUBSCRIPTION:
            return None, [appsync_error("Only subscription operations can be started here.", "UnsupportedOperation")]
        coerced = get_variable_values(self.schema, op.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            return None, [format_error(e) for e in coerced]
        try:
            plan = build_plan(self.schema, op, prepared.fragments, coerced, id(prepared))
        except (ValueError, GraphQLError) as exc:
            return None, [appsync_error(str(exc), "ValidationError")]
        sub_type = self.schema.subscription_type
        assert sub_type is not None
        if may_subscribe is not None and not may_subscribe(plan.field_name):
            return None, [appsync_error(f"Not Authorized to access {plan.field_name} on type Subscription",
                                        "Unauthorized")]
        if sub_type.fields[plan.field_name].resolve is not None:
            result = gql_execute(self.schema, prepared.document, context_value=scope, variable_values=variables,
                                 operation_name=operation_name if isinstance(operation_name, str) else None,
                                 execution_context_class=FastExecutionContext)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                result = await result
            assert isinstance(result, ExecutionResult)
            if result.errors:
                return None, [format_error(e, scope.request_id) for e in result.errors]
        plan.enhanced_filter = scope.subscription_filter
        plan.invalidation_filter = scope.invalidation_filter
        return plan, []

    def _outcome(self, result: ExecutionResult, scope: RequestScope, name: str | None,
                 op_type: str | None, fragments: dict[str, Any]) -> Outcome:
        errors = [format_error(e, scope.request_id, fragments) for e in result.errors or ()]
        for err, path, locations in scope.appended_errors:
            errors.append(appsync_error(err.message, err.error_type, path=path, locations=locations,
                                        data=err.data, error_info=err.error_info))
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = errors
            for e in errors:
                if e.get("path"):
                    where = _INDEX.sub("", ".".join(str(p) for p in e["path"]))
                    self.metrics.field_errors.labels(self.api_id, where, e.get("errorType") or "").inc()
        return Outcome(body, name, op_type, [e.get("errorType") or "" for e in errors])


def _fail(message: str, error_type: str, name: str | None = None, op_type: str | None = None) -> Outcome:
    return Outcome({"data": None, "errors": [appsync_error(message, error_type)]}, name, op_type, [error_type])


def build_api(app: App, clients: ClientProvider, metrics: Metrics | None = None,
              guard_factory: Callable[[GraphQLSchema], FieldGuard] | None = None, *,
              publisher: Publisher | None = None, api_id: str | None = None, version: str = "1",
              cache_backend: Backend | None = None) -> ApiVersion:
    """Compile everything an app needs into a new ApiVersion; raises AppError listing every problem (nothing
    is half-built). The schema is built fresh from the SDL for this version, so binding resolvers to it
    touches no object another version uses."""
    metrics = metrics or Metrics()
    schema = build_schema(app.schema_sdl, str(app.schema_file))
    limits = {**DEFAULT_LIMITS, **app.limits}
    max_calls = int(limits["maxResolverExecutions"])
    cache = (ApiCache(app.caching, cache_backend or MemoryBackend(),
                      f"{api_id or app.name}:{version}:{app_digest(app)}", metrics)
             if app.caching is not None else None)
    query_type = schema.query_type.name if schema.query_type else "Query"

    def field_cache(rc: ResolverConfig) -> FieldCache | None:
        if cache is None:
            return None
        return cache.for_resolver(rc.type_name, rc.field_name, rc.caching, query_type=query_type,
                                  root=rc.type_name in (query_type, "Mutation", "Subscription"))

    problems: list[Problem] = []
    data_sources: dict[str, DataSource] = {}
    env = DataSourceEnv(clients, app.root)
    for name, cfg in app.data_sources.items():
        try:
            data_sources[name] = build_data_source(cfg, env)
        except ConfigError as exc:
            problems.extend(Problem(str(app.manifest), cfg.line_of(key), f"dataSources.{name}.{reason}")
                            for key, reason in exc.problems)
    if problems:
        raise AppError(problems)

    def compile_code(what: str, runtime: str, request: CodeFile | None, response: CodeFile | None,
                     code: CodeFile | None, line: int | None, direct: bool = False) -> Compiled | None:
        try:
            return get_runtime(runtime).prepare(request=request, response=response, code=code, direct=direct)
        except AppError as exc:
            problems.extend(exc.problems)
        except CodeShapeError as exc:
            problems.extend(Problem(str(app.manifest), line, f"{what}: {reason}") for reason in exc.reasons)
        except UnknownKind as exc:
            problems.append(Problem(str(app.manifest), line, f"{what}: {exc}"))
        return None

    limiters = build_limiters(api_id or app.name, app.data_sources, data_sources)

    def invoker(ds_name: str, config: ResolverConfig | FunctionConfig, code: Compiled) -> Invoker:
        return Invoker(app.name, data_sources[ds_name], metrics, config, max_calls, data_sources,
                       direct=not code.has_request, limiters=limiters)

    functions: dict[str, Step] = {}
    for fn in app.functions.values():
        compiled = compile_code(f"function {fn.name}", fn.runtime, fn.request, fn.response, fn.code, fn.line,
                                data_sources[fn.data_source].direct)
        if compiled is not None:
            functions[fn.name] = Step(fn.name, compiled, invoker(fn.data_source, fn, compiled))

    bound: list[tuple[ResolverConfig, FieldResolver]] = []
    for rc in app.resolvers:
        parent = schema.type_map.get(rc.type_name)
        if not isinstance(parent, GraphQLObjectType):
            problems.append(Problem(str(app.manifest), rc.line,
                                    f"resolver {rc.coordinate}: the schema has no object type {rc.type_name}"))
            continue
        if rc.field_name not in parent.fields:
            problems.append(Problem(str(app.manifest), rc.line,
                                    f"resolver {rc.coordinate}: type {rc.type_name} has no field {rc.field_name}"))
            continue
        if rc.kind == "UNIT":
            assert rc.data_source is not None
            compiled = compile_code(f"resolver {rc.coordinate}", rc.runtime, rc.request, rc.response, rc.code,
                                    rc.line, data_sources[rc.data_source].direct)
            if compiled is not None:
                unit = Step(rc.coordinate, compiled, invoker(rc.data_source, rc, compiled))
                bound.append((rc, FieldResolver(rc.coordinate, unit=unit, max_calls=max_calls,
                                                cache=field_cache(rc))))
        else:
            before_after = compile_code(f"resolver {rc.coordinate}", rc.runtime, rc.request, rc.response, rc.code,
                                        rc.line)
            steps = tuple(functions[f] for f in rc.functions if f in functions)
            if len(steps) == len(rc.functions):
                bound.append((rc, FieldResolver(rc.coordinate, before_after=before_after, steps=steps,
                                                max_calls=max_calls, cache=field_cache(rc))))
    if problems:
        raise AppError(problems)
    for rc, resolver in bound:
        parent = schema.type_map[rc.type_name]
        assert isinstance(parent, GraphQLObjectType)
        parent.fields[rc.field_name].resolve = resolver
    guard = guard_factory(schema) if guard_factory is not None else None
    if guard is not None:
        for type_ in schema.type_map.values():
            if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__"):
                for name, f in type_.fields.items():
                    if not guard.unrestricted(type_.name, name):
                        f.resolve = GuardedResolver(f.resolve or default_field_resolver, type_.name, name, guard)
    return ApiVersion(api_id=api_id or app.name, version=version, app=app, schema=schema,
                      data_sources=data_sources, limits=limits, metrics=metrics, guard=guard, publisher=publisher,
                      cache=cache)
