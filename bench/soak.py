"""Soak: one `gqlsync serve` under steady mixed load for SOAK_MINUTES; RSS every minute, p50/p99 per 5 minutes.

The Event app on DynamoDB Local and redis-server (--redis-url, so events go through Redis even with one process):
SOAK_WRITERS tasks alternate createEvent and commentOnEvent, SOAK_READERS alternate getEvent and listEvents, and
SOAK_SUBSCRIBERS live subscriptions (AppSync protocol) follow the commented events. The load is tests/load.py's
asyncio generator (not wrk: every call's outcome and latency is kept, and mutations and subscriptions are part of
the mix). Written as markdown to bench/results/soak-<timestamp>.md and printed.
Usage: python bench/soak.py  (env: SOAK_MINUTES=30 SOAK_WRITERS=4 SOAK_READERS=4 SOAK_SUBSCRIBERS=20
SOAK_PAUSE=0.01)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import pct  # noqa: E402
from tests.load import CREATE, EVENT_KEY, Gqlsync, Load, Subscription, call, missing_writes  # noqa: E402
from tests.services import DynamoDBLocal, RedisServer  # noqa: E402

MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
WRITERS = int(os.environ.get("SOAK_WRITERS", "4"))
READERS = int(os.environ.get("SOAK_READERS", "4"))
SUBSCRIBERS = int(os.environ.get("SOAK_SUBSCRIBERS", "20"))
PAUSE = float(os.environ.get("SOAK_PAUSE", "0.01"))
WINDOW = 300.0  # seconds in a latency window
EVENTS = 5  # events the comments (and so the subscriptions) are spread over
READ_BACK = 2000  # the newest acknowledged events read back at the end


async def soak() -> str:
    work = Path(tempfile.mkdtemp(prefix="gqlsync-soak-"))
    ddb = DynamoDBLocal(db_path=work).start()
    redis = RedisServer().start()
    server = Gqlsync(ROOT / "examples" / "event-app", work / "gqlsync.log", "--dynamodb-endpoint", ddb.endpoint,
                     "--redis-url", redis.url)
    subs: list[Subscription] = []
    try:
        async with httpx.AsyncClient(headers={"x-api-key": EVENT_KEY}, timeout=30,
                                     limits=httpx.Limits(max_connections=WRITERS + READERS + 4)) as http:
            events = []
            for i in range(EVENTS):
                _, body = await call(http, server.url, "createEvent", CREATE, {"n": f"soak-{i}"})
                assert body is not None and "errors" not in body, body
                events.append(body["data"]["createEvent"]["id"])
            subs = [Subscription(events[i % EVENTS], server.url) for i in range(SUBSCRIBERS)]
            for s in subs:
                await s.start()
            baseline = server.rss()
            load = Load(http, server.url, server.url, events, writers=WRITERS, readers=READERS, pause=PAUSE)
            start = time.time()
            rss: list[tuple[float, float]] = [(0.0, baseline)]
            load.start()
            end = start + MINUTES * 60
            while (now := time.time()) < end:
                await asyncio.sleep(min(60.0, end - now))
                rss.append((time.time() - start, server.rss()))
                print(f"  {rss[-1][0] / 60:5.1f} min: RSS {rss[-1][1]:.1f} MiB, {len(load.outcomes)} calls",
                      flush=True)
            await load.stop()
            elapsed = time.time() - start
            await asyncio.sleep(2)  # the last events reach the subscriptions
            settled = server.rss()
            lost_events, lost_comments = await missing_writes(http, server.url, Load(
                http, server.url, server.url, events, created=load.created[-READ_BACK:], commented=load.commented))
            undelivered = sum(len(set(load.commented.get(s.event_id, [])) - set(s.received)) for s in subs)
            closed = sum(s.closed is not None for s in subs)
    finally:
        for s in subs:
            await s.close()
        server.stop()
        redis.stop()
        ddb.stop()

    lines = [f"# Soak: {MINUTES:g} min, `gqlsync serve` examples/event-app on DynamoDB Local + Redis",
             "", f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {WRITERS} writers (createEvent/commentOnEvent), "
             f"{READERS} readers (getEvent/listEvents), {SUBSCRIBERS} live subscriptions; pause {PAUSE:g} s.", "",
             "| window | calls | req/s | errors | p50 ms | p99 ms | mutation p99 ms | query p99 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for w0 in range(0, max(1, int(-(-elapsed // WINDOW)))):
        lo, hi = start + w0 * WINDOW, min(start + (w0 + 1) * WINDOW, start + elapsed)
        window = [o for o in load.outcomes if lo <= o.at < hi]
        ms = [o.seconds * 1000 for o in window]
        muts = [o.seconds * 1000 for o in window if o.op in ("createEvent", "commentOnEvent")]
        qs = [o.seconds * 1000 for o in window if o.op in ("getEvent", "listEvents")]
        errors = sum(o.kind != "ok" for o in window)
        lines.append(f"| {w0 * 5}-{(hi - start) / 60:.1f} min | {len(window)} | {len(window) / (hi - lo):.0f} | "
                     f"{errors} | {statistics.median(ms) if ms else float('nan'):.1f} | {pct(ms, 0.99):.1f} | "
                     f"{pct(muts, 0.99):.1f} | {pct(qs, 0.99):.1f} |")
    lines += ["", "| minute | RSS MiB | vs start |", "| ---: | ---: | ---: |"]
    lines += [f"| {t / 60:.1f} | {r:.1f} | {r - baseline:+.1f} |" for t, r in rss]
    lines += [f"| settled (2 s after) | {settled:.1f} | {settled - baseline:+.1f} |", "",
              f"Acknowledged: {len(load.created)} createEvent, {sum(len(c) for c in load.commented.values())} "
              f"commentOnEvent; read back missing: {len(lost_events)} of the newest {min(READ_BACK, len(load.created))}"
              f" events, {len(lost_comments)} comments. Subscriptions: {undelivered} acknowledged comments not "
              f"delivered, {closed} of {SUBSCRIBERS} closed. Failures by kind: {dict(load.kinds())}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    table = asyncio.run(soak())
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"soak-{datetime.now(UTC):%Y%m%d-%H%M%S}.md"
    path.write_text(table)
    print(table)
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
