"""Amplify DataStore (aws-amplify v6, unmodified) syncing against gqlsync: two devices, offline, conflicts.

Each device is a Node process behind its own TCP relay, so the test takes one off the network as a phone
loses it. The models are what Amplify's codegen writes for the schema, the API is Amplify's transformer
output imported with `import-cfn` (examples/todo-offline for AUTOMERGE; generated here for the other
conflict handlers).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.http.tls import ensure_local_certificate
from tests.datastore import Device, generate_models
from tests.helpers import ROOT, unique_prefix, with_table_prefix
from tests.live import live_server
from tests.relay import Relay

pytestmark = pytest.mark.integration
TODO_APP = ROOT / "examples" / "todo-offline"
TODO_KEY = "da2-gqlsynctodoofflinedevkey1"


@dataclass
class Backend:
    server: GqlsyncServer
    port: int
    env: dict[str, str]
    relays: list[Relay]
    devices: list[Device]

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


@pytest.fixture
async def todo(dynamodb_endpoint: str, tmp_path: Path, todo_models: Path) -> AsyncIterator[Backend]:
    cert = ensure_local_certificate(tmp_path / "tls")
    app = with_table_prefix(load_app(TODO_APP), unique_prefix())
    server = GqlsyncServer(app, ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True))
    async with live_server(server, ssl_certfile=str(cert.cert), ssl_keyfile=str(cert.key)) as base:
        port = urllib.parse.urlsplit(base).port
        assert port
        env = {"GQLSYNC_KEY": TODO_KEY, "MODELS": str(todo_models), "MODEL": "Todo",
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
