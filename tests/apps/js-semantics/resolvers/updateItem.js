import { util } from '@aws-appsync/utils';
import { update, operations } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  const { pk, sk, by, tag, dropName } = ctx.args;
  const changes = { n: operations.increment(by ?? 1) };
  if (tag) {
    changes.tags = operations.append([tag]);
  }
  if (dropName) {
    changes.name = operations.remove();
  }
  return update({ key: { pk, sk }, update: changes, condition: { pk: { attributeExists: true } } });
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return ctx.result;
}
