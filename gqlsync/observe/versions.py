"""Requests and errors per API version over a sliding window: what a canary's automatic rollback watches."""

from __future__ import annotations

import time
from collections import deque


class VersionWindow:
    """Per (api, version): counts in one-second buckets for the last `horizon` seconds."""

    def __init__(self, horizon: float = 3600.0) -> None:
        self.horizon = horizon
        self._buckets: dict[tuple[str, str], deque[list[int]]] = {}

    def record(self, api_id: str, version: str, errored: bool, now: float | None = None) -> None:
        second = int(now if now is not None else time.time())
        buckets = self._buckets.setdefault((api_id, version), deque())
        if not buckets or buckets[-1][0] != second:
            buckets.append([second, 0, 0])
            while buckets and buckets[0][0] < second - self.horizon:
                buckets.popleft()
        buckets[-1][1] += 1
        if errored:
            buckets[-1][2] += 1

    def window(self, api_id: str, version: str, seconds: float, now: float | None = None) -> tuple[int, int]:
        """(requests, errors) over the last `seconds`."""
        since = (now if now is not None else time.time()) - seconds
        requests = errors = 0
        for second, n, e in self._buckets.get((api_id, version), ()):
            if second >= since:
                requests += n
                errors += e
        return requests, errors

    def forget(self, api_id: str, version: str) -> None:
        self._buckets.pop((api_id, version), None)
