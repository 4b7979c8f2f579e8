"""examples/todo-offline (Amplify's DataStore output, checked in) validates and syncs on the embedded default."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gqlsync.app import load_app
from gqlsync.http.tls import ensure_local_certificate
from gqlsync.server import GqlsyncServer, ServerSettings, check_app
from tests.helpers import ROOT, GraphQLClient
from tests.live import live_server

APP = ROOT / "examples/todo-offline"
KEY = "da2-gqlsynctodoofflinedevkey1"
FIELDS = "id name _version _deleted _lastChangedAt"


def test_the_example_validates() -> None:
    api = check_app(APP).api
    assert {"Query.syncTodos", "Mutation.updateTodo"} <= {r.coordinate for r in api.app.resolvers}


async def test_the_example_syncs_on_the_embedded_store(tmp_path: Path) -> None:
    server = GqlsyncServer(load_app(APP), ServerSettings(embedded_dynamodb_dir=tmp_path / "ddb", create_tables=True))
    async with GraphQLClient(server, api_key=KEY) as c:
        r = await c.query(f'mutation {{ createTodo(input: {{name: "milk"}}) {{ {FIELDS} }} }}')
        todo = r["data"]["createTodo"]
        assert todo["_version"] == 1
        sync = "query($last: AWSTimestamp) { syncTodos(limit: 100, lastSync: $last) { items { id name _version } " \
               "startedAt } }"
        full = (await c.query(sync))["data"]["syncTodos"]
        assert [i["id"] for i in full["items"]] == [todo["id"]]
        r = await c.query("mutation($in: UpdateTodoInput!) { updateTodo(input: $in) { id name _version } }",
                          {"in": {"id": todo["id"], "name": "oat milk", "_version": 1}})
        assert r["data"]["updateTodo"]["_version"] == 2
        r = await c.query("mutation($in: UpdateTodoInput!) { updateTodo(input: $in) { id name _version } }",
                          {"in": {"id": todo["id"], "name": "stale", "_version": 1}})
        assert r["data"]["updateTodo"] == {"id": todo["id"], "name": "oat milk", "_version": 3}  # automerged
        delta = (await c.query(sync, {"last": full["startedAt"]}))["data"]["syncTodos"]["items"]
        assert max(i["_version"] for i in delta if i["id"] == todo["id"]) == 3


async def run_client(client: Path, env: dict[str, str], *args: str) -> list[str]:
    proc = await asyncio.create_subprocess_exec("node", "todo.mjs", *args, cwd=client, env={**os.environ, **env},
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"todo.mjs {' '.join(args)}: {out.decode()}\n{err.decode()}"
    return out.decode().splitlines()


@pytest.mark.integration
async def test_the_examples_datastore_client_adds_completes_and_lists(tmp_path: Path) -> None:
    # The client as its README runs it, with its npm packages (the versions tests/node pins) linked in.
    client = tmp_path / "client"
    shutil.copytree(APP / "client", client)
    pins = json.loads((ROOT / "tests/node/package.json").read_text())["dependencies"]
    for name, version in json.loads((client / "package.json").read_text())["dependencies"].items():
        assert pins[name] == version, f"examples/todo-offline/client pins {name} {version}, tests/node {pins[name]}"
    (client / "node_modules").symlink_to(ROOT / "tests/node/node_modules")
    cert = ensure_local_certificate(tmp_path / "tls")
    server = GqlsyncServer(load_app(APP), ServerSettings(embedded_dynamodb_dir=tmp_path / "ddb", create_tables=True))
    async with live_server(server, ssl_certfile=str(cert.cert), ssl_keyfile=str(cert.key)) as base:
        env = {"GQLSYNC_URL": base, "NODE_EXTRA_CA_CERTS": str(cert.ca)}
        added = json.loads((await run_client(client, env, "add", "milk"))[-1])
        await run_client(client, env, "done", added["id"])
        listed = [json.loads(line) for line in await run_client(client, env, "list")]
        assert [(t["id"], t["name"], t["done"], t["_version"]) for t in listed] == [(added["id"], "milk", True, 2)]
        async with GraphQLClient(server, api_key=KEY) as c:
            r = await c.query(f'query {{ getTodo(id: "{added["id"]}") {{ name done _version }} }}')
        assert r["data"]["getTodo"] == {"name": "milk", "done": True, "_version": 2}
