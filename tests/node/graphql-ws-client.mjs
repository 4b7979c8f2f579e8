// The graphql-ws library (graphql-transport-ws) against gqlsync, unmodified.
// Env: GQLSYNC_URL (http[s]://host:port), GQLSYNC_KEY, EVENT_A, EVENT_B. Prints one JSON result line.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = process.env.GQLSYNC_URL;
const url = base.replace(/^http/, 'ws') + '/graphql/realtime';
const SUB = 'subscription($e: String!) { subscribeToEventComments(eventId: $e) { eventId content } }';
const COMMENT = 'mutation($e: ID!, $c: String!) { commentOnEvent(eventId: $e, content: $c, createdAt: "t") { eventId content } }';

function client(key) {
  return createClient({ url, webSocketImpl: WebSocket, connectionParams: { 'x-api-key': key }, retryAttempts: 0, lazy: true });
}

const result = { received: [], mutation: null, wrongKey: null };
const good = client(process.env.GQLSYNC_KEY);
const received = new Promise((resolve, reject) => {
  const unsubscribe = good.subscribe({ query: SUB, variables: { e: process.env.EVENT_A } }, {
    next: (msg) => {
      result.received.push(msg.data.subscribeToEventComments);
      if (result.received.length === 2) { unsubscribe(); resolve(); }
    },
    error: reject,
    complete: () => {},
  });
});
await new Promise((r) => setTimeout(r, 500));
for (const [e, c] of [[process.env.EVENT_B, 'other event'], [process.env.EVENT_A, 'one'], [process.env.EVENT_A, 'two']]) {
  const res = await new Promise((resolve, reject) => {
    let value;
    good.subscribe({ query: COMMENT, variables: { e, c } }, { next: (v) => { value = v; }, error: reject, complete: () => resolve(value) });
  });
  result.mutation = res.data.commentOnEvent;
}
await Promise.race([received, new Promise((_, reject) => setTimeout(() => reject(new Error('timeout waiting for events')), 8000))]);

const bad = client('da2-wrong-key');
result.wrongKey = await new Promise((resolve) => {
  bad.subscribe({ query: SUB, variables: { e: process.env.EVENT_A } }, {
    next: () => resolve('unexpected data'),
    error: (err) => resolve({ code: err?.code, reason: err?.reason }),
    complete: () => resolve('unexpected complete'),
  });
});
await good.dispose();
await bad.dispose();
console.log(JSON.stringify(result));
process.exit(0);
