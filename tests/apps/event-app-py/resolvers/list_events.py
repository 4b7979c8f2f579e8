"""Query.listEvents: a Scan page of events and its next token."""

from gqlsync.runtimes.python import util


async def request(ctx):
    return {"version": "2017-02-28", "operation": "Scan",
            "limit": util.default_if_null(ctx.args.get("limit"), 20),
            "nextToken": util.default_if_null_or_empty(ctx.args.get("nextToken"), None)}


async def response(ctx):
    return {"items": ctx.result["items"], "nextToken": ctx.result.get("nextToken") or None}
