"""A managed server (`gqlsync serve` with no app) driven as a developer does: the real CLI against a real server.

- deploy the Event app, query it; deploy changed schemas, query the new field; roll back, the old shape is back;
  `versions` lists every version;
- broken deploys (SDL error, template syntax error, missing data source, missing file) refused with file, line
  and reason, the serving version unchanged;
- a canary takes its share of 2,000 requests (sticky per client) and one that fails is rolled back by itself;
- two servers on one DynamoDB control table: a deploy on one serves on both;
- no admin token, a wrong one: refused, nothing changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gqlsync.control.plane import attach
from gqlsync.http import GqlsyncServer, ServerSettings
from tests.helpers import EVENT_APP, ROOT
from tests.live import live_server
from tests.services import free_port, wait_for_port

pytestmark = pytest.mark.integration
KEY = "da2-gqlsynclocaldevelopmentkey01"
TOKEN = "gqa_managed-server-tests-token"


def event_app(folder: Path, prefix: str) -> Path:
    """A copy of the Event app whose tables are its own in the shared DynamoDB Local."""
    shutil.copytree(EVENT_APP, folder, ignore=shutil.ignore_patterns(".gqlsync"))
    manifest = folder / "gqlsync.yaml"
    text = manifest.read_text()
    for table in ("events", "comments"):
        text = text.replace(f"tableName: {table}", f"tableName: {prefix}{table}").replace(
            f"- name: {table}", f"- name: {prefix}{table}")
    manifest.write_text(text)
    return folder


def with_field(folder: Path, field: str) -> Path:
    """The app with one more optional field on Event."""
    schema = folder / "schema.graphql"
    schema.write_text(schema.read_text().replace("type Event {", f"type Event {{\n  {field}: String", 1))
    return folder


class Serve:
    """`gqlsync serve` (managed) as a subprocess."""

    def __init__(self, tmp: Path, dynamodb: str, *extra: str, home: Path | None = None, poll: str = "0.5",
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = home or tmp / "home"
        self.env = {**os.environ, "GQLSYNC_HOME": str(self.home), "AWS_ACCESS_KEY_ID": "local",
                    "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1", "COLUMNS": "500", **(env or {})}
        self.env.pop("GQLSYNC_ADMIN_TOKEN", None)
        self.log = (tmp / f"serve-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gqlsync.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--dynamodb-endpoint", dynamodb, "--create-tables", "--poll-seconds", poll, *extra],
            cwd=ROOT, stdout=self.log, stderr=self.log, env=self.env)
        wait_for_port(self.port, 30, self.proc)

    def cli(self, *args: str | Path, token: str | None = None,
            env: dict[str, str] | None = None) -> tuple[int, str]:
        env = {**self.env, **(env or {})}
        if token is not None:
            env["GQLSYNC_ADMIN_TOKEN"] = token
        proc = subprocess.run([sys.executable, "-m", "gqlsync.cli", *map(str, args), "--server", self.url],
                              cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
        return proc.returncode, " ".join((proc.stdout + proc.stderr).split())

    def query(self, query: str, path: str = "/graphql") -> dict[str, Any]:
        r = httpx.post(self.url + path, json={"query": query}, headers={"x-api-key": KEY}, timeout=10)
        return dict(r.json())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def serve(tmp_path: Path, dynamodb_endpoint: str) -> Iterator[Serve]:
    s = Serve(tmp_path, dynamodb_endpoint, "--state-dir", str(tmp_path / "state"))
    yield s
    s.stop()


def eventually(check: Any, what: str, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.1)


def test_deploy_query_change_and_roll_back_through_the_cli(serve: Serve, tmp_path: Path) -> None:
    prefix = f"m{uuid.uuid4().hex[:6]}_"
    v1 = event_app(tmp_path / "v1", prefix)
    # the server generated its token and the CLI on this machine finds it (no token given to either)
    code, out = serve.cli("deploy", v1, "--api", "events", "--message", "the Event app")
    assert code == 0 and "deployed events version 1 — serving" in out, out
    assert serve.query("{ listEvents(limit: 1) { items { id } } }") == {"data": {"listEvents": {"items": []}}}
    made = serve.query('mutation { createEvent(name: "Launch", when: "now", where: "Oslo", description: "d") '
                       '{ id } }')["data"]["createEvent"]["id"]
    v2 = with_field(event_app(tmp_path / "v2", prefix), "venue")
    code, out = serve.cli("deploy", v2, "--api", "events", "--message", "venue")
    assert code == 0 and "deployed events version 2" in out and "+ venue: String" in out, out
    assert serve.query(f'{{ getEvent(id: "{made}") {{ name venue }} }}') == {
        "data": {"getEvent": {"name": "Launch", "venue": None}}}
    # the same API by name under /v1/apis/ (and by its id, which deploy printed)
    assert serve.query("{ listEvents(limit: 1) { items { venue } } }", "/v1/apis/events/graphql")["data"]
    api_id = out.split("/v1/apis/")[1].split("/")[0]
    assert serve.query("{ listEvents(limit: 1) { items { venue } } }", f"/v1/apis/{api_id}/graphql")["data"]
    v3 = with_field(event_app(tmp_path / "v3", prefix), "venue")
    with_field(v3, "city")
    code, out = serve.cli("deploy", v3, "--api", "events")
    assert code == 0 and "deployed events version 3" in out, out
    assert serve.query("{ listEvents(limit: 1) { items { venue city } } }")["data"]
    code, out = serve.cli("rollback", "--api", "events", "--to", "1")
    assert code == 0 and "rolled back to 1" in out, out
    old = serve.query("{ listEvents(limit: 1) { items { venue } } }")
    assert old["errors"][0]["errorType"] == "ValidationError" and "venue" in old["errors"][0]["message"]
    assert serve.query(f'{{ getEvent(id: "{made}") {{ name }} }}') == {"data": {"getEvent": {"name": "Launch"}}}
    code, out = serve.cli("versions", "--api", "events")
    assert code == 0, out
    assert all(f"│ {n} │" in out for n in (1, 2, 3)) and "the Event app" in out and "│ venue │" in out, out
    assert "│ 1 │ current │" in out and "rolled back to 1" in out, out
    code, out = serve.cli("diff", "1", "3", "--api", "events")
    assert code == 0 and "+ venue: String" in out and "+ city: String" in out, out
    code, out = serve.cli("diff", "3", "1", "--api", "events")
    assert "BREAKING FIELD_REMOVED: Event.venue was removed." in out, out


def test_broken_deploys_are_refused_with_file_line_and_reason(serve: Serve, tmp_path: Path) -> None:
    prefix = f"b{uuid.uuid4().hex[:6]}_"
    code, out = serve.cli("deploy", event_app(tmp_path / "ok", prefix), "--api", "shop")
    assert code == 0, out

    def broken(name: str, edit: Any) -> tuple[int, str]:
        folder = event_app(tmp_path / name, prefix)
        edit(folder)
        return serve.cli("deploy", folder, "--api", "shop")

    code, out = broken("sdl", lambda f: (f / "schema.graphql").write_text(
        (f / "schema.graphql").read_text().replace("type Event {", "type Event {\n  oops: Strin", 1)))
    assert code == 2 and "schema.graphql:" in out and "Strin" in out, out
    code, out = broken("vtl", lambda f: (f / "resolvers" / "Query.getEvent.req.vtl").write_text(
        '{\n  "version": "2017-02-28",\n  #if($ctx.args.id\n}'))
    assert code == 2 and "resolvers/Query.getEvent.req.vtl:" in out, out
    code, out = broken("ds", lambda f: (f / "gqlsync.yaml").write_text(
        (f / "gqlsync.yaml").read_text().replace("dataSource: EventsTable", "dataSource: Nowhere", 1)))
    assert code == 2 and "gqlsync.yaml:" in out and "unknown data source 'Nowhere'" in out, out
    code, out = broken("file", lambda f: (f / "resolvers" / "Query.listEvents.req.vtl").unlink())
    assert code == 2 and "file not found: resolvers/Query.listEvents.req.vtl" in out, out
    # nothing of it reached the server: one version, still serving
    code, out = serve.cli("versions", "--api", "shop")
    assert code == 0 and "│ 1 │ current │" in out and "│ 2 │" not in out, out
    assert serve.query("{ listEvents(limit: 1) { items { id } } }") == {"data": {"listEvents": {"items": []}}}


def test_admin_api_and_cli_refuse_without_the_token(serve: Serve, tmp_path: Path) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "wrong"}):
        r = httpx.post(serve.url + "/admin/graphql", json={"query": "{ __schema { types { name } } }"},
                       headers=headers)
        assert r.status_code == 401 and r.json()["errors"][0]["errorType"] == "UnauthorizedException"
        r = httpx.post(serve.url + "/admin/graphql", json={"query": 'mutation { rollback(api: "x") { id } }'},
                       headers=headers)
        assert r.status_code == 401
    code, out = serve.cli("deploy", event_app(tmp_path / "app", "t_"), "--api", "secret", token="wrong")
    assert code == 1 and "refused the admin token" in out, out
    nobody = tmp_path / "elsewhere"  # a machine where no server wrote a token: nothing to find
    proc = subprocess.run([sys.executable, "-m", "gqlsync.cli", "versions", "--api", "secret", "--server", serve.url],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**serve.env, "GQLSYNC_HOME": str(nobody)})
    assert proc.returncode == 2 and "no admin token" in proc.stderr
    token = (tmp_path / "state" / "admin-token").read_text().strip()
    r = httpx.post(serve.url + "/admin/graphql", json={"query": "{ apis { name } }"},
                   headers={"authorization": f"Bearer {token}"})
    assert r.json() == {"data": {"apis": []}}  # nothing was deployed by the refused calls


async def admin(http: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    r = await http.post("/admin/graphql", json={"query": query, "variables": variables},
                        headers={"authorization": f"Bearer {TOKEN}"})
    body = r.json()
    assert "errors" not in body, body
    return dict(body["data"])


DEPLOY = ("mutation($api: String!, $files: JSON!, $c: Float, $r: Float!, $w: Float!, $n: Int!) { deploy(api: $api, "
          "files: $files, canary: $c, canaryMaxErrorRate: $r, canaryWindowSeconds: $w, canaryMinRequests: $n) "
          "{ refused problems { reason } version { number } canary { version weight } } }")


async def deploy(http: httpx.AsyncClient, folder: Path, canary: float | None = None, **limits: Any) -> int:
    from gqlsync.control.bundle import Bundle

    data = (await admin(http, DEPLOY, api="events", files=Bundle.from_folder(folder).to_json(), c=canary,
                        r=limits.get("rate", 0.05), w=limits.get("window", 60.0), n=limits.get("min", 20)))["deploy"]
    assert data["refused"] is None, data
    return int(data["version"]["number"])


async def test_a_canary_takes_its_share_and_one_that_fails_rolls_back_by_itself(
        tmp_path: Path, dynamodb_endpoint: str) -> None:
    prefix = f"c{uuid.uuid4().hex[:6]}_"
    server = GqlsyncServer(None, ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True))
    attach(server, state_dir=tmp_path / "state", admin_token=TOKEN)
    async with live_server(server) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        await deploy(http, event_app(tmp_path / "v1", prefix))
        await deploy(http, with_field(event_app(tmp_path / "v2", prefix), "venue"), canary=25)

        async def version_of(client: str) -> str:
            r = await http.post("/graphql", json={"query": '{ __type(name: "Event") { fields { name } } }'},
                                headers={"x-api-key": KEY, "x-gqlsync-client-id": client})
            names = {f["name"] for f in r.json()["data"]["__type"]["fields"]}
            return "2" if "venue" in names else "1"

        seen = [await version_of(f"client-{i}") for i in range(2000)]
        share = seen.count("2") / len(seen) * 100
        assert 22 <= share <= 28, share  # 25% within 3 points
        assert {await version_of("client-7") for _ in range(20)} == {seen[7]}  # sticky per client
        status = (await admin(http, '{ api(name: "events") { currentVersion canary { version weight requests } } }'))
        assert status["api"]["currentVersion"] == 1 and status["api"]["canary"]["version"] == 2
        assert status["api"]["canary"]["requests"] >= 400
        # promote: everyone on 2
        await admin(http, 'mutation { promote(api: "events") { currentVersion } }')
        assert {await version_of(f"client-{i}") for i in range(50)} == {"2"}

        # a canary whose getEvent fails: rolled back once its error rate passes 20% over 30 s (10 requests at least)
        failing = with_field(event_app(tmp_path / "v3", prefix), "venue")
        (failing / "resolvers" / "Query.getEvent.req.vtl").write_text('$util.error("the canary is broken", "Boom")')
        v3 = await deploy(http, failing, canary=50, rate=0.2, window=30.0, min=10)
        errors = 0
        for i in range(200):
            r = await http.post("/graphql", json={"query": '{ getEvent(id: "x") { id } }'},
                                headers={"x-api-key": KEY, "x-gqlsync-client-id": f"c{i}"})
            errors += bool(r.json().get("errors"))
        assert errors > 0

        async def rolled_back() -> dict[str, Any]:
            return (await admin(http, '{ api(name: "events") { currentVersion status canary { version } } }'))["api"]

        deadline = time.monotonic() + 10
        while (state := await rolled_back())["canary"] is not None:
            assert time.monotonic() < deadline, state
            await _sleep(0.2)
        assert state["currentVersion"] == 2 and f"canary {v3} rolled back: automatically" in state["status"], state
        for i in range(30):
            r = await http.post("/graphql", json={"query": '{ getEvent(id: "x") { id } }'},
                                headers={"x-api-key": KEY, "x-gqlsync-client-id": f"c{i}"})
            assert r.json() == {"data": {"getEvent": None}}


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def test_two_servers_on_one_dynamodb_control_table(tmp_path: Path, dynamodb_endpoint: str) -> None:
    table = f"control-{uuid.uuid4().hex[:8]}"
    options = ("--control-table", table, "--admin-token", TOKEN)
    nodes = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        nodes.append(Serve(tmp_path / name, dynamodb_endpoint, "--state-dir", str(tmp_path / name), *options))
    a, b = nodes
    try:
        prefix = f"n{uuid.uuid4().hex[:6]}_"
        code, out = a.cli("deploy", event_app(tmp_path / "v1", prefix), "--api", "events", token=TOKEN)
        assert code == 0, out
        eventually(lambda: b.query("{ listEvents(limit: 1) { items { id } } }").get("data"), "v1 on server B")
        code, out = b.cli("deploy", with_field(event_app(tmp_path / "v2", prefix), "venue"), "--api", "events",
                          token=TOKEN)
        assert code == 0, out
        eventually(lambda: a.query("{ listEvents(limit: 1) { items { venue } } }").get("data"), "v2 on server A")
        code, out = a.cli("versions", "--api", "events", token=TOKEN)
        assert code == 0 and "deployed 2" in out, out
    finally:
        a.stop()
        b.stop()


async def test_api_keys_made_through_the_admin_api(tmp_path: Path, dynamodb_endpoint: str) -> None:
    server = GqlsyncServer(None, ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True))
    attach(server, state_dir=tmp_path / "state", admin_token=TOKEN)
    async with live_server(server) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        await deploy(http, event_app(tmp_path / "v1", f"k{uuid.uuid4().hex[:6]}_"))
        made = (await admin(http, 'mutation { createApiKey(api: "events", description: "mobile") { id expires } }'))
        key = made["createApiKey"]["id"]
        assert key.startswith("da2-") and made["createApiKey"]["expires"] > time.time() + 300 * 86400

        async def status_with(k: str) -> int:
            r = await http.post("/graphql", json={"query": "{ listEvents(limit: 1) { nextToken } }"},
                                headers={"x-api-key": k})
            return r.status_code

        assert await status_with(key) == 200 and await status_with(KEY) == 200  # beside the manifest's own key
        listed = await admin(http, '{ api(name: "events") { apiKeys { id description } } }')
        assert listed["api"]["apiKeys"] == [{"id": key, "description": "mobile"}]
        await deploy(http, with_field(event_app(tmp_path / "v2", "k2_"), "venue"))
        assert await status_with(key) == 200  # a new version takes the key too
        await admin(http, f'mutation {{ deleteApiKey(api: "events", id: "{key}") }}')
        assert await status_with(key) == 401 and await status_with(KEY) == 200


def test_a_redis_notice_brings_a_deploy_to_the_other_server_before_its_poll(
        tmp_path: Path, dynamodb_endpoint: str, redis_server: Any) -> None:
    table = f"control-{uuid.uuid4().hex[:8]}"
    # they read the store only every 60 s: only the notice can bring the change over in time
    options = ("--control-table", table, "--admin-token", TOKEN, "--redis-url", redis_server.url)
    nodes = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        nodes.append(Serve(tmp_path / name, dynamodb_endpoint, "--state-dir", str(tmp_path / name), *options,
                           poll="60"))
    a, b = nodes
    try:
        code, out = a.cli("deploy", event_app(tmp_path / "v1", f"r{uuid.uuid4().hex[:6]}_"), "--api", "events",
                          token=TOKEN)
        assert code == 0, out
        eventually(lambda: b.query("{ listEvents(limit: 1) { items { id } } }").get("data"), "v1 on server B",
                   seconds=20)
    finally:
        a.stop()
        b.stop()


def test_admin_requests_signed_with_an_admitted_iam_key(tmp_path: Path, dynamodb_endpoint: str) -> None:
    secret = "adminsecret/" + uuid.uuid4().hex
    serve = Serve(tmp_path, dynamodb_endpoint, "--state-dir", str(tmp_path / "state"), "--admin-iam-credential",
                  "AKIAADMINTEST0000001=ADMIN_SECRET", env={"ADMIN_SECRET": secret})
    try:
        signed = {"AWS_ACCESS_KEY_ID": "AKIAADMINTEST0000001", "AWS_SECRET_ACCESS_KEY": secret}
        code, out = serve.cli("deploy", event_app(tmp_path / "v1", f"s{uuid.uuid4().hex[:6]}_"), "--api", "iam",
                              "--sigv4", env=signed)
        assert code == 0 and "deployed iam version 1" in out, out
        forged = {**signed, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
        code, out = serve.cli("versions", "--api", "iam", "--sigv4", env=forged)
        assert code == 1 and "refused the SigV4 signature (HTTP 401): The request signature we calculated" in out, out
        stranger = {"AWS_ACCESS_KEY_ID": "AKIASOMEONEELSE00001", "AWS_SECRET_ACCESS_KEY": secret}
        code, out = serve.cli("rollback", "--api", "iam", "--sigv4", env=stranger)
        assert code == 1, out
        code, out = serve.cli("versions", "--api", "iam", "--sigv4", env=signed)
        assert code == 0 and "│ 1 │ current │" in out, out
    finally:
        serve.stop()


def test_a_bare_schema_and_a_cloudformation_template_deploy(serve: Serve, tmp_path: Path) -> None:
    prefix = f"s{uuid.uuid4().hex[:6]}_"
    code, out = serve.cli("deploy", event_app(tmp_path / "v1", prefix), "--api", "events")
    assert code == 0, out
    # a bare schema (no gqlsync.yaml beside it) on top of the current version, with one template beside it
    bare = tmp_path / "bare"
    (bare / "resolvers").mkdir(parents=True)
    (bare / "schema.graphql").write_text((EVENT_APP / "schema.graphql").read_text().replace(
        "type Event {", "type Event {\n  venue: String", 1))
    (bare / "resolvers" / "Query.getEvent.req.vtl").write_text(
        (EVENT_APP / "resolvers" / "Query.getEvent.req.vtl").read_text() + "\n## from the bare folder\n")
    code, out = serve.cli("deploy", bare / "schema.graphql", "--api", "events")
    assert code == 0 and "schema.graphql on the current version's files" in out and "+ venue: String" in out, out
    assert serve.query("{ listEvents(limit: 1) { items { venue } } }") == {"data": {"listEvents": {"items": []}}}
    token = (tmp_path / "state" / "admin-token").read_text().strip()
    files = httpx.post(serve.url + "/admin/graphql", json={"query": '{ files(api: "events") }'},
                       headers={"authorization": f"Bearer {token}"}).json()["data"]["files"]
    import base64

    assert base64.b64decode(files["resolvers/Query.getEvent.req.vtl"]).endswith(b"## from the bare folder\n")
    assert "gqlsync.yaml" in files and f"{prefix}events".encode() in base64.b64decode(files["gqlsync.yaml"])
    # a CloudFormation template, imported as import-cfn would, with a fresh API key printed
    code, out = serve.cli("deploy", ROOT / "tests/apps/cfn/notes.yaml", "--api", "notes")
    assert code == 0 and "CloudFormation template notes.yaml (imported; API key da2-" in out, out
    key = out.split("API key ")[1].split(")")[0]
    r = httpx.post(serve.url + "/v1/apis/notes/graphql", json={"query": '{ echo(text: "hi") { text } }'},
                   headers={"x-api-key": key})
    assert r.json() == {"data": {"echo": {"text": "hi"}}}, r.text
