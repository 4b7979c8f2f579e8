import { util } from '@aws-appsync/utils';
import { sync } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  return sync({ limit: ctx.args.limit ?? 100, lastSync: ctx.args.lastSync });
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return ctx.result;
}
