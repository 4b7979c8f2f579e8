"""The APPSYNC_JS runtime: resolver ES modules checked and compiled once per app version, run on pooled QuickJS.

Engine choice (bench/js_engines.py, this machine): quickjs-ng 0.17 against mini-racer 0.14 (V8) for a getEvent-like
request + response round trip with the context reused — quickjs-ng 22 µs, mini-racer 198 µs; a new context
0.2 ms against 27 ms; ~180 KB against ~630 KB of memory per context with the module loaded; an 8 MB wheel against
82 MB. What decides it, beyond the figures: QuickJS calls Python *synchronously* (`add_callable`), so `util.time`,
`util.dynamodb`, `util.transform`, the ids and the DynamoDB builders are gqlsync.util's Python code, shared with VTL,
rather than a second implementation in JavaScript; mini-racer's Python callbacks are async (they return promises),
which APPSYNC_JS code cannot await. QuickJS also stops a runaway script (`set_time_limit`) and releases the GIL
while it runs. Its price: a context belongs to the thread that made it, so handlers of modules that may loop run on
a small pool of worker threads that each own one context (gqlsync.runtimes.js.engine); a module compile.js finds
bounded (no loops, callbacks, recursion, patterns or number-sized work) runs on the calling thread's own context,
the event loop's, which bench/runtimes.py measured at 0.57 -> 0.99 of VTL's getEvent throughput.

Modules are parsed with acorn (vendored, MIT, run inside QuickJS) and checked against AppSync's documented
runtime restrictions (no try/catch/throw, while, do-while, C-style for, continue, labels, ++/--/~, `in`, classes,
async/await, generators, promises; imports only from `@aws-appsync/utils` and `@aws-appsync/utils/dynamodb`),
each problem reported with file, line and column when the app version is built.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gqlsync.app.errors import AppError, Problem
from gqlsync.app.model import CodeFile
from gqlsync.runtimes.base import RUNTIMES, CodeShapeError, EarlyReturn, run_step
from gqlsync.runtimes.context import ResolverContext
from gqlsync.runtimes.js.engine import POOL, Module, compile_module, run_half

__all__ = ["JsCompiled", "JsRuntime"]

#: The `version` a request document without one gets (data-source errors reach the response handler as ctx.error).
DEFAULT_DOCUMENT_VERSION = "2018-05-29"


def _payload(ctx: ResolverContext) -> dict[str, Any]:
    info = ctx.info
    return {"arguments": ctx.arguments, "source": ctx.source, "identity": ctx.identity,
            "request": ctx.request_view(), "info": {"fieldName": info.fieldName, "parentTypeName": info.parentTypeName},
            "stash": ctx.stash, "prev": ctx.prev_result, "result": ctx.result, "error": ctx.error,
            "outErrors": ctx.out_errors}


class JsCompiled:
    """One resolver or function module exporting `request(ctx)` and `response(ctx)`."""

    has_request = True
    has_response = True

    def __init__(self, module: Module) -> None:
        self.module = module

    async def _run(self, half: str, ctx: ResolverContext) -> tuple[str, Any]:
        payload = _payload(ctx)
        if self.module.bounded:  # cheaper on the loop than the two thread hops (bench/runtimes.py)
            return run_half(self.module, half, ctx, payload)
        return await asyncio.get_running_loop().run_in_executor(POOL, run_half, self.module, half, ctx, payload)

    async def request(self, ctx: ResolverContext) -> Any:
        kind, value = await self._run("request", ctx)
        if kind == "early":
            raise EarlyReturn(value)
        if isinstance(value, dict) and "version" not in value:
            value = {"version": DEFAULT_DOCUMENT_VERSION, **value}
        return value

    async def response(self, ctx: ResolverContext) -> Any:
        kind, value = await self._run("response", ctx)
        if kind == "early":
            raise EarlyReturn(value)
        return value

    run = run_step  # AppSync's request -> data source -> response


def _where(code: CodeFile, line: int) -> tuple[str, int]:
    """File and line of a problem: the code file's own, or the manifest's for inline code."""
    if code.inline and code.manifest_line is not None:
        return code.name, code.manifest_line + line
    return code.name, line


@RUNTIMES.register("APPSYNC_JS")
class JsRuntime:
    """AppSync's JavaScript runtime (APPSYNC_JS 1.0.0) on QuickJS."""

    name = "APPSYNC_JS"

    def prepare(self, *, request: CodeFile | None, response: CodeFile | None,
                code: CodeFile | None = None, direct: bool = False) -> JsCompiled:
        shape = []
        if request is not None or response is not None:
            shape.append("APPSYNC_JS takes one `code:` module exporting request and response, not request/response "
                         "templates")
        if code is None:
            shape.append("APPSYNC_JS needs a `code:` module (a file, or `code: {inline: ...}`)")
        if shape:
            raise CodeShapeError(shape)
        assert code is not None
        result = compile_module(code.text)
        problems = [Problem(*_where(code, line), f"APPSYNC_JS: {reason}", column)
                    for line, column, reason in result.problems]
        if not problems:
            missing = [h for h in ("request", "response") if h not in result.exports]
            if missing:
                problems.append(Problem(*_where(code, 1), "APPSYNC_JS: the module must export "
                                        + " and ".join(f"a `{h}` function" for h in missing)))
        if problems:
            raise AppError(problems)
        return JsCompiled(Module(code.path.name if not code.inline else f"{code.name} (inline code)",
                                 result.script, result.bounded))
