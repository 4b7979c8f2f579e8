"""In-process CPU per request of the Event app's listEvents (a page of 20) and getEvent, this tree against others.

    .venv/bin/python bench/lists.py                       # LS_CALLS=300 LS_ROUNDS=7
    LS_BASELINE=/work/wt-base .venv/bin/python bench/lists.py   # also a checkout of the base commit, same run
    .venv/bin/python bench/lists.py --profile listEvents  # cProfile of this tree, self time by function

One DynamoDB Local (tests/services.py) and, per tree, one worker process that imports gqlsync from that tree
(PYTHONPATH), builds the Event app's served API (gqlsync.server.GqlsyncServer, tables of its own, 100 events
written) and executes requests in-process exactly as the HTTP route does: `ApiVersion.execute` with a
RequestScope, then the body serialized by orjson. No HTTP, no load generator: the figure is the process's own
CPU (time.process_time) per request, which includes the DynamoDB client's work but not DynamoDB Local's. Rounds
are interleaved (which tree goes first rotates by round), `LS_CALLS` requests per scenario per round, one
request at a time; medians over rounds are printed, with each tree's ratio to the first tree's.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CALLS = int(os.environ.get("LS_CALLS", "300"))
ROUNDS = int(os.environ.get("LS_ROUNDS", "7"))
EVENTS = 100
EVENT_FIELDS = "id name where when description"
SCENARIOS: dict[str, dict[str, Any]] = {
    "listEvents": {"query": f"{{ listEvents(limit: 20) {{ items {{ {EVENT_FIELDS} }} nextToken }} }}"},
    "getEvent": {"query": f"query($id: ID!) {{ getEvent(id: $id) {{ {EVENT_FIELDS} }} }}"},
    # graphql-core execution alone, as the tree runs it: the Event app's schema without resolvers, the listEvents
    # document parsed once, the root value holding the page that listEvents' resolver returns
    "engineOnly": {"query": f"{{ listEvents(limit: 20) {{ items {{ {EVENT_FIELDS} }} nextToken }} }}",
                    "engine": True},
}


# ---------------------------------------------------------------- worker: one tree's API, in this process


class Worker:
    """The Event app served in-process on the given DynamoDB, with its own tables and 100 events."""

    def __init__(self, endpoint: str, prefix: str) -> None:
        from tests.helpers import event_server  # from the tree on PYTHONPATH

        self.server = event_server(endpoint, prefix)
        self.event_id = ""
        self.engine_args: dict[str, Any] = {}

    def engine(self) -> Any:
        """One execution of the listEvents document on the resolver-less schema (see SCENARIOS)."""
        from graphql import execute

        result = execute(**self.engine_args)
        assert not result.errors, result.errors  # type: ignore[union-attr]
        return result.data  # type: ignore[union-attr]

    async def _engine_args(self) -> None:
        from graphql import parse

        from gqlsync.engine.schema import build_schema
        from gqlsync.request import RequestScope

        context_class: Any
        try:
            from gqlsync.engine.execution import FastExecutionContext
            context_class = FastExecutionContext
        except ImportError:  # a tree before it: graphql-core's own
            from graphql import ExecutionContext
            context_class = ExecutionContext
        page = json.loads(await self.run(SCENARIOS["listEvents"]))["data"]["listEvents"]
        self.engine_args = {"schema": build_schema(self.server.served.api.app.schema_sdl),
                            "document": parse(SCENARIOS["engineOnly"]["query"]),
                            "root_value": {"listEvents": page}, "execution_context_class": context_class,
                            "context_value": RequestScope(request_id="bench", identity=None, headers={})}

    async def start(self) -> None:
        await self.server.start()
        for i in range(EVENTS):
            body = await self.run({"query": "mutation($n: String!) { createEvent(name: $n, when: \"2026-01-01\", "
                                            "where: \"Hall\", description: \"an event\") { id } }",
                                   "variables": {"n": f"event {i}"}})
            self.event_id = json.loads(body)["data"]["createEvent"]["id"]
        SCENARIOS["getEvent"]["variables"] = {"id": self.event_id}
        await self._engine_args()
        for body in SCENARIOS.values():  # the same answer shape in every tree is checked by the parent
            await self.run(body)

    async def run(self, body: dict[str, Any]) -> bytes:
        import orjson

        if body.get("engine"):
            return orjson.dumps(self.engine())

        from gqlsync.request import RequestScope

        scope = RequestScope(request_id="bench", identity=None, headers={"host": "bench"}, domain_name="bench",
                             auth_type="API_KEY", source_ip="127.0.0.1")
        outcome = await self.server.served.api.execute(body["query"], body.get("variables"),
                                                       body.get("operationName"), scope)
        return orjson.dumps(outcome.body)

    async def measure(self, name: str, calls: int) -> float:
        """µs of this process's CPU per request over `calls` sequential requests."""
        body = SCENARIOS[name]
        cpu = time.process_time()
        for _ in range(calls):
            await self.run(body)
        return (time.process_time() - cpu) / calls * 1e6


