"""Mutation.deleteEvent: the event deleted, and its comments with it (a second data source, called by name)."""


async def resolve(ctx, datasources):
    event_id = ctx.arguments["id"]
    comments = datasources["CommentsTable"]
    token = None
    while True:
        page = await comments.query("eventId = :e", values={":e": event_id}, next_token=token, limit=25)
        keys = [{"eventId": c["eventId"], "commentId": c["commentId"]} for c in page["items"]]
        if keys:
            await comments.batch_delete(keys)
        token = page["nextToken"]
        if not token:
            break
    return await datasources.own.delete_item(key={"id": event_id})
