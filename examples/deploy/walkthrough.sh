#!/usr/bin/env bash
# The deploy workflow on one machine, from a fresh managed server to a canary, a promotion and a rollback.
#   bash examples/deploy/walkthrough.sh            (uses `gqlsync` from PATH; GQLSYNC=.venv/bin/gqlsync to choose)
# Everything it makes lives in a temporary folder: the server's state (control store, versions, admin token),
# the embedded DynamoDB's data, and the changed copy of the Event app.
set -euo pipefail
cd "$(dirname "$0")/../.."
G=${GQLSYNC:-gqlsync}
PORT=${PORT:-4500}
WORK=$(mktemp -d)
export GQLSYNC_HOME="$WORK/home"          # where the server leaves its admin token for the CLI to find
SERVER="http://127.0.0.1:$PORT"
KEY=da2-gqlsynclocaldevelopmentkey01
query() { curl -s "$SERVER/graphql" -H "x-api-key: $KEY" -d "{\"query\":\"$1\"}"; echo; }

# 1. a fresh managed server: no app yet; SQLite control store and the embedded DynamoDB in $WORK
"$G" serve --host 127.0.0.1 --port "$PORT" --state-dir "$WORK/server" --data-dir "$WORK/data" --create-tables \
  > "$WORK/server.log" 2>&1 &
trap 'kill $! 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "$SERVER/healthz" > /dev/null && break; sleep 0.1; done

# 2. the Event app as version 1
"$G" deploy examples/event-app --api events --server "$SERVER" --message "the Event app"
query 'mutation { createEvent(name: \"Launch\", when: \"today\", where: \"Berlin\", description: \"!\") { id } }'

# 3. version 2 adds Event.venue; first as a canary for 20% of clients, checked with a dry run before
cp -r examples/event-app "$WORK/v2" && rm -rf "$WORK/v2/.gqlsync"
sed -i 's/^type Event {/type Event {\n  venue: String/' "$WORK/v2/schema.graphql"
"$G" deploy "$WORK/v2" --api events --server "$SERVER" --dry-run
"$G" deploy "$WORK/v2" --api events --server "$SERVER" --canary 20 --message "venue"
"$G" versions --api events --server "$SERVER"

# 4. the canary looks good: everyone on version 2
"$G" promote --api events --server "$SERVER"
query '{ listEvents(limit: 5) { items { name venue } } }'

# 5. second thoughts: back to version 1 (the venue field is gone again), and the history kept
"$G" rollback --api events --server "$SERVER"
query '{ listEvents(limit: 5) { items { name } } }'
"$G" versions --api events --server "$SERVER"
"$G" diff 1 2 --api events --server "$SERVER"
