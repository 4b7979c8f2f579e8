"""Deploys under load: what a deploy every few seconds costs the requests a managed server is serving.

A managed `gqlsync serve` (SQLite control store, one uvicorn worker) on DynamoDB Local serves the Event app,
deployed through the admin API. wrk loads getEvent at DEPLOY_CLIENTS connections in two modes, interleaved over
DEPLOY_ROUNDS rounds (which goes first alternates): no deploys, and a deploy every DEPLOY_EVERY seconds
alternating two versions of the app (one adds `Event.blue`, the other `Event.green`, so each deploy removes the
other's field: deployed with allowBreaking). Reported: req/s, p50/p99, errors (non-200 responses, socket errors and
200s with `errors`, counted by wrk's Lua), the server's CPU per request, the ratio of req/s with deploys to
without (goal >= 0.9), and deploy-to-serving: from sending the deploy to the admin API to the first getEvent
answered by the new version (a poller asks for the new version's field every few milliseconds), p50/max.

Usage: .venv/bin/python bench/deploys.py
       DEPLOY_SECONDS=20 DEPLOY_ROUNDS=2 DEPLOY_CLIENTS=16 DEPLOY_EVERY=2 .venv/bin/python bench/deploys.py
       DEPLOY_PROFILE=1 ...   also records the server with py-spy during the first deploys cell (collapsed
                              stacks beside the results: bench/results/deploys-<stamp>-profile.txt)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import cpu_seconds  # noqa: E402
from gqlsync.control.bundle import Bundle  # noqa: E402
from tests.services import DynamoDBLocal, free_port, wait_for_port  # noqa: E402

KEY = "da2-gqlsynclocaldevelopmentkey01"
SECONDS = float(os.environ.get("DEPLOY_SECONDS", "20"))
ROUNDS = int(os.environ.get("DEPLOY_ROUNDS", "2"))
CLIENTS = int(os.environ.get("DEPLOY_CLIENTS", "16"))
EVERY = float(os.environ.get("DEPLOY_EVERY", "2"))
PROFILE = os.environ.get("DEPLOY_PROFILE", "") not in ("", "0")
API = "events"
COLORS = ("blue", "green")
FIELDS = "id name where when description"

# wrk: POST the body, and count what is not a clean GraphQL answer (wrk itself only counts non-2xx)
WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("GQL_KEY")
wrk.body = os.getenv("GQL_BODY")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; gql = 0 end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1
  elseif string.find(body, '"errors"', 1, true) then gql = gql + 1 end
end
function done(summary, latency, requests)
  local b, g = 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); g = g + t:get("gql") end
  io.write(string.format("GQLSYNC bad=%d gql=%d\\n", b, g))
end
"""


def versions(work: Path) -> dict[str, Bundle]:
    """The Event app with one more optional field on Event, `blue` or `green`."""
    out = {}
    for color in COLORS:
        folder = work / color
        shutil.copytree(ROOT / "examples/event-app", folder, ignore=shutil.ignore_patterns(".gqlsync"))
        schema = folder / "schema.graphql"
        text = schema.read_text()
        assert "  description: String\n" in text
        schema.write_text(text.replace("  description: String\n", f"  description: String\n  {color}: String\n", 1))
        out[color] = Bundle.from_folder(folder)
    return out


class Admin:
    def __init__(self, base: str, token: str) -> None:
        self.url = base + "/admin/graphql"
        self.headers = {"authorization": f"Bearer {token}"}

    async def deploy(self, http: httpx.AsyncClient, bundle: Bundle) -> int:
        r = await http.post(self.url, headers=self.headers, json={
            "query": "mutation($a: String!, $f: JSON!) { deploy(api: $a, files: $f, allowBreaking: true) "
                     "{ refused problems { reason } version { number } } }",
            "variables": {"a": API, "f": bundle.to_json()}}, timeout=60)
        body = r.json()
        if r.status_code != 200 or body.get("errors") or body["data"]["deploy"]["refused"]:
            raise RuntimeError(f"deploy failed: {r.status_code} {body}")
        number: int = body["data"]["deploy"]["version"]["number"]
        return number


def wrk(url: str, body: dict[str, Any], clients: int, seconds: float, script: Path) -> dict[str, float]:
    env = {**os.environ, "GQL_BODY": json.dumps(body), "GQL_KEY": KEY}
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{int(seconds)}s", "--latency", "-s", str(script), url],
                         env=env, capture_output=True, text=True, check=True).stdout

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    found = re.search(r"GQLSYNC bad=(\d+) gql=(\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(n) for n in sockets.groups()) if sockets else 0
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
            "p99_ms": ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
            "errors": (int(found.group(1)) + int(found.group(2)) if found else 0) + socket_errors}


