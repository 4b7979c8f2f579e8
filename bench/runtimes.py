"""The Event app's three resolver runtimes side by side: VTL, APPSYNC_JS and PYTHON serving the same queries;
and VTL with AppSync's server-side cache on getEvent against the same without.

    .venv/bin/python bench/runtimes.py        # RT_SECONDS=10 RT_ROUNDS=3 RT_CLIENTS=16

One DynamoDB Local and four `gqlsync serve` processes (one uvicorn worker each): examples/event-app (VTL),
tests/apps/event-app-js (APPSYNC_JS), tests/apps/event-app-py (PYTHON) and examples/event-app again with
`caching: PER_RESOLVER_CACHING` and a cachingConfig on getEvent (VTL + cache), each copied into a scratch folder
with its table names prefixed so it has tables of its own, and the same items written into each (one event
for getEvent, 100 so that listEvents(limit: 20) returns a full page). Before measuring, each server's answers
are checked to be the same as the others'. Then getEvent and listEvents are loaded through each server in
interleaved rounds (which runtime goes first rotates by round), by wrk if it is installed, else by this file's
own asyncio load generator in a separate process. The table gives medians over rounds of req/s, p50, p99 and the
server's own CPU per request (from /proc), and each runtime's ratio to VTL measured in the same round (median,
with the rounds' spread) against issue 13's goals: APPSYNC_JS at least 0.9 of VTL, PYTHON at least 1.2 of VTL.
Results go to bench/results/runtimes-<timestamp>.md and .json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import cpu_seconds, pct  # noqa: E402
from tests.services import DynamoDBLocal, free_port, wait_for_port  # noqa: E402

KEY = "da2-gqlsynclocaldevelopmentkey01"
SECONDS = float(os.environ.get("RT_SECONDS", "10"))
ROUNDS = int(os.environ.get("RT_ROUNDS", "3"))
CLIENTS = int(os.environ.get("RT_CLIENTS", "16"))
EVENTS = 100
APPS = {
    "vtl": ROOT / "examples" / "event-app",
    "js": ROOT / "tests" / "apps" / "event-app-js",
    "python": ROOT / "tests" / "apps" / "event-app-py",
    # the VTL app with AppSync's per-resolver cache on getEvent (keyed by the id): caching on against VTL's off
    "vtl_cached": ROOT / "examples" / "event-app",
}
LABELS = {"vtl": "VTL", "js": "APPSYNC_JS", "python": "PYTHON", "vtl_cached": "VTL + cache"}
CACHING = {"behavior": "PER_RESOLVER_CACHING", "ttl": 60}
CACHED_FIELDS = {"getEvent": {"ttl": 60, "cachingKeys": ["$context.arguments.id"]}}
GOALS = {"js": 0.9, "python": 1.2}  # req/s ÷ VTL's (issue 13)
EVENT_FIELDS = "id name where when description"
EVENT_ID = str(uuid.UUID(int=0x13))  # the same id in every runtime's table
SCENARIOS = {
    "getEvent": {"query": f"query($id: ID!) {{ getEvent(id: $id) {{ {EVENT_FIELDS} }} }}",
                 "variables": {"id": EVENT_ID}},
    "listEvents (20 items)": {"query": f"{{ listEvents(limit: 20) {{ items {{ {EVENT_FIELDS} }} nextToken }} }}"},
}


# ---------------------------------------------------------------- measuring


def load(url: str, body: dict, clients: int, seconds: float) -> dict[str, float]:
    """req/s, p50 and p99 of `clients` keep-alive connections POSTing `body` for `seconds`."""
    if shutil.which("wrk"):
        return wrk(url, body, clients, seconds)
    out = subprocess.run([sys.executable, __file__, "--load", url, str(clients), str(seconds)],
                         env={**os.environ, "GQL_BODY": json.dumps(body)}, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def wrk(url: str, body: dict, clients: int, seconds: float) -> dict[str, float]:
    env = {**os.environ, "GQL_BODY": json.dumps(body), "GQL_KEY": KEY, "GQL_AUTH": ""}
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency", "-s",
                          str(ROOT / "bench/post.lua"), url], env=env, capture_output=True, text=True,
                         check=True).stdout

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    if re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out) or re.search(r"Socket errors:.*", out):
        raise RuntimeError(f"wrk saw failures against {url}:\n{out}")
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
            "p99_ms": ms(re.search(r"\s99%\s+(\S+)", out).group(1))}  # type: ignore[union-attr]


async def _generate(url: str, clients: int, seconds: float, body: bytes) -> dict[str, float]:
    """The fallback load generator: raw HTTP/1.1 keep-alive connections, one pre-built request, no client library."""
    u = urlsplit(url)
    request = (f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
               f"x-api-key: {KEY}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    latencies: list[float] = []
    failures: list[str] = []
    length = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        try:
            while (started := time.perf_counter()) < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                size = length.search(head)
                if size is None:
                    raise RuntimeError(f"response without Content-Length: {head!r}")
                await reader.readexactly(int(size.group(1)))
                latencies.append(time.perf_counter() - started)
                if head[9:12] != b"200":
                    failures.append(head[:12].decode())
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} non-200 responses from {url}: {failures[:3]}")
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": pct(latencies, 0.99) * 1000}


def measured(url: str, body: dict, pid: int, seconds: float = SECONDS, clients: int = CLIENTS) -> dict[str, float]:
    """The load's figures plus the server's own CPU per request: what the runtime costs, whatever DynamoDB takes."""
    before = cpu_seconds(pid)
    cell = load(url, body, clients, seconds)
    cell["cpu_us"] = (cpu_seconds(pid) - before) / (cell["rps"] * seconds) * 1e6
    return cell


# ---------------------------------------------------------------- the three servers


def app_copy(runtime: str, scratch: Path, prefix: str | None = None) -> tuple[Path, dict[str, str]]:
    """The runtime's app copied into `scratch` with its tables renamed <prefix><table> (default rt_<runtime>_);
    and the new names."""
    src, dest = APPS[runtime], scratch / runtime
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".gqlsync", "__pycache__"))
    manifest = dest / "gqlsync.yaml"
    spec = yaml.safe_load(manifest.read_text())
    shutil.copyfile((src / spec["schema"]).resolve(), dest / "schema.graphql")  # the JS app's is ../../..
    spec["schema"] = "schema.graphql"
    names = {t["name"]: f"{prefix or f'rt_{runtime}_'}{t['name']}" for t in spec["tables"]}
    for t in spec["tables"]:
        t["name"] = names[t["name"]]
    for ds in spec["dataSources"].values():
        ds["config"]["tableName"] = names[ds["config"]["tableName"]]
    if runtime == "vtl_cached":
        spec["caching"] = CACHING
        for r in spec["resolvers"]:
            if r["type"] == "Query" and r["field"] in CACHED_FIELDS:
                r["cachingConfig"] = CACHED_FIELDS[r["field"]]
    manifest.write_text(yaml.safe_dump(spec, sort_keys=False))
    return dest, names


def serve(app_dir: Path, port: int, endpoint: str, *extra: str, log_level: str = "warning",
          log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """`gqlsync serve` of `app_dir` on DynamoDB Local (`extra`: more options); its stderr to `log_file` if given."""
    with log_file.open("wb") if log_file is not None else contextlib.nullcontext() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gqlsync.cli", "serve", str(app_dir), "--host", "127.0.0.1", "--port", str(port),
             "--dynamodb-endpoint", endpoint, "--create-tables", "--log-level", log_level, *extra],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
            stderr=err if err is not None else subprocess.DEVNULL, start_new_session=True)
    wait_for_port(port, 60, proc)
    return proc


def stop_on_signals() -> None:
    """SIGTERM and SIGINT end the run through its `finally` (KeyboardInterrupt), also when started with SIGINT
    ignored (a background job), so no server is left behind."""
    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def warm_up(urls: Iterable[str], clients: int, scenarios: dict[str, dict[str, Any]] | None = None) -> None:
    """Each scenario answered once without errors, then loaded for 2 s on each server: caches, connection pools,
    DynamoDB Local's JIT."""
    for url in urls:
        for body in (scenarios or SCENARIOS).values():
            gql(url, body)
            load(url, body, clients, 2)


