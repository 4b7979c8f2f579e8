// aws-amplify v6 with defaultAuthMode 'userPool' against gqlsync over HTTPS/WSS. No real Cognito is reachable,
// so Amplify gets its tokens from a custom token provider (Amplify v6's supported extension point).
// Env: GQLSYNC_URL, ACCESS_TOKEN, ID_TOKEN, POOL_ID, CLIENT_ID, NODE_EXTRA_CA_CERTS. Prints one JSON line.
import { Amplify } from 'aws-amplify';
import { generateClient } from 'aws-amplify/api';
import { decodeJWT } from '@aws-amplify/core';
import WebSocket from 'ws';

globalThis.WebSocket = WebSocket;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
Amplify.configure({
  Auth: { Cognito: { userPoolId: process.env.POOL_ID, userPoolClientId: process.env.CLIENT_ID } },
  API: { GraphQL: { endpoint: `${process.env.GQLSYNC_URL}/graphql`, region: 'us-east-1', defaultAuthMode: 'userPool' } },
}, {
  Auth: { tokenProvider: { getTokens: async () => ({
    accessToken: decodeJWT(process.env.ACCESS_TOKEN), idToken: decodeJWT(process.env.ID_TOKEN) }) } },
});
const client = generateClient();
const result = { whoami: null, received: [], errors: [] };
try {
  const r = await client.graphql({ query: '{ whoami }' });
  result.whoami = JSON.parse(r.data.whoami);
} catch (e) { result.errors.push(String(e?.errors?.[0]?.message ?? e)); }
const sub = client.graphql({ query: 'subscription { onPost { id title } }' }).subscribe({
  next: ({ data }) => result.received.push(data.onPost.title),
  error: (e) => result.errors.push(JSON.stringify(e?.errors ?? String(e))),
});
await sleep(2000);
try {
  await client.graphql({ query: 'mutation { addPost(title: "from amplify") { id title } }' });
} catch (e) { result.errors.push('mutation: ' + JSON.stringify(e?.errors?.map((x) => x.message) ?? String(e))); }
for (let i = 0; i < 40 && result.received.length < 1; i++) await sleep(100);
sub.unsubscribe();
console.log(JSON.stringify(result));
process.exit(0);