class Deployer(threading.Thread):
    """Every EVERY seconds: deploy the other color, and time the first getEvent the new version answers."""

    def __init__(self, base: str, admin: Admin, bundles: dict[str, Bundle], event_id: str, color: str) -> None:
        super().__init__(daemon=True)
        self.base, self.admin, self.bundles, self.event_id, self.color = base, admin, bundles, event_id, color
        self.halt = threading.Event()
        self.deploys: list[dict[str, float]] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.failure = exc

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            next_at = time.monotonic() + EVERY / 2
            while not self.halt.wait(max(0.0, next_at - time.monotonic())):
                self.color = COLORS[(COLORS.index(self.color) + 1) % 2]
                self.deploys.append(await self._one(http, self.color))
                next_at += EVERY

    async def _one(self, http: httpx.AsyncClient, color: str) -> dict[str, float]:
        query = {"query": f"query($id: ID!) {{ getEvent(id: $id) {{ id {color} }} }}",
                 "variables": {"id": self.event_id}}
        started = time.monotonic()
        served = asyncio.Event()
        first: list[float] = []

        async def poll() -> None:
            while not served.is_set():
                r = await http.post(self.base + "/graphql", json=query, headers={"x-api-key": KEY})
                if r.status_code == 200 and not r.json().get("errors"):
                    first.append(time.monotonic())
                    served.set()
                    return
                await asyncio.sleep(0.003)

        poller = asyncio.create_task(poll())
        number = await self.admin.deploy(http, self.bundles[color])
        answered = time.monotonic()
        await asyncio.wait_for(poller, 30)
        return {"version": number, "call_ms": (answered - started) * 1000, "serving_ms": (first[0] - started) * 1000}


