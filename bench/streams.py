"""DynamoDB Streams to search: write-to-searchable lag under a sustained write load, through a real
`gqlsync worker streams` process, on DynamoDB Local and the embedded search engine (its own process).

    .venv/bin/python bench/streams.py      # STREAMS_RATE=500 STREAMS_SECONDS=20 STREAMS_ROUNDS=2 STREAMS_POLL=0.1

The event-search example's table (`search-events`, NEW_AND_OLD_IMAGES stream) is seeded with STREAMS_SEED items;
the worker backfills them into the `events` index, then each round writes at STREAMS_RATE writes/s for
STREAMS_SECONDS, open-loop (each write is sent at its slot on the wall clock, whatever the earlier ones do):
70% PutItem of a new event, 20% UpdateItem of an existing one, 10% DeleteItem. Every write carries a unique
increasing `stamp`. The lag of a write is from its acknowledgement by DynamoDB (client side) to the first probe
of the index that shows it: a probe every STREAMS_PROBE seconds (0.02) asks the index for the documents with a
stamp at or above the oldest one not seen yet (one range query; a put or update is seen when its stamp is
there) and `mget`s the ids of pending deletes (seen when absent). Updates and deletes only target documents
whose writes have all been seen, so each write has exactly one thing to look for.

Per round: writes/s achieved, records/s the worker applied (its gqlsync_stream_records_total, scraped from
--metrics-port), lag p50/p90/p99/max, failures and dead letters, CPU of each process; the median of the rounds;
at the end the table is scanned and compared with the index (ids and stamps). The goal (issue 11): lag p99
under 1 s at 500 writes/s. STREAMS_PROFILE=DIR also records the worker and the search engine with py-spy
during the first round (collapsed stacks in DIR) and prints where their time goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import pct  # noqa: E402
from tests.services import DynamoDBLocal, free_port, wait_for_port  # noqa: E402

RATE = float(os.environ.get("STREAMS_RATE", "500"))
SECONDS = float(os.environ.get("STREAMS_SECONDS", "20"))
ROUNDS = int(os.environ.get("STREAMS_ROUNDS", "2"))
POLL = float(os.environ.get("STREAMS_POLL", "0.1"))
PROBE = float(os.environ.get("STREAMS_PROBE", "0.02"))
SEED = int(os.environ.get("STREAMS_SEED", "2000"))
DRAIN = float(os.environ.get("STREAMS_DRAIN", "60"))
WARMUP = float(os.environ.get("STREAMS_WARMUP", "5"))
PROFILE = os.environ.get("STREAMS_PROFILE")
TABLE, INDEX = "search-events", "events"
APP = ROOT / "examples/event-search"
PY = Path(sys.executable)
MIX = (("put", 0.7), ("update", 0.2), ("delete", 0.1))
WORDS = ["python", "rust", "async", "meetup", "conference", "webinar", "data", "night", "talk", "workshop", "cloud",
         "search", "graph", "sync", "offline", "mobile", "design", "security", "testing", "release"]
CITIES = [f"city{i:03d}" for i in range(50)]
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}

#: The embedded search engine in a process of its own (so it does not share a GIL with the load or the worker).
SEARCH_MAIN = """
import signal, sys
from gqlsync.embedded.search import EmbeddedSearch
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
engine = EmbeddedSearch(sys.argv[1], port=int(sys.argv[2]))
engine.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
engine.stop()
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- processes

