"""Where a realtime connection's memory goes: tracemalloc snapshots diffed around opening N connections.

The server runs in this process (uvicorn with gqlsync's listener, as `gqlsync serve` runs it) with tracemalloc on;
lean clients (bench/rt_client.py) run in a subprocess. Prints the top owners (by file and by line) per connection,
idle (connection_ack, no subscription) and with one subscription.
Usage: python bench/realtime_memory.py  (env: RT_MEM_N=2000 RT_MEM_TOP=25)
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import uvicorn  # noqa: E402
from realtime import Clients  # noqa: E402  (the bench's client processes)

from gqlsync.http import ServerSettings, create_app  # noqa: E402
from gqlsync.http.listener import uvicorn_options  # noqa: E402
from tests.services import free_port  # noqa: E402

N = int(os.environ.get("RT_MEM_N", "2000"))
TOP = int(os.environ.get("RT_MEM_TOP", "25"))


def snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])


def owners(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, key: str, n: int) -> list[tuple[str, float]]:
    stats = after.compare_to(before, key)
    total = sum(s.size_diff for s in stats)
    rows = [("TOTAL", total / n)]
    for s in stats[:TOP]:
        frame = s.traceback[0]
        name = frame.filename.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        rows.append((f"{name}:{frame.lineno}" if key == "lineno" else name, s.size_diff / n))
    return rows


async def main() -> None:
    settings = ServerSettings(dynamodb_endpoint="http://127.0.0.1:9")
    app = create_app(ROOT / "examples/event-app", settings)
    port = free_port()
    opts = uvicorn_options(settings)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                       access_log=False, **opts))
    task = asyncio.ensure_future(uv.serve())
    while not uv.started:
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    out: list[str] = []
    tracemalloc.start(1)
    try:
        for label, event in (("idle (connection_ack, no subscription)", None), ("one subscription", "ev-1")):
            clients = Clients()
            await clients.ask(op="open", url=url, n=50, event=event)  # warm caches (documents, plans)
            await asyncio.sleep(0.5)
            s0 = snapshot()
            opened = await clients.ask(op="open", url=url, n=N, event=event)
            await asyncio.sleep(1.0)
            s1 = snapshot()
            assert opened["opened"] == N, opened
            for key in ("filename", "lineno"):
                out.append(f"\n### {label}: bytes per connection by {key} (N={N})\n")
                out.append("| owner | bytes/conn |\n|---|---:|")
                out += [f"| {name} | {size:.0f} |" for name, size in owners(s0, s1, key, N)]
            await clients.ask(op="close")
            clients.stop()
            await asyncio.sleep(1.0)
    finally:
        tracemalloc.stop()
        uv.should_exit = True
        await task
    print("\n".join(out))


if __name__ == "__main__":
    asyncio.run(main())
