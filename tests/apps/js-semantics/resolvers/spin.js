// A runaway handler: iterates a (lazily produced) two-billion-element range.
export function request(ctx) {
  let n = 0;
  for (const i of Array(2 ** 31 - 2).keys()) {
    n += i;
  }
  return { payload: n };
}

export function response(ctx) {
  return ctx.result;
}