class Processes:
    """The processes the bench starts; all stopped on the way out, whatever happens."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        out.close()
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()


def start_search(procs: Processes, data: Path, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    proc = procs.start("search", [str(PY), "-c", SEARCH_MAIN, str(data), str(port)], log, cwd=ROOT)
    wait_for_port(port, 60, proc)
    return f"http://127.0.0.1:{port}", proc


def start_worker(procs: Processes, ddb: str, search: str, state: Path, metrics_port: int,
                 log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.setdefault("AWS_ACCESS_KEY_ID", "bench")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    exe = PY.parent / "gqlsync"
    cmd = [str(exe)] if exe.exists() else [str(PY), "-m", "gqlsync.cli"]
    proc = procs.start("worker", [*cmd, "worker", "streams", str(APP), "--dynamodb-endpoint", ddb,
                                  "--search-endpoint", search, "--state-dir", str(state), "--poll-seconds", str(POLL),
                                  "--metrics-port", str(metrics_port), "--log-level", "warning"],
                       log, cwd=ROOT, env=env)
    wait_for_port(metrics_port, 60, proc)
    return proc


# -- the load and what it looks for

@dataclass
class Write:
    kind: str  # put | update | delete
    id: str
    stamp: int
    scheduled: float
    issued: float
    acked: float | None = None
    seen: float | None = None
    failed: str | None = None


class Live:
    """Ids in the table whose writes have all been seen in the index (the only targets of updates and deletes)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.at: dict[str, int] = {}

    def add(self, doc: str) -> None:
        self.at[doc] = len(self.ids)
        self.ids.append(doc)

    def take(self, rnd: random.Random) -> str | None:
        if not self.ids:
            return None
        i = rnd.randrange(len(self.ids))
        doc, last = self.ids[i], self.ids[-1]
        self.ids[i], self.at[last] = last, i
        self.ids.pop()
        del self.at[doc]
        return doc


def event(doc: str, stamp: int, rnd: random.Random) -> dict[str, Any]:
    return {"id": {"S": doc}, "stamp": {"N": str(stamp)}, "name": {"S": " ".join(rnd.sample(WORDS, 3))},
            "where": {"S": rnd.choice(CITIES)}, "when": {"S": f"2026-{rnd.randrange(1, 13):02d}-01T18:00:00Z"},
            "description": {"S": " ".join(rnd.choices(WORDS, k=12))}}


@dataclass
class Tracker:
    """The writes not seen in the index yet, and the probe that sees them."""

    live: Live = field(default_factory=Live)
    #: puts and updates not seen yet, by stamp
    upserts: dict[int, Write] = field(default_factory=dict)
    #: deletes not seen yet, by id
    deletes: dict[str, Write] = field(default_factory=dict)
    probes: int = 0
    probe_seconds: float = 0.0
    seen_before_ack: int = 0

    def pending(self) -> int:
        return len(self.upserts) + len(self.deletes)

    def mark(self, write: Write, now: float) -> None:
        write.seen = now
        if write.acked is None:
            self.seen_before_ack += 1
        if write.kind != "delete":
            self.live.add(write.id)

    def forget(self, write: Write) -> None:
        """A write that failed: nothing to look for (its document is left out of the targets)."""
        if write.kind == "delete":
            self.deletes.pop(write.id, None)
        else:
            self.upserts.pop(write.stamp, None)

    async def probe(self, search: Any) -> None:
        started = time.perf_counter()
        calls = []
        if self.upserts:
            low = min(self.upserts)
            calls.append(search.search(index=INDEX, body={
                "size": 10_000, "_source": ["stamp"], "track_total_hits": False,
                "query": {"range": {"stamp": {"gte": low}}}}))
        doomed = list(self.deletes)
        if doomed:
            calls.append(search.mget(index=INDEX, body={"ids": doomed}, params={"_source": "false"}))
        if not calls:
            return
        answers = await asyncio.gather(*calls)
        now = time.perf_counter()
        self.probes += 1
        self.probe_seconds += now - started
        answers_iter = iter(answers)
        if self.upserts:
            for hit in next(answers_iter)["hits"]["hits"]:
                write = self.upserts.pop(int(hit["_source"].get("stamp", -1)), None)
                if write is not None:
                    self.mark(write, now)
        if doomed:
            for doc in next(answers_iter)["docs"]:
                if not doc.get("found"):
                    write = self.deletes.pop(doc["_id"], None)
                    if write is not None:
                        self.mark(write, now)

    async def run(self, search: Any, stop: asyncio.Event) -> None:
        tick = time.perf_counter()
        while not stop.is_set():
            try:
                await self.probe(search)
            except Exception as exc:  # the index may not exist for a moment; keep probing
                print(f"probe failed: {exc!r}", file=sys.stderr)
            tick = max(tick + PROBE, time.perf_counter())
            await asyncio.sleep(max(0.0, tick - time.perf_counter()))