def seed(endpoint: str, tables: dict[str, str]) -> None:
    """The same events in this runtime's events table: EVENT_ID and EVENTS - 1 more (ids fixed, so identical)."""
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                       aws_secret_access_key="local")
    table = tables["events"]
    ddb.get_waiter("table_exists").wait(TableName=table)
    items = [{"id": {"S": EVENT_ID if i == 0 else str(uuid.UUID(int=0x1000 + i))}, "name": {"S": f"event {i}"},
              "when": {"S": "2026-12-01"}, "where": {"S": "Berlin"}, "description": {"S": "bench " * 8}}
             for i in range(EVENTS)]
    for start in range(0, len(items), 25):
        batch = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        while batch:
            batch = ddb.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}


def gql(url: str, body: dict) -> dict:
    r = httpx.post(url, json=body, headers={"x-api-key": KEY}, timeout=10)
    out = r.json()
    if r.status_code != 200 or out.get("errors"):
        raise RuntimeError(f"bench request failed: {r.status_code} {out}")
    return out


def check_same_answers(urls: dict[str, str]) -> None:
    """Every runtime answers every scenario with the same body (same data, same resolvers' meaning); only the
    next tokens differ, as they name their table."""
    for name, body in SCENARIOS.items():
        answers = {rt: gql(url, body) for rt, url in urls.items()}
        texts = {rt: re.sub(r'"nextToken": "[^"]+"', '"nextToken": "..."', json.dumps(a, sort_keys=True))
                 for rt, a in answers.items()}
        if len(set(texts.values())) != 1:
            raise RuntimeError(f"the runtimes answer {name} differently: " + "; ".join(
                f"{rt}: {text[:300]}" for rt, text in texts.items()))
    page = answers["vtl"]["data"]["listEvents"]
    assert len(page["items"]) == 20 and page["nextToken"], page


