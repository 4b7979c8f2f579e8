// Query.listEvents: one page of a Scan.
import { util } from '@aws-appsync/utils';
import * as ddb from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  const { limit = 20, nextToken } = ctx.args;
  return ddb.scan({ limit, nextToken: nextToken || undefined });
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  const { items, nextToken } = ctx.result;
  return { items, nextToken: nextToken || null };
}
