// One Amplify DataStore "device" (aws-amplify v6, unmodified) driven by the test over stdin/stdout.
//
// Node is not a browser, so two things DataStore finds in one are supplied here: a storage adapter
// (DataStore's own AsyncStorageAdapter, which keeps the local store in memory) and a `window` whose
// `online`/`offline` events are DataStore's connectivity monitor (its Reachability reads
// `window.navigator.onLine` and listens for those events; without a window it reports online forever).
// WebSocket is the `ws` package.
//
// Env: GQLSYNC_URL (https://host:port, usually the test's TCP relay), GQLSYNC_KEY, MODELS (the model
// schema file `amplify codegen models` writes, schema.js), MODEL (e.g. Todo), NODE_EXTRA_CA_CERTS.
// Commands, one JSON object a line on stdin: {id, op, ...}; every command gets one line back,
// {"reply": id, "ok": true, "result": ...} or {"reply": id, "ok": false, "error": "..."}.
// DataStore's Hub events are written as {"event": name, "data": ...} lines as they happen.
//   start                       DataStore.start(), answered once DataStore says `ready`
//   save {fields}               a new item; the result is the item
//   update {itemId, fields}     copyOf the stored item with `fields`
//   delete {itemId}
//   query                       every item in the local store, with its sync metadata
//   offline / online            tell the connectivity monitor (the test cuts the relay itself)
//   outbox                      waits until the outbox is empty; the result is the pending count seen
//   conflicts                   what DataStore's conflict and error handlers were called with so far
//   stop                        DataStore.clear() and exit
import { createRequire } from 'node:module';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';

class FakeWindow extends EventTarget {
  constructor() {
    super();
    this.navigator = { onLine: true };
  }
  go(online) {
    this.navigator.onLine = online;
    this.dispatchEvent(new Event(online ? 'online' : 'offline'));
  }
}
const fakeWindow = new FakeWindow();
globalThis.window = fakeWindow; // no `document`: Amplify's isBrowser() stays false
globalThis.WebSocket = WebSocket;

// Loaded after the globals (DataStore's reachability monitor reads `window` when its module loads), and all
// through require: @aws-amplify/datastore has no `exports` map, so Node loads its CommonJS build, and
// everything it shares state with (Amplify's configuration, the Hub, the storage adapter) must be the
// same CommonJS instances, not the ES-module twins `import 'aws-amplify'` would give.
const require = createRequire(import.meta.url);
const { Amplify } = require('aws-amplify');
const { Hub } = require('aws-amplify/utils');
const { DataStore, DISCARD, initSchema } = require('aws-amplify/datastore');
const AsyncStorageAdapter = require('@aws-amplify/datastore/dist/cjs/storage/adapter/AsyncStorageAdapter.js').default;
const { schema } = await import(pathToFileURL(process.env.MODELS).href);

const models = initSchema(schema);
const Model = models[process.env.MODEL];
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const conflicts = [];
const errors = [];
const waiting = { ready: [], outboxEmpty: [] };
let ready = false;
let outboxEmpty = true;

Amplify.configure({
  API: { GraphQL: { endpoint: `${process.env.GQLSYNC_URL}/graphql`, region: 'us-east-1', defaultAuthMode: 'apiKey',
    apiKey: process.env.GQLSYNC_KEY } },
});
DataStore.configure({
  storageAdapter: AsyncStorageAdapter,
  conflictHandler: async (conflict) => {
    conflicts.push({ operation: conflict.operation, attempts: conflict.attempts, remote: plain(conflict.remoteModel),
      local: plain(conflict.localModel) });
    return DISCARD; // DataStore's default: the server's item wins
  },
  errorHandler: (error) => errors.push({ message: error.message, errorType: error.errorType,
    operation: error.operation }),
});

Hub.listen('datastore', ({ payload }) => {
  const { event, data } = payload;
  out({ event, data: event === 'outboxMutationEnqueued' || event === 'outboxMutationProcessed'
    ? { model: data?.model?.name, element: plain(data?.element) } : data });
  if (event === 'ready') {
    ready = true;
    waiting.ready.splice(0).forEach((resolve) => resolve());
  }
  if (event === 'outboxStatus') {
    outboxEmpty = data.isEmpty;
    if (outboxEmpty) waiting.outboxEmpty.splice(0).forEach((resolve) => resolve());
  }
});

function plain(item) {
  if (!item) return item;
  const fields = {};
  for (const key of Object.keys(item)) fields[key] = item[key];
  return fields;
}

const wait = (list, done) => (done ? Promise.resolve() : new Promise((resolve) => list.push(resolve)));

const ops = {
  async start() {
    await DataStore.start();
    await wait(waiting.ready, ready);
    return null;
  },
  async save({ fields }) {
    return plain(await DataStore.save(new Model(fields)));
  },
  async update({ itemId, fields }) {
    const item = await DataStore.query(Model, itemId);
    if (!item) throw new Error(`no item ${itemId} in the local store`);
    return plain(await DataStore.save(Model.copyOf(item, (draft) => Object.assign(draft, fields))));
  },
  async delete({ itemId }) {
    const item = await DataStore.query(Model, itemId);
    if (!item) throw new Error(`no item ${itemId} in the local store`);
    return plain(await DataStore.delete(item));
  },
  async query() {
    return (await DataStore.query(Model)).map(plain);
  },
  async offline() {
    fakeWindow.go(false);
    return null;
  },
  async online() {
    ready = false;
    fakeWindow.go(true);
    return null;
  },
  async outbox() {
    const pending = !outboxEmpty;
    await wait(waiting.outboxEmpty, outboxEmpty);
    return { wasPending: pending };
  },
  async conflicts() {
    return { conflicts, errors };
  },
  async stop() {
    await DataStore.clear();
    return null;
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  const op = ops[command.op];
  try {
    if (!op) throw new Error(`unknown op ${command.op}`);
    out({ reply: command.id, ok: true, result: await op(command) });
  } catch (e) {
    out({ reply: command.id, ok: false, error: String(e?.stack ?? e) });
  }
  if (command.op === 'stop') break;
}
process.exit(0);
