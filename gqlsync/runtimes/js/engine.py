"""QuickJS contexts for APPSYNC_JS: a loader context per thread (acorn + checks) and a small pool of worker contexts.

A QuickJS context must only ever be used from the thread that made it, so every worker thread of the pool owns one
context, made on first use and reused for every call after; modules are evaluated into it lazily, once per context,
and dropped from it when their app version is gone.

The time budget is cooperative, as in the VTL runtime: the quickjs binding refuses calls into Python while its own
time limit is set, so the loader puts a deadline check at the top of every function and loop body (see compile.js)
and an overrunning handler stops with an ExecutionTimeout field error. The GIL is released while JavaScript runs, so
the event loop never waits on a script. What the check cannot reach is one long native operation (a pathological
regular expression); the 64 MB heap limit bounds the others.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any

import quickjs

from gqlsync.errors import GqlsyncError, ResolverError
from gqlsync.runtimes.context import ResolverContext
from gqlsync.runtimes.js.bridge import UTIL_NAMES, Invocation, dumps, loads

#: Wall-clock time one request or response handler may run before it is stopped.
BUDGET_SECONDS = float(os.environ.get("GQLSYNC_JS_BUDGET_SECONDS", "2.0"))

#: Heap one engine context may use.
MEMORY_LIMIT = 64 * 1024 * 1024

#: Worker threads (each with its own QuickJS context), shared by every app in the process.
WORKERS = int(os.environ.get("GQLSYNC_JS_WORKERS", str(min(4, os.cpu_count() or 1))))

#: errorType of a handler stopped by the time budget (AppSync's name for a resolver that ran out of time).
TIMEOUT_ERROR_TYPE = "ExecutionTimeout"


def _source(name: str) -> str:
    return resources.files("gqlsync.runtimes.js").joinpath(name).read_text(encoding="utf-8")


_ACORN = _source("vendor/acorn.js")
_COMPILE = _source("compile.js")
_PRELUDE = _source("prelude.js")


@dataclass(frozen=True)
class CompileResult:
    """A module turned into a script, or the problems (line, column, reason) that stop it loading."""

    script: str
    exports: tuple[str, ...]
    problems: tuple[tuple[int, int, str], ...]
    #: no loops, callbacks or recursion: its running time is bounded by its text and data (compile.js isBounded)
    bounded: bool = False


_loader = threading.local()


def compile_module(source: str) -> CompileResult:
    """Parse and check an APPSYNC_JS module (acorn, in this thread's loader context) and make it a script."""
    ctx = getattr(_loader, "ctx", None)
    if ctx is None:
        ctx = quickjs.Context()
        ctx.set_time_limit(BUDGET_SECONDS * 5)
        ctx.eval(_ACORN)
        ctx.eval(_COMPILE)
        _loader.ctx = ctx
    out = json.loads(ctx.get("__gqlsync_compile")(source))
    problems = tuple((int(p["line"]), int(p["column"]), str(p["reason"])) for p in out["problems"])
    return CompileResult(out.get("script", ""), tuple(out.get("exports", ())), problems, bool(out.get("bounded")))


_ids = itertools.count(1)
_retired: set[int] = set()
_retired_lock = threading.Lock()


class Module:
    """A compiled module's script and id; each worker context evaluates it the first time it runs it.

    A `bounded` module runs on the calling thread's own context (the event loop's, like VTL templates without
    #foreach); the others on the pool, so a long loop never stalls the loop.
    """

    def __init__(self, name: str, script: str, bounded: bool = False) -> None:
        self.id = next(_ids)
        self.name = name
        self.script = script
        self.bounded = bounded

    def __del__(self) -> None:  # the app version that held it is gone: let the contexts drop it
        with _retired_lock:
            _retired.add(self.id)


class _Worker:
    """One thread's QuickJS context with the prelude and the modules it has run."""

    def __init__(self) -> None:
        self.current: Invocation | None = None
        self.loaded: set[int] = set()
        self.ctx = quickjs.Context()
        self.ctx.set_memory_limit(MEMORY_LIMIT)
        self.ctx.add_callable("__py", self._py)
        self.ctx.eval(_PRELUDE)
        self.call, self._load, self._drop = (self.ctx.eval(f"__gqlsync.{n}") for n in ("call", "load", "drop"))

    def _py(self, name: str, args_json: str) -> str | None:
        inv = self.current
        if inv is None:
            return dumps(list(UTIL_NAMES)) if name == "names" else None
        return inv.call(name, args_json)

    def ensure(self, module: Module) -> None:
        with _retired_lock:
            gone = self.loaded & _retired
        for mid in gone:
            self._drop(mid)
            self.loaded.discard(mid)
        if module.id not in self.loaded:
            self._load(module.id, self.ctx.eval(module.script))
            self.loaded.add(module.id)


_local = threading.local()


def _worker() -> _Worker:
    w: _Worker | None = getattr(_local, "worker", None)
    if w is None:
        w = _Worker()
        _local.worker = w
    return w


def _drop_worker() -> None:
    _local.worker = None


def run_half(module: Module, half: str, ctx: ResolverContext, payload: dict[str, Any]) -> tuple[str, Any]:
    """Run `request`/`response` of a module on this thread's context: ("value"|"early", value); raises errors."""
    worker = _worker()
    inv = Invocation(ctx)
    try:
        worker.current = inv
        worker.ensure(module)
        text = worker.call(module.id, half, dumps(payload), BUDGET_SECONDS * 1000)
    except (quickjs.JSException, quickjs.StackOverflow) as exc:
        _drop_worker()  # out of memory or stack: start the next call on a fresh context
        raise ResolverError(f"Error in {module.name} ({half}): {_first_line(exc)}", "MappingTemplate") from None
    finally:
        worker.current = None
    out = loads(text)
    if out.get("timeout"):
        raise ResolverError(f"The {half} handler of {module.name} ran longer than {BUDGET_SECONDS:g} s and was "
                            "stopped.", TIMEOUT_ERROR_TYPE)
    if "stash" in out and out["stash"] is not ctx.stash:
        ctx.stash.clear()
        ctx.stash.update(out["stash"] or {})
    if out.get("abort"):
        err: GqlsyncError = inv.error or ResolverError("Error", "MappingTemplate")
        raise err
    if "jsError" in out:
        raise ResolverError(f"Error in {module.name} ({half}): {out['jsError']}", "MappingTemplate")
    return ("early" if out.get("early") else "value"), out.get("v")


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0]


#: The pool whose threads run handlers (and own the worker contexts).
POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="gqlsync-js")
