"""Query.getEvent: the GetItem document (request) and the item as it is (response)."""

from gqlsync.runtimes.python import util


async def request(ctx):
    return {"version": "2017-02-28", "operation": "GetItem",
            "key": {"id": util.dynamodb.to_dynamodb(ctx.arguments["id"])}}


async def response(ctx):
    return ctx.result
