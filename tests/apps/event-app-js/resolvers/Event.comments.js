// Event.comments: one page of the event's comments.
import { util } from '@aws-appsync/utils';
import { query } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  return query({
    query: { eventId: { eq: ctx.source.id } },
    limit: ctx.args.limit ?? 20,
    nextToken: ctx.args.nextToken || undefined,
  });
}

export const response = (ctx) => {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return { items: ctx.result.items, nextToken: ctx.result.nextToken ?? null };
};
