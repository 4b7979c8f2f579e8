import { util } from '@aws-appsync/utils';
import { query } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  const { pk, prefix, limit, nextToken } = ctx.args;
  const key = { pk: { eq: pk } };
  if (prefix) {
    key.sk = { beginsWith: prefix };
  }
  return query({ query: key, limit: limit ?? 10, nextToken, scanIndexForward: false });
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return { items: ctx.result.items, nextToken: ctx.result.nextToken ?? null };
}
