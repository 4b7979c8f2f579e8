"""The process-health probes (loop lag, GC pauses) and heap settling."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

from prometheus_client import CollectorRegistry

from gqlsync import heap
from gqlsync.observe.health import PROBE_SECONDS, HealthProbes


def _sample(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return value or 0.0


async def test_a_blocked_loop_shows_as_lag() -> None:
    registry = CollectorRegistry()
    probes = HealthProbes(registry)
    probes.start()
    try:
        await asyncio.sleep(PROBE_SECONDS * 1.5)
        time.sleep(0.3)  # holds the loop, as a slow callback would
        await asyncio.sleep(PROBE_SECONDS * 1.5)
    finally:
        probes.stop()
    assert _sample(registry, "gqlsync_event_loop_lag_seconds_count") >= 2
    # the tick due during the block ran at least ~0.2 s late: it is above the 0.1 bucket
    above = _sample(registry, "gqlsync_event_loop_lag_seconds_count") - _sample(
        registry, "gqlsync_event_loop_lag_seconds_bucket", {"le": "0.1"})
    assert above >= 1
    count = _sample(registry, "gqlsync_event_loop_lag_seconds_count")
    await asyncio.sleep(PROBE_SECONDS * 3)
    assert _sample(registry, "gqlsync_event_loop_lag_seconds_count") == count  # stopped means stopped


async def test_collections_are_timed_by_generation() -> None:
    registry = CollectorRegistry()
    probes = HealthProbes(registry)
    probes.start()
    try:
        gc.collect(2)
        gc.collect(0)
    finally:
        probes.stop()
    assert _sample(registry, "gqlsync_gc_pause_seconds_count", {"generation": "2"}) >= 1
    assert _sample(registry, "gqlsync_gc_pause_seconds_count", {"generation": "0"}) >= 1
    assert probes._on_gc not in gc.callbacks
    before = _sample(registry, "gqlsync_gc_pause_seconds_count", {"generation": "2"})
    gc.collect(2)
    assert _sample(registry, "gqlsync_gc_pause_seconds_count", {"generation": "2"}) == before


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_settle_freezes_the_live_heap_and_frees_what_died_while_frozen() -> None:
    try:
        node = _Node()
        ref = weakref.ref(node)
        heap.settle()
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert ref() is not None  # frozen: full collections do not walk it
        heap.settle()  # unfreezes first: what died meanwhile is freed
        assert ref() is None
    finally:
        gc.unfreeze()


async def test_a_server_with_settle_heap_freezes_after_start_and_after_a_deploy() -> None:
    from pathlib import Path

    from gqlsync.app import load_app
    from gqlsync.server import GqlsyncServer, ServerSettings

    app_dir = Path(__file__).resolve().parents[2] / "examples" / "event-app"
    gc.unfreeze()
    plain = GqlsyncServer(app_dir, ServerSettings(dynamodb_endpoint="http://127.0.0.1:9"))
    await plain.start()
    try:
        assert gc.get_freeze_count() == 0  # embedded in someone's process: their heap is left alone
    finally:
        await plain.stop()
    server = GqlsyncServer(app_dir, ServerSettings(dynamodb_endpoint="http://127.0.0.1:9", settle_heap=True))
    try:
        await server.start()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        gc.unfreeze()
        await server.install(load_app(app_dir))
        assert gc.get_freeze_count() > 0
        assert server.apis.current(server.api_id or "").version == "2"
    finally:
        await server.stop()
        gc.unfreeze()
