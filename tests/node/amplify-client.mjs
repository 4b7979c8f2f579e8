// aws-amplify v6 (API category, generateClient) against gqlsync over HTTPS/WSS, unmodified.
// Env: GQLSYNC_URL (https://host:port), GQLSYNC_KEY, EVENT_A, EVENT_B, NODE_EXTRA_CA_CERTS. Prints one JSON line.
import { Amplify } from 'aws-amplify';
import { generateClient } from 'aws-amplify/api';
import WebSocket from 'ws';

globalThis.WebSocket = WebSocket;
const base = process.env.GQLSYNC_URL;
const SUB = 'subscription S($eventId: String!) { subscribeToEventComments(eventId: $eventId) { eventId commentId content } }';
const COMMENT = 'mutation C($eventId: ID!, $content: String!) { commentOnEvent(eventId: $eventId, content: $content, createdAt: "2026-11-23") { eventId commentId content } }';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const describe = (e) => JSON.stringify({
  message: e?.message, name: e?.name, string: String(e),
  errors: (e?.errors ?? []).map((x) => ({ message: x?.message, errorType: x?.errorType, name: x?.name,
    recoverySuggestion: x?.recoverySuggestion, original: String(x?.originalError ?? '') })),
});

function configure(apiKey) {
  Amplify.configure({ API: { GraphQL: { endpoint: `${base}/graphql`, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey } } });
  return generateClient();
}

const result = { received: [], errors: [], httpWrongKey: null, socketWrongKey: null };
let client = configure(process.env.GQLSYNC_KEY);
const sub = client.graphql({ query: SUB, variables: { eventId: process.env.EVENT_A } }).subscribe({
  next: ({ data }) => result.received.push(data.subscribeToEventComments),
  error: (e) => result.errors.push(describe(e)),
});
await sleep(2000); // connection_init/ack and start/start_ack
for (const [eventId, content] of [[process.env.EVENT_B, 'not for us'], [process.env.EVENT_A, 'first'], [process.env.EVENT_A, 'second']]) {
  const r = await client.graphql({ query: COMMENT, variables: { eventId, content } });
  if (r.errors) result.errors.push(JSON.stringify(r.errors));
}
for (let i = 0; i < 50 && result.received.length < 2; i++) await sleep(100);
await sleep(500);
sub.unsubscribe();

client = configure('da2-this-key-is-wrong');
try {
  await client.graphql({ query: COMMENT, variables: { eventId: process.env.EVENT_A, content: 'x' } });
  result.httpWrongKey = 'no error';
} catch (e) {
  result.httpWrongKey = describe(e);
}
result.socketWrongKey = await new Promise((resolve) => {
  const s = client.graphql({ query: SUB, variables: { eventId: process.env.EVENT_A } }).subscribe({
    next: () => resolve('unexpected data'),
    error: (e) => { resolve(describe(e)); },
  });
  setTimeout(() => { s.unsubscribe(); resolve('timeout: no error reported'); }, 15000);
});
await sleep(4000); // long enough for Amplify's reconnect backoff to show, had it classified the refusal as retryable
console.log(JSON.stringify(result));
process.exit(0);
