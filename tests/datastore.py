"""Amplify DataStore devices for the tests: a Node process each (tests/node/datastore-device.mjs) behind a Relay."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import ROOT
from tests.relay import Relay

NODE_DIR = ROOT / "tests" / "node"
CODEGEN_DIR = ROOT / "tests" / "amplify" / "codegen"


def generate_models(schema: Path, out: Path) -> Path:
    """Amplify's model codegen for `schema`; returns the generated schema.js."""
    node = shutil.which("node")
    assert node, "node is required (tests/run.sh installs it)"
    subprocess.run([node, str(CODEGEN_DIR / "models.cjs"), str(schema), str(out)], check=True, cwd=CODEGEN_DIR,
                   capture_output=True, timeout=120)
    return out / "schema.js"


class Device:
    """One DataStore client; its network is `relay` (cut it and call `offline()` to take the device offline)."""

    def __init__(self, name: str, relay: Relay, env: dict[str, str]) -> None:
        self.name = name
        self.relay = relay
        self.env = env
        self.events: list[dict[str, Any]] = []
        self.log: list[str] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._next = 0
        self._reader: asyncio.Task[None] | None = None
        self._stderr: asyncio.Task[None] | None = None

    async def launch(self) -> Device:
        node = shutil.which("node")
        assert node
        url = f"https://127.0.0.1:{self.relay.port}"
        self._proc = await asyncio.create_subprocess_exec(
            node, str(NODE_DIR / "datastore-device.mjs"), cwd=NODE_DIR, env={**os.environ, **self.env,
                                                                             "GQLSYNC_URL": url},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, limit=1 << 24)
        self._reader = asyncio.ensure_future(self._read())
        self._stderr = asyncio.ensure_future(self._read_stderr())
        return self

    async def _read(self) -> None:
        assert self._proc and self._proc.stdout
        while line := await self._proc.stdout.readline():
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                self.log.append(line.decode(errors="replace"))
                continue
            if "reply" in msg:
                fut = self._replies.pop(msg["reply"], None)
                if fut is not None and not fut.done():
                    if msg["ok"]:
                        fut.set_result(msg["result"])
                    else:
                        fut.set_exception(AssertionError(f"{self.name}: {msg['error']}"))
            else:
                self.events.append(msg)
        for fut in self._replies.values():
            if not fut.done():
                fut.set_exception(AssertionError(f"{self.name} exited:\n{self.diagnostics()}"))

    async def _read_stderr(self) -> None:
        assert self._proc and self._proc.stderr
        while line := await self._proc.stderr.readline():
            self.log.append(line.decode(errors="replace"))

    def diagnostics(self) -> str:
        tail = "".join(self.log[-40:])
        events = "\n".join(json.dumps(e)[:300] for e in self.events[-30:])
        return f"--- stderr/log of {self.name}:\n{tail}\n--- last events:\n{events}"

    async def call(self, op: str, timeout: float = 60, **args: Any) -> Any:
        assert self._proc and self._proc.stdin
        self._next += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[self._next] = fut
        self._proc.stdin.write((json.dumps({"id": self._next, "op": op, **args}) + "\n").encode())
        await self._proc.stdin.drain()
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name}: {op} did not answer within {timeout}s\n{self.diagnostics()}") from None

    async def start(self) -> None:
        await self.call("start")

    async def save(self, **fields: Any) -> dict[str, Any]:
        return dict(await self.call("save", fields=fields))

    async def update(self, item_id: str, **fields: Any) -> dict[str, Any]:
        return dict(await self.call("update", itemId=item_id, fields=fields))

    async def delete(self, item_id: str) -> None:
        await self.call("delete", itemId=item_id)

    async def items(self) -> dict[str, dict[str, Any]]:
        return {i["id"]: i for i in await self.call("query")}

    async def offline(self) -> None:
        """The network goes away: the relay drops the device's connections, and DataStore is told."""
        self.relay.cut()
        await self.call("offline")

    async def online(self) -> None:
        self.relay.restore()
        await self.call("online")

    async def drained(self) -> None:
        """Waits until the outbox has been delivered."""
        await self.call("outbox")

    async def until(self, check: Callable[[dict[str, dict[str, Any]]], bool], what: str,
                    timeout: float = 30) -> dict[str, dict[str, Any]]:
        """Polls the local store until `check(items)` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            items = await self.items()
            if check(items):
                return items
            if loop.time() > deadline:
                raise AssertionError(f"{self.name}: {what} not seen within {timeout}s; local store: {items}\n"
                                     f"{self.diagnostics()}")
            await asyncio.sleep(0.2)

    def seen(self, event: str) -> list[Any]:
        return [e.get("data") for e in self.events if e.get("event") == event]

    async def close(self) -> None:
        if self._proc is None:
            return
        if self._proc.returncode is None:
            try:
                await self.call("stop", timeout=10)
            except AssertionError:
                pass
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        for task in (self._reader, self._stderr):
            if task is not None:
                await task
