"""The data-source gate and limiter: FIFO admission, per-version limits on one gate, waits that end, retry rules."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gqlsync.app.model import DataSourceConfig, DataSourceLimits
from gqlsync.datasources.limits import (
    THROTTLED,
    Gate,
    Limiter,
    build_limiters,
    gate_for,
    identity,
    read_only,
)
from gqlsync.errors import DataSourceError


class Meter:
    def __init__(self) -> None:
        self.throttles = self.retries = 0
        self.waits: list[float] = []

    def throttled(self) -> None:
        self.throttles += 1

    def retried(self) -> None:
        self.retries += 1

    def queued(self, seconds: float) -> None:
        self.waits.append(seconds)


class Source:
    def __init__(self, type_: str = "HTTP") -> None:
        self.name = "S"
        self.type = type_


async def test_gate_admits_first_come_first_served() -> None:
    gate = Gate()
    await gate.enter(1, None)
    order: list[int] = []

    async def wait(i: int) -> None:
        await gate.enter(1, None)
        order.append(i)
        gate.leave()

    tasks = [asyncio.create_task(wait(i)) for i in range(5)]
    await asyncio.sleep(0)
    assert gate.waiting == 5
    gate.leave()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4] and gate.in_flight == 0


async def test_each_caller_obeys_its_own_limit_on_a_shared_gate() -> None:
    """Two versions on one gate: the one allowing 1 waits while another's call is in flight."""
    gate = Gate()
    await gate.enter(3, None)  # the new version (limit 3) has a call in flight
    with pytest.raises(TimeoutError):
        await gate.enter(1, 0.01)  # the old version (limit 1) must wait: one call is in flight already
    await gate.enter(3, 0.01)
    assert gate.in_flight == 2 and gate.waiting == 0


async def test_a_wait_that_times_out_or_is_cancelled_leaves_no_trace() -> None:
    gate = Gate()
    await gate.enter(1, None)
    with pytest.raises(TimeoutError):
        await gate.enter(1, 0)
    task = asyncio.create_task(gate.enter(1, None))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.waiting == 0 and gate.in_flight == 1
    gate.leave()
    await gate.enter(1, 0)
    assert gate.in_flight == 1


async def test_one_gate_per_identity_across_versions() -> None:
    cfg = DataSourceConfig("Legacy", "HTTP", {"endpoint": "http://x"}, limits=DataSourceLimits(max_concurrency=2))
    first = build_limiters("api", {"Legacy": cfg}, {"Legacy": Source()})
    second = build_limiters("api", {"Legacy": cfg}, {"Legacy": Source()})
    other = build_limiters("api", {"Legacy": DataSourceConfig("Legacy", "HTTP", {"endpoint": "http://y"},
                                                               limits=cfg.limits)}, {"Legacy": Source()})
    assert first["Legacy"].gate is second["Legacy"].gate is gate_for(identity("api", cfg))
    assert other["Legacy"].gate is not first["Legacy"].gate
    assert build_limiters("api", {"P": DataSourceConfig("P", "HTTP", {})}, {"P": Source()}) == {}


async def test_retries_only_what_is_safe() -> None:
    calls: list[str] = []

    def failing(error_type: str, retry: Any = None) -> Any:
        async def attempt(request: dict[str, Any], call: Any) -> Any:
            calls.append(request.get("method") or request.get("operation", ""))
            raise DataSourceError("no", error_type, retry=retry)
        return attempt

    limiter = Limiter(Source(), DataSourceLimits(retries=2), None)
    meter = Meter()
    for request, error, expected in [
        ({"method": "GET"}, "HTTP:ConnectionError", 3),  # a read: transient failures are retried
        ({"method": "POST"}, "HTTP:ConnectionError", 1),  # a write may have been received: not retried
        ({"method": "POST"}, "HTTP:Whatever", 1),
    ]:
        calls.clear()
        with pytest.raises(DataSourceError):
            await limiter.call(failing(error), request, None, meter)
        assert len(calls) == expected, (request, error)
    calls.clear()
    with pytest.raises(DataSourceError):  # an error that says it was never sent is retried for a write too
        await limiter.call(failing("HTTP:ConnectionError", "unsent"), {"method": "POST"}, None, meter)
    assert len(calls) == 3
    ddb = Limiter(Source("AMAZON_DYNAMODB"), DataSourceLimits(retries=1), None)
    calls.clear()
    with pytest.raises(DataSourceError):  # DynamoDB throttling: the write was not applied, so it is retried
        await ddb.call(failing("DynamoDB:ProvisionedThroughputExceededException"), {"operation": "PutItem"},
                       None, meter)
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(DataSourceError):  # a PutItem that may have happened is not
        await ddb.call(failing("DynamoDB:ServiceUnavailable"), {"operation": "PutItem"}, None, meter)
    assert len(calls) == 1
    assert meter.retries == 2 + 2 + 1


def test_reads_per_type() -> None:
    assert read_only(Source("AMAZON_DYNAMODB"), {"operation": "Query"})
    assert not read_only(Source("AMAZON_DYNAMODB"), {"operation": "UpdateItem"})
    assert read_only(Source("AMAZON_OPENSEARCH_SERVICE"), {"operation": "POST", "path": "/posts/_search"})
    assert not read_only(Source("AMAZON_OPENSEARCH_SERVICE"), {"operation": "POST", "path": "/posts/_doc"})
    assert not read_only(Source("AWS_LAMBDA"), {"operation": "Invoke"})


async def test_throttle_at_the_gate_is_not_retried() -> None:
    gate = Gate()
    limiter = Limiter(Source(), DataSourceLimits(max_concurrency=1, queue_timeout_ms=0, retries=3), gate)
    meter = Meter()
    await gate.enter(1, None)

    async def attempt(request: dict[str, Any], call: Any) -> Any:
        raise AssertionError("never sent")

    with pytest.raises(DataSourceError) as caught:
        await limiter.call(attempt, {"method": "GET"}, None, meter)
    assert caught.value.error_type == THROTTLED and meter.throttles == 1 and meter.retries == 0
