"""Keeps a served app's long-lived objects out of the garbage collector's full collections (the p99 they cost).

A built API is a few hundred thousand tracked objects (graphql-core's schema and parsed documents, compiled
templates, botocore's service models). CPython's oldest-generation collection walks every one of them, and under
load it runs every second or two: measured on the Event app at 16 clients, each one stopped the process for
80 to 130 ms, which is the whole of getEvent's p99. `settle()` collects once and then freezes what is alive into the
permanent generation (`gc.freeze`), so later collections walk only what requests allocate.

It runs when the heap's long-lived content changes: after the server starts, after a version is installed and after
one is retired. Each time it first unfreezes, so a retired version's objects are freed by that collection; what
became garbage while frozen (a version kept alive by its subscribers until they left) waits for the next settle.
A process that embeds gqlsync decides for itself: `ServerSettings.settle_heap` (on for `gqlsync serve/dev`).
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("gqlsync.server")


def settle() -> None:
    """Collect everything, then exempt what survives from future collections (costs one full collection now)."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.debug("heap settled", extra={"frozen_objects": gc.get_freeze_count(),
                                     "ms": round((time.perf_counter() - started) * 1000, 1)})
