"""Protecting backends: per-data-source concurrency gates shared process-wide, queue and call timeouts, safe retries.

A data source's `limits:` (gqlsync.app.model.DataSourceLimits) are applied by a `Limiter` on the one path every
call takes (gqlsync.engine.resolvers.Invoker._invoke), so unit resolvers, pipeline functions, BatchInvoke batches
and native code calling a peer source are all bounded alike.

- **Concurrency** is counted by a `Gate` per backend in a process-wide registry keyed by the data source's
  identity (api, name, type and what it points at: endpoint, table, function, handler, region). Every resolver
  and function of the source shares it, across requests, *and across app versions*: while a deploy (or a
  `dev --watch` reload, or a canary) keeps the old version serving beside the new one, the backend still sees at
  most maxConcurrency calls, not twice that. Each caller is admitted while fewer than *its own version's*
  maxConcurrency calls are in flight, so a version that lowers the limit is obeyed at once and one that raises
  it never lets the old version exceed its own. Waiters are admitted strictly first come, first served.
- **Queueing**: a call that finds the gate full waits at most queueTimeoutMs, then fails with the field error
  `DataSource:Throttled` (it never reached the backend). Without queueTimeoutMs it waits as long as it takes.
- **Timeout**: each attempt is cut off after timeoutMs with `DataSource:Timeout`; its slot is freed at once (the
  backend may still be finishing the work: an HTTP request's connection is closed, a local Lambda handler's thread
  runs on to its own timeoutSeconds).
- **Retries**: up to `retries` further attempts, after a jittered exponential backoff (the slot is given back while
  waiting), of a call whose failure is safe to repeat. A failure says how safe through `DataSourceError.retry`, or
  by its errorType (`RETRYABLE_ERRORS`): "unsent" (never left gqlsync) and "rejected" (the backend throttled it
  and did nothing) are retried for any call; "transient" (a timeout, a dropped connection, a 5xx-like service
  error: the backend may have acted) only for a request that only reads (`read_only`: DynamoDB GetItem, Query,
  Scan, BatchGetItem, TransactGetItems, Sync; HTTP GET/HEAD/OPTIONS; search GET/HEAD and POST to _search, _count,
  _msearch, _mget). A Lambda invocation never counts as a read: its function may have had effects. Throttling at
  gqlsync's own gate is not retried (the call already waited queueTimeoutMs). An HTTP response of any status
  (a 503 too) is an answer, not a failure: AppSync hands it to the response template as `$ctx.result.statusCode`.
- **enabled: false**: every call fails with `DataSource:Disabled` before anything is sent.
"""

from __future__ import annotations

import asyncio
import random
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from gqlsync.app.model import DataSourceConfig, DataSourceLimits
from gqlsync.errors import DataSourceError, RetryKind

THROTTLED = "DataSource:Throttled"
TIMEOUT = "DataSource:Timeout"
DISABLED = "DataSource:Disabled"

#: Backoff before the first retry (doubling each time, capped), jittered: half fixed, half random.
BACKOFF_SECONDS = 0.05
BACKOFF_MAX_SECONDS = 1.0

#: How safe each known errorType is to retry, for errors that do not say so themselves (`DataSourceError.retry`).
RETRYABLE_ERRORS: dict[str, RetryKind] = {
    # DynamoDB refused the request without applying it
    "DynamoDB:ProvisionedThroughputExceededException": "rejected",
    "DynamoDB:ThrottlingException": "rejected",
    "DynamoDB:RequestLimitExceeded": "rejected",
    "DynamoDB:LimitExceededException": "rejected",
    # DynamoDB failed or could not be reached: the write may or may not have happened
    "DynamoDB:InternalServerError": "transient",
    "DynamoDB:ServiceUnavailable": "transient",
    # Lambda throttled the invocation (it did not run)
    "Lambda:TooManyRequestsException": "rejected",
    "Lambda:ThrottlingException": "rejected",
    "Lambda:EC2ThrottledException": "rejected",
    "Lambda:ServiceException": "transient",
    "Lambda:ConnectionError": "transient",
    "Lambda:TimeoutError": "transient",
    # the HTTP data source: its connection failures include ones after the request was sent
    "HTTP:ConnectionError": "transient",
    "HTTP:Timeout": "transient",
    # a search cluster that is down or hangs
    "OpenSearch:ConnectionError": "transient",
    TIMEOUT: "transient",
}

_DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems", "Sync"})
_HTTP_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_SEARCH_READ_ENDPOINTS = ("/_search", "/_count", "/_msearch", "/_mget")
#: The config keys that say which backend a data source talks to (its identity beside api, name and type).
_TARGET_KEYS = ("endpoint", "tableName", "functionArn", "handler", "region")


def _search_read(request: dict[str, Any]) -> bool:
    method = str(request.get("operation", "")).upper()
    path = str(request.get("path", "")).split("?")[0].rstrip("/")
    return method in ("GET", "HEAD") or (method == "POST" and path.endswith(_SEARCH_READ_ENDPOINTS))


#: Per data-source type: does this request only read (so repeating it after a transient failure is harmless)?
READ_ONLY: dict[str, Callable[[dict[str, Any]], bool]] = {
    "AMAZON_DYNAMODB": lambda r: r.get("operation") in _DYNAMODB_READS,
    "HTTP": lambda r: str(r.get("method", "")).upper() in _HTTP_READS,
    "AMAZON_OPENSEARCH_SERVICE": _search_read,
    "AMAZON_ELASTICSEARCH": _search_read,
}


def read_only(source: Any, request: dict[str, Any]) -> bool:
    """A data source's own `read_only(request)` if it has one, else its type's rule (unknown types: never)."""
    own = getattr(source, "read_only", None)
    if callable(own):
        return bool(own(request))
    rule = READ_ONLY.get(str(getattr(source, "type", "")))
    return rule is not None and rule(request)


def retry_kind(exc: DataSourceError) -> RetryKind | None:
    return exc.retry or RETRYABLE_ERRORS.get(exc.error_type)


