"""Process health as metrics: how late the event loop runs its callbacks, and how long garbage collections pause it.

Both are what a request's tail is made of when the process itself is the cause: a callback that holds the loop
delays every request waiting behind it, and a collection of the oldest generation stops the process for as long as
it takes to walk every tracked object. The loop probe wakes every PROBE_SECONDS and records how much later than
asked it ran (one timer, no task); the GC probe is a `gc.callbacks` entry timing each collection.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

PROBE_SECONDS = 0.1
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class HealthProbes:
    """The loop-lag and GC-pause histograms of one server; `start` on its loop, `stop` when it stops."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.loop_lag = Histogram("gqlsync_event_loop_lag_seconds", "How much later than scheduled the event loop "
                                  f"ran a timer (probed every {PROBE_SECONDS:g} s)", buckets=_BUCKETS,
                                  registry=registry)
        self.gc_pause = Histogram("gqlsync_gc_pause_seconds", "Garbage-collection pauses, by generation",
                                  ["generation"], buckets=_BUCKETS, registry=registry)
        self._gc_children = [self.gc_pause.labels(str(g)) for g in range(3)]
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._gc_started = 0.0

    def start(self) -> None:
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        self._due = loop.time() + PROBE_SECONDS
        self._timer = loop.call_at(self._due, self._tick, loop)
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        self.loop_lag.observe(max(0.0, now - self._due))
        self._due = now + PROBE_SECONDS
        self._timer = loop.call_at(self._due, self._tick, loop)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self._gc_children[int(info.get("generation", 2))].observe(time.perf_counter() - self._gc_started)
            self._gc_started = 0.0
