"""What observability costs: the per-request JSON log line on against off, side by side; and the metrics calls.

    .venv/bin/python bench/observability.py      # OB_SECONDS=5 OB_ROUNDS=9 OB_CLIENTS=16

Two `gqlsync serve` processes (one uvicorn worker each) serve one copy of examples/event-app on one DynamoDB Local,
the same tables for both: one with `--log-level info` (a JSON line per request, written to a file as a log collector
would read it), one with `--log-level warning` (no request lines). getEvent and listEvents(limit: 20) are loaded
through each in interleaved rounds (which goes first alternates) by wrk. Each round's ratio (logs on ÷ off, req/s)
is taken, and the table gives the median and min-max against issue 15's goal: logging and metrics together cost at
most 5% of throughput. The metrics cannot be switched off (every server has them), so their cost is measured apart,
in this process: the calls a request makes (request counter, latency histogram, version counter, one data-source
call's meter) timed over many repetitions, as a share of the logs-off server's CPU per request.
Results go to bench/results/observability-<timestamp>.md and .json.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import runtimes as rt  # noqa: E402

from tests.services import DynamoDBLocal, free_port  # noqa: E402

# many short rounds: on a shared host single rounds' ratios spread over ±20%, so the median needs many of them
SECONDS = float(os.environ.get("OB_SECONDS", "5"))
ROUNDS = int(os.environ.get("OB_ROUNDS", "9"))
CLIENTS = int(os.environ.get("OB_CLIENTS", "16"))
GOAL = 0.05  # logging + metrics cost at most this share of throughput (issue 15)
SERVERS = ("logs on", "logs off")


def metrics_cost_us(n: int = 50_000) -> float:
    """CPU µs of the metric calls one getEvent makes (request + one data-source call), median of 5 repetitions."""
    from gqlsync.observe.metrics import Metrics

    m = Metrics()
    meter = m.datasource("eventapp", "EventTable", "AMAZON_DYNAMODB")
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(n):
            meter.invocations.inc()
            meter.in_flight.inc()
            meter.in_flight.dec()
            meter.latency.observe(0.001)
            m.request("eventapp", "query", 200, "1", False, 0.004)
        runs.append((time.process_time() - started) / n * 1e6)
    return statistics.median(runs)


def log_cost_us(n: int = 50_000) -> float:
    """CPU µs (every thread) of one request log line as `gqlsync serve` writes it (the request's fields, through
    `info_fields` to the writer thread, rendered and written to a file), median of 5 repetitions."""
    import logging

    from gqlsync.observe.logs import JsonFormatter, LogBuffer, LogWriter, info_fields

    runs = []
    parent, child = logging.getLogger("gqlsync-bench"), logging.getLogger("gqlsync-bench.request")
    parent.propagate, parent.level = False, logging.INFO
    with tempfile.TemporaryFile("w") as sink:
        for _ in range(5):
            writer = LogWriter(sink, JsonFormatter())
            parent.handlers[:] = [LogBuffer(writer)]
            writer.start()
            started = time.process_time()
            for i in range(n):
                info_fields(child, "request", {"request_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "app": "eventapp",
                                               "operation": None, "operation_type": "query", "status": 200,
                                               "duration_ms": 4.123, "error_types": []})
                if i % 100 == 99:
                    time.sleep(0)  # let the writer run as it would between requests
            writer.stop()
            runs.append((time.process_time() - started) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    procs: list[subprocess.Popen[bytes]] = []
    ddb = DynamoDBLocal()
    rt.stop_on_signals()
    scratch = Path(tempfile.mkdtemp(prefix="gqlsync-observability-"))
    try:
        ddb.start()
        urls: dict[str, str] = {}
        pids: dict[str, int] = {}
        logs: dict[str, Path] = {}
        # both servers on one app copy and the same tables: each reads the same items of the same DynamoDB Local
        # tables, so the log setting is the only difference between the two
        app_dir, tables = rt.app_copy("vtl", scratch, "ob_")
        for i, name in enumerate(SERVERS):
            port = free_port()
            logs[name] = scratch / f"s{i}.log"
            procs.append(rt.serve(app_dir, port, ddb.endpoint, log_level="info" if name == "logs on" else "warning",
                                  log_file=logs[name]))
            urls[name], pids[name] = f"http://127.0.0.1:{port}/graphql", procs[-1].pid
        rt.seed(ddb.endpoint, tables)
        print(f"{os.cpu_count()} cores; {CLIENTS} clients; {ROUNDS} rounds of {SECONDS:g} s per cell", flush=True)
        rt.warm_up(urls.values(), CLIENTS)
        cells = rt.interleaved_rounds(list(SERVERS), ROUNDS,
                                      lambda s, body: rt.measured(urls[s], body, pids[s], SECONDS, CLIENTS), str)
        lines_written = sum(1 for _ in logs["logs on"].open("rb"))
        report(cells, metrics_cost_us(), log_cost_us(), lines_written)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        ddb.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def report(cells: dict[tuple[str, str], list[dict[str, float]]], metrics_us: float, log_us: float,
           lines_written: int) -> None:
    rows: list[dict[str, Any]] = []
    out = [f"# gqlsync observability benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
           f"{os.cpu_count()} cores; {CLIENTS} clients; medians of {ROUNDS} interleaved rounds of {SECONDS:g} s per "
           "cell; one DynamoDB Local on the same cores. ÷ logs off: median of the rounds' req/s ratios (min-max). "
           f"The logs-on server wrote {lines_written} request lines.", "",
           "| scenario | server | req/s | p50 ms | p99 ms | server CPU µs/req | ÷ logs off |",
           "|---|---|---:|---:|---:|---:|---:|"]
    cost: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for scenario in rt.SCENARIOS:
        off = cells[(scenario, "logs off")]
        for server in SERVERS:
            runs = cells[(scenario, server)]
            row: dict[str, Any] = {"scenario": scenario, "server": server, "clients": CLIENTS,
                                   **{k: statistics.median(r[k] for r in runs) for k in runs[0]}, "rounds": runs}
            ratio = "1"
            if server == "logs on":
                ratios = [r["rps"] / o["rps"] for r, o in zip(runs, off, strict=True)]
                row["vs_off"] = statistics.median(ratios)
                ratio = f"{row['vs_off']:.3f} ({min(ratios):.3f}-{max(ratios):.3f})"
                cost[scenario] = 1 - row["vs_off"]
                cpu[scenario] = statistics.median(r["cpu_us"] / o["cpu_us"] for r, o in zip(runs, off, strict=True)) - 1
            rows.append(row)
            out.append(f"| {scenario} | {server} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                       f"{row['cpu_us']:.0f} | {ratio} |")
    names = list(rt.SCENARIOS)
    get_cpu, list_cpu = (statistics.median(r["cpu_us"] for r in cells[(n, "logs off")]) for n in names[:2])
    metrics_share = metrics_us / get_cpu
    out += ["", "| cost | getEvent | listEvents (20 items) | goal |", "|---|---:|---:|---|"]
    out.append(f"| log line (1 - on ÷ off, req/s) | {cost[names[0]]:.1%} | {cost[names[1]]:.1%} | |")
    out.append(f"| log line (on ÷ off - 1, CPU per request) | {cpu[names[0]]:.1%} | {cpu[names[1]]:.1%} | |")
    out.append(f"| metrics ({metrics_us:.1f} µs a request, measured apart) | {metrics_share:.1%} | "
               f"{metrics_us / list_cpu:.1%} | |")
    out.append(f"| log line ({log_us:.1f} µs a line, measured apart) | {log_us / get_cpu:.1%} | "
               f"{log_us / list_cpu:.1%} | |")
    total = cost[names[0]] + metrics_share
    apart = (log_us + metrics_us) / get_cpu
    out.append(f"| together, by req/s | {total:.1%} | | ≤ {GOAL:.0%} {'met' if total <= GOAL else '**missed**'} |")
    out.append(f"| together, measured apart | {apart:.1%} | {(log_us + metrics_us) / list_cpu:.1%} | ≤ {GOAL:.0%} "
               f"{'met' if apart <= GOAL else '**missed**'} |")
    rows.append({"log_us": log_us, "together_apart_getEvent": apart, "metrics_us": metrics_us,
                 "metrics_share_getEvent": metrics_share, "log_cost": cost, "log_cpu": cpu,
                 "total_getEvent": total, "met": total <= GOAL})
    rt.write_results("observability", "\n".join(out) + "\n", rows)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
