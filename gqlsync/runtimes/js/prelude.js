// gqlsync's APPSYNC_JS prelude, evaluated once in every engine context: the `@aws-appsync/utils` and
// `@aws-appsync/utils/dynamodb` libraries resolver modules import, and `__gqlsync` (load, drop and call modules:
// `call` runs one half of a loaded module against a context given as JSON text, within a deadline). Everything
// else is closure-local, and the global object and the built-in prototypes are frozen afterwards, so modules of
// different apps sharing a context cannot leave state for each other or turn the deadline off.
//
// Almost every helper is a call into Python (`__py(name, argsJson)`, synchronous) so that APPSYNC_JS and VTL
// share gqlsync.util; only what must be JavaScript lives here: the calling convention, the context object,
// `runtime.earlyReturn`, stopping on `util.error`, `console`, and the `operations` markers of ddb.update.
"use strict";

var __gqlsync = (function () {
  const py = globalThis.__py;
  delete globalThis.__py;
  const __m = {};
  const __lib = {};
  // Thrown to stop the resolver after a Python helper recorded an error (util.error, util.unauthorized...).
  const ABORT = { __gqlsyncAbort: true };
  // Thrown by the tick function modules call in every function and loop body once the deadline has passed.
  const TIMEOUT = { __gqlsyncTimeout: true };
  let deadline = 0;
  let ticks = 0;
  function tick() {
    ticks += 1;
    if ((ticks & 63) === 0 && Date.now() > deadline) throw TIMEOUT;
  }
  // Thrown by runtime.earlyReturn.
  class Early {
    constructor(value) { this.value = value; }
  }

  function call(name, args) {
    const out = py(name, JSON.stringify(args));
    if (out === null) throw ABORT;
    return out === "" ? undefined : JSON.parse(out);
  }

  // Python helpers as methods: target.a.b(...) calls `${prefix}a.b` with the arguments.
  function bind(target, names, prefix) {
    for (const name of names) {
      const full = prefix + name;
      const parts = name.split(".");
      let obj = target;
      for (const p of parts.slice(0, -1)) {
        if (!Object.hasOwn(obj, p)) obj[p] = {};
        obj = obj[p];
      }
      obj[parts[parts.length - 1]] = (...args) => call(full, args);
    }
  }

  const util = {};
  bind(util, JSON.parse(py("names", "[]")), "");
  const error = util.error;
  util.error = (...args) => { error(...args); throw ABORT; };
  const unauthorized = util.unauthorized;
  util.unauthorized = () => { unauthorized(); throw ABORT; };

  const runtime = { earlyReturn(value) { throw new Early(value === undefined ? null : value); } };

  const extensions = {};
  bind(extensions, ["setSubscriptionFilter", "setSubscriptionInvalidationFilter", "invalidateSubscriptions",
                    "evictFromApiCache"], "extensions.");

  const ddb = {};
  bind(ddb, ["get", "put", "update", "remove", "query", "scan", "sync", "batchGet", "batchPut", "batchDelete",
             "transactGet", "transactWrite"], "ddb.");
  const op = (kind, extra) => Object.assign({ __gqlsyncOp: kind }, extra);
  ddb.operations = {
    add: (value) => op("add", { value }),
    remove: () => op("remove"),
    replace: (value) => op("replace", { value }),
    increment: (by) => op("increment", { value: by === undefined ? 1 : by }),
    decrement: (by) => op("decrement", { value: by === undefined ? 1 : by }),
    append: (items) => op("append", { value: items }),
    prepend: (items) => op("prepend", { value: items }),
    updateListItem: (value, index) => op("updateListItem", { value, index }),
  };

  const log = (level) => (...args) => {
    py("log", JSON.stringify([level, args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")]));
  };
  globalThis.console = { log: log("info"), info: log("info"), debug: log("info"), warn: log("info"), error: log("error") };

  __lib["@aws-appsync/utils"] = { util, runtime, extensions };
  __lib["@aws-appsync/utils/dynamodb"] = ddb;

  function lazyInfo(d) {
    const info = { fieldName: d.fieldName, parentTypeName: d.parentTypeName };
    for (const k of ["variables", "selectionSetList", "selectionSetGraphQL"]) {
      let cached;
      let known = false;
      Object.defineProperty(info, k, {
        enumerable: true,
        get() {
          if (!known) { cached = call("info." + k, []); known = true; }
          return cached;
        },
      });
    }
    return info;
  }

  function run(id, half, text, budgetMs) {
    deadline = Date.now() + budgetMs;
    ticks = 0;
    const d = JSON.parse(text);
    const ctx = {
      arguments: d.arguments, args: d.arguments, source: d.source, identity: d.identity, request: d.request,
      info: lazyInfo(d.info), stash: d.stash, prev: { result: d.prev }, result: d.result, error: d.error,
      outErrors: d.outErrors,
    };
    const fn = __m[id][half];
    try {
      const value = fn(ctx);
      return JSON.stringify({ v: value, stash: ctx.stash });
    } catch (e) {
      if (e === ABORT) return JSON.stringify({ abort: true, stash: ctx.stash });
      if (e === TIMEOUT) return JSON.stringify({ timeout: true });
      if (e instanceof Early) return JSON.stringify({ early: true, v: e.value, stash: ctx.stash });
      return JSON.stringify({ jsError: String(e), stack: e && e.stack ? String(e.stack) : "" });
    }
  }

  function load(id, factory) {
    deadline = Date.now() + 5000;
    __m[id] = factory(__lib, tick);
  }

  function drop(id) {
    delete __m[id];
  }

  return Object.freeze({ load, drop, call: run });
})();

for (const name of Object.getOwnPropertyNames(globalThis)) {
  const value = globalThis[name];
  if (value && (typeof value === "object" || typeof value === "function")) {
    Object.freeze(value);
    if (value.prototype) Object.freeze(value.prototype);
  }
}
Object.freeze(globalThis);
