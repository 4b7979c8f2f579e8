"""`_source` filtering (includes/excludes with wildcards and dotted paths) and partial-update merging."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from gqlsync.embedded.search.errors import parsing


@lru_cache(maxsize=256)
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in glob))


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(_pattern(p).fullmatch(path) for p in patterns)


def _could_match_below(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether some pattern may match a path strictly inside `path`."""
    prefix = path + "."
    for p in patterns:
        head = p.split("*", 1)[0]
        if "*" in p:
            if prefix.startswith(head) or head.startswith(prefix):
                return True
        elif p.startswith(prefix):
            return True
    return False


def filter_source(source: Any, includes: tuple[str, ...], excludes: tuple[str, ...], path: str = "") -> Any:
    """OpenSearch's source filtering: keep included paths (whole subtrees), then drop excluded ones."""
    if isinstance(source, list):
        kept = [filter_source(v, includes, excludes, path) if isinstance(v, dict | list) else v for v in source]
        return [v for v in kept if v is not _DROP]
    if not isinstance(source, dict):
        return source
    out: dict[str, Any] = {}
    for key, value in source.items():
        sub = f"{path}.{key}" if path else key
        if excludes and _matches(sub, excludes):
            continue
        if not includes or _matches(sub, includes):
            if isinstance(value, dict | list) and excludes:
                out[key] = filter_source(value, (), excludes, sub)
            else:
                out[key] = value
        elif isinstance(value, dict | list) and _could_match_below(sub, includes):
            inner = filter_source(value, includes, excludes, sub)
            if inner not in ({}, [], _DROP):
                out[key] = inner
    return out


_DROP = object()


def source_spec(value: Any) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    """(fetch, includes, excludes) from a body `_source`: bool, a pattern, a list, or {includes, excludes}."""
    if value is None or value is True:
        return True, (), ()
    if value is False:
        return False, (), ()
    if isinstance(value, str):
        return True, (value,), ()
    if isinstance(value, list):
        return True, tuple(str(v) for v in value), ()
    if isinstance(value, dict):
        unknown = set(value) - {"includes", "excludes", "include", "exclude"}
        if unknown:
            raise parsing(f"Unknown key for a START_OBJECT in [_source]: [{sorted(unknown)[0]}]")
        inc = value.get("includes", value.get("include")) or []
        exc = value.get("excludes", value.get("exclude")) or []
        inc = [inc] if isinstance(inc, str) else inc
        exc = [exc] if isinstance(exc, str) else exc
        return True, tuple(map(str, inc)), tuple(map(str, exc))
    raise parsing("[_source] must be a boolean, a string, an array or an object")


def source_params(params: dict[str, str], body_value: Any = None) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    """The `_source`, `_source_includes`, `_source_excludes` query parameters (they override the body)."""
    fetch, inc, exc = source_spec(body_value)
    if "_source" in params:
        raw = params["_source"]
        if raw in ("true", ""):
            fetch, inc = True, ()
        elif raw == "false":
            fetch = False
        else:
            fetch, inc = True, tuple(p for p in raw.split(",") if p)
    if params.get("_source_includes") or params.get("_source_include"):
        fetch = True
        inc = tuple(p for p in (params.get("_source_includes") or params.get("_source_include", "")).split(",") if p)
    if params.get("_source_excludes") or params.get("_source_exclude"):
        fetch = True
        exc = tuple(p for p in (params.get("_source_excludes") or params.get("_source_exclude", "")).split(",") if p)
    return fetch, inc, exc


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The update API's partial document merge: objects merge recursively, everything else replaces."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
