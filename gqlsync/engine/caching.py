"""AppSync's server-side caching: resolver results kept for a TTL under keys from the caller's arguments and identity.

`caching: {behavior: FULL_REQUEST_CACHING | PER_RESOLVER_CACHING, ttl}` in the manifest; with per-resolver caching,
resolvers opt in with `cachingConfig: {ttl, cachingKeys: ["$context.arguments.id", "$context.identity.sub"]}`.
Full request caching keys each resolver on `$context.arguments` and `$context.identity` as AppSync does — and, for
a field below the root, on its `$context.source` too, so one parent's answer never stands in for another's.
Query fields only: a mutation or subscription always runs. A result is kept only when its resolver succeeded
without errors. `$extensions.evictFromApiCache(type, field, {"context.arguments.id": ...})` removes an entry of a
resolver with caching keys. Entries live in memory (bounded, per process) or in Redis (shared, with `--redis-url`);
keys carry the API id and version, so a deploy starts from an empty cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from gqlsync.app.model import CachingConfig, ResolverCachingConfig

log = logging.getLogger("gqlsync.cache")

BEHAVIORS = ("FULL_REQUEST_CACHING", "PER_RESOLVER_CACHING")
MAX_TTL = 3600
#: what a lookup gives when nothing is cached (None is a result a resolver may have)
MISS = object()


def normalize_key(path: str) -> str:
    """`$context.arguments.id`, `$ctx.args.id`, `context.arguments.id` -> `context.arguments.id`."""
    p = path.strip().removeprefix("$")
    if p.startswith("ctx."):
        p = "context." + p[4:]
    if p.startswith("context.args."):  # $ctx.args is $ctx.arguments, in templates and in keys
        p = "context.arguments." + p[len("context.args."):]
    return p


def valid_key(path: str) -> bool:
    parts = normalize_key(path).split(".")
    return len(parts) >= 3 and parts[0] == "context" and parts[1] in ("arguments", "source", "identity") \
        and all(parts[2:])


def _lookup(roots: dict[str, Any], path: str) -> Any:
    value: Any = roots
    for part in normalize_key(path).split(".")[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


class Backend(Protocol):
    async def get(self, key: str) -> Any: ...

    async def set(self, key: str, value: Any, ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...


class MemoryBackend:
    """A per-process store, least recently used entries dropped beyond `max_entries`."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get(self, key: str) -> Any:
        found = self._entries.get(key)
        if found is None:
            return MISS
        expires, text = found
        if expires < time.monotonic():
            self._entries.pop(key, None)
            return MISS
        self._entries.move_to_end(key)
        return json.loads(text)

    async def set(self, key: str, value: Any, ttl: float) -> None:
        # stored as JSON text: a cached answer is never an object a later resolver could change in place
        self._entries[key] = (time.monotonic() + ttl, json.dumps(value, default=str))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)


class RedisBackend:
    """Entries in Redis (SET with EX), shared by every process using it; a Redis that is down means misses."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.client = aioredis.from_url(url)

    async def get(self, key: str) -> Any:
        try:
            text = await self.client.get(key)
        except Exception as exc:
            log.warning("cache read failed (Redis); resolving without it", extra={"reason": repr(exc)})
            return MISS
        return MISS if text is None else json.loads(text)

    async def set(self, key: str, value: Any, ttl: float) -> None:
        try:
            await self.client.set(key, json.dumps(value, default=str), ex=max(1, int(ttl)))
        except Exception as exc:
            log.warning("cache write failed (Redis)", extra={"reason": repr(exc)})

    async def delete(self, key: str) -> None:
        await self.client.delete(key)  # an eviction that fails must fail the call that asked for it


def app_digest(app: Any) -> str:
    """What the app's answers depend on (schema, mapping code, data-source config), in short: part of the cache
    namespace, so a server restarted on a changed app never serves the old app's entries from a shared Redis."""
    h = hashlib.sha256(app.schema_sdl.encode())
    for code in (*(r for rc in app.resolvers for r in (rc.request, rc.response, rc.code)),
                 *(r for fn in app.functions.values() for r in (fn.request, fn.response, fn.code))):
        if code is not None:
            h.update(b"\0" + code.text.encode())
    h.update(json.dumps({n: [d.type, d.config] for n, d in app.data_sources.items()}, sort_keys=True,
                        default=str).encode())
    return h.hexdigest()[:12]


def backend_for(redis_url: str | None) -> Backend:
    return RedisBackend(redis_url) if redis_url else MemoryBackend()


@dataclass(frozen=True)
class FieldCache:
    """How one resolver's results are cached: its key parts and TTL, in its API version's namespace."""

    cache: ApiCache
    coordinate: str
    ttl: float
    #: None: the whole arguments and identity (and source below the root); else these paths
    keys: tuple[str, ...] | None
    root: bool

    def key(self, arguments: dict[str, Any], identity: Any, source: Any) -> str:
        if self.keys is None:
            parts: Any = {"arguments": arguments, "identity": identity}
            if not self.root:
                parts["source"] = source
        else:
            roots = {"arguments": arguments, "identity": identity or {}, "source": source or {}}
            parts = [[k, _lookup(roots, k)] for k in self.keys]
        return self.cache.key(self.coordinate, parts)

    async def get(self, key: str) -> Any:
        value = await self.cache.backend.get(key)
        self.cache.count(self.coordinate, value is not MISS)
        return value

    async def set(self, key: str, value: Any) -> None:
        await self.cache.backend.set(key, value, self.ttl)


class ApiCache:
    """One API version's cache: the backend, its namespace, and which resolvers cache with what keys."""

    def __init__(self, settings: CachingConfig, backend: Backend, namespace: str, metrics: Any = None) -> None:
        self.settings = settings
        self.backend = backend
        self.namespace = namespace
        self.metrics = metrics
        self.fields: dict[str, FieldCache] = {}

    def key(self, coordinate: str, parts: Any) -> str:
        text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
        return f"gqlsync:cache:{self.namespace}:{coordinate}:{hashlib.sha256(text.encode()).hexdigest()}"

    def count(self, coordinate: str, hit: bool) -> None:
        if self.metrics is not None:
            self.metrics.cache_requests.labels(self.namespace.split(":")[0], coordinate,
                                               "hit" if hit else "miss").inc()

    def for_resolver(self, type_name: str, field_name: str, caching: ResolverCachingConfig | None, *,
                     query_type: str, root: bool) -> FieldCache | None:
        """The cache of a resolver on Type.field, or None when it does not cache."""
        if type_name in ("Mutation", "Subscription") or (root and type_name != query_type):
            return None
        if self.settings.behavior == "PER_RESOLVER_CACHING" and caching is None:
            return None
        ttl = min(float(caching.ttl if caching and caching.ttl else self.settings.ttl), MAX_TTL)
        keys = tuple(normalize_key(k) for k in caching.keys) if caching and caching.keys else None
        coordinate = f"{type_name}.{field_name}"
        field = FieldCache(self, coordinate, ttl, keys, root)
        self.fields[coordinate] = field
        return field

    async def evict(self, type_name: str, field_name: str, pairs: Any) -> None:
        """`evictFromApiCache`: the entry of `type.field` whose caching keys have the values given."""
        field = self.fields.get(f"{type_name}.{field_name}")
        if field is None or field.keys is None or not isinstance(pairs, dict):
            return
        given = {normalize_key(str(k)): v for k, v in pairs.items()}
        await self.backend.delete(self.key(field.coordinate, [[k, given.get(k)] for k in field.keys]))
