"""`util` for Python resolvers: gqlsync.util's core for the invocation running now, by snake_case or AppSync names."""

from __future__ import annotations

import contextvars
from typing import Any, NoReturn

from gqlsync.runtimes.base import EarlyReturn
from gqlsync.runtimes.context import ResolverContext
from gqlsync.util import transform as core_transform
from gqlsync.util.core import UtilCore

__all__ = ["CURRENT", "PythonUtil", "early_return", "util"]

#: The invocation whose code is running (set around each call of a resolver's functions; tasks it starts inherit it).
CURRENT: contextvars.ContextVar[ResolverContext | None] = contextvars.ContextVar("gqlsync_python_ctx", default=None)


class _Core(UtilCore):
    """The core with `transform` returning objects (Python code passes them on as they are)."""

    transform = core_transform.TransformUtil()


_NAMES: dict[type, dict[str, str]] = {}


def _names(cls: type) -> dict[str, str]:
    """Attribute names of a util class by their folded form (lower case, no underscores): `append_error`,
    `appendError` and `appenderror` all find `appendError`; `now_iso8601` finds `nowISO8601`."""
    out = _NAMES.get(cls)
    if out is None:
        out = {}
        for name in dir(cls):
            if not name.startswith("_"):
                out.setdefault(name.replace("_", "").lower(), name)
        _NAMES[cls] = out
    return out


def _lookup(target: Any, name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    real = name if hasattr(type(target), name) else _names(type(target)).get(name.replace("_", "").lower())
    if real is None:
        raise AttributeError(f"util has no {name!r}")
    value = getattr(target, real)
    if not callable(value) and type(value).__module__.startswith("gqlsync.util"):
        return _Family(value)  # util.time, util.dynamodb, util.str, ... with the same name folding
    return value


class _Family:
    """A util family (`util.time`, `util.dynamodb`, ...) answering snake_case names too."""

    __slots__ = ("_target",)

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        return _lookup(self._target, name)

    def __dir__(self) -> list[str]:
        return sorted(_names(type(self._target)).values())


def _current() -> ResolverContext:
    ctx = CURRENT.get()
    if ctx is None:
        raise RuntimeError("util is for a resolver's code while it runs (it reports errors on that invocation)")
    return ctx


class PythonUtil:
    """`from gqlsync.runtimes.python import util`: AppSync's util for the resolver invocation running now.

    `util.error(message, error_type, data, info)` raises the GraphQL error VTL's `$util.error` raises;
    `util.append_error(...)` records one and carries on; `util.unauthorized()`; `util.auto_id()`,
    `util.time.now_iso8601()`, `util.dynamodb.to_map_values(...)`, ... Every AppSync name works as written
    (`util.autoId()`) and in snake_case.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return _lookup(_Core(_current()), name)

    def __dir__(self) -> list[str]:
        return sorted({*_names(_Core).values(), "early_return"})

    @staticmethod
    def early_return(value: Any = None) -> NoReturn:
        """Skip the data source (and the response function): the field (or pipeline step) resolves to `value`."""
        raise EarlyReturn(value)


def early_return(value: Any = None) -> NoReturn:
    """Skip the data source (and `response`): the field, or this pipeline function's result, is `value`."""
    raise EarlyReturn(value)


class PythonExtensions:
    """`from gqlsync.runtimes.python import extensions`: AppSync's `extensions` for the invocation running now
    (`evict_from_api_cache`, subscription filters and invalidation), in AppSync's names and snake_case."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        from gqlsync.runtimes.vtl.extensions import Extensions

        return _lookup(Extensions(_current()), name)


util = PythonUtil()
extensions = PythonExtensions()
