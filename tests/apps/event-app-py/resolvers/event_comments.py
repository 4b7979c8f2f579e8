"""Event.comments: one page of the event's comments, oldest first."""


async def resolve(ctx, datasources):
    page = await datasources.own.query(
        "eventId = :eventId", values={":eventId": ctx.source["id"]},
        limit=ctx.args.get("limit") or 20, next_token=ctx.args.get("nextToken"))
    return {"items": page["items"], "nextToken": page["nextToken"]}
