"""The worker's shard order on a stream that splits: a child shard is read only once its parent is read to its end,
so the records of one key (which moves from parent to child) are applied in the order they were written; and each
batch applies only a document's last record. The stream here is scripted (DynamoDB Local never splits a shard);
the index is the real embedded engine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from gqlsync.app.model import StreamConfig
from gqlsync.embedded.search.engine import SearchEngine
from gqlsync.streams.checkpoints import FileCheckpoints, new_owner
from gqlsync.streams.handler import FileDeadLetters
from gqlsync.streams.metrics import StreamMetrics
from gqlsync.streams.reader import Shard
from gqlsync.streams.worker import RouteWorker, WorkerOptions

ARN = "arn:aws:dynamodb:us-east-1:1:table/things/stream/label"


def put(seq: int, doc: str, n: int) -> dict[str, Any]:
    return {"eventName": "MODIFY", "eventSource": "aws:dynamodb", "dynamodb": {
        "Keys": {"id": {"S": doc}}, "NewImage": {"id": {"S": doc}, "n": {"N": str(n)}},
        "SequenceNumber": f"{seq:021d}", "ApproximateCreationDateTime": 1.0e9}}


class ScriptedStream:
    """A stream whose parent shard closes after three pages and whose children hold the later writes."""

    def __init__(self) -> None:
        self.shard_list = [Shard("parent", None, "1", "30"), Shard("child-a", "parent", "31", None),
                       Shard("child-b", "parent", "32", None)]
        self.pages: dict[str, list[list[dict[str, Any]]]] = {
            "parent": [[put(1, "k1", 1), put(2, "k2", 1)], [put(3, "k1", 2)], [put(4, "k2", 2), put(5, "k1", 3)]],
            "child-a": [[put(31, "k1", 4)], [put(33, "k1", 5)]],
            "child-b": [[put(32, "k2", 3)]],
        }
        self.reads: list[str] = []
        self.dynamodb: Any = None
        self.table = "things"

    async def stream_arn(self, *, enable: bool = False) -> str:
        return ARN

    async def shards(self, arn: str) -> list[Shard]:
        return self.shard_list

    async def iterator(self, arn: str, shard: str, after: str | None, *, latest: bool = False) -> str:
        return f"{shard}|0"

    async def records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        shard, page = iterator.split("|")
        pages = self.pages[shard]
        self.reads.append(shard)
        i = int(page)
        if i >= len(pages):
            return [], (None if shard == "parent" else iterator)
        following = f"{shard}|{i + 1}"
        if shard == "parent" and i + 1 == len(pages):
            following = None  # type: ignore[assignment]  # closed, read to its end
        return pages[i], following


class EngineIndex:
    """The embedded engine's Python API behind the worker's bulk interface (no HTTP needed for this rule)."""

    def __init__(self, engine: SearchEngine) -> None:
        self.engine = engine
        self.index = "things"
        self.bulks: list[list[dict[str, Any]]] = []

    async def bulk(self, body: list[dict[str, Any]], **params: Any) -> Any:
        self.bulks.append(body)
        return self.engine.bulk("".join(json.dumps(line) + "\n" for line in body))

    async def ids(self, page: int = 1000) -> Any:
        for doc in (): yield doc  # noqa: E701


async def test_children_after_their_parent_and_one_record_per_document(tmp_path: Path) -> None:
    stream = ScriptedStream()
    engine = SearchEngine(tmp_path / "search")
    index = EngineIndex(engine)
    route = StreamConfig("things", "Index", "things", backfill=False)
    worker = RouteWorker(route, stream, index, FileCheckpoints(tmp_path / "cp.json"),  # type: ignore[arg-type]
                         FileDeadLetters(tmp_path / "dl.jsonl"), StreamMetrics(), new_owner(),
                         WorkerOptions(poll_seconds=0.01))
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.caught_up.wait(), 10)
        await asyncio.sleep(0.1)
    finally:
        task.cancel()
    assert stream.reads[:3] == ["parent"] * 3 and "parent" not in stream.reads[3:]  # the parent to its end first
    assert {d: engine.get_doc("things", d)[1]["_source"]["n"] for d in ("k1", "k2")} == {"k1": 5, "k2": 3}
    # a catch-up from no positions reads to the tip and applies each document once
    assert len(index.bulks) == 1 and len(index.bulks[0]) == 4, index.bulks
    state = await FileCheckpoints(tmp_path / "cp.json").load(route.key)
    assert state is not None and state.finished == ["parent"]
    assert state.shards == {"parent": f"{5:021d}", "child-a": f"{33:021d}", "child-b": f"{32:021d}"}