async def serve_worker(endpoint: str, prefix: str) -> None:
    """Answers the parent's lines: `answer NAME` (the response), `measure NAME CALLS` (µs/request), `stop`."""
    worker = Worker(endpoint, prefix)
    await worker.start()
    import gqlsync

    print(json.dumps({"ready": gqlsync.__file__}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "stop":
            break
        if cmd[0] == "answer":
            body = json.loads(await worker.run(SCENARIOS[cmd[1]]))
            print(json.dumps({"answer": body}), flush=True)
        elif cmd[0] == "measure":
            print(json.dumps({"us": await worker.measure(cmd[1], int(cmd[2]))}), flush=True)
    await worker.server.stop()


async def profile(endpoint: str, name: str, calls: int) -> None:
    worker = Worker(endpoint, "lsprof_")
    await worker.start()
    await worker.measure(name, 50)
    prof = cProfile.Profile(time.process_time)  # CPU, not the wait for DynamoDB Local
    prof.enable()
    await worker.measure(name, calls)
    prof.disable()
    await worker.server.stop()
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
    print(f"cProfile, {calls} x {name}: self time by function (total {total / calls * 1e6:.0f} µs/request "
          "under the profiler)")
    for (file, line, fn), (_cc, nc, tt, _ct, _callers) in rows[:40]:
        where = file.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        print(f"  {tt / total * 100:5.1f}%  {nc / calls:7.1f} calls/req  {where}:{line} {fn}")
    modules: dict[str, float] = {}
    for (file, _line, _fn), (_cc, _nc, tt, _ct, _callers) in rows:
        where = file.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        key = "/".join(where.split("/")[:2]) if "/" in where else where
        modules[key] = modules.get(key, 0.0) + tt
    print("self time by module:")
    for key, tt in sorted(modules.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {tt / total * 100:5.1f}%  {key}")


# ---------------------------------------------------------------- parent: DynamoDB Local, workers, rounds


class Tree:
    """A worker process importing gqlsync from `path`."""

    def __init__(self, path: Path, endpoint: str, prefix: str) -> None:
        self.path = path
        env = {**os.environ, "PYTHONPATH": str(path)}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", endpoint, prefix],
                                     cwd=path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = str(self.ask(None).get("ready"))
        assert ready.startswith(str(path) + "/"), f"the worker for {path} imported gqlsync from {ready}"

    def ask(self, line: str | None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if line is not None:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        if not out:
            raise RuntimeError(f"worker for {self.path} ended")
        result: dict[str, Any] = json.loads(out)
        return result

    def stop(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("stop\n")
            self.proc.stdin.close()
            self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def shape(answer: Any) -> Any:
    """An answer with its values' ids and names replaced by their types (trees have different events)."""
    if isinstance(answer, dict):
        return {k: shape(v) for k, v in answer.items()}
    if isinstance(answer, list):
        return [shape(v) for v in answer]
    return type(answer).__name__


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        asyncio.run(serve_worker(sys.argv[2], sys.argv[3]))
        return
    sys.path.insert(0, str(ROOT))
    from tests.services import DynamoDBLocal

    ddb = DynamoDBLocal().start()
    try:
        if len(sys.argv) > 1 and sys.argv[1] == "--profile":
            asyncio.run(profile(ddb.endpoint, sys.argv[2] if len(sys.argv) > 2 else "listEvents", CALLS * 3))
            return
        paths = [ROOT] + [Path(p).resolve() for p in os.environ.get("LS_BASELINE", "").split(",") if p]
        trees = [Tree(p, ddb.endpoint, f"ls{i}_") for i, p in enumerate(paths)]
        try:
            for name in SCENARIOS:
                shapes = [shape(t.ask(f"answer {name}")["answer"]) for t in trees]
                assert all(s == shapes[0] for s in shapes), f"{name}: the trees answer differently: {shapes}"
            cells: dict[tuple[str, int], list[float]] = {}
            for round_ in range(ROUNDS):
                order = list(range(len(trees)))
                order = order[round_ % len(order):] + order[:round_ % len(order)]
                for name in SCENARIOS:
                    for i in order:
                        us = trees[i].ask(f"measure {name} {CALLS}")["us"]
                        cells.setdefault((name, i), []).append(us)
                        print(f"  round {round_ + 1} {name:<11} {paths[i]}  {us:7.1f} µs/request", flush=True)
            print(f"\nmedians over {ROUNDS} rounds of {CALLS} requests (process CPU µs/request):")
            for name in SCENARIOS:
                first = cells[(name, 0)]
                for i, p in enumerate(paths):
                    runs = cells[(name, i)]
                    ratio = statistics.median(r / f for r, f in zip(runs, first, strict=True))
                    print(f"  {name:<11} {statistics.median(runs):7.1f} µs  (min {min(runs):6.1f}, max "
                          f"{max(runs):6.1f})  ÷ first tree {ratio:5.3f}  {p}")
        finally:
            for t in trees:
                t.stop()
    finally:
        ddb.stop()


if __name__ == "__main__":
    main()
