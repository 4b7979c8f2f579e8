"""Loading a resolver module from its text (never an import cache), with load errors as file/line problems."""

from __future__ import annotations

import hashlib
import inspect
import traceback
from dataclasses import dataclass
from types import FunctionType, ModuleType
from typing import Any

from gqlsync.app.errors import AppError, Problem
from gqlsync.app.model import CodeFile

#: The functions a resolver module may define: AppSync's two halves, or one that calls data sources itself.
HALVES = ("request", "response")
RESOLVE = "resolve"


@dataclass(frozen=True)
class ResolverModule:
    """The async functions one module defines (None where it does not define that one)."""

    code: CodeFile
    module: ModuleType
    request: Any = None
    response: Any = None
    resolve: Any = None


def _problem(code: CodeFile, line: int | None, reason: str, column: int | None = None) -> AppError:
    return AppError([Problem(code.name, line, reason, column)])


def _execute(code: CodeFile) -> ModuleType:
    """The module run from the file's text as the app version read it (as lambda_runner.load_handler does):
    each app version gets its own module object, so an edited file runs as it is now."""
    digest = hashlib.sha1(f"{code.path}\0{code.text}".encode()).hexdigest()[:12]
    module = ModuleType(f"gqlsync_resolver_{code.path.stem.replace('.', '_')}_{digest}")
    module.__file__ = str(code.path)
    try:
        compiled = compile(code.text, str(code.path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise _problem(code, exc.lineno, f"Python syntax error: {exc.msg}", exc.offset) from None
    try:
        exec(compiled, module.__dict__)
    except Exception as exc:  # the module's own import-time error (a missing import, a failing statement)
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(code.path)]
        raise _problem(code, lines[-1] if lines else None,
                       f"the module fails to load: {type(exc).__name__}: {exc}") from None
    return module


def _function(code: CodeFile, module: ModuleType, name: str, params: int) -> Any:
    fn = module.__dict__.get(name)
    if fn is None:
        return None
    if not isinstance(fn, FunctionType):
        raise _problem(code, None, f"`{name}` must be an `async def` function, not {type(fn).__name__}")
    line = fn.__code__.co_firstlineno
    if not inspect.iscoroutinefunction(fn):
        raise _problem(code, line, f"`{name}` must be `async def` (resolvers run on the event loop; do blocking "
                                   f"work with `await asyncio.to_thread(...)`)")
    try:
        inspect.signature(fn).bind(*range(params))
    except TypeError:
        args = "ctx, datasources" if params == 2 else "ctx"
        raise _problem(code, line, f"`{name}` must take ({args})") from None
    return fn


def load_module(code: CodeFile) -> ResolverModule:
    """Run a resolver module; AppError (file, line, reason) for code that does not compile, fails to load, or does
    not define `async def request(ctx)`/`response(ctx)` or `async def resolve(ctx, datasources)` (not both)."""
    module = _execute(code)
    request = _function(code, module, "request", 1)
    response = _function(code, module, "response", 1)
    resolve = _function(code, module, RESOLVE, 2)
    if resolve is not None and (request is not None or response is not None):
        raise _problem(code, resolve.__code__.co_firstlineno,
                       "define either `resolve(ctx, datasources)` or `request`/`response`, not both")
    if resolve is None and request is None and response is None:
        raise _problem(code, None, "the module defines none of `async def request(ctx)`, `async def response(ctx)` "
                                   "or `async def resolve(ctx, datasources)`")
    return ResolverModule(code, module, request, response, resolve)
