"""`gqlsync serve --workers 1` against `--workers 2` on one DynamoDB Local and one redis-server, side by side.

    .venv/bin/python bench/workers.py        # WK_SECONDS=10 WK_ROUNDS=3 WK_CLIENTS=16

Both servers serve a copy of examples/event-app (each with its own tables, the same items) with the Redis broker, so
the only difference is the number of processes. getEvent and listEvents(limit: 20) are loaded through each in
interleaved rounds (which goes first alternates) by wrk if installed, else bench/runtimes.py's asyncio load generator.
The table gives medians of req/s, p50, p99 and the servers' CPU per request (supervisor and workers, from /proc), and
the 2-worker/1-worker ratio measured in the same round against issue 15's goal (≥ 1.8 on this machine). DynamoDB
Local runs on the same cores, so what it costs per request is paid out of the same two.
Results go to bench/results/workers-<timestamp>.md and .json.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import runtimes as rt  # noqa: E402

from tests.services import DynamoDBLocal, RedisServer, children, free_port  # noqa: E402

SECONDS = float(os.environ.get("WK_SECONDS", "10"))
ROUNDS = int(os.environ.get("WK_ROUNDS", "3"))
CLIENTS = int(os.environ.get("WK_CLIENTS", "16"))
GOAL = 1.8  # 2 workers ÷ 1 worker, getEvent req/s (issue 15)
WORKERS = (1, 2)
#: getEvent answered by a NONE data source (the same event, built by the resolver): the same HTTP, auth, GraphQL,
#: template, log and metrics path with no backend call, so what the second worker adds is not capped by DynamoDB
#: Local's share of the two cores
NO_BACKEND = "getEvent (no backend)"
SCENARIOS = {**rt.SCENARIOS, NO_BACKEND: {
    "query": f"query($id: ID!) {{ getEventLocal(id: $id) {{ {rt.EVENT_FIELDS} }} }}", "variables": {"id": rt.EVENT_ID}}}
LOCAL_REQUEST = """{"version": "2018-05-29", "payload": {"id": $util.toJson($ctx.args.id), "name": "event 0",
  "when": "2026-12-01", "where": "Berlin", "description": "bench bench bench bench bench bench bench bench "}}"""


def add_local_field(app_dir: Path) -> None:
    """getEventLocal(id): Event on a NONE data source, in the bench's copy of the app."""
    schema = app_dir / "schema.graphql"
    text = schema.read_text()
    schema.write_text(text.replace("  getEvent(id: ID!): Event\n", "  getEvent(id: ID!): Event\n"
                                   "  getEventLocal(id: ID!): Event\n", 1))
    (app_dir / "resolvers" / "Query.getEventLocal.req.vtl").write_text(LOCAL_REQUEST)
    (app_dir / "resolvers" / "local.res.vtl").write_text("$util.toJson($ctx.result)")
    manifest = app_dir / "gqlsync.yaml"
    spec = yaml.safe_load(manifest.read_text())
    spec["dataSources"]["Local"] = {"type": "NONE"}
    spec["resolvers"].append({"type": "Query", "field": "getEventLocal", "dataSource": "Local",
                              "request": "resolvers/Query.getEventLocal.req.vtl",
                              "response": "resolvers/local.res.vtl"})
    manifest.write_text(yaml.safe_dump(spec, sort_keys=False))


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by `pid` and its live children (the supervisor and its workers)."""
    return rt.cpu_seconds(pid) + sum(rt.cpu_seconds(c) for c in children(pid))


def serve(app_dir: Path, port: int, endpoint: str, redis_url: str, workers: int) -> subprocess.Popen[bytes]:
    return rt.serve(app_dir, port, endpoint, "--redis-url", redis_url, "--workers", str(workers))


def loader_cpu() -> float:
    """CPU seconds of the load generators this process has run and waited for (wrk, or the fallback)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(url: str, body: dict[str, Any], pid: int, backend_pid: int) -> dict[str, float]:
    """The load's figures, the server's CPU per request, and what DynamoDB Local and the load generator spent per
    request on the same cores (what is left of the two cores for the server's workers)."""
    before, backend, load = tree_cpu(pid), rt.cpu_seconds(backend_pid), loader_cpu()
    cell = rt.load(url, body, CLIENTS, SECONDS)
    n = cell["rps"] * SECONDS
    cell["cpu_us"] = (tree_cpu(pid) - before) / n * 1e6
    cell["backend_us"] = (rt.cpu_seconds(backend_pid) - backend) / n * 1e6
    cell["loader_us"] = (loader_cpu() - load) / n * 1e6
    return cell


