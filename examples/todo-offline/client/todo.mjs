// A DataStore client for examples/todo-offline: aws-amplify v6 as a web or React Native app uses it,
// run by Node. models/ is what `amplify codegen models` writes for the schema (Todo).
//   node todo.mjs add NAME | done ID | remove ID | list
// Env: GQLSYNC_URL (default https://localhost:4000: `gqlsync dev examples/todo-offline --tls`),
// GQLSYNC_KEY (default: the example's key), NODE_EXTRA_CA_CERTS=../.gqlsync/tls/ca.pem to trust --tls.
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { schema } from './models/schema.js';

globalThis.WebSocket = WebSocket; // Amplify's realtime client needs one; Node 20 has none
// DataStore's package has no `exports` map, so Node loads its CommonJS build: load Amplify the same way,
// or Amplify.configure() configures an ES-module twin DataStore never reads.
const require = createRequire(import.meta.url);
const { Amplify } = require('aws-amplify');
const { Hub } = require('aws-amplify/utils');
const { DataStore, initSchema } = require('aws-amplify/datastore');
// Outside a browser DataStore must be told where to keep its local store: its in-memory adapter.
const AsyncStorageAdapter = require('@aws-amplify/datastore/dist/cjs/storage/adapter/AsyncStorageAdapter.js').default;

const { Todo } = initSchema(schema);
Amplify.configure({
  API: { GraphQL: { endpoint: `${process.env.GQLSYNC_URL ?? 'https://localhost:4000'}/graphql`, region: 'us-east-1',
    defaultAuthMode: 'apiKey', apiKey: process.env.GQLSYNC_KEY ?? 'da2-gqlsynctodoofflinedevkey1' } },
});
DataStore.configure({ storageAdapter: AsyncStorageAdapter });

const untilEvent = (name, check = () => true) => new Promise((resolve) => {
  const stop = Hub.listen('datastore', ({ payload }) => {
    if (payload.event === name && check(payload.data)) {
      stop();
      resolve();
    }
  });
});

const synced = untilEvent('ready'); // the base (or delta) sync is done and subscriptions are up
await DataStore.start();
await synced;
const [command, arg] = process.argv.slice(2);
const delivered = untilEvent('outboxStatus', (data) => data.isEmpty);
if (command === 'add') {
  console.log(JSON.stringify(await DataStore.save(new Todo({ name: arg }))));
} else if (command === 'done') {
  const todo = await DataStore.query(Todo, arg);
  console.log(JSON.stringify(await DataStore.save(Todo.copyOf(todo, (draft) => { draft.done = true; }))));
} else if (command === 'remove') {
  await DataStore.delete(Todo, arg);
} else if (command === 'list') {
  for (const todo of await DataStore.query(Todo)) console.log(JSON.stringify(todo));
  process.exit(0);
} else {
  console.error('usage: node todo.mjs add NAME | done ID | remove ID | list');
  process.exit(2);
}
await delivered; // the mutation reached the server
process.exit(0);