# ---------------------------------------------------------------- the run


def main() -> None:
    procs: list[subprocess.Popen[bytes]] = []
    ddb = DynamoDBLocal()
    stop_on_signals()
    scratch = Path(tempfile.mkdtemp(prefix="gqlsync-runtimes-"))
    try:
        ddb.start()
        urls: dict[str, str] = {}
        pids: dict[str, int] = {}
        for runtime in APPS:
            app_dir, tables = app_copy(runtime, scratch)
            port = free_port()
            procs.append(serve(app_dir, port, ddb.endpoint))
            urls[runtime], pids[runtime] = f"http://127.0.0.1:{port}/graphql", procs[-1].pid
            seed(ddb.endpoint, tables)
        check_same_answers(urls)
        loader = "wrk -t1" if shutil.which("wrk") else "bench/runtimes.py --load (asyncio, own process)"
        print(f"{os.cpu_count()} cores; {CLIENTS} clients; {ROUNDS} rounds of {SECONDS:g} s per cell; {loader}",
              flush=True)
        warm_up(urls.values(), CLIENTS)
        cells = interleaved_rounds(list(APPS), ROUNDS, lambda rt, body: measured(urls[rt], body, pids[rt]),
                                   lambda rt: f"{LABELS[rt]:<10}")
        report(summarise(cells))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        ddb.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def interleaved_rounds(servers: list[Any], rounds: int, measure: Callable[[Any, dict[str, Any]], dict[str, float]],
                       label: Callable[[Any], str], scenarios: dict[str, dict[str, Any]] | None = None,
                       ) -> dict[tuple[str, Any], list[dict[str, float]]]:
    """Each scenario (default: SCENARIOS) measured on each server, `rounds` times; which server goes first rotates by
    round, so each round's cells are measured moments apart. Cells by (scenario, server), a list over rounds; printed
    as they come."""
    cells: dict[tuple[str, Any], list[dict[str, float]]] = {}
    for round_ in range(rounds):
        turn = servers[round_ % len(servers):] + servers[:round_ % len(servers)]
        for name, body in (scenarios or SCENARIOS).items():
            for server in turn:
                cell = measure(server, body)
                cells.setdefault((name, server), []).append(cell)
                print(f"  round {round_ + 1} {name:<22} {label(server)} {cell['rps']:8.0f} req/s "
                      f"p50 {cell['p50_ms']:6.2f} ms  p99 {cell['p99_ms']:6.2f} ms  {cell['cpu_us']:6.0f} µs CPU",
                      flush=True)
    return cells


