"""Amplify DataStore (aws-amplify v6, unmodified) syncing against gqlsync: two devices, offline, conflicts.

Each device is a Node process behind its own TCP relay, so the test takes one off the network as a phone
loses it. The models are what Amplify's codegen writes for the schema, the API is Amplify's transformer
output imported with `import-cfn` (examples/todo-offline for AUTOMERGE; generated here for the other
conflict handlers).
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gqlsync.app import load_app
from gqlsync.app.cloudformation import import_cloudformation
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.http.tls import ensure_local_certificate
from tests.datastore import Device, generate_models
from tests.helpers import ROOT, amplify_transform, unique_prefix, with_table_prefix
from tests.live import live_server
from tests.relay import Relay

pytestmark = pytest.mark.integration
TODO_APP = ROOT / "examples" / "todo-offline"
TODO_KEY = "da2-gqlsynctodoofflinedevkey1"
GENERATED_KEY = "da2-datastoretestkey00000001"


class ServerClock:
    """The versioned data sources' clock, which the test can move forward (TTLs and sync windows follow it)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


@dataclass
class Backend:
    server: GqlsyncServer
    port: int
    env: dict[str, str]
    relays: list[Relay]
    devices: list[Device]
    clock: ServerClock = field(default_factory=ServerClock)

    def __post_init__(self) -> None:
        for ds in self.server.api.data_sources.values():
            for part in (getattr(ds, "versioned", None), getattr(ds, "sync", None)):
                if part is not None:
                    part.clock = self.clock

    def advance(self, minutes: int) -> None:
        self.clock.offset_ms += minutes * 60_000

    async def device(self, name: str) -> Device:
        relay = await Relay(self.port).start()
        self.relays.append(relay)
        dev = await Device(name, relay, self.env).launch()
        self.devices.append(dev)
        await dev.start()
        return dev


