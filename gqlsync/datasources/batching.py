"""Per-request batch loader: a resolver's BatchInvoke payloads gathered across list items, sent maxBatchSize a call.

The engine makes one loader per (request, resolver step) and tells it when a step that may load starts
(`expect`) and ends (`settle`). Payloads wait until every step that started has either loaded or ended (so
items whose mapping code runs off the loop are not left out) and the loop has turned once with nothing new; a
full batch goes at once. Results come back in payload order, each to the step that sent it; a failed call fails
each of its items.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

#: Sends one batch (the payloads, in order) and returns one result per payload, in the same order.
SendBatch = Callable[[list[Any]], Awaitable[list[Any]]]


class BatchLoader:
    def __init__(self, send: SendBatch, max_size: int) -> None:
        self.send = send
        self.max_size = max(1, max_size)
        self.waiting = 0  # steps started that have neither loaded nor ended
        self.pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self.batches = 0  # calls sent (for tests and logs)
        self._check_scheduled = False
        self._seen = 0  # loads at the previous check
        self._loads = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def expect(self) -> None:
        """A step that may load has started."""
        self.waiting += 1

    def release(self) -> None:
        """A step that was expected will not load (it ended, or called its data source without batching)."""
        self.waiting -= 1
        self._schedule()

    async def load(self, payload: Any, *, expected: bool = True) -> Any:
        """The result for `payload` once its batch has been sent (raises what the call raised); `expected` says
        the loading step was counted by `expect` (and is now counted off)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((payload, future))
        if expected:
            self.waiting -= 1
        self._loads += 1
        while len(self.pending) >= self.max_size:
            self._dispatch(self.max_size)
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if self.pending and not self._check_scheduled:
            self._check_scheduled = True
            asyncio.get_running_loop().call_soon(self._check)

    def _check(self) -> None:
        self._check_scheduled = False
        if not self.pending or self.waiting > 0:
            return  # a step still running will load or settle, and check again
        if self._loads != self._seen:  # something arrived since the last look: give the loop one more turn
            self._seen = self._loads
            self._schedule()
            return
        while self.pending:
            self._dispatch(self.max_size)

    def _dispatch(self, size: int) -> None:
        chunk, self.pending = self.pending[:size], self.pending[size:]
        self.batches += 1
        task = asyncio.get_running_loop().create_task(self._send(chunk))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, chunk: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        try:
            results = await self.send([payload for payload, _ in chunk])
        except asyncio.CancelledError:
            for _, future in chunk:
                future.cancel()
            raise
        except Exception as exc:  # every item of the batch fails with it
            for _, future in chunk:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(chunk, results, strict=True):
            if not future.done():
                future.set_result(result)
