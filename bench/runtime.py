"""What rendering a template off the event loop costs: the same templates inline and on a worker thread, interleaved.

    .venv/bin/python bench/runtime.py        # RT_CALLS=20000 RT_ROUNDS=5

The Event app's and the stock library's templates (and Amplify-style looping ones) are rendered with the
context a resolver gives them, once inline on the loop and once through the VTL runtime's worker threads,
in interleaved rounds; the table gives µs per render (median of rounds) and the off-loop cost per call.
It is why gqlsync renders loop-free templates inline (their time is linear in their text and data) and
sends only looping templates to the workers.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gqlsync.app.model import CodeFile  # noqa: E402
from gqlsync.runtimes.vtl import VtlRuntime  # noqa: E402
from tests.unit.vtl_harness import make_ctx  # noqa: E402

CALLS = int(os.environ.get("RT_CALLS", "20000"))
ROUNDS = int(os.environ.get("RT_ROUNDS", "5"))
LOOPING = """#set($expr = "SET ")
#foreach($entry in $ctx.args.entrySet())
  #set($expr = "$expr#$entry.key = :$entry.key#if($foreach.hasNext), #end")
#end
{"version": "2018-05-29", "operation": "UpdateItem", "key": {"id": {"S": "$ctx.args.id"}},
 "update": {"expression": "$expr"}}"""

TEMPLATES = {
    "getEvent request": (ROOT / "examples/event-app/resolvers/Query.getEvent.req.vtl").read_text(),
    "createEvent request": (ROOT / "examples/event-app/resolvers/Mutation.createEvent.req.vtl").read_text(),
    "item response": (ROOT / "examples/event-app/resolvers/item.res.vtl").read_text(),
    "UpdateItem-style loop": LOOPING,
}
ARGS = {"id": "e1", "name": "Launch", "when": "today", "where": "Berlin", "description": "!"}


async def per_call_us(template: object, off_loop: bool) -> float:
    template.off_loop = off_loop  # type: ignore[attr-defined]
    ctx = make_ctx(dict(ARGS))
    ctx.result = dict(ARGS)
    render = template.render  # type: ignore[attr-defined]
    start = time.perf_counter()
    for _ in range(CALLS):
        await render(ctx)
    return (time.perf_counter() - start) / CALLS * 1e6


async def main() -> None:
    runtime = VtlRuntime()
    rows = []
    for name, text in TEMPLATES.items():
        compiled = runtime.prepare(request=CodeFile(Path(f"{name}.vtl"), text), response=None, direct=True)
        template = compiled._request  # the runtime's template object (renders on or off the loop)
        natural = template.off_loop
        inline, worker = [], []
        for _ in range(ROUNDS):
            inline.append(await per_call_us(template, False))
            worker.append(await per_call_us(template, True))
        template.off_loop = natural
        a, b = statistics.median(inline), statistics.median(worker)
        rows.append((name, "worker" if natural else "inline", a, b, b - a, b / a))
    print(f"{os.cpu_count()} cores; {CALLS} renders per cell, medians of {ROUNDS} interleaved rounds\n")
    print("| template | gqlsync renders it | inline µs | worker thread µs | off-loop cost µs | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for name, where, a, b, cost, ratio in rows:
        print(f"| {name} | {where} | {a:.1f} | {b:.1f} | {cost:+.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
