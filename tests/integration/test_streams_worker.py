"""The streams worker on DynamoDB Local's real streams, into the embedded search engine through opensearch-py.

- random writes (hypothesis), some before the worker first starts (backfill) and the rest while it runs, on plain
  and on versioned tables (soft deletes): afterwards the index equals the table;
- the worker as a real process, SIGKILLed twice mid-stream and restarted: the index ends equal to the table, and
  a sampler watching the index all along never sees an older image over a newer one (nor a document deleted
  again after a newer write);
- the index unreachable for a while (a relay cut in front of it): the worker waits, keeps its positions, and
  catches up once it is back, nothing dead-lettered;
- `reindex` of a table that had items before any index, then live writes; a reindex asked of a running worker
  (another process's request), with live writes during it; documents the table no longer has are removed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opensearchpy import AsyncOpenSearch

from gqlsync.app import load_app
from gqlsync.datasources import AwsSettings, ClientProvider
from gqlsync.datasources.dynamodb.marshal import plain_item
from gqlsync.streams.handler import document_id
from gqlsync.streams.service import StreamsService, StreamsSettings
from gqlsync.streams.worker import WorkerOptions
from tests.helpers import ROOT, run_gqlsync
from tests.relay import Relay

pytestmark = pytest.mark.integration


def write_app(folder: Path, table: str, index: str, *, sort_key: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.graphql").write_text("type Query { ping: String }\n")
    sort = "\n    sortKey: {name: sk, type: S}" if sort_key else ""
    (folder / "gqlsync.yaml").write_text(f"""\
name: streamed
schema: schema.graphql
auth:
  apiKeys: [{{id: da2-streamsworkertestkey00001}}]
dataSources:
  Index:
    type: AMAZON_OPENSEARCH_SERVICE
tables:
  - name: {table}
    partitionKey: {{name: id, type: S}}{sort}
streams:
  - {{table: {table}, searchDataSource: Index, index: {index}}}
