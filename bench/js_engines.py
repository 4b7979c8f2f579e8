"""Embedded JS engines for APPSYNC_JS compared: quickjs-ng and mini-racer (V8), a getEvent round trip each.

    .venv/bin/python bench/js_engines.py        # JS_CALLS=5000

For each engine: the time to create a context, to compile (evaluate) a getEvent-like resolver script into it,
a request + response round trip with the context reused (JSON text in, JSON text out, `util.dynamodb` as the
runtime needs it: a synchronous Python callback in QuickJS; mini-racer can only call Python asynchronously, so
there the helper is written in JS), and the resident memory one more context with the script loaded costs.
The figures are why gqlsync's APPSYNC_JS runtime runs on quickjs-ng (see gqlsync/runtimes/js/__init__.py).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

CALLS = int(os.environ.get("JS_CALLS", "5000"))

SCRIPT = """
var __m = {};
__m.getEvent = {
  request(ctx) { return {operation: 'GetItem', key: {id: util.dynamodb.toDynamoDB(ctx.args.id)}}; },
  response(ctx) { return ctx.result; },
};
function __call(half, text) {
  const ctx = JSON.parse(text);
  return JSON.stringify(__m.getEvent[half](ctx));
}
"""
JS_UTIL = "var util = {dynamodb: {toDynamoDB(v) { return typeof v === 'string' ? {S: v} : {N: v}; }}};"
PY_UTIL = ("var util = {dynamodb: {toDynamoDB(v) { return JSON.parse(__py_toDynamoDB(JSON.stringify(v))); }}};")
CTX = {"arguments": {"id": "e-1"}, "args": {"id": "e-1"}, "source": None, "identity": None,
       "request": {"headers": {"x-api-key": "da2-x"}}, "info": {"fieldName": "getEvent", "parentTypeName": "Query",
       "variables": {}, "selectionSetList": ["id", "name"]}, "stash": {}, "prev": {"result": None}}
RESULT = {"id": "e-1", "name": "Event", "where": "Here", "when": "today", "description": "x" * 200}


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def median_us(fn: Callable[[], Any], n: int) -> float:
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n // 5):
            fn()
        rounds.append((time.perf_counter() - t) / (n // 5) * 1e6)
    return statistics.median(rounds)


def bench_quickjs() -> dict[str, float]:
    import quickjs

    def make() -> Any:
        c = quickjs.Context()
        c.add_callable("__py_toDynamoDB", lambda t: json.dumps({"S": json.loads(t)}))
        c.eval(PY_UTIL)
        return c

    t = time.perf_counter()
    ctx = make()
    create = time.perf_counter() - t
    t = time.perf_counter()
    ctx.eval(SCRIPT)
    compile_ = time.perf_counter() - t
    call = ctx.get("__call")
    full = dict(CTX, result=RESULT)

    def round_trip() -> None:
        json.loads(call("request", json.dumps(CTX)))
        json.loads(call("response", json.dumps(full)))

    per_call = median_us(round_trip, CALLS)
    keep = []
    gc.collect()
    before = rss_kb()
    for _ in range(20):
        c = make()
        c.eval(SCRIPT)
        keep.append(c)
    per_ctx = (rss_kb() - before) / 20
    return {"create_ms": create * 1e3, "compile_ms": compile_ * 1e3, "round_trip_us": per_call,
            "ctx_kb": per_ctx}


def bench_mini_racer() -> dict[str, float]:
    from py_mini_racer import MiniRacer

    t = time.perf_counter()
    ctx = MiniRacer()
    ctx.eval(JS_UTIL)
    create = time.perf_counter() - t
    t = time.perf_counter()
    ctx.eval(SCRIPT)
    compile_ = time.perf_counter() - t
    full = dict(CTX, result=RESULT)

    def round_trip() -> None:
        json.loads(ctx.call("__call", "request", json.dumps(CTX)))
        json.loads(ctx.call("__call", "response", json.dumps(full)))

    per_call = median_us(round_trip, CALLS)
    keep = [ctx]
    gc.collect()
    before = rss_kb()
    for _ in range(20):
        c = MiniRacer()
        c.eval(JS_UTIL)
        c.eval(SCRIPT)
        keep.append(c)
    per_ctx = (rss_kb() - before) / 20
    for c in keep:
        c.close()
    return {"create_ms": create * 1e3, "compile_ms": compile_ * 1e3, "round_trip_us": per_call,
            "ctx_kb": per_ctx}


def main() -> None:
    rows = {"quickjs-ng": bench_quickjs(), "mini-racer (V8)": bench_mini_racer()}
    print(f"{'engine':<18}{'new context ms':>16}{'compile ms':>12}{'req+res µs':>12}{'KB/context':>12}")
    for name, r in rows.items():
        print(f"{name:<18}{r['create_ms']:>16.2f}{r['compile_ms']:>12.3f}{r['round_trip_us']:>12.1f}"
              f"{r['ctx_kb']:>12.0f}")


if __name__ == "__main__":
    main()
