"""Runs the benchmark suite and writes a table: gqlsync on DynamoDB Local beside the two limits.

Measured side by side in one run (the machine is shared and noisy, so compare ratios, not absolutes):
- gqlsync (`gqlsync serve`, one uvicorn worker) serving the Event app on DynamoDB Local:
  getEvent, getEvent+comments, listEvents, createEvent at 16 and 64 concurrent clients;
- a bare Starlette JSON endpoint on the same uvicorn settings (the HTTP-stack limit);
- raw aioboto3 GetItem at the same concurrency against the same DynamoDB Local (the data limit).
Load comes from wrk (C) so the client costs little of the two cores.

BENCH_BASELINE=<commit> also serves that commit of gqlsync (checked out beside this one, same venv, same
DynamoDB Local, same tables) and measures every scenario on it in the same interleaved rounds: the table
then says how this tree compares with that commit (÷ baseline), which is how a change shows it costs nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import cpu_seconds  # noqa: E402
from tests.services import DynamoDBLocal, free_port, wait_for_port  # noqa: E402

KEY = "da2-gqlsynclocaldevelopmentkey01"
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CLIENTS", "16,64").split(",")]
BASELINE = os.environ.get("BENCH_BASELINE", "")
EVENT_FIELDS = "id name where when description"


def measured(url: str, body: dict | None, clients: int, seconds: float, pid: int) -> dict[str, float]:
    """wrk's figures plus the server's own CPU per request: what gqlsync costs, whatever DynamoDB Local takes."""
    before = cpu_seconds(pid)
    cell = wrk(url, body, clients, seconds)
    cell["cpu_us"] = (cpu_seconds(pid) - before) / (cell["rps"] * seconds) * 1e6
    return cell


def wrk(url: str, body: dict | None, clients: int, seconds: float, auth: str = "") -> dict[str, float]:
    env = {**os.environ, "GQL_BODY": json.dumps(body or {}), "GQL_KEY": KEY, "GQL_AUTH": auth}
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{int(seconds)}s", "--latency", "-s",
                          str(ROOT / "bench/post.lua"), url], env=env, capture_output=True, text=True,
                         check=True).stdout

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if bad or errors:
        raise RuntimeError(f"wrk saw failures against {url}:\n{out}")
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99}


def start(cmd: list[str], port: int, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    wait_for_port(port, 60, proc)
    return proc


def checkout(commit: str) -> Path:
    """That commit's tree in a scratch folder (not a worktree: nothing is left in this repository)."""
    sha = subprocess.run(["git", "rev-parse", "--short", commit], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    dest = Path(os.environ.get("TMPDIR", "/tmp")) / f"gqlsync-bench-{sha}"
    if not dest.exists():
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def serve(tree: Path, port: int, endpoint: str) -> subprocess.Popen[bytes]:
    """`gqlsync serve` of the gqlsync in `tree` (PYTHONPATH puts it before the installed one)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return start([sys.executable, "-m", "gqlsync.cli", "serve", "examples/event-app", "--host", "127.0.0.1",
                  "--port", str(port), "--dynamodb-endpoint", endpoint, "--create-tables", "--log-level", "info"],
                 port, cwd=tree, env=env)


def gql(url: str, query: str, variables: dict | None = None) -> dict:
    r = httpx.post(url, json={"query": query, "variables": variables or {}}, headers={"x-api-key": KEY}, timeout=10)
    body = r.json()
    if r.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"bench request failed: {r.status_code} {body}")
    return body


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (bash bench/run.sh installs it)")
    ddb = DynamoDBLocal().start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        gq_port, bare_port = free_port(), free_port()
        procs.append(serve(ROOT, gq_port, ddb.endpoint))
        gq_pid = procs[-1].pid
        procs.append(start([sys.executable, str(ROOT / "bench/bare_app.py"), str(bare_port)], bare_port))
        url = f"http://127.0.0.1:{gq_port}/graphql"
        bare = f"http://127.0.0.1:{bare_port}/graphql"
        base_url = ""
        if BASELINE:
            base_port = free_port()
            procs.append(serve(checkout(BASELINE), base_port, ddb.endpoint))
            base_pid = procs[-1].pid
            base_url = f"http://127.0.0.1:{base_port}/graphql"
        create = ("mutation($n: String!) { createEvent(name: $n, when: \"2026-12-01\", where: \"Berlin\", "
                  f"description: \"bench\") {{ {EVENT_FIELDS} }} }}")
        event_id = gql(url, create, {"n": "bench"})["data"]["createEvent"]["id"]
        for i in range(20):
            gql(url, "mutation($e: ID!, $c: String!) { commentOnEvent(eventId: $e, content: $c, createdAt: \"t\") "
                     "{ commentId } }", {"e": event_id, "c": f"comment {i}"})
        for i in range(100):
            gql(url, create, {"n": f"event {i}"})
        scenarios = {
            "getEvent": {"query": f"query($id: ID!) {{ getEvent(id: $id) {{ {EVENT_FIELDS} }} }}",
                         "variables": {"id": event_id}},
            "getEvent+comments": {"query": f"query($id: ID!) {{ getEvent(id: $id) {{ {EVENT_FIELDS} comments(limit: 10)"
                                           " { items { commentId content createdAt } nextToken } } }",
                                  "variables": {"id": event_id}},
            "listEvents": {"query": "{ listEvents(limit: 20) { items { id name when } nextToken } }"},
            "createEvent": {"query": create, "variables": {"n": "load"}},
        }
        for body in scenarios.values():
            gql(url, body["query"], body.get("variables"))
            if base_url:
                gql(base_url, body["query"], body.get("variables"))
        rows: list[dict] = []
        for clients in CONCURRENCY:
            wrk(url, scenarios["getEvent"], clients, 2)  # warm-up (document cache, connection pools, JIT in DDB)
            cells: dict[str, list[dict[str, float]]] = {}
            for round_ in range(ROUNDS):  # interleaved, so each ratio compares numbers measured moments apart
                cells.setdefault("raw", []).append(json.loads(subprocess.run(
                    [sys.executable, str(ROOT / "bench/raw_getitem.py"), ddb.endpoint, "events", event_id,
                     str(clients), str(SECONDS)], capture_output=True, text=True, check=True).stdout))
                cells.setdefault("bare", []).append(wrk(bare, scenarios["getEvent"], clients, SECONDS))
                for name, body in scenarios.items():
                    servers = [(name, url, gq_pid)]
                    if base_url:  # which server goes first alternates by round, so order favours neither
                        servers.append((f"{name} @ {BASELINE}", base_url, base_pid))
                        if round_ % 2:
                            servers.reverse()
                    for label, target, pid in servers:
                        cells.setdefault(label, []).append(measured(target, body, clients, SECONDS, pid))
            med = {name: median_cell(runs) for name, runs in cells.items()}
            rows.append({"scenario": "raw aioboto3 GetItem (limit)", "clients": clients, **med["raw"]})
            rows.append({"scenario": "bare Starlette JSON (limit)", "clients": clients, **med["bare"]})
            for name in scenarios:
                for label in (name, f"{name} @ {BASELINE}") if base_url else (name,):
                    r = dict(med[label])
                    r["vs_getitem"] = r["rps"] / med["raw"]["rps"]
                    r["vs_bare"] = r["rps"] / med["bare"]["rps"]
                    if label == name and base_url:
                        r["vs_base"] = r["rps"] / med[f"{name} @ {BASELINE}"]["rps"]
                        r["vs_base_cpu"] = r["cpu_us"] / med[f"{name} @ {BASELINE}"]["cpu_us"]
                    rows.append({"scenario": label, "clients": clients, **r})
        report(rows)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        ddb.stop()


def median_cell(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median of each measure across rounds (req/s, p50, p99 taken separately)."""
    return {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms", "cpu_us") if k in runs[0]}


def report(rows: list[dict]) -> None:
    lines = [f"# gqlsync benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
             "", f"{os.cpu_count()} cores; medians of {ROUNDS} interleaved rounds of {SECONDS:.0f} s per cell; "
             "one uvicorn worker; DynamoDB Local; wrk -t1.", "",
             "| scenario | clients | req/s | p50 ms | p99 ms | server CPU µs/req | ÷ raw GetItem | ÷ bare Starlette |"
             + (" ÷ baseline (req/s) | ÷ baseline (CPU) |" if BASELINE else ""),
             "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if BASELINE else "")]
    for r in rows:
        ratio = f"{r['vs_getitem']:.2f}" if "vs_getitem" in r else ""
        bare = f"{r['vs_bare']:.2f}" if "vs_bare" in r else ""
        base = (f" {r['vs_base']:.2f} | {r['vs_base_cpu']:.2f} |" if "vs_base" in r else " | |") if BASELINE else ""
        cpu = f"{r['cpu_us']:.0f}" if "cpu_us" in r else ""
        lines.append(f"| {r['scenario']} | {r['clients']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                     f"| {cpu} | {ratio} | {bare} |{base}")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.md").write_text(text)
    (out / f"bench-{stamp}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
