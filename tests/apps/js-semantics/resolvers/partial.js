import { util } from '@aws-appsync/utils';

export function request(ctx) {
  return { payload: 'half done' };
}

export function response(ctx) {
  util.appendError('Something was skipped', 'Partial', { skipped: 1 }, { hint: 'retry' });
  return ctx.result;
}