class Load:
    """Open-loop writes at a fixed rate: write n goes out at start + n / rate, whether or not earlier ones are back."""

    def __init__(self, dynamodb: Any, tracker: Tracker, next_id: int) -> None:
        self.dynamodb = dynamodb
        self.tracker = tracker
        self.rnd = random.Random(11)
        self.next_id = next_id
        self.next_stamp = 1
        self.inflight: set[asyncio.Task[None]] = set()
        self.max_inflight = 0

    def kind(self) -> str:
        r = self.rnd.random()
        for kind, share in MIX:
            if r < share:
                return kind
            r -= share
        return "put"

    def issue(self, scheduled: float) -> Write:
        kind = self.kind()
        target = None if kind == "put" else self.tracker.live.take(self.rnd)
        if target is None:
            kind = "put"
            target = f"b{self.next_id:08d}"
            self.next_id += 1
        stamp = self.next_stamp
        self.next_stamp += 1
        write = Write(kind, target, stamp, scheduled, time.perf_counter())
        if kind == "delete":
            self.tracker.deletes[target] = write
        else:
            self.tracker.upserts[stamp] = write
        task = asyncio.create_task(self.send(write))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)
        self.max_inflight = max(self.max_inflight, len(self.inflight))
        return write

    async def send(self, write: Write) -> None:
        key = {"id": {"S": write.id}}
        try:
            if write.kind == "put":
                await self.dynamodb.put_item(TableName=TABLE, Item=event(write.id, write.stamp, self.rnd))
            elif write.kind == "update":
                await self.dynamodb.update_item(
                    TableName=TABLE, Key=key, UpdateExpression="SET stamp = :s, #n = :n",
                    ExpressionAttributeNames={"#n": "name"},
                    ExpressionAttributeValues={":s": {"N": str(write.stamp)},
                                               ":n": {"S": " ".join(self.rnd.sample(WORDS, 3))}})
            else:
                await self.dynamodb.delete_item(TableName=TABLE, Key=key)
            write.acked = time.perf_counter()
        except Exception as exc:
            write.failed = repr(exc)
            self.tracker.forget(write)

    async def run(self, rate: float, seconds: float) -> tuple[list[Write], float]:
        writes: list[Write] = []
        total = int(rate * seconds)
        start = time.perf_counter()
        while len(writes) < total:
            now = time.perf_counter()
            due = min(total, int((now - start) * rate) + 1)
            while len(writes) < due:
                writes.append(self.issue(start + len(writes) / rate))
            if len(writes) < total:
                await asyncio.sleep(max(0.0, start + len(writes) / rate - time.perf_counter()))
        if self.inflight:
            await asyncio.wait(set(self.inflight))
        return writes, start


# -- the worker's metrics

