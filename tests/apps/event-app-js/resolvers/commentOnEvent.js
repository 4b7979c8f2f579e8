// Mutation.commentOnEvent: comment ids are ULIDs, so Event.comments lists them oldest first.
import { util } from '@aws-appsync/utils';
import * as ddb from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  const { eventId, content, createdAt } = ctx.args;
  return ddb.put({ key: { eventId, commentId: util.autoUlid() }, item: { content, createdAt } });
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return ctx.result;
}