def summarise(cells: dict[tuple[str, str], list[dict[str, float]]]) -> list[dict[str, Any]]:
    rows = []
    for name in SCENARIOS:
        vtl = cells[(name, "vtl")]
        for runtime in APPS:
            runs = cells[(name, runtime)]
            row: dict[str, Any] = {"scenario": name, "runtime": LABELS[runtime], "clients": CLIENTS,
                                   **{k: statistics.median(r[k] for r in runs) for k in runs[0]},
                                   "rounds": runs}
            if runtime != "vtl":  # each round's ratio compares numbers measured moments apart
                ratios = [r["rps"] / v["rps"] for r, v in zip(runs, vtl, strict=True)]
                row["vs_vtl"] = statistics.median(ratios)
                row["vs_vtl_range"] = [min(ratios), max(ratios)]
                row["vs_vtl_cpu"] = statistics.median(r["cpu_us"] / v["cpu_us"] for r, v in zip(runs, vtl, strict=True))
                if runtime in GOALS:
                    row["goal"] = GOALS[runtime]
                    row["met"] = row["vs_vtl"] >= GOALS[runtime]
            rows.append(row)
    return rows


def report(rows: list[dict[str, Any]]) -> None:
    loader = "wrk -t1" if shutil.which("wrk") else "the asyncio load generator"
    lines = [f"# gqlsync runtimes benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
             f"{os.cpu_count()} cores; {CLIENTS} clients; medians of {ROUNDS} interleaved rounds of {SECONDS:g} s "
             f"per cell; one uvicorn worker per runtime; DynamoDB Local; {loader}. ÷ VTL: median of the rounds' "
             "ratios (min-max); goals (issue 13): APPSYNC_JS ≥ 0.9, PYTHON ≥ 1.2. VTL + cache: the VTL app with "
             "PER_RESOLVER_CACHING on getEvent (ttl 60 s, keyed by id; in memory), listEvents uncached.", "",
             "| scenario | runtime | req/s | p50 ms | p99 ms | server CPU µs/req | ÷ VTL req/s | ÷ VTL CPU | goal |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ratio = (f"{r['vs_vtl']:.2f} ({r['vs_vtl_range'][0]:.2f}-{r['vs_vtl_range'][1]:.2f})"
                 if "vs_vtl" in r else "1")
        cpu = f"{r['vs_vtl_cpu']:.2f}" if "vs_vtl_cpu" in r else "1"
        goal = (f"≥ {r['goal']:g} {'met' if r['met'] else '**missed**'}" if "goal" in r else "")
        lines.append(f"| {r['scenario']} | {r['runtime']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                     f"| {r['cpu_us']:.0f} | {ratio} | {cpu} | {goal} |")
    write_results("runtimes", "\n".join(lines) + "\n", rows)


def write_results(kind: str, text: str, rows: list[dict[str, Any]]) -> None:
    """Print the table and keep it, with the raw rows, as bench/results/<kind>-<timestamp>.md and .json."""
    print("\n" + text)
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{kind}-{stamp}.md").write_text(text)
    (out / f"{kind}-{stamp}.json").write_text(json.dumps(rows, indent=1))
    print(f"written to bench/results/{kind}-{stamp}.md and .json")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:  # the fallback load generator, in its own process
        url, clients, seconds = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(_generate(url, clients, seconds, os.environ["GQL_BODY"].encode()))))
    else:
        try:
            main()
        except KeyboardInterrupt:
            sys.exit(130)
