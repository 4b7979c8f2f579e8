"""The runtime interface: compile mapping code once per app version, run request/response per call."""

from __future__ import annotations

from typing import Any, Protocol

from gqlsync.app.model import CodeFile
from gqlsync.runtimes.context import ResolverContext


class EarlyReturn(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Mapping code returned before the data source (`#return`, `runtime.earlyReturn`)."""

    def __init__(self, value: Any) -> None:
        super().__init__("early return")
        self.value = value


class Compiled(Protocol):
    """Mapping code ready to run: `request` builds the data-source document (or, in a pipeline's
    before step, any value for the first function's `prev.result`); `response` shapes the result.

    `request` raises EarlyReturn to skip the data source; both raise ResolverError for
    $util.error / $util.unauthorized. `has_request`/`has_response` are False where the code omits
    that half (direct Lambda resolvers).
    """

    has_request: bool
    has_response: bool

    def request(self, ctx: ResolverContext) -> Any: ...

    def response(self, ctx: ResolverContext) -> Any: ...


class Runtime(Protocol):
    """A resolver language. `prepare` raises AppError (file, line, reason) on code that cannot compile."""

    name: str

    def prepare(self, *, request: CodeFile | None, response: CodeFile | None,
                code: CodeFile | None) -> Compiled: ...


def get_runtime(name: str) -> Runtime:
    if name == "VTL":
        from gqlsync.runtimes.vtl import VtlRuntime

        return VtlRuntime()
    raise KeyError(f"runtime {name} is not available in this gqlsync build")
