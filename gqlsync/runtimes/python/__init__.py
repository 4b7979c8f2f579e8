"""The PYTHON runtime: resolver modules in the app folder, loaded once per app version, run on the event loop."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from gqlsync.app.errors import AppError, Problem
from gqlsync.app.model import CodeFile
from gqlsync.errors import DataSourceError, GqlsyncError, ResolverError, UnauthorizedError
from gqlsync.runtimes.base import (
    RUNTIMES,
    CodeShapeError,
    DataSourceCall,
    DataSourceDirectory,
    EarlyReturn,
    run_step,
)
from gqlsync.runtimes.context import ResolverContext
from gqlsync.runtimes.python.context import Context, Info
from gqlsync.runtimes.python.datasources import DataSource, DataSources, DynamoDB, Http, Lambda, Search
from gqlsync.runtimes.python.loader import ResolverModule, load_module
from gqlsync.runtimes.python.pyutil import CURRENT, PythonUtil, early_return, extensions, util

__all__ = ["Context", "DataSource", "DataSourceError", "DataSources", "DynamoDB", "EarlyReturn", "Http", "Info",
           "Lambda", "PythonCompiled", "PythonRuntime", "PythonUtil", "ResolverError", "Search",
           "UnauthorizedError", "early_return", "extensions", "util"]

log = logging.getLogger("gqlsync.runtimes.python")


class PythonCompiled:
    """One resolver module: AppSync's request/response halves (run as template runtimes run them) or one
    `resolve(ctx, datasources)` that calls data sources itself."""

    def __init__(self, module: ResolverModule) -> None:
        self.module = module
        self.resolves = module.resolve is not None
        # A resolve() module used as a pipeline's before/after code says so when it runs (see `request`).
        self.has_request = module.request is not None or self.resolves
        self.has_response = module.response is not None

    async def _call(self, fn: Any, ctx: ResolverContext, *args: Any) -> Any:
        token = CURRENT.set(ctx)
        try:
            return await fn(Context(ctx), *args)
        except (GqlsyncError, EarlyReturn):
            raise
        except Exception as exc:  # a bug in the resolver: reported as VTL reports a failing template
            path = self.module.code.name
            lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
            where = f" line {lines[-1]}" if lines else ""
            log.warning("resolver %s raised", ctx.where, exc_info=True, extra={"resolver": ctx.where})
            raise ResolverError(f"Error in resolver {self.module.code.path.name}{where}: {type(exc).__name__}: "
                                f"{exc}", "MappingTemplate") from None
        finally:
            CURRENT.reset(token)

    async def request(self, ctx: ResolverContext) -> Any:
        if self.resolves:
            raise ResolverError(f"{self.module.code.path.name} defines resolve(ctx, datasources), which is for unit "
                                "resolvers and pipeline functions; a pipeline's before/after code defines "
                                "request(ctx) and response(ctx).", "MappingTemplate")
        return await self._call(self.module.request, ctx)

    async def response(self, ctx: ResolverContext) -> Any:
        return await self._call(self.module.response, ctx)

    async def run(self, ctx: ResolverContext, data_source: DataSourceCall, *, raise_on_error: bool) -> Any:
        """resolve(ctx, datasources) with every call on `data_source`'s metered path; else request -> data source
        -> response. A data-source error reaches resolve() as DataSourceError (catch it to decide)."""
        if self.resolves:
            return await self._call(self.module.resolve, ctx, DataSources(data_source))
        if self.module.request is None and isinstance(data_source, DataSourceDirectory) \
                and data_source.info.type != "AWS_LAMBDA":
            raise ResolverError(f"{self.module.code.path.name} defines no request(ctx) to build the document for "
                                f"{data_source.info.type} data source {data_source.info.name}.", "MappingTemplate")
        return await run_step(self, ctx, data_source, raise_on_error=raise_on_error)


@RUNTIMES.register("PYTHON")
class PythonRuntime:
    """Native Python resolvers (`code: resolvers/get_event.py`)."""

    name = "PYTHON"

    def prepare(self, *, request: CodeFile | None, response: CodeFile | None,
                code: CodeFile | None = None, direct: bool = False) -> PythonCompiled:
        shape = [f"PYTHON takes one module in `code:`, not `{k}:`" for k, f in (("request", request),
                                                                              ("response", response)) if f is not None]
        if code is None:
            shape.append("PYTHON needs `code:` naming a Python module (e.g. resolvers/get_event.py)")
        if shape:
            raise CodeShapeError(shape)
        assert code is not None
        if code.path.suffix != ".py":
            raise AppError([Problem(code.name, None, "a PYTHON resolver's `code:` is a .py file")])
        return PythonCompiled(load_module(code))
