"""Mutation.createEvent: a new event with a generated id, written only if no event has that id."""

from gqlsync.runtimes.python import util


async def resolve(ctx, datasources):
    return await datasources.EventsTable.put_item(
        key={"id": util.auto_id()},
        attribute_values=dict(ctx.arguments),
        condition={"expression": "attribute_not_exists(#id)", "expressionNames": {"#id": "id"}},
    )