""")
    return folder


async def create_table(ddb: Any, table: str, *, sort_key: bool = False, stream: bool = True) -> None:
    keys = [{"AttributeName": "id", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "id", "AttributeType": "S"}]
    if sort_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    extra: dict[str, Any] = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
                             } if stream else {}
    await ddb.create_table(TableName=table, KeySchema=keys, AttributeDefinitions=attrs,
                           BillingMode="PAY_PER_REQUEST", **extra)


async def new_route(ddb: Any, folder: Path, prefix: str, *, stream: bool = True) -> tuple[str, str, Path]:
    """A fresh table (its own name in the shared DynamoDB Local), index and app folder feeding one from the other."""
    table, index = f"{prefix}-{uuid.uuid4().hex[:10]}", f"{prefix}-{uuid.uuid4().hex[:10]}"
    app_dir = write_app(folder, table, index)
    await create_table(ddb, table, stream=stream)
    return table, index, app_dir


async def table_docs(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    """The table as the index should hold it: document id -> item (soft-deleted items left out)."""
    out: dict[str, dict[str, Any]] = {}
    start: dict[str, Any] | None = None
    while True:
        page = await ddb.scan(TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        for item in page["Items"]:
            keys = {k: item[k] for k in ("id", "sk") if k in item}
            plain = plain_item(item)
            assert plain is not None
            if plain.get("_deleted") is True:
                continue
            out[document_id(keys)] = {k: v for k, v in plain.items() if k not in ("_version", "_ttl")}
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


async def index_docs(search: AsyncOpenSearch, index: str) -> dict[str, dict[str, Any]]:
    if not await search.indices.exists(index=index):
        return {}
    await search.indices.refresh(index=index)
    hits = (await search.search(index=index, body={"size": 10000, "query": {"match_all": {}}}))["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


async def converged(ddb: Any, table: str, search: AsyncOpenSearch, index: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        want, got = await table_docs(ddb, table), await index_docs(search, index)
        if want == got:
            return
        if time.monotonic() > deadline:
            missing = set(want) - set(got)
            extra = set(got) - set(want)
            differ = {k for k in set(want) & set(got) if want[k] != got[k]}
            raise AssertionError(f"index != table after {seconds} s: missing {sorted(missing)[:5]}, "
                                 f"extra {sorted(extra)[:5]}, different {sorted(differ)[:5]}")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def endpoints(dynamodb_local: Any, search_engine: Any) -> tuple[str, str]:
    return dynamodb_local.endpoint, search_engine.endpoint


def clients_for(endpoints: tuple[str, str], search: str | None = None) -> ClientProvider:
    return ClientProvider(AwsSettings(region="us-east-1", dynamodb_endpoint=endpoints[0],
                                      search_endpoint=search or endpoints[1]))


def service(app_dir: Path, clients: ClientProvider, state: Path, **options: Any) -> StreamsService:
    return StreamsService(load_app(app_dir), clients, StreamsSettings(
        state, options=WorkerOptions(poll_seconds=0.05, **options)))


# -- random writes: the index ends equal to the table -------------------------------------------------------------

IDS = [f"k{i}" for i in range(6)]
op = st.tuples(st.sampled_from(["put", "put", "update", "delete"]), st.sampled_from(IDS), st.sampled_from(["a", "b"]),
               st.integers(0, 99))
plans = st.tuples(st.lists(op, max_size=12), st.lists(st.lists(op, min_size=1, max_size=6), min_size=1, max_size=4))


async def apply_op(ddb: Any, table: str, step: tuple[str, str, str, int], versioned: bool,
                   versions: dict[tuple[str, str], int]) -> None:
    kind, doc, sk, value = step
    key = {"id": {"S": doc}, "sk": {"S": sk}}
    version = versions.get((doc, sk), 0) + 1
    if kind == "delete":
        if versioned:  # a Delta Sync delete: the item stays, marked deleted, with a new version
            if (doc, sk) in versions:
                versions[(doc, sk)] = version
                await ddb.put_item(TableName=table, Item={**key, "_deleted": {"BOOL": True},
                                                          "_version": {"N": str(version)}})
        else:
            await ddb.delete_item(TableName=table, Key=key)
        return
    item = {**key, "value": {"N": str(value)}, "label": {"S": f"{kind}-{value}"},
            "tags": {"SS": ["x", f"t{value % 3}"]}}
    if versioned:
        versions[(doc, sk)] = version
        item["_version"] = {"N": str(version)}
    if kind == "update":
        names = {"#v": "value", "#l": "label"}
        values = {":v": item["value"], ":l": item["label"]}
        expr = "SET #v = :v, #l = :l"
        if versioned:
            names["#ver"], values[":ver"] = "_version", item["_version"]
            expr += ", #ver = :ver"
            names["#d"] = "_deleted"
            expr += " REMOVE #d"
        await ddb.update_item(TableName=table, Key=key, UpdateExpression=expr, ExpressionAttributeNames=names,
                              ExpressionAttributeValues=values)
    else:
        await ddb.put_item(TableName=table, Item=item)


async def random_writes(endpoints: tuple[str, str], tmp: Path, before: list[Any], rounds: list[list[Any]],
                        versioned: bool) -> None:
    table, index = f"rw-{uuid.uuid4().hex[:10]}", f"rw-{uuid.uuid4().hex[:10]}"
    app_dir = write_app(tmp / table, table, index, sort_key=True)
    clients = clients_for(endpoints)
    search = AsyncOpenSearch(hosts=[endpoints[1]])
    ddb = await clients.aws("dynamodb")
    versions: dict[tuple[str, str], int] = {}
    svc = service(app_dir, clients, tmp / table / "state")
    try:
        await create_table(ddb, table, sort_key=True)
        for step in before:  # the table has items before the index exists: the first start backfills them
            await apply_op(ddb, table, step, versioned, versions)
        await svc.start()
        for batch in rounds:  # writers race each other (and the backfill) within a round
            groups: dict[tuple[str, str], list[Any]] = {}
            for step in batch:
                groups.setdefault((step[1], step[2]), []).append(step)

            async def one_key(steps: list[Any]) -> None:
                for s in steps:  # per key in order (a versioned writer knows its last version)
                    await apply_op(ddb, table, s, versioned, versions)

            await asyncio.gather(*(one_key(steps) for steps in groups.values()))
        await converged(ddb, table, search, index)
        assert svc.dead_letters.read() == []  # type: ignore[attr-defined]
    finally:
        await svc.stop()
        await search.close()
        await clients.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans, versioned=st.booleans())
def test_random_writes_end_with_the_index_equal_to_the_table(endpoints: tuple[str, str],
                                                             tmp_path_factory: pytest.TempPathFactory,
                                                             plan: tuple[list[Any], list[list[Any]]],
                                                             versioned: bool) -> None:
    asyncio.run(random_writes(endpoints, tmp_path_factory.mktemp("rw"), plan[0], plan[1], versioned))


# -- a real worker process, SIGKILLed mid-stream --------------------------------------------------------------------

def start_worker(app_dir: Path, endpoints: tuple[str, str], state: Path, log: Path,
                 *options: str) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "gqlsync.cli", "worker", "streams", str(app_dir), "--dynamodb-endpoint", endpoints[0],
         "--search-endpoint", endpoints[1], "--state-dir", str(state), "--poll-seconds", "0.05", *options],
        cwd=ROOT, stdout=out, stderr=out, env={**os.environ, "AWS_ACCESS_KEY_ID": "local",
                                               "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1"})


@pytest.fixture
async def ddb_and_search(endpoints: tuple[str, str]) -> AsyncIterator[tuple[Any, AsyncOpenSearch]]:
    clients = clients_for(endpoints)
    search = AsyncOpenSearch(hosts=[endpoints[1]])
    yield await clients.aws("dynamodb"), search
    await search.close()
    await clients.close()


class Watcher:
    """Samples the index and checks each document only moves forward: its `n` (a counter every write of the
    test increases) never goes down, and it is absent only when a delete newer than anything seen was made."""

    def __init__(self, search: AsyncOpenSearch, index: str, deletes: dict[str, list[int]]) -> None:
        self.search, self.index, self.deletes = search, index, deletes
        self.seen: dict[str, int] = {}
        self.violations: list[str] = []
        self.samples = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            docs = await index_docs(self.search, self.index)
            self.samples += 1
            for doc, source in docs.items():
                n = int(source["n"])
                if n < self.seen.get(doc, -1):
                    self.violations.append(f"{doc}: n {n} after {self.seen[doc]}")
                self.seen[doc] = max(n, self.seen.get(doc, -1))
            for doc, best in self.seen.items():
                if doc not in docs and not any(d > best for d in self.deletes.get(doc, [])):
                    self.violations.append(f"{doc}: absent after n {best} with no newer delete")
            await asyncio.sleep(0.02)


async def test_a_killed_worker_resumes_without_loss_or_reordering(
        endpoints: tuple[str, str], ddb_and_search: tuple[Any, AsyncOpenSearch], tmp_path: Path) -> None:
    ddb, search = ddb_and_search
    table, index, app_dir = await new_route(ddb, tmp_path / "app", "kill")
    state, log = tmp_path / "state", tmp_path / "worker.log"
    deletes: dict[str, list[int]] = {}
    counter = 0
    rng = random.Random(7)
    stop = asyncio.Event()
    watcher = Watcher(search, index, deletes)

    async def writes(count: int) -> None:
        nonlocal counter
        for _ in range(count):
            counter += 1
            doc = f"d{rng.randrange(25)}"
            if rng.random() < 0.15:
                deletes.setdefault(doc, []).append(counter)  # noted before it is made: the sampler may see it
                await ddb.delete_item(TableName=table, Key={"id": {"S": doc}})
            else:
                await ddb.put_item(TableName=table, Item={"id": {"S": doc}, "n": {"N": str(counter)},
                                                          "pad": {"S": "x" * rng.randrange(200)}})
            await asyncio.sleep(0.004)

    worker = start_worker(app_dir, endpoints, state, log)
    watching = asyncio.create_task(watcher.run(stop))
    try:
        await writes(150)
        for _ in range(2):
            await asyncio.sleep(rng.uniform(0.05, 0.4))
            worker.send_signal(signal.SIGKILL)  # mid-stream: no chance to save or release anything
            worker.wait(10)
            await writes(100)  # written while no worker runs
            worker = start_worker(app_dir, endpoints, state, log)
            await writes(150)
        await converged(ddb, table, search, index, seconds=60)
    finally:
        stop.set()
        await watching
        if worker.poll() is None:
            worker.terminate()
            worker.wait(10)
    assert watcher.samples > 20
    assert watcher.violations == [], watcher.violations[:10]
    checkpoints = json.loads((state / "checkpoints.json").read_text())
    route = checkpoints[f"{table}>{index}"]
    assert route["shards"] and route["inflight"] == {}, route  # stopped cleanly after the last batch
    assert not (state / "dead-letters.jsonl").exists(), (state / "dead-letters.jsonl").read_text()


async def test_a_worker_killed_during_its_backfill_starts_it_again(
        endpoints: tuple[str, str], ddb_and_search: tuple[Any, AsyncOpenSearch], tmp_path: Path) -> None:
    ddb, search = ddb_and_search
    # its items predate the stream: only a scan finds them
    table, index, app_dir = await new_route(ddb, tmp_path / "app", "bf", stream=False)
    for i in range(0, 3000, 25):
        await ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"id": {"S": f"b{j}"}, "n": {"N": str(j)}, "pad": {"S": "y" * 300}}}}
            for j in range(i, i + 25)]})
    state, log = tmp_path / "state", tmp_path / "worker.log"
    worker = start_worker(app_dir, endpoints, state, log, "--enable-streams")
    checkpoints = state / "checkpoints.json"
    try:
        deadline = time.monotonic() + 30
        while not (checkpoints.exists() and json.loads(checkpoints.read_text() or "{}")
                   .get(f"{table}>{index}", {}).get("backfilling")):
            assert time.monotonic() < deadline and worker.poll() is None, log.read_text()
            await asyncio.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert len(await index_docs(search, index)) < 3000  # stopped part way
        await ddb.delete_item(TableName=table, Key={"id": {"S": "b1"}})
        worker = start_worker(app_dir, endpoints, state, log, "--enable-streams")
        await converged(ddb, table, search, index, seconds=60)
        deadline = time.monotonic() + 10  # the index is complete a moment before the end is written down
        while json.loads(checkpoints.read_text())[f"{table}>{index}"]["backfilling"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(10)


# -- the index down for a while ---------------------------------------------------------------------------------

async def test_the_worker_waits_out_an_unreachable_index_and_catches_up(
        endpoints: tuple[str, str], ddb_and_search: tuple[Any, AsyncOpenSearch], tmp_path: Path) -> None:
    ddb, search = ddb_and_search
    table, index, app_dir = await new_route(ddb, tmp_path / "app", "down")
    port = int(endpoints[1].rsplit(":", 1)[1])
    relay = await Relay(port).start()
    clients = clients_for(endpoints, f"http://127.0.0.1:{relay.port}")
    svc = service(app_dir, clients, tmp_path / "state", max_backoff_seconds=0.5)
    try:
        await svc.start()
        for i in range(20):
            await ddb.put_item(TableName=table, Item={"id": {"S": f"a{i}"}, "n": {"N": str(i)}})
        await converged(ddb, table, search, index)
        relay.cut()
        for i in range(20, 60):
            await ddb.put_item(TableName=table, Item={"id": {"S": f"a{i % 30}"}, "n": {"N": str(i)}})
        await ddb.delete_item(TableName=table, Key={"id": {"S": "a3"}})
        await asyncio.sleep(2.0)
        route = svc.workers[0].key
        assert svc.metrics.value("gqlsync_stream_failures_total", route=route, kind="index") >= 1
        assert "unreachable" in svc.workers[0].status
        assert len(await index_docs(search, index)) == 20  # nothing new got through, nothing was lost either
        relay.restore()
        await converged(ddb, table, search, index)
        assert svc.dead_letters.read() == []  # type: ignore[attr-defined]
        assert svc.metrics.value("gqlsync_stream_records_total", route=route, outcome="deleted") >= 1
    finally:
        await svc.stop()
        await relay.close()
        await clients.close()


# -- reindex ----------------------------------------------------------------------------------------------------

async def test_reindex_then_live_writes(endpoints: tuple[str, str], ddb_and_search: tuple[Any, AsyncOpenSearch],
                                        tmp_path: Path) -> None:
    ddb, search = ddb_and_search
    # a table from before any index, no stream yet
    table, index, app_dir = await new_route(ddb, tmp_path / "app", "old", stream=False)
    for i in range(0, 300, 25):
        await ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"id": {"S": f"p{j}"}, "n": {"N": str(j)}}}} for j in range(i, i + 25)]})
    await search.index(index=index, id="stale", body={"n": -1}, refresh=True)  # not in the table: removed
    code, out = run_gqlsync("reindex", app_dir, "--dynamodb-endpoint", endpoints[0], "--search-endpoint",
                            endpoints[1], "--state-dir", tmp_path / "state", "--enable-streams")
    assert code == 0 and f"reindexed {table}>{index}: 300 items, scanned here" in out, out
    assert len(await index_docs(search, index)) == 300
    clients = clients_for(endpoints)
    svc = service(app_dir, clients, tmp_path / "state")
    try:
        await svc.start()
        for i in range(280, 320):  # updates and new items, then deletes, while the worker takes over
            await ddb.put_item(TableName=table, Item={"id": {"S": f"p{i}"}, "n": {"N": str(i * 10)}})
        for i in range(0, 10):
            await ddb.delete_item(TableName=table, Key={"id": {"S": f"p{i}"}})
        await converged(ddb, table, search, index)
        assert len(await index_docs(search, index)) == 310
        # a second reindex, asked of the running worker by another process while writes go on
        other = service(app_dir, clients_for(endpoints), tmp_path / "state")
        writing = asyncio.gather(*(ddb.put_item(TableName=table, Item={"id": {"S": f"q{i}"}, "n": {"N": str(i)}})
                                   for i in range(50)))
        done = await other.reindex(wait_seconds=30)
        await writing
        assert done == [(f"{table}>{index}", f"by the running worker {svc.owner}", None)]
        await converged(ddb, table, search, index)
        assert svc.metrics.value("gqlsync_stream_backfill_items_total", route=f"{table}>{index}") >= 310
    finally:
        await svc.stop()
        await clients.close()


def test_reindex_names_what_it_cannot_do(tmp_path: Path) -> None:
    app_dir = write_app(tmp_path / "app", "some-table", "some-index")
    code, out = run_gqlsync("reindex", app_dir, "--table", "nope")
    assert code == 1 and "no streams: entry feeds an index from table 'nope' (tables with one: some-table)" in out
    code, out = run_gqlsync("reindex", ROOT / "examples" / "event-app")
    assert code == 2 and "has no streams: entries" in out


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield


async def test_serve_with_streams_feeds_the_index_in_process(endpoints: tuple[str, str], tmp_path: Path) -> None:
    import shutil

    import httpx

    from tests.services import free_port, wait_for_port

    app_dir = tmp_path / "event-search"
    shutil.copytree(ROOT / "examples" / "event-search", app_dir, ignore=shutil.ignore_patterns(".gqlsync"))
    table = f"served-{uuid.uuid4().hex[:10]}"
    manifest = app_dir / "gqlsync.yaml"
    manifest.write_text(manifest.read_text().replace("search-events", table).replace("index: events",
                                                                                       f"index: {table}"))
    (app_dir / "resolvers" / "searchEvents.req.vtl").write_text(
        (app_dir / "resolvers" / "searchEvents.req.vtl").read_text().replace("/events/_search", f"/{table}/_search"))
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gqlsync.cli", "serve", str(app_dir), "--port", str(port),
                             "--host", "127.0.0.1", "--dynamodb-endpoint", endpoints[0], "--search-endpoint",
                             endpoints[1], "--create-tables", "--streams"], cwd=ROOT, stdout=log, stderr=log,
                            env={**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"})
    try:
        wait_for_port(port, 30, proc)
        headers = {"x-api-key": "da2-gqlsynceventsearchdevkey01"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            made = (await http.post("/graphql", json={"query": 'mutation { createEvent(name: "Served python", '
                                                               'when: "now", where: "Oslo", description: "d") '
                                                               '{ id } }'})).json()
            assert "errors" not in made, made
            deadline = time.monotonic() + 15
            while True:
                found = (await http.post("/graphql", json={"query": '{ searchEvents(text: "python") { total '
                                                                    'items { id } } }'})).json()
                if (found.get("data") or {}).get("searchEvents", {}) and found["data"]["searchEvents"]["total"]:
                    break
                assert time.monotonic() < deadline, found
                await asyncio.sleep(0.1)
        assert found["data"]["searchEvents"]["items"] == [{"id": made["data"]["createEvent"]["id"]}]
        assert (app_dir / ".gqlsync" / "streams" / "checkpoints.json").exists()
    finally:
        proc.terminate()
        proc.wait(10)