async def scrape(session: Any, url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    async with session.get(url) as r:
        text = await r.text()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gqlsync_stream_records_total":
                name = f"records:{sample.labels.get('outcome')}"
                out[name] = out.get(name, 0.0) + sample.value
            elif sample.name in ("gqlsync_stream_failures_total", "gqlsync_stream_dead_letters_total",
                                 "gqlsync_stream_backfill_items_total"):
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def applied(m: dict[str, float]) -> float:
    return sum(v for k, v in m.items() if k.startswith("records:") and k != "records:dead")


# -- profiling

def start_profile(procs: Processes, name: str, pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = PY.parent / "py-spy"
    if not spy.exists():
        print(f"no {spy}: `{PY.parent / 'pip'} install py-spy` to profile", file=sys.stderr)
        return None
    args = [str(spy), "record", "-p", str(pid), "-d", str(int(seconds) + 1), "-r", "200", "-f", "raw", "--function",
            "--threads", "--idle", "-o", str(out), "--nonblocking"]
    return procs.start(f"py-spy {name}", args, out.with_suffix(".log"))


def short(frame: str) -> str:
    """`fn (/long/path/file.py:12)` -> `fn (file.py)`."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rstrip(')').split(':')[0].rsplit('/', 1)[-1]})" if where else name


#: leaf frames of threads with nothing to do (the event loops' `select` stays: it is waiting for replies)
IDLE = ("QueueListener.dequeue", "_PollLikeSelector.select", "sigwait", "Condition.wait", "_worker (thread.py)",
        "SocketIO.readinto")


def summarize_profile(path: Path, top: int = 12) -> list[tuple[str, str, float]]:
    """Where each thread's wall-clock time goes (py-spy --idle --threads, collapsed stacks): (thread, the innermost
    gqlsync frame -> the leaf frame, share of that thread's samples), the largest first."""
    per: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        thread = thread.partition(": ")[2] or thread
        if not frames:
            continue
        ours = [f for f in frames if "gqlsync/" in f]
        where = (short(ours[-1]) + " -> " if ours and ours[-1] != frames[-1] else "") + short(frames[-1])
        per.setdefault(thread, Counter())[where] += int(count)
        totals[thread] += int(count)
    rows = [(thread, where, n / totals[thread]) for thread, counter in per.items()
            for where, n in counter.items()
            if not any(idle in where for idle in IDLE)]
    return sorted(rows, key=lambda r: -r[2])[:top]


# -- the rounds

@dataclass
class RoundResult:
    round: int
    writes: int
    failed_writes: int
    writes_per_s: float
    slip_p99_ms: float
    ack_p50_ms: float
    ack_p99_ms: float
    applied_per_s: float
    lag_p50_ms: float
    lag_p90_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    unseen: int
    drain_s: float
    failures: float
    dead_letters: float
    probe_ms: float
    cpu: dict[str, float]


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()} | {"bench": time.process_time()}


async def one_round(n: int, load: Load, tracker: Tracker, metrics: Any, pids: dict[str, int],
                    seconds: float = SECONDS) -> RoundResult:
    before, cpu_before = await metrics(), cpu_of(pids)
    writes, start = await load.run(RATE, seconds)
    load_end = time.perf_counter()
    after_load = await metrics()
    cpu_after = cpu_of(pids)
    wall = load_end - start
    deadline = time.perf_counter() + DRAIN
    mine = {id(w) for w in writes}
    while time.perf_counter() < deadline and any(id(w) in mine for w in
                                                 [*tracker.upserts.values(), *tracker.deletes.values()]):
        await asyncio.sleep(0.05)
    drained = time.perf_counter()
    await asyncio.sleep(0.3)  # the metrics of the last batch
    after = await metrics()
    ok = [w for w in writes if w.failed is None and w.acked is not None]
    lags = [max(0.0, w.seen - w.acked) * 1000 for w in ok if w.seen is not None and w.acked is not None]
    acks = [(w.acked - w.issued) * 1000 for w in ok if w.acked is not None]
    slips = [(w.issued - w.scheduled) * 1000 for w in writes]
    last_ack = max((w.acked for w in ok if w.acked is not None), default=load_end)
    return RoundResult(
        round=n, writes=len(writes), failed_writes=sum(1 for w in writes if w.failed),
        writes_per_s=len(ok) / max(1e-9, last_ack - start), slip_p99_ms=pct(slips, 0.99),
        ack_p50_ms=pct(acks, 0.5), ack_p99_ms=pct(acks, 0.99),
        applied_per_s=(applied(after_load) - applied(before)) / wall,
        lag_p50_ms=pct(lags, 0.5), lag_p90_ms=pct(lags, 0.9), lag_p99_ms=pct(lags, 0.99),
        lag_max_ms=max(lags, default=float("nan")), unseen=len(ok) - len(lags), drain_s=drained - last_ack,
        failures=after.get("gqlsync_stream_failures_total", 0) - before.get("gqlsync_stream_failures_total", 0),
        dead_letters=(after.get("gqlsync_stream_dead_letters_total", 0)
                      - before.get("gqlsync_stream_dead_letters_total", 0)),
        probe_ms=tracker.probe_seconds / max(1, tracker.probes) * 1000,
        cpu={k: (cpu_after[k] - cpu_before[k]) / wall * 100 for k in cpu_after})


async def index_docs(search: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {"size": 5000, "_source": ["stamp"], "sort": [{"_id": "asc"}],
                                "query": {"match_all": {}}}
        if after is not None:
            body["search_after"] = after
        hits = (await search.search(index=INDEX, body=body))["hits"]["hits"]
        for hit in hits:
            out[hit["_id"]] = hit["_source"].get("stamp")
        if len(hits) < 5000:
            return out
        after = hits[-1]["sort"]


async def table_items(dynamodb: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    start: dict[str, Any] | None = None
    while True:
        kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = await dynamodb.scan(**kwargs)
        for item in page.get("Items", []):
            out[item["id"]["S"]] = int(item["stamp"]["N"]) if "stamp" in item else None
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


async def bench(procs: Processes, tmp: Path, ddb: DynamoDBLocal) -> dict[str, Any]:
    import aioboto3
    import aiohttp
    from botocore.config import Config
    from opensearchpy import AsyncOpenSearch

    search_url, search_proc = start_search(procs, tmp / "search", tmp / "search.log")
    session = aioboto3.Session()
    config = Config(max_pool_connections=256, retries={"mode": "standard", "max_attempts": 3})
    async with session.client("dynamodb", endpoint_url=ddb.endpoint, config=config, **CREDENTIALS) as dynamodb, \
            aiohttp.ClientSession() as http:
        search = AsyncOpenSearch(hosts=[search_url], timeout=60)
        try:
            await dynamodb.create_table(
                TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
            rnd = random.Random(3)
            tracker = Tracker()
            seed_ids = [f"a{i:08d}" for i in range(SEED)]
            for at in range(0, SEED, 25):
                await dynamodb.batch_write_item(RequestItems={TABLE: [
                    {"PutRequest": {"Item": event(doc, 0, rnd)}} for doc in seed_ids[at:at + 25]]})
            metrics_port = free_port()
            worker = start_worker(procs, ddb.endpoint, search_url, tmp / "state", metrics_port, tmp / "worker.log")
            url = f"http://127.0.0.1:{metrics_port}/metrics"

            async def metrics() -> dict[str, float]:
                return await scrape(http, url)

            t = time.perf_counter()
            while (await metrics()).get("gqlsync_stream_backfill_items_total", 0) < SEED:
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited with {worker.returncode}; see {tmp / 'worker.log'}")
                if time.perf_counter() - t > 120:
                    raise TimeoutError("the worker did not backfill the seed items within 120 s")
                await asyncio.sleep(0.2)
            backfill_s = time.perf_counter() - t
            for doc in seed_ids:
                tracker.live.add(doc)
            pids = {"worker": worker.pid, "search": search_proc.pid}
            if ddb.proc is not None:
                pids["dynamodb"] = ddb.proc.pid
            print(f"seeded {SEED} items, backfilled by the worker in {backfill_s:.1f} s; "
                  f"{ROUNDS} rounds of {SECONDS:g} s at {RATE:g} writes/s", file=sys.stderr)
            stop = asyncio.Event()
            poller = asyncio.create_task(tracker.run(search, stop))
            load = Load(dynamodb, tracker, 0)
            rounds: list[RoundResult] = []
            profiles: dict[str, Path] = {}
            try:
                if WARMUP > 0:  # DynamoDB Local's JIT and the worker's first batches, not measured
                    warm = await one_round(0, load, tracker, metrics, pids, WARMUP)
                    print(f"warm-up ({WARMUP:g} s): lag p99 {warm.lag_p99_ms:.0f} ms", file=sys.stderr)
                for n in range(1, ROUNDS + 1):
                    spies = []
                    if PROFILE and n == 1:
                        folder = Path(PROFILE)
                        folder.mkdir(parents=True, exist_ok=True)
                        for name, pid in (("worker", worker.pid), ("search", search_proc.pid)):
                            profiles[name] = folder / f"{name}.txt"
                            spies.append(start_profile(procs, name, pid, SECONDS, profiles[name]))
                    tracker.probes, tracker.probe_seconds = 0, 0.0
                    result = await one_round(n, load, tracker, metrics, pids)
                    for spy in spies:
                        if spy is not None:
                            await asyncio.to_thread(spy.wait, 30)
                    rounds.append(result)
                    print(f"round {n}: {result.writes_per_s:.0f} writes/s, lag p99 {result.lag_p99_ms:.0f} ms",
                          file=sys.stderr)
                    if worker.poll() is not None:
                        raise RuntimeError(f"the worker exited with {worker.returncode}; see {tmp / 'worker.log'}")
            finally:
                stop.set()
                await poller
            await asyncio.sleep(1.0)
            table, index = await table_items(dynamodb), await index_docs(search)
            missing = sorted(set(table) - set(index))
            extra = sorted(set(index) - set(table))
            differ = sorted(d for d in set(table) & set(index) if table[d] != index[d])
            consistency = {"table": len(table), "index": len(index), "ok": len(table) - len(missing) - len(differ),
                           "missing_in_index": len(missing), "extra_in_index": len(extra),
                           "stamp_differs": len(differ), "examples": (missing + extra + differ)[:5]}
            dead = (tmp / "state" / "dead-letters.jsonl")
            return {"rounds": rounds, "consistency": consistency, "backfill_s": backfill_s,
                    "seen_before_ack": tracker.seen_before_ack, "max_inflight": load.max_inflight,
                    "dead_letter_file": len(dead.read_text().splitlines()) if dead.exists() else 0,
                    "profiles": {k: summarize_profile(v) for k, v in profiles.items()}}
        finally:
            await search.close()


# -- report

COLUMNS = [("round", "round", "{}"), ("writes/s", "writes_per_s", "{:.0f}"),
           ("applied/s", "applied_per_s", "{:.0f}"), ("lag p50 ms", "lag_p50_ms", "{:.0f}"),
           ("p90 ms", "lag_p90_ms", "{:.0f}"), ("p99 ms", "lag_p99_ms", "{:.0f}"),
           ("max ms", "lag_max_ms", "{:.0f}"), ("unseen", "unseen", "{:.0f}"), ("failures", "failures", "{:.0f}"),
           ("dead letters", "dead_letters", "{:.0f}"), ("write ack p50/p99 ms", "ack", "{}"),
           ("sched slip p99 ms", "slip_p99_ms", "{:.1f}"), ("probe ms", "probe_ms", "{:.1f}"),
           ("CPU % worker/search/ddb/bench", "cpu", "{}")]


def row(r: dict[str, Any]) -> str:
    cells = []
    for _, key, fmt in COLUMNS:
        if key == "ack":
            cells.append(f"{r['ack_p50_ms']:.1f} / {r['ack_p99_ms']:.1f}")
        elif key == "cpu":
            c = r["cpu"]
            cells.append(" / ".join(f"{c.get(k, 0):.0f}" for k in ("worker", "search", "dynamodb", "bench")))
        else:
            cells.append(fmt.format(r[key]))
    return "| " + " | ".join(cells) + " |"


def median_row(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"round": "median"}
    for key, value in rounds[0].items():
        if key == "round":
            continue
        if isinstance(value, dict):
            out[key] = {k: statistics.median(r[key][k] for r in rounds) for k in value}
        else:
            out[key] = statistics.median(r[key] for r in rounds)
    return out


def report(found: dict[str, Any]) -> str:
    rounds = [asdict(r) for r in found["rounds"]]
    med = median_row(rounds)
    c = found["consistency"]
    goal = "met" if med["lag_p99_ms"] < 1000 else "MISSED"
    lines = [f"{os.cpu_count()} cores; DynamoDB Local -> `gqlsync worker streams` (--poll-seconds {POLL:g}) -> "
             f"embedded search (own process); {RATE:g} writes/s open-loop for {SECONDS:g} s x {ROUNDS} rounds "
             f"(70% put / 20% update / 10% delete) after a {WARMUP:g} s warm-up, {SEED} seed items "
             f"(backfilled in {found['backfill_s']:.1f} s); "
             f"probe every {PROBE * 1000:.0f} ms", "",
             "| " + " | ".join(c_[0] for c_ in COLUMNS) + " |",
             "|" + "---:|" * len(COLUMNS)]
    lines += [row(r) for r in rounds] + [row(med)]
    lines += ["", f"index vs table: {c['ok']} ok, {c['missing_in_index']} missing from the index, "
                  f"{c['extra_in_index']} extra in the index, {c['stamp_differs']} with another stamp "
                  f"({c['table']} items, {c['index']} documents)"
              + (f"; e.g. {', '.join(c['examples'])}" if c["examples"] else ""),
              f"dead-letter file: {found['dead_letter_file']} records; most writes in flight at once: "
              f"{found['max_inflight']}; seen before their ack arrived: {found['seen_before_ack']}",
              f"goal (issue 11): lag p99 under 1 s at {RATE:g} writes/s: {goal} "
              f"(median p99 {med['lag_p99_ms']:.0f} ms)"]
    for name, rows in found["profiles"].items():
        lines += ["", f"py-spy, {name} process, round 1: share of each thread's wall-clock time "
                      "(`select`: the event loop waiting for replies; idle pool threads left out)", "",
                  "| thread | innermost gqlsync frame -> leaf | share |", "|---|---|---:|"]
        lines += [f"| {thread} | `{where}` | {share * 100:.1f}% |" for thread, where, share in rows]
    return "\n".join(lines)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> None:
    procs = Processes()
    ddb: DynamoDBLocal | None = None
    with sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="gqlsync-streams-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            ddb = DynamoDBLocal().start()
            found = asyncio.run(bench(procs, tmp, ddb))
        except BaseException:
            log = tmp / "worker.log"
            if log.exists() and log.stat().st_size:
                print("--- worker log (tail)\n" + "\n".join(log.read_text().splitlines()[-30:]), file=sys.stderr)
            raise
        finally:
            procs.stop_all()
            if ddb is not None:
                ddb.stop()
    text = report(found)
    print(text)
    out = ROOT / "bench/results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"streams-{stamp}.md").write_text(text + "\n")
    (out / f"streams-{stamp}.json").write_text(json.dumps(
        {"settings": {"rate": RATE, "seconds": SECONDS, "rounds": ROUNDS, "poll": POLL, "probe": PROBE, "seed": SEED,
                      "warmup": WARMUP, "cores": os.cpu_count()},
         "rounds": [asdict(r) for r in found["rounds"]], "median": median_row([asdict(r) for r in found["rounds"]]),
         **{k: v for k, v in found.items() if k != "rounds"}}, indent=1, default=str) + "\n")
    print(f"\nwritten to bench/results/streams-{stamp}.md and .json", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: every process the bench started is stopped", file=sys.stderr)
        sys.exit(130)
