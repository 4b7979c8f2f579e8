"""`gqlsync serve --workers 2`: two processes on one port; subscribers held by either get every mutation (Redis),
a worker that dies is replaced, and more than one worker without a broker is refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.helpers import EVENT_APP, EVENT_KEY, ROOT
from tests.integration.test_realtime_redis import SUB, connect, next_data
from tests.services import RedisServer, children, free_port, wait_for_port

pytestmark = pytest.mark.integration


def sockets_of(pid: int) -> set[int]:
    """Inodes of the sockets process `pid` holds open."""
    out = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(int(target[8:-1]))
    except OSError:
        pass
    return out


def established_on(port: int) -> set[int]:
    """Inodes of the established TCP connections whose local port is `port` (the server's side)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "01":
                out.add(int(cols[9]))
    return out


@pytest.fixture
def served(dynamodb_endpoint: str, redis_server: RedisServer) -> Iterator[tuple[str, subprocess.Popen[bytes], int]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gqlsync.cli", "serve", str(EVENT_APP), "--host", "127.0.0.1",
                             "--port", str(port), "--dynamodb-endpoint", dynamodb_endpoint, "--create-tables",
                             "--redis-url", redis_server.url, "--workers", "2", "--log-level", "warning"],
                            cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 60, proc)
        yield f"http://127.0.0.1:{port}", proc, port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


async def wait_workers(proc: subprocess.Popen[bytes], n: int, exclude: frozenset[int] = frozenset()) -> list[int]:
    """The server's worker processes, once there are `n` besides `exclude` (uvicorn's supervisor spawns them;
    multiprocessing's resource tracker is a child too, but not a spawned worker)."""
    for _ in range(300):
        workers = []
        for c in children(proc.pid):
            try:
                if c not in exclude and b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes():
                    workers.append(c)
            except OSError:
                continue
        if len(workers) >= n:
            return workers
        await asyncio.sleep(0.1)
    raise AssertionError(f"{n} workers did not appear: children {children(proc.pid)}")


async def subscribe(base: str, event: str, sub_id: str) -> websockets.ClientConnection:
    ws = await connect(base)
    await ws.send(json.dumps({"id": sub_id, "type": "start", "payload": {
        "data": json.dumps({"query": SUB, "variables": {"e": event}}),
        "extensions": {"authorization": {"host": "x", "x-api-key": EVENT_KEY}}}}))
    msg = json.loads(await ws.recv())
    while msg["type"] == "ka":
        msg = json.loads(await ws.recv())
    assert msg == {"type": "start_ack", "id": sub_id}
    return ws


async def test_subscribers_on_both_workers_get_every_mutation(
        served: tuple[str, subprocess.Popen[bytes], int]) -> None:
    base, proc, port = served
    workers = await wait_workers(proc, 2)
    assert len(workers) == 2
    # open subscriptions until both workers hold at least one (the kernel hands each connection to one of them)
    subs: list[websockets.ClientConnection] = []
    held: dict[int, int] = {}
    for n in range(40):
        subs.append(await subscribe(base, "evt-w", f"s{n}"))
        await asyncio.sleep(0.02)
        mine = established_on(port)
        held = {w: len(sockets_of(w) & mine) for w in workers}
        if n >= 3 and all(held.values()):
            break
    assert all(held.values()), f"every subscription landed on one worker: {held}"
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient(headers={"x-api-key": EVENT_KEY}, timeout=10) as http:
        for i in range(4):  # fresh connections, so the mutations are made on either worker
            async with httpx.AsyncClient(headers={"x-api-key": EVENT_KEY}, timeout=10) as one:
                r = await one.post(f"{base}/graphql", json={
                    "query": "mutation($c: String!) { commentOnEvent(eventId: \"evt-w\", content: $c, "
                             "createdAt: \"t\") { eventId content } }", "variables": {"c": f"c{i}"}})
                assert "errors" not in r.json(), r.json()
        for ws in subs:  # each subscriber, on whichever worker, gets each mutation once, in order
            got = [(await next_data(ws, 10))["content"] for _ in range(4)]
            assert got == ["c0", "c1", "c2", "c3"]
        with pytest.raises(TimeoutError):
            await next_data(subs[0], 0.5)
        # a worker that dies is replaced, and the port keeps answering meanwhile
        os.kill(workers[0], signal.SIGKILL)
        replaced = await wait_workers(proc, 2, exclude=frozenset({workers[0]}))
        assert workers[0] not in replaced
        for _ in range(3):
            r = await http.post(f"{base}/graphql", json={"query": "{ listEvents(limit: 1) { nextToken } }"})
            assert r.status_code == 200 and "errors" not in r.json()
    for ws in subs:
        await ws.close()


def test_more_than_one_worker_needs_a_broker(dynamodb_endpoint: str) -> None:
    out = subprocess.run([sys.executable, "-m", "gqlsync.cli", "serve", str(EVENT_APP), "--port", str(free_port()),
                          "--dynamodb-endpoint", dynamodb_endpoint, "--workers", "2"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--workers 2 needs --redis-url" in out.stderr