def cell(mode: str, url: str, base: str, admin: Admin, bundles: dict[str, Bundle], event_id: str, color: str,
         pid: int, script: Path, profile_to: Path | None) -> tuple[dict[str, Any], str]:
    body = {"query": f"query($id: ID!) {{ getEvent(id: $id) {{ {FIELDS} }} }}", "variables": {"id": event_id}}
    deployer = Deployer(base, admin, bundles, event_id, color) if mode == "deploys" else None
    spy = None
    if profile_to is not None:
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-r", "200",
                                "-d", str(int(SECONDS)), "-f", "raw", "-o", str(profile_to), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = cpu_seconds(pid)
    if deployer is not None:
        deployer.start()
    try:
        result: dict[str, Any] = wrk(url, body, CLIENTS, SECONDS, script)
    finally:
        if deployer is not None:
            deployer.halt.set()
            deployer.join(60)
    result["cpu_us"] = (cpu_seconds(pid) - before) / max(result["requests"], 1) * 1e6
    if spy is not None:
        spy.wait(30)
    result["mode"] = mode
    if deployer is not None:
        if deployer.failure is not None:
            raise RuntimeError(f"the deployer failed: {deployer.failure!r}")
        result["deploys"] = deployer.deploys
        color = deployer.color
    return result, color


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (bash bench/run.sh installs it)")
    if PROFILE and not (Path(sys.executable).parent / "py-spy").exists():
        sys.exit("DEPLOY_PROFILE needs py-spy in the venv: .venv/bin/python -m pip install py-spy")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally below stops what was started
    work = Path(tempfile.mkdtemp(prefix="gqlsync-bench-deploys-"))
    ddb: DynamoDBLocal | None = None
    server: subprocess.Popen[bytes] | None = None
    log = (work / "server.log").open("wb")
    try:
        ddb = DynamoDBLocal().start()
        port, token = free_port(), secrets.token_hex(16)
        server = subprocess.Popen(
            [sys.executable, "-m", "gqlsync.cli", "serve", "--state-dir", str(work / "state"), "--host", "127.0.0.1",
             "--port", str(port), "--dynamodb-endpoint", ddb.endpoint, "--create-tables", "--admin-token", token,
             "--log-level", "warning"], cwd=ROOT, env={**os.environ, "GQLSYNC_HOME": str(work / "home")},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(port, 60, server)
        base = f"http://127.0.0.1:{port}"
        url = base + "/graphql"
        admin = Admin(base, token)
        bundles = versions(work)

        async def first() -> None:
            async with httpx.AsyncClient(timeout=60) as http:
                await admin.deploy(http, bundles["blue"])

        asyncio.run(first())
        created = httpx.post(url, headers={"x-api-key": KEY}, timeout=10, json={
            "query": f'mutation {{ createEvent(name: "bench", when: "2026-12-01", where: "Berlin", '
                     f'description: "deploys") {{ {FIELDS} }} }}'}).json()
        event_id = created["data"]["createEvent"]["id"]
        script = work / "gql.lua"
        script.write_text(WRK_LUA)
        color = "blue"
        body = {"query": f"query($id: ID!) {{ getEvent(id: $id) {{ {FIELDS} }} }}", "variables": {"id": event_id}}
        wrk(url, body, CLIENTS, 3, script)  # warm-up
        stamp = time.strftime("%Y%m%d-%H%M%S")
        profile_to = ROOT / f"bench/results/deploys-{stamp}-profile.txt" if PROFILE else None
        if profile_to is not None:
            profile_to.parent.mkdir(exist_ok=True)
        cells: list[dict[str, Any]] = []
        for round_ in range(ROUNDS):
            modes = ("steady", "deploys") if round_ % 2 == 0 else ("deploys", "steady")
            for mode in modes:
                spy_to = profile_to if mode == "deploys" and round_ == 0 else None
                result, color = cell(mode, url, base, admin, bundles, event_id, color, server.pid, script, spy_to)
                result["round"] = round_ + 1
                cells.append(result)
                print(f"round {round_ + 1} {mode:8} {result['rps']:7.0f} req/s  p50 {result['p50_ms']:.2f} ms  "
                      f"p99 {result['p99_ms']:.2f} ms  errors {result['errors']}"
                      + (f"  deploys {len(result['deploys'])}" if "deploys" in result else ""), flush=True)
        report(cells, stamp, profile_to)
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        if ddb is not None:
            ddb.stop()
        log.close()
        if server is not None and server.returncode not in (0, -signal.SIGTERM, None):
            print((work / "server.log").read_text()[-3000:], file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


def report(cells: list[dict[str, Any]], stamp: str, profile_to: Path | None) -> None:
    steady = [c for c in cells if c["mode"] == "steady"]
    busy = [c for c in cells if c["mode"] == "deploys"]
    deploys = [d for c in busy for d in c["deploys"]]
    med = {m: {k: statistics.median(c[k] for c in cs) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
           for m, cs in (("steady", steady), ("deploys", busy))}
    ratio = med["deploys"]["rps"] / med["steady"]["rps"]
    errors = sum(c["errors"] for c in cells)
    serving = sorted(d["serving_ms"] for d in deploys)
    calls = sorted(d["call_ms"] for d in deploys)
    # what one deploy costs the server in CPU, beyond what its requests cost at the steady rate
    extra_cpu = [(c["cpu_us"] - med["steady"]["cpu_us"]) * c["requests"] / 1e6 / max(len(c["deploys"]), 1)
                 for c in busy]
    summary = {
        "rps_ratio": ratio, "rps_ratio_goal": 0.9, "errors": errors, "errors_goal": 0, "deploys": len(deploys),
        "deploy_to_serving_p50_ms": statistics.median(serving) if serving else None,
        "deploy_to_serving_max_ms": serving[-1] if serving else None,
        "deploy_call_p50_ms": statistics.median(calls) if calls else None,
        "deploy_call_max_ms": calls[-1] if calls else None,
        "server_cpu_ms_per_deploy": statistics.median(extra_cpu) * 1000 if extra_cpu else None,
    }
    lines = [f"# gqlsync deploys under load — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
             f"{os.cpu_count()} cores; managed `gqlsync serve` (one uvicorn worker, SQLite control store) on DynamoDB "
             f"Local; getEvent with wrk -t1 -c{CLIENTS}; {ROUNDS} interleaved rounds of {SECONDS:.0f} s per mode; "
             f"with deploys: one every {EVERY:g} s through the admin API, alternating two versions.", "",
             "| round | mode | req/s | p50 ms | p99 ms | errors | deploys | server CPU µs/req |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for c in cells:
        lines.append(f"| {c['round']} | {c['mode']} | {c['rps']:.0f} | {c['p50_ms']:.2f} | {c['p99_ms']:.2f} "
                     f"| {c['errors']} | {len(c.get('deploys', []))} | {c['cpu_us']:.0f} |")
    for m in ("steady", "deploys"):
        lines.append(f"| median | {m} | {med[m]['rps']:.0f} | {med[m]['p50_ms']:.2f} | {med[m]['p99_ms']:.2f} "
                     f"| | | {med[m]['cpu_us']:.0f} |")

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.0f}"

    lines += ["",
              f"- req/s with deploys ÷ without: **{ratio:.2f}** (goal ≥ 0.9: {'met' if ratio >= 0.9 else 'MISSED'})",
              f"- errors: **{errors}** (goal 0: {'met' if errors == 0 else 'MISSED'})",
              f"- deploy to serving ({len(deploys)} deploys): p50 {fmt(summary['deploy_to_serving_p50_ms'])} ms, "
              f"max {fmt(summary['deploy_to_serving_max_ms'])} ms (the admin call: p50 "
              f"{fmt(summary['deploy_call_p50_ms'])} ms, max {fmt(summary['deploy_call_max_ms'])} ms)",
              f"- server CPU per deploy (beyond its requests at the steady cost): "
              f"{fmt(summary['server_cpu_ms_per_deploy'])} ms"]
    if profile_to is not None:
        lines.append(f"- py-spy profile of the server in round 1's deploys cell: {profile_to.relative_to(ROOT)}")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / f"deploys-{stamp}.md").write_text(text)
    (out / f"deploys-{stamp}.json").write_text(json.dumps({"summary": summary, "cells": cells,
                                                           "settings": {"seconds": SECONDS, "rounds": ROUNDS,
                                                                        "clients": CLIENTS, "every": EVERY}},
                                                          indent=1))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