def main() -> None:
    procs: list[subprocess.Popen[bytes]] = []
    ddb, redis = DynamoDBLocal(), RedisServer()

    rt.stop_on_signals()
    scratch = Path(tempfile.mkdtemp(prefix="gqlsync-workers-"))
    try:
        ddb.start()
        redis.start()
        urls: dict[int, str] = {}
        pids: dict[int, int] = {}
        for n in WORKERS:
            app_dir, tables = rt.app_copy("vtl", scratch / f"w{n}", f"wk{n}_")  # each server its own tables
            add_local_field(app_dir)
            port = free_port()
            procs.append(serve(app_dir, port, ddb.endpoint, redis.url, n))
            urls[n], pids[n] = f"http://127.0.0.1:{port}/graphql", procs[-1].pid
            rt.seed(ddb.endpoint, tables)
        assert ddb.proc is not None
        ddb_pid = ddb.proc.pid
        loader = "wrk -t1" if shutil.which("wrk") else "the asyncio load generator"
        print(f"{os.cpu_count()} cores; {CLIENTS} clients; {ROUNDS} rounds of {SECONDS:g} s per cell; {loader}",
              flush=True)
        rt.warm_up(urls.values(), CLIENTS, SCENARIOS)
        cells = rt.interleaved_rounds(list(WORKERS), ROUNDS,
                                      lambda n, body: measured(urls[n], body, pids[n], ddb_pid),
                                      lambda n: f"{n} worker(s)", SCENARIOS)
        report(cells)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        redis.stop()
        ddb.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def report(cells: dict[tuple[str, int], list[dict[str, float]]]) -> None:
    rows = []
    lines = [f"# gqlsync workers benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
             f"{os.cpu_count()} cores; {CLIENTS} clients; medians of {ROUNDS} interleaved rounds of {SECONDS:g} s "
             "per cell; both servers with the Redis broker; one DynamoDB Local on the same cores. ÷ 1 worker: median "
             f"of the rounds' ratios (min-max); goal (issue 15): getEvent at 2 workers ≥ {GOAL:g} times one. CPU "
             "columns: µs per request of the server (supervisor and workers), of DynamoDB Local and of the load "
             f"generator; ceiling: the ratio {os.cpu_count()} fully used cores would allow if every request cost "
             "what it cost all three at one worker (cores ÷ their CPU per request ÷ the 1-worker req/s).", "",
             "| scenario | workers | req/s | p50 ms | p99 ms | server CPU µs/req | DynamoDB Local µs/req "
             "| load µs/req | ÷ 1 worker | ceiling | goal |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name in SCENARIOS:
        one = cells[(name, 1)]
        for n in WORKERS:
            runs = cells[(name, n)]
            row: dict[str, Any] = {"scenario": name, "workers": n, "clients": CLIENTS,
                                   **{k: statistics.median(r[k] for r in runs) for k in runs[0]}, "rounds": runs}
            ratio, goal, ceiling = "1", "", ""
            if n != 1:
                base = [o["rps"] * (o["cpu_us"] + o["backend_us"] + o["loader_us"]) / 1e6 for o in one]
                row["ceiling"] = statistics.median((os.cpu_count() or 1) / b for b in base)
                ceiling = f"{row['ceiling']:.2f}"
                ratios = [r["rps"] / o["rps"] for r, o in zip(runs, one, strict=True)]
                row["vs_one"] = statistics.median(ratios)
                ratio = f"{row['vs_one']:.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
                if name in ("getEvent", NO_BACKEND):
                    row["met"] = row["vs_one"] >= GOAL
                    goal = f"≥ {GOAL:g} {'met' if row['met'] else '**missed**'}"
            rows.append(row)
            lines.append(f"| {name} | {n} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                         f"{row['cpu_us']:.0f} | {row['backend_us']:.0f} | {row['loader_us']:.0f} | {ratio} | "
                         f"{ceiling} | {goal} |")
    rt.write_results("workers", "\n".join(lines) + "\n", rows)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
