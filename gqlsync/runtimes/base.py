"""The runtime interface: compile mapping code once per app version, run it per call (async), registry of runtimes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from gqlsync.app.model import CodeFile
from gqlsync.errors import DataSourceError, ResolverError
from gqlsync.registry import Registry
from gqlsync.runtimes.context import ResolverContext

#: Template version whose data-source errors are raised without running the response code.
RAISING_VERSION = "2017-02-28"

#: How mapping code reaches its data source: the engine's metered, bounded path (a runtime never sees the source).
DataSourceCall = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class DataSourceInfo:
    """What code calling a data source by name may know of it: its name, AppSync type and (DynamoDB) table."""

    name: str
    type: str
    table: str | None = None


@runtime_checkable
class DataSourceDirectory(Protocol):
    """The `data_source` the engine hands `Compiled.run`, seen by a runtime whose code calls data sources by name.

    Calling it sends a document to the step's own data source; `to(name)` is the same metered, bounded path to
    another data source of the app (KeyError for a name the app does not have); `info` describes the one it
    calls. Template runtimes only ever call it.
    """

    @property
    def info(self) -> DataSourceInfo: ...

    async def __call__(self, request: dict[str, Any]) -> Any: ...

    def to(self, name: str) -> DataSourceDirectory: ...

    def names(self) -> list[str]: ...


class EarlyReturn(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Mapping code returned before the data source (`#return`, `runtime.earlyReturn`)."""

    def __init__(self, value: Any) -> None:
        super().__init__("early return")
        self.value = value


class Compiled(Protocol):
    """Mapping code ready to run.

    `request` builds the data-source document (or, in a pipeline's before step, any value for the first
    function's `prev.result`); `response` shapes the result. `request` raises EarlyReturn to skip the data
    source; both raise ResolverError for $util.error / $util.unauthorized. `has_request`/`has_response` are
    False where the code omits that half (direct Lambda resolvers).

    `run` is one resolver step: AppSync's request -> data source -> response for template runtimes
    (`run_step`), while a runtime whose code calls data sources itself (native Python) implements its own,
    calling `data_source` as often as it needs.
    """

    has_request: bool
    has_response: bool

    async def request(self, ctx: ResolverContext) -> Any: ...

    async def response(self, ctx: ResolverContext) -> Any: ...

    async def run(self, ctx: ResolverContext, data_source: DataSourceCall, *, raise_on_error: bool) -> Any: ...


class CodeShapeError(ValueError):
    """The code files a resolver names do not fit its runtime (e.g. VTL without a response template)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class Runtime(Protocol):
    """A resolver language.

    `prepare` raises CodeShapeError when the files given do not fit the language, and AppError (file, line,
    reason) on code that cannot compile. `direct` says the data source takes the resolver's context where
    code is omitted (AppSync's direct Lambda resolvers), so the runtime may accept missing halves.
    """

    name: str

    def prepare(self, *, request: CodeFile | None, response: CodeFile | None,
                code: CodeFile | None, direct: bool = False) -> Compiled: ...


#: Runtimes by AppSync's name (VTL, APPSYNC_JS, ...); each runtime package registers itself.
RUNTIMES: Registry[Callable[[], Runtime]] = Registry("runtime", "gqlsync.runtimes")


def _direct_lambda_payload(ctx: ResolverContext) -> dict[str, Any]:
    return {"operation": "Invoke", "payload": {
        "arguments": ctx.arguments, "identity": ctx.identity, "source": ctx.source,
        "request": ctx.request_view(), "prev": {"result": ctx.prev_result},
        "info": ctx.info.as_dict(), "stash": ctx.stash}}


async def run_step(code: Compiled, ctx: ResolverContext, data_source: DataSourceCall, *,
                   raise_on_error: bool) -> Any:
    """AppSync's template step: request code -> data source -> response code. Raises EarlyReturn from the request.

    With `raise_on_error` (unit resolvers) a data-source error of a 2017-02-28 document is raised at once;
    otherwise the response code sees it as `ctx.error` and decides. Template runtimes use it as their
    `Compiled.run` (`run = run_step` in the class body).
    """
    if code.has_request:
        request = await code.request(ctx)
        if not isinstance(request, dict):
            raise ResolverError(f"The request mapping code of {ctx.where} must produce a JSON object for "
                                f"its data source, got {type(request).__name__}.", "MappingTemplate")
    else:
        request = _direct_lambda_payload(ctx)
    try:
        ctx.result = await data_source(request)
    except DataSourceError as exc:
        if raise_on_error and request.get("version", RAISING_VERSION) == RAISING_VERSION:
            raise
        ctx.error = {"message": exc.message, "type": exc.error_type}
        if exc.data is not None:
            ctx.error["data"] = exc.data  # e.g. the current item after a failed condition
        ctx.result = exc.result
        if not code.has_response:
            raise
    if not code.has_response:
        return ctx.result
    return await code.response(ctx)


def get_runtime(name: str) -> Runtime:
    """Raises registry.UnknownKind (a KeyError) for a runtime this gqlsync does not have."""
    return RUNTIMES.get(name)()
