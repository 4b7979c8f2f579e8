// Query.getEvent: a GetItem document written by hand (no builder), keys typed with util.dynamodb.
import { util } from '@aws-appsync/utils';

export function request(ctx) {
  return { operation: 'GetItem', key: util.dynamodb.toMapValues({ id: ctx.args.id }) };
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return ctx.result;
}
