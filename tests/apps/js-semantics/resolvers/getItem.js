import { util } from '@aws-appsync/utils';
import * as ddb from '@aws-appsync/utils/dynamodb';
const { get } = ddb;

export function request(ctx) {
  return get({ key: { pk: ctx.args.pk, sk: ctx.args.sk }, consistentRead: true });
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type, ctx.error.data);
  }
  return ctx.result;
}
