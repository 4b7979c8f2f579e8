"""The VTL runtime: Velocity mapping templates compiled once per app version, rendered per call off the event loop."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gqlsync.app.errors import AppError, Problem
from gqlsync.app.model import CodeFile
from gqlsync.errors import GqlsyncError, ResolverError
from gqlsync.runtimes.base import RUNTIMES, CodeShapeError, EarlyReturn, run_step
from gqlsync.runtimes.context import ResolverContext
from gqlsync.runtimes.vtl.extensions import Extensions
from gqlsync.runtimes.vtl.util import Util
from gqlsync.runtimes.vtl.velocity import (
    TemplateExecutionError,
    TemplateSyntaxError,
    TemplateTimeout,
    VelocityTemplate,
)

#: Wall-clock time one template evaluation may take before it is stopped (checked at each loop iteration).
TEMPLATE_BUDGET_SECONDS = 2.0

#: Directives that make a template's running time more than linear in its text and data: nested
#: #foreach (1000 iterations each) and macros (recursion). Templates using them render on worker
#: threads so that a long one never stalls the event loop; the others are cheaper inline than the
#: thread hop (see bench/runtime.py).
_UNBOUNDED = re.compile(r"#\{?(foreach|macro|define)\b")

#: Worker threads for templates that loop; shared by every app in the process.
_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gqlsync-vtl")

__all__ = ["VtlCompiled", "VtlRuntime", "render_namespace"]


def render_namespace(ctx: ResolverContext) -> dict[str, Any]:
    """The names a template sees: `$ctx`/`$context` and `$util`/`$utils`."""
    c = {
        "arguments": ctx.arguments,
        "args": ctx.arguments,
        "source": ctx.source,
        "identity": ctx.identity,
        "request": ctx.request_view(),
        "info": ctx.info,
        "stash": ctx.stash,
        "prev": {"result": ctx.prev_result},
        "result": ctx.result,
        "error": ctx.error,
        "outErrors": ctx.out_errors,
    }
    util = Util(ctx)
    return {"ctx": c, "context": c, "util": util, "utils": util, "extensions": Extensions(ctx)}


def _line_of(template: VelocityTemplate, exc: TemplateExecutionError) -> int:
    text = exc.element.full_text() if getattr(exc, "element", None) is not None else ""
    return text.count("\n", 0, getattr(exc, "start", 0)) + 1


class _Template:
    def __init__(self, code: CodeFile) -> None:
        self.code = code
        self.template = VelocityTemplate(code.text, code.name)
        self.off_loop = _UNBOUNDED.search(code.text) is not None

    async def render(self, ctx: ResolverContext) -> tuple[Any, bool]:
        """Render on the loop (loop-free templates) or on a worker thread (templates that loop)."""
        if not self.off_loop:
            return self.run(ctx)
        return await asyncio.get_running_loop().run_in_executor(_WORKERS, self.run, ctx)

    def run(self, ctx: ResolverContext) -> tuple[Any, bool]:
        """(parsed output, returned-early) for one invocation."""
        try:
            text, value, returned = self.template.render(render_namespace(ctx), TEMPLATE_BUDGET_SECONDS)
        except TemplateTimeout:
            raise ResolverError(f"Mapping template {self.code.path.name} ran longer than "
                                f"{TEMPLATE_BUDGET_SECONDS:g} s and was stopped.", "MappingTemplateTimeout") from None
        except TemplateExecutionError as exc:
            cause = exc.__cause__
            if isinstance(cause, GqlsyncError):
                raise cause from None
            line = _line_of(self.template, exc)
            detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
            raise ResolverError(f"Error in mapping template {self.code.path.name} line {line}: {detail}",
                                "MappingTemplate") from None
        if returned:
            return value, True
        return self.parse(text), False

    def parse(self, text: str) -> Any:
        stripped = text.strip()
        if not stripped:
            return None
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            snippet = stripped[max(0, exc.pos - 30): exc.pos + 30].replace("\n", " ")
            raise ResolverError(
                f"Unable to parse the JSON document rendered by {self.code.path.name}: {exc.msg} "
                f"(line {exc.lineno} column {exc.colno}, near '{snippet}')", "MappingTemplate") from None


class VtlCompiled:
    """A request/response template pair."""

    def __init__(self, request: _Template | None, response: _Template | None) -> None:
        self._request = request
        self._response = response
        self.has_request = self._request is not None
        self.has_response = self._response is not None

    async def request(self, ctx: ResolverContext) -> Any:
        template = self._request
        assert template is not None
        value, returned = await template.render(ctx) if template.off_loop else template.run(ctx)
        if returned:
            raise EarlyReturn(value)
        return value

    async def response(self, ctx: ResolverContext) -> Any:
        template = self._response
        assert template is not None
        value, _ = await template.render(ctx) if template.off_loop else template.run(ctx)
        return value

    run = run_step  # AppSync's request -> data source -> response


@RUNTIMES.register("VTL")
class VtlRuntime:
    """Apache Velocity as AppSync runs it (airspeed-ext with gqlsync's Java-compatibility layer)."""

    name = "VTL"

    def prepare(self, *, request: CodeFile | None, response: CodeFile | None,
                code: CodeFile | None = None, direct: bool = False) -> VtlCompiled:
        shape = ["`code:` is for APPSYNC_JS; VTL takes request/response"] if code is not None else []
        if not direct:  # only a data source that takes the context itself may go without templates
            shape += [f"VTL needs a `{k}:` mapping template" for k, f in (("request", request), ("response", response))
                      if f is None]
        if shape:
            raise CodeShapeError(shape)
        problems = []
        templates: list[_Template | None] = []
        for code_file in (request, response):
            if code_file is None:
                templates.append(None)
                continue
            try:
                templates.append(_Template(code_file))
            except TemplateSyntaxError as exc:
                problems.append(Problem(code_file.name, exc.line, f"VTL syntax error: {exc}", exc.column))
        if problems:
            raise AppError(problems)
        return VtlCompiled(templates[0], templates[1])
