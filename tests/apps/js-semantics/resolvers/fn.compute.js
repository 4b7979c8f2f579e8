export function request(ctx) {
  ctx.stash.calls.push('compute');
  return { payload: ctx.prev.result ?? `computed-${ctx.args.key}` };
}

export function response(ctx) {
  return ctx.result;
}
