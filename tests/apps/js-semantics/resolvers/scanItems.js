import { util } from '@aws-appsync/utils';
import { scan } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  const { minN, limit, nextToken } = ctx.args;
  return scan({ filter: minN === undefined ? undefined : { n: { ge: minN } }, limit, nextToken });
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return { items: ctx.result.items, nextToken: ctx.result.nextToken ?? null };
}