@pytest.fixture(scope="module")
def todo_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_models(ROOT / "tests" / "amplify" / "todo" / "schema.graphql",
                           tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def optimistic_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The transformer's Todo API with OPTIMISTIC_CONCURRENCY, imported as it is."""
    out = tmp_path_factory.mktemp("optimistic")
    templates = amplify_transform(ROOT / "tests" / "amplify" / "todo" / "schema.graphql", out / "cdk", {
        "project": {"ConflictDetection": "VERSION", "ConflictHandler": "OPTIMISTIC_CONCURRENCY"}})
    import_cloudformation(templates, out / "cdk", out / "app", api_key=GENERATED_KEY)
    return out / "app"


@pytest.fixture
async def todo(tmp_path: Path, todo_models: Path, request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The Todo API served over TLS. By the test's parameter (`indirect=True`): `automerge` (the default) is
    examples/todo-offline on DynamoDB Local, `embedded` the same app on the embedded default, `optimistic` the
    transformer's OPTIMISTIC_CONCURRENCY output on DynamoDB Local."""
    kind = getattr(request, "param", "automerge")
    app_dir, key = (TODO_APP, TODO_KEY) if kind != "optimistic" else (request.getfixturevalue("optimistic_app"),
                                                                      GENERATED_KEY)
    settings = (ServerSettings(embedded_dynamodb_dir=tmp_path / "ddb", create_tables=True) if kind == "embedded" else
                ServerSettings(dynamodb_endpoint=request.getfixturevalue("dynamodb_endpoint"), create_tables=True))
    cert = ensure_local_certificate(tmp_path / "tls")
    app = with_table_prefix(load_app(app_dir), unique_prefix())
    server = GqlsyncServer(app, settings)
    async with live_server(server, ssl_certfile=str(cert.cert), ssl_keyfile=str(cert.key)) as base:
        port = urllib.parse.urlsplit(base).port
        assert port
        env = {"GQLSYNC_KEY": key, "MODELS": str(todo_models), "MODEL": "Todo",
               "NODE_EXTRA_CA_CERTS": str(cert.ca)}
        backend = Backend(server, port, env, [], [])
        try:
            yield backend
        finally:
            for dev in backend.devices:
                await dev.close()
            for relay in backend.relays:
                await relay.close()


async def test_a_change_on_one_device_reaches_the_other(todo: Backend) -> None:
    a = await todo.device("A")
    b = await todo.device("B")
    milk = await a.save(name="milk", tags=["shop"])
    await a.drained()
    seen = await b.until(lambda items: milk["id"] in items, "A's new todo")
    assert seen[milk["id"]]["name"] == "milk"


@pytest.mark.parametrize("todo", ["automerge", "embedded"], indirect=True)
async def test_a_new_device_hydrates_with_everything_then_follows_updates_and_deletes(todo: Backend) -> None:
    a = await todo.device("A")
    made = [await a.save(name=f"item {i}", priority=i) for i in range(5)]
    await a.drained()
    b = await todo.device("B")  # its base sync
    items = await b.items()
    assert sorted(i["name"] for i in items.values()) == [f"item {i}" for i in range(5)]
    assert {i["_version"] for i in items.values()} == {1}
    syncs = len(b.seen("modelSynced"))
    await a.update(made[0]["id"], name="renamed", done=True)
    await a.delete(made[1]["id"])
    items = await b.until(lambda s: s[made[0]["id"]]["name"] == "renamed" and made[1]["id"] not in s,
                          "A's update and delete")
    assert len(b.seen("modelSynced")) == syncs  # they came through B's subscriptions, not a new sync
    assert items[made[0]["id"]]["done"] is True and items[made[0]["id"]]["_version"] == 2
    # a device that starts now does not get the deleted item either
    c = await todo.device("C")
    assert set(await c.items()) == {m["id"] for m in made} - {made[1]["id"]}


@pytest.mark.parametrize("todo", ["automerge", "embedded"], indirect=True)
async def test_writes_made_offline_are_delivered_on_reconnect_and_both_devices_converge(todo: Backend) -> None:
    a = await todo.device("A")
    b = await todo.device("B")
    shared = await a.save(name="shared")
    await b.until(lambda s: shared["id"] in s, "the shared todo")
    await b.offline()
    offline_new = await b.save(name="written offline")
    await b.update(shared["id"], priority=7)
    online_new = await a.save(name="written while B was away")
    await a.drained()
    await asyncio.sleep(1)
    assert online_new["id"] not in await b.items()  # B really is cut off
    await b.online()
    await b.drained()
    want = {shared["id"], offline_new["id"], online_new["id"]}
    on_a = await a.until(lambda s: set(s) == want and s[shared["id"]]["priority"] == 7, "B's offline writes")
    on_b = await b.until(lambda s: set(s) == want, "A's write while B was away")
    assert on_a[shared["id"]]["_version"] == on_b[shared["id"]]["_version"] == 2
    assert b.seen("networkStatus")[-1] == {"active": True}


async def concurrent_edits(todo: Backend, made: dict[str, Any], a_edit: dict[str, Any], b_edit: dict[str, Any]
                           ) -> tuple[Device, Device, str]:
    """A and B both have the todo `made`; B goes offline, A edits it, B edits its stale copy and comes back."""
    a = await todo.device("A")
    b = await todo.device("B")
    item = await a.save(**made)
    await b.until(lambda s: item["id"] in s, "the todo")
    await b.offline()
    await a.update(item["id"], **a_edit)
    await a.drained()
    await b.update(item["id"], **b_edit)
    await b.online()
    await b.drained()
    return a, b, str(item["id"])


@pytest.mark.parametrize("todo", ["automerge", "embedded"], indirect=True)
async def test_concurrent_edits_are_automerged(todo: Backend) -> None:
    a, b, item_id = await concurrent_edits(todo, {"name": "milk", "tags": ["shop"]}, {"name": "oat milk"},
                                           {"name": "soy milk", "description": "1 litre", "tags": ["shop", "dairy"]})
    # AppSync's Automerge: the scalar in conflict keeps the server's value, the field the server lacks is
    # taken, the list is the server's with the incoming one appended (duplicates kept); one more version.
    want = {"name": "oat milk", "description": "1 litre", "tags": ["shop", "shop", "dairy"], "_version": 3}

    def merged(s: dict[str, dict[str, object]]) -> bool:
        return {k: s[item_id].get(k) for k in want} == want

    await a.until(merged, "the merged todo")
    await b.until(merged, "the merged todo")
    assert (await b.call("conflicts"))["conflicts"] == []  # merged on the server: no conflict reached DataStore


@pytest.mark.parametrize("todo", ["optimistic"], indirect=True)
async def test_a_stale_edit_is_rejected_and_the_server_item_wins_under_optimistic_concurrency(todo: Backend) -> None:
    a, b, item_id = await concurrent_edits(todo, {"name": "milk"}, {"name": "oat milk"},
                                           {"name": "soy milk", "description": "1 litre"})

    def server_wins(s: dict[str, dict[str, object]]) -> bool:
        got = s[item_id]
        return got["name"] == "oat milk" and got.get("description") is None and got["_version"] == 2

    await a.until(server_wins, "A's edit")
    await b.until(server_wins, "the server's item in place of B's rejected edit")
    conflicts = (await b.call("conflicts"))["conflicts"]
    assert [c["remote"]["name"] for c in conflicts] == ["oat milk"]  # DataStore's conflict handler ran


async def test_a_device_away_longer_than_the_delta_ttl_gets_a_base_sync(todo: Backend) -> None:
    a = await todo.device("A")
    b = await todo.device("B")
    kept, changed, gone = [await a.save(name=n) for n in ("kept", "changed", "gone")]
    await b.until(lambda s: len(s) == 3, "the three todos")
    await b.offline()
    await a.update(changed["id"], name="changed while B was away")
    await a.delete(gone["id"])
    added = await a.save(name="added while B was away")
    await a.drained()
    # 31 minutes pass on the server: the change records (DeltaSyncTableTTL 30) have expired, so only the
    # base table still knows what changed. B's lastSync is older than the TTL: it must get a base sync.
    todo.advance(31)
    before = len(b.seen("modelSynced"))
    await b.online()
    items = await b.until(lambda s: set(s) == {kept["id"], changed["id"], added["id"]}
                          and s[changed["id"]]["name"] == "changed while B was away", "the changes made while away")
    assert items[changed["id"]]["_version"] == 2
    # B asked with its lastSync, and was answered from the base table: the unchanged todo came back too
    # (a delta would hold only the three changes), and the deleted one as its tombstone.
    syncs = b.seen("modelSynced")[before:]
    assert {"isFullSync": False, "isDeltaSync": True, "counts": {"new": 1, "updated": 2, "deleted": 1}} in syncs, syncs
