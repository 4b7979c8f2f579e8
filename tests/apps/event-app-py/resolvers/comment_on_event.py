"""Mutation.commentOnEvent: comment ids are ULIDs, so Event.comments lists them oldest first."""

from gqlsync.runtimes.python import util


async def resolve(ctx, datasources):
    args = ctx.arguments
    return await datasources.CommentsTable.put_item(
        key={"eventId": args["eventId"], "commentId": util.auto_ulid()},
        attribute_values={"content": args["content"], "createdAt": args["createdAt"]},
    )