class Gate:
    """Calls in flight to one backend, for every app version in the process; callers beyond a limit queue FIFO."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def enter(self, limit: int, timeout: float | None) -> None:
        """Take a slot once fewer than `limit` calls are in flight; TimeoutError after `timeout` seconds."""
        if self.in_flight < limit and not self._waiters:
            self.in_flight += 1
            return
        if timeout is not None and timeout <= 0:
            raise TimeoutError
        entry = (limit, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await entry[1]
        except BaseException:
            fut = entry[1]
            if fut.done() and not fut.cancelled():
                self.leave()  # admitted just as the wait ended: hand the slot on
            else:
                fut.cancel()
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    pass
                self._admit()  # this waiter may have been the one holding up the queue
            raise

    def leave(self) -> None:
        self.in_flight -= 1
        self._admit()

    def _admit(self) -> None:
        waiters = self._waiters
        while waiters:
            limit, fut = waiters[0]
            if fut.done():
                waiters.popleft()
                continue
            if self.in_flight >= limit:
                return
            waiters.popleft()
            self.in_flight += 1
            fut.set_result(None)


#: The process's gates by data-source identity; a gate lives while some app version's limiter holds it.
_GATES: weakref.WeakValueDictionary[tuple[Any, ...], Gate] = weakref.WeakValueDictionary()
_GATES_LOCK = threading.Lock()  # the control plane builds versions in worker threads


def identity(api: str, config: DataSourceConfig) -> tuple[Any, ...]:
    """What makes two data-source configs (of any two versions of one api) the same backend for the gate."""
    return (api, config.name, config.type, *(str(config.config.get(k, "")) for k in _TARGET_KEYS))


def gate_for(key: tuple[Any, ...]) -> Gate:
    with _GATES_LOCK:
        gate = _GATES.get(key)
        if gate is None:
            gate = _GATES[key] = Gate()
        return gate


class LimitMeter(Protocol):
    """What the limiter reports (gqlsync.observe.metrics.DataSourceMeter implements it)."""

    def throttled(self) -> None: ...

    def retried(self) -> None: ...

    def queued(self, seconds: float) -> None: ...


Attempt = Callable[[dict[str, Any], Any], Awaitable[Any]]


class Limiter:
    """One data source's limits in one app version, over the process-wide gate of its backend."""

    def __init__(self, source: Any, limits: DataSourceLimits | None, gate: Gate | None, *,
                 enabled: bool = True) -> None:
        self.source = source
        self.name = str(getattr(source, "name", "?"))
        self.limits = limits or DataSourceLimits()
        self.gate = gate if self.limits.max_concurrency else None
        self.enabled = enabled
        ms = self.limits.queue_timeout_ms
        self.queue_timeout = None if ms is None else ms / 1000
        self.timeout = None if self.limits.timeout_ms is None else self.limits.timeout_ms / 1000

    async def call(self, attempt: Attempt, request: dict[str, Any], call: Any, meter: LimitMeter) -> Any:
        """`attempt(request, call)` under the limits; raises DataSourceError (Disabled, Throttled, Timeout) or
        the attempt's own error once no retry is left or allowed."""
        if not self.enabled:
            raise DataSourceError(f"Data source {self.name} is disabled (enabled: false in the app's manifest).",
                                  DISABLED)
        retries = self.limits.retries
        tried = 0
        while True:
            try:
                return await self._once(attempt, request, call, meter)
            except DataSourceError as exc:
                if tried >= retries or not self._may_retry(exc, request):
                    raise
            tried += 1
            meter.retried()
            ceiling = min(BACKOFF_SECONDS * 2 ** (tried - 1), BACKOFF_MAX_SECONDS)
            await asyncio.sleep(ceiling / 2 + random.uniform(0, ceiling / 2))

    def _may_retry(self, exc: DataSourceError, request: dict[str, Any]) -> bool:
        kind = retry_kind(exc)
        if kind in ("unsent", "rejected"):
            return True
        return kind == "transient" and read_only(self.source, request)

    async def _once(self, attempt: Attempt, request: dict[str, Any], call: Any, meter: LimitMeter) -> Any:
        gate = self.gate
        if gate is not None:
            assert self.limits.max_concurrency is not None
            loop = asyncio.get_running_loop()
            queued_at = loop.time()
            try:
                await gate.enter(self.limits.max_concurrency, self.queue_timeout)
            except TimeoutError:
                meter.queued(loop.time() - queued_at)
                meter.throttled()
                raise DataSourceError(
                    f"Data source {self.name} is throttled: {self.limits.max_concurrency} calls were in flight "
                    f"and no slot freed within queueTimeoutMs ({self.limits.queue_timeout_ms} ms).",
                    THROTTLED) from None
            meter.queued(loop.time() - queued_at)
        try:
            if self.timeout is None:
                return await attempt(request, call)
            cutoff = asyncio.timeout(self.timeout)
            try:
                async with cutoff:
                    return await attempt(request, call)
            except TimeoutError:
                if not cutoff.expired():
                    raise
                raise DataSourceError(f"Data source {self.name} did not answer within timeoutMs "
                                      f"({self.limits.timeout_ms} ms).", TIMEOUT) from None
        finally:
            if gate is not None:
                gate.leave()


def build_limiters(api: str, configs: Mapping[str, DataSourceConfig], sources: Mapping[str, Any]) -> dict[str, Limiter]:
    """The limiters of an app version's data sources that have `limits:` or are disabled (the rest need none)."""
    out: dict[str, Limiter] = {}
    for name, cfg in configs.items():
        if cfg.limits is None and cfg.enabled:
            continue
        gate = gate_for(identity(api, cfg)) if cfg.limits is not None and cfg.limits.max_concurrency else None
        out[name] = Limiter(sources[name], cfg.limits, gate, enabled=cfg.enabled)
    return out
