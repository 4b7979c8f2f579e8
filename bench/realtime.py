"""Realtime benchmarks: fan-out latency (one process, and through Redis across two) and idle-connection cost.

- fan-out: N subscribers (AppSync protocol) on one event; a mutation over HTTP; for each mutation the time from
  its HTTP response to the *last* subscriber's delivery (p50/p99 over the mutations) and per-delivery latency;
- the same with subscribers split over processes A and B, mutations sent to A, through redis-server;
- idle: M idle AppSync connections after connection_ack, without a subscription and with one (a fresh server each):
  the server's RSS per connection;
- big: B idle connections on one process (source addresses 127.0.0.2-9 so client ports last): RSS, and the CPU
  the server spends per keep-alive round, as a share of one core at the 60 s interval.
The clients are lean (bench/rt_client.py: raw asyncio protocols, frames timestamped on arrival without decoding)
and run in their own processes; perf_counter is CLOCK_MONOTONIC, so stamps compare across processes.
Usage: python bench/realtime.py  (env: RT_SUBSCRIBERS=1000 RT_MUTATIONS=30 RT_REDIS_SUBSCRIBERS=10000
RT_IDLE=10000 RT_BIG=100000 RT_KA_WINDOW=62 RT_CLIENT_PROCS=2; 0 skips a part)
"""

from __future__ import annotations

import asyncio
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import cpu_seconds, pct, rss_mib  # noqa: E402
from tests.services import DynamoDBLocal, RedisServer, free_port, wait_for_port  # noqa: E402

KEY = "da2-gqlsynclocaldevelopmentkey01"
SUBSCRIBERS = int(os.environ.get("RT_SUBSCRIBERS", "1000"))
MUTATIONS = int(os.environ.get("RT_MUTATIONS", "30"))
REDIS_SUBSCRIBERS = int(os.environ.get("RT_REDIS_SUBSCRIBERS", "10000"))
IDLE = int(os.environ.get("RT_IDLE", "10000"))
BIG = int(os.environ.get("RT_BIG", "100000"))
KA_WINDOW = float(os.environ.get("RT_KA_WINDOW", "62"))  # seconds of idle CPU measured (a 60 s ka round inside)
CLIENT_PROCS = int(os.environ.get("RT_CLIENT_PROCS", "2"))
SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]
COMMENT = ('mutation($e: ID!, $c: String!) { commentOnEvent(eventId: $e, content: $c, createdAt: "t") '
           "{ eventId commentId content } }")


