import { util } from '@aws-appsync/utils';

export function request(ctx) {
  return { payload: { id: 'x1' } };
}

export function response(ctx) {
  util.error('Nope', 'Custom.Failure', ctx.result, { reason: 'testing', field: ctx.info.fieldName });
  return 'unreachable';
}
