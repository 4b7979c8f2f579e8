// Returns early (skipping its data source) when the key is known: the next function sees the value as prev.result.
import { runtime } from '@aws-appsync/utils';

export function request(ctx) {
  ctx.stash.calls.push('lookup');
  if (ctx.args.key === 'known') {
    runtime.earlyReturn('from-cache');
  }
  return { payload: null };
}

export function response(ctx) {
  ctx.stash.calls.push('lookup-response');
  return ctx.result;
}