class Clients:
    """One rt_client.py process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench/rt_client.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd=ROOT)

    async def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()
        line = await asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline)
        return dict(json.loads(line))

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


async def open_split(pools: list[Clients], url: str, n: int, event: str | None, sources: list[str] | None = None
                     ) -> None:
    share = [n // len(pools) + (i < n % len(pools)) for i in range(len(pools))]
    results = await asyncio.gather(*(p.ask(op="open", url=url, n=k, event=event, sources=sources or [])
                                     for p, k in zip(pools, share, strict=True)))
    failed = sum(r["failed"] for r in results)
    if failed:
        raise RuntimeError(f"{failed}/{n} connections failed to open")


def raise_fd_limit() -> None:
    """As many open files as the kernel allows (root may raise the hard limit up to fs.nr_open)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        most = int(Path("/proc/sys/fs/nr_open").read_text())
        resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))
    except (OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(ddb: str, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gqlsync.cli", "serve", "examples/event-app", "--host", "127.0.0.1",
                             "--port", str(port), "--dynamodb-endpoint", ddb, "--create-tables", "--log-level",
                             "warning", *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=raise_fd_limit)
    wait_for_port(port, 60, proc)
    return proc, f"http://127.0.0.1:{port}"


async def fanout_histogram(http: httpx.AsyncClient, base: str) -> dict[str, float]:
    """The server's gqlsync_realtime_fanout_seconds samples: `sum`, `count` and each bucket's `le` (cumulative)."""
    out: dict[str, float] = {}
    for line in (await http.get(f"{base}/metrics")).text.splitlines():
        if line.startswith("gqlsync_realtime_fanout_seconds"):
            name, value = line.rsplit(" ", 1)
            if name.endswith("_sum"):
                out["sum"] = float(value)
            elif name.endswith("_count"):
                out["count"] = float(value)
            elif 'le="' in name:
                out[name.split('le="', 1)[1].split('"', 1)[0]] = float(value)
    return out


def server_fanout(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """Mean ms of one event's delivery in the server between two scrapes, and the bucket bound its p99 is under."""
    count = after.get("count", 0.0) - before.get("count", 0.0)
    if not count:
        return 0.0, 0.0
    mean = (after["sum"] - before.get("sum", 0.0)) / count * 1000
    for le in sorted((k for k in after if k not in ("sum", "count")), key=float):
        if after[le] - before.get(le, 0.0) >= 0.99 * count:
            return mean, float(le) * 1000
    return mean, float("inf")


async def fan_out(targets: list[str], mut_base: str, n: int, label: str) -> dict[str, Any]:
    """`n` subscribers split over `targets` (servers) and client processes; MUTATIONS mutations sent to mut_base."""
    async with httpx.AsyncClient(headers={"x-api-key": KEY}, timeout=30) as http:
        r = await http.post(f"{mut_base}/graphql", json={"query": 'mutation { createEvent(name: "fan", when: "w", '
                                                                  'where: "x", description: "d") { id } }'})
        event = r.json()["data"]["createEvent"]["id"]
        pools = [Clients() for _ in range(max(1, CLIENT_PROCS))]
        try:
            per_target = [n // len(targets) + (i < n % len(targets)) for i in range(len(targets))]
            for url, k in zip(targets, per_target, strict=True):
                await open_split(pools, url, k, event)
            await asyncio.sleep(1.0)
            scraped = [await fanout_histogram(http, url) for url in targets]
            sent: dict[str, float] = {}
            asked: dict[str, float] = {}
            for m in range(MUTATIONS):
                body = {"query": COMMENT, "variables": {"e": event, "c": f"m{m}"}}
                asked[f"m{m}"] = time.perf_counter()
                resp = await http.post(f"{mut_base}/graphql", json=body)
                sent[f"m{m}"] = time.perf_counter()
                assert "errors" not in resp.json(), resp.json()
                await asyncio.sleep(0.25)
            await asyncio.sleep(1.0)
            server = [server_fanout(b, await fanout_histogram(http, url))
                      for b, url in zip(scraped, targets, strict=True)]
            stamps: dict[str, list[float]] = {}
            for p in pools:
                for mark, times in (await p.ask(op="stamps"))["stamps"].items():
                    stamps.setdefault(mark, []).extend(times)
        finally:
            for p in pools:
                p.stop()
    last_delivery, per_delivery, from_request = [], [], []
    for mark, t0 in sent.items():
        got = stamps.get(mark, [])
        if len(got) != n:
            raise RuntimeError(f"{label}: only {len(got)}/{n} subscribers got mutation {mark}")
        last_delivery.append((max(got) - t0) * 1000)
        per_delivery.extend((g - t0) * 1000 for g in got)
        from_request.append((max(got) - asked[mark]) * 1000)
    return {"scenario": label, "subscribers": n, "mutations": MUTATIONS,
            "last_p50_ms": statistics.median(last_delivery),
            "last_p99_ms": pct(last_delivery, 0.99),
            "delivery_p50_ms": statistics.median(per_delivery),
            "delivery_p99_ms": pct(per_delivery, 0.99),
            "request_last_p50_ms": statistics.median(from_request),
            "request_last_p99_ms": pct(from_request, 0.99),
            # the servers' own delivery time per event (gqlsync_realtime_fanout_seconds), the slowest server's
            "server_mean_ms": max(m for m, _ in server), "server_p99_under_ms": max(b for _, b in server)}


async def idle(base: str, pid: int, n: int, event: str | None, label: str, ka_seconds: float | None
               ) -> dict[str, Any]:
    pools = [Clients() for _ in range(max(1, CLIENT_PROCS if n < 50_000 else 4))]
    try:
        await asyncio.sleep(1.0)
        at_rest = 0.0
        if ka_seconds:  # what the server spends with no connection at all
            b0, bt0 = cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(10)
            at_rest = (cpu_seconds(pid) - b0) / (time.monotonic() - bt0)
        before = rss_mib(pid)
        await open_split(pools, base, n, event, SOURCES if n > 20_000 else None)
        await asyncio.sleep(3)
        after = rss_mib(pid)
        row: dict[str, Any] = {"scenario": label, "connections": n, "rss_before_mib": before, "rss_after_mib": after,
                               "per_connection_kib": (after - before) * 1024 / n}
        if ka_seconds:
            # keep-alive cost: the server's CPU over a whole window of its default rounds (one a minute: a `ka` and a
            # protocol ping in one write) with nothing else happening, less what the same server spent per second with
            # no connection (`at_rest`, measured before they opened), as a share of one core, and scaled to 100,000
            counts0 = await asyncio.gather(*(p.ask(op="count") for p in pools))
            c0, t0 = cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(ka_seconds)
            c1, t1 = cpu_seconds(pid), time.monotonic()
            counts1 = await asyncio.gather(*(p.ask(op="count") for p in pools))
            still = sum(r["open"] for r in counts1)
            if still != n:
                raise RuntimeError(f"{label}: {n - still} of {n} idle connections were closed during the window")
            share = max(0.0, (c1 - c0) / (t1 - t0) - at_rest)
            row.update(ka_window_s=t1 - t0, at_rest_cpu_share=at_rest,
                       ka_per_connection=sum(r["ka"] for r in counts1) / n - sum(r["ka"] for r in counts0) / n,
                       pings_per_connection=sum(r["pings"] for r in counts1) / n - sum(r["pings"] for r in counts0) / n,
                       idle_cpu_share=share, idle_cpu_share_100k=share * 100_000 / n,
                       rss_100k_mib=before + (after - before) * 100_000 / n)
        return row
    finally:
        for p in pools:
            p.stop()


def progress(row: dict[str, Any]) -> None:
    """Each row as it is measured (a later part that fails does not take it with it)."""
    print("  " + json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)


async def main() -> None:
    raise_fd_limit()
    ddb = DynamoDBLocal().start()
    redis = RedisServer().start()
    procs: list[subprocess.Popen[bytes]] = []
    fans: list[dict[str, Any]] = []
    idles: list[dict[str, Any]] = []
    try:
        if SUBSCRIBERS:
            single, base = serve(ddb.endpoint)
            procs.append(single)
            fans.append(await fan_out([base], base, SUBSCRIBERS, "one process"))
            progress(fans[-1])
        if REDIS_SUBSCRIBERS:
            a, base_a = serve(ddb.endpoint, "--redis-url", redis.url)
            b, base_b = serve(ddb.endpoint, "--redis-url", redis.url)
            procs += [a, b]
            fans.append(await fan_out([base_a, base_b], base_a, REDIS_SUBSCRIBERS,
                                      "two processes via Redis (half on each, mutations to one)"))
            progress(fans[-1])
        for n, event, label in ((IDLE, None, "idle, no subscription"), (IDLE, "idle-event", "idle, one subscription")):
            if n:
                proc, url = serve(ddb.endpoint)
                procs.append(proc)
                idles.append(await idle(url, proc.pid, n, event, label, None))
                progress(idles[-1])
                proc.terminate()
        if BIG:
            # one process may open at most RLIMIT_NOFILE files, and without CAP_SYS_RESOURCE (containers) the hard
            # limit cannot be raised: the server then holds what it may, and the row says so
            cap = resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 500
            big = min(BIG, cap)
            proc, url = serve(ddb.endpoint)  # the defaults: a round a minute, its `ka` and ping in one write
            procs.append(proc)
            label = "many idle, no subscription" + ("" if big == BIG else
                                                     f" (capped: this machine lets a process open {cap + 500} files)")
            idles.append(await idle(url, proc.pid, big, None, label, KA_WINDOW))
            progress(idles[-1])
    finally:
        for p in procs:
            p.terminate()
            p.wait(20)
        redis.stop()
        ddb.stop()
    lines = ["# gqlsync realtime benchmark", "",
             "From the mutation's HTTP response (the server publishes before it answers, "
             "so a delivery can come first: negative); and from the mutation's request, its own write included. "
             "The server's own fan-out is its gqlsync_realtime_fanout_seconds (from having the event to its frames "
             "written; the slowest server's, and the histogram bucket its p99 is under).", "",
             "| fan-out | subscribers | mutations | last delivery p50 ms | last delivery p99 ms | any delivery p50 ms "
             "| any delivery p99 ms | from the request: last p50 ms | last p99 ms | server's own fan-out: mean ms "
             "| p99 under ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in fans:
        lines.append(f"| {r['scenario']} | {r['subscribers']} | {r['mutations']} | {r['last_p50_ms']:.1f} | "
                     f"{r['last_p99_ms']:.1f} | {r['delivery_p50_ms']:.1f} | {r['delivery_p99_ms']:.1f} | "
                     f"{r['request_last_p50_ms']:.1f} | {r['request_last_p99_ms']:.1f} | {r['server_mean_ms']:.1f} "
                     f"| {r['server_p99_under_ms']:g} |")
    lines += ["", "| connections | count | server RSS before MiB | after MiB | per connection KiB | ka per connection "
              "| pings per connection | idle CPU, share of a core | at 100,000 (scaled): CPU | RSS MiB |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for i in idles:
        ka = (f"{i['ka_per_connection']:.1f} | {i['pings_per_connection']:.1f} | {i['idle_cpu_share']:.2%} | "
              f"{i['idle_cpu_share_100k']:.2%} | {i['rss_100k_mib']:.0f}" if "ka_window_s" in i
              else "- | - | - | - | -")
        lines.append(f"| {i['scenario']} | {i['connections']} | {i['rss_before_mib']:.0f} | {i['rss_after_mib']:.0f} "
                     f"| {i['per_connection_kib']:.1f} | {ka} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / f"realtime-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text)


if __name__ == "__main__":
    asyncio.run(main())
