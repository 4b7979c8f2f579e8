"""Realtime benchmarks: fan-out latency (one process, and through Redis across two) and idle-connection cost.

- fan-out: N subscribers (AppSync protocol) on one event; a mutation over HTTP; for each mutation the
  time from its HTTP response to the *last* subscriber's delivery (p50/p99 over the mutations) and
  per-delivery latency;
- the same with subscribers on process B and mutations sent to process A, through redis-server;
- idle: M idle AppSync connections (connection_init/ack, one subscription each): the server's RSS and
  the CPU it spends per keep-alive round.
The clients run in this process (so all timestamps share one clock) with `websockets`.
Usage: python bench/realtime.py  (env: RT_SUBSCRIBERS=1000 RT_MUTATIONS=30 RT_IDLE=10000)
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.services import DynamoDBLocal, RedisServer, free_port, wait_for_port  # noqa: E402

KEY = "da2-gqlsynclocaldevelopmentkey01"
SUBSCRIBERS = int(os.environ.get("RT_SUBSCRIBERS", "1000"))
MUTATIONS = int(os.environ.get("RT_MUTATIONS", "30"))
IDLE = int(os.environ.get("RT_IDLE", "10000"))
_readers: set[asyncio.Future[None]] = set()
SUB = "subscription($e: String!) { subscribeToEventComments(eventId: $e) { eventId commentId content } }"
COMMENT = ('mutation($e: ID!, $c: String!) { commentOnEvent(eventId: $e, content: $c, createdAt: "t") '
           "{ eventId commentId content } }")


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(ddb: str, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gqlsync.cli", "serve", "examples/event-app", "--host", "127.0.0.1",
                             "--port", str(port), "--dynamodb-endpoint", ddb, "--create-tables", "--log-level",
                             "warning", *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=raise_fd_limit)
    wait_for_port(port, 60, proc)
    return proc, f"http://127.0.0.1:{port}"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def subscriber(base: str, event: str, sub: bool, received: list[float] | None) -> Any:
    header = base64.b64encode(json.dumps({"host": "bench", "x-api-key": KEY}).encode()).decode()
    ws = await websockets.connect(f"{base.replace('http', 'ws')}/graphql/realtime?header={header}&payload=e30=",
                                  subprotocols=["graphql-ws"], ping_interval=None, max_queue=None)
    await ws.send('{"type":"connection_init"}')
    while json.loads(await ws.recv())["type"] != "connection_ack":
        pass
    if sub:
        await ws.send(json.dumps({"id": "1", "type": "start", "payload": {
            "data": json.dumps({"query": SUB, "variables": {"e": event}}),
            "extensions": {"authorization": {"host": "bench", "x-api-key": KEY}}}}))
        while json.loads(await ws.recv())["type"] != "start_ack":
            pass
    if received is not None:
        async def reader() -> None:
            async for raw in ws:
                if '"type":"data"' in raw:
                    received.append(time.perf_counter())
        _readers.add(asyncio.ensure_future(reader()))
    return ws


async def open_many(n: int, make: Any, batch: int = 200) -> list[Any]:
    out: list[Any] = []
    for i in range(0, n, batch):
        out.extend(await asyncio.gather(*(make() for _ in range(min(batch, n - i)))))
    return out


async def fan_out(sub_base: str, mut_base: str, label: str) -> dict[str, Any]:
    async with httpx.AsyncClient(headers={"x-api-key": KEY}, timeout=30) as http:
        r = await http.post(f"{mut_base}/graphql", json={"query": 'mutation { createEvent(name: "fan", when: "w", '
                                                                  'where: "x", description: "d") { id } }'})
        event = r.json()["data"]["createEvent"]["id"]
        stamps: list[list[float]] = [[] for _ in range(SUBSCRIBERS)]
        it = iter(range(SUBSCRIBERS))
        sockets = await open_many(SUBSCRIBERS, lambda: subscriber(sub_base, event, True, stamps[next(it)]))
        await asyncio.sleep(1.0)
        last_delivery, per_delivery = [], []
        for m in range(MUTATIONS):
            before = [len(s) for s in stamps]
            body = {"query": COMMENT, "variables": {"e": event, "c": f"m{m}"}}
            resp = await http.post(f"{mut_base}/graphql", json=body)
            t0 = time.perf_counter()
            assert "errors" not in resp.json(), resp.json()
            deadline = t0 + 10
            while any(len(s) == b for s, b in zip(stamps, before, strict=True)) and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            got = [s[b] for s, b in zip(stamps, before, strict=True) if len(s) > b]
            if len(got) != SUBSCRIBERS:
                raise RuntimeError(f"{label}: only {len(got)}/{SUBSCRIBERS} subscribers got mutation {m}")
            last_delivery.append((max(got) - t0) * 1000)
            per_delivery.extend((g - t0) * 1000 for g in got)
            await asyncio.sleep(0.1)
        for ws in sockets:
            await ws.close()
    last_delivery.sort()
    per_delivery.sort()
    return {"scenario": label, "subscribers": SUBSCRIBERS, "mutations": MUTATIONS,
            "last_p50_ms": statistics.median(last_delivery),
            "last_p99_ms": last_delivery[min(len(last_delivery) - 1, int(len(last_delivery) * 0.99))],
            "delivery_p50_ms": statistics.median(per_delivery),
            "delivery_p99_ms": per_delivery[int(len(per_delivery) * 0.99)]}


async def idle(base: str, pid: int, ka_seconds: float) -> dict[str, Any]:
    before = rss_mib(pid)
    sockets = await open_many(IDLE, lambda: subscriber(base, "idle-event", True, None), batch=250)
    await asyncio.sleep(2)
    after = rss_mib(pid)
    # keep-alive cost: server CPU over several ka rounds with nothing else happening
    drain = [asyncio.ensure_future(_drain(ws)) for ws in sockets]
    c0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(ka_seconds * 4)
    c1, t1 = cpu_seconds(pid), time.monotonic()
    rounds = (t1 - t0) / ka_seconds
    for d in drain:
        d.cancel()
    for ws in sockets:
        await ws.close()
    return {"connections": IDLE, "rss_before_mib": before, "rss_after_mib": after,
            "per_connection_kib": (after - before) * 1024 / IDLE, "ka_interval_s": ka_seconds,
            "cpu_per_ka_round_ms": (c1 - c0) / rounds * 1000, "cpu_share_at_60s_ka": (c1 - c0) / rounds / 60}


async def _drain(ws: Any) -> None:
    async for _ in ws:
        pass


async def main() -> None:
    raise_fd_limit()
    ddb = DynamoDBLocal().start()
    redis = RedisServer().start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        single, base = serve(ddb.endpoint)
        procs.append(single)
        results = [await fan_out(base, base, "one process")]
        a, base_a = serve(ddb.endpoint, "--redis-url", redis.url)
        b, base_b = serve(ddb.endpoint, "--redis-url", redis.url)
        procs += [a, b]
        results.append(await fan_out(base_b, base_a, "two processes via Redis"))
        idle_proc, idle_base = serve(ddb.endpoint, "--keepalive-seconds", "5")
        procs.append(idle_proc)
        idle_result = await idle(idle_base, idle_proc.pid, 5.0)
    finally:
        for p in procs:
            p.terminate()
            p.wait(20)
        redis.stop()
        ddb.stop()
    lines = ["# gqlsync realtime benchmark", "", "| fan-out | subscribers | mutations | last delivery p50 ms | "
             "last delivery p99 ms | any delivery p50 ms | any delivery p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['scenario']} | {r['subscribers']} | {r['mutations']} | {r['last_p50_ms']:.1f} | "
                     f"{r['last_p99_ms']:.1f} | {r['delivery_p50_ms']:.1f} | {r['delivery_p99_ms']:.1f} |")
    i = idle_result
    lines += ["", "| idle connections | server RSS before MiB | after MiB | per connection KiB | CPU per ka round ms "
              "| CPU share at 60 s ka |", "|---:|---:|---:|---:|---:|---:|",
              f"| {i['connections']} | {i['rss_before_mib']:.0f} | {i['rss_after_mib']:.0f} | "
              f"{i['per_connection_kib']:.1f} | {i['cpu_per_ka_round_ms']:.0f} | {i['cpu_share_at_60s_ka']:.2%} |"]
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / f"realtime-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text)


if __name__ == "__main__":
    asyncio.run(main())
