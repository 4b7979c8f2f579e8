// A pipeline's before and after steps: the before step seeds the stash, the after step shapes the result.
export function request(ctx) {
  ctx.stash.calls = ['before'];
  return {};
}

export function response(ctx) {
  return `${ctx.prev.result}|${ctx.stash.calls.join(',')}`;
}
