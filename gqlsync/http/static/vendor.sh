#!/usr/bin/env bash
# Re-vendors the explorer's browser files (GraphiQL, React, graphql-ws) from npm into this folder.
# The versions are pinned here; `npm pack` fetches exactly these tarballs (checked against the registry's
# integrity hashes) and only their prebuilt, minified browser builds and licenses are copied.
# Usage: bash gqlsync/http/static/vendor.sh   (needs npm; the output is committed, pip installs need no npm)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
GRAPHIQL=3.9.0
REACT=18.3.1
GRAPHQL_WS=6.4.2

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
unpack() {  # unpack <package@version> <folder>
  local tgz
  tgz="$(npm pack --silent --no-fund --no-audit "$1" | tail -n1)"
  mkdir -p "$2" && tar xzf "$tgz" -C "$2" --strip-components=1
}
unpack "graphiql@$GRAPHIQL" graphiql
unpack "react@$REACT" react
unpack "react-dom@$REACT" react-dom
unpack "graphql-ws@$GRAPHQL_WS" graphql-ws

cp graphiql/graphiql.min.js graphiql/graphiql.min.css "$HERE/"
cp graphiql/LICENSE "$HERE/LICENSE.graphiql"
cp react/umd/react.production.min.js "$HERE/"
cp react/LICENSE "$HERE/LICENSE.react"
cp react-dom/umd/react-dom.production.min.js "$HERE/"
cp react-dom/LICENSE "$HERE/LICENSE.react-dom"
cp graphql-ws/umd/graphql-ws.min.js "$HERE/"
cp graphql-ws/LICENSE.md "$HERE/LICENSE.graphql-ws"

cat > "$HERE/README.md" <<README
# The explorer's browser files

Served by gqlsync at \`/_gqlsync/static/<file>\` for the GraphiQL page on \`GET /graphql\`
(gqlsync/http/explorer.py), so the explorer works without network access. Do not edit them: they are
the unmodified prebuilt files of these npm packages, copied by \`vendor.sh\` (re-run it to upgrade;
the versions are pinned there). SHA256SUMS lists their digests. \`explorer.html\` is gqlsync's own
page template (not vendored, not served as a file).

| npm package | files | license |
|---|---|---|
| graphiql@$GRAPHIQL | graphiql.min.js, graphiql.min.css (bundles @graphiql/react, @graphiql/toolkit, graphql-js, CodeMirror 5 and their dependencies) | MIT, LICENSE.graphiql |
| react@$REACT | react.production.min.js (umd/) | MIT, LICENSE.react |
| react-dom@$REACT | react-dom.production.min.js (umd/) | MIT, LICENSE.react-dom |
| graphql-ws@$GRAPHQL_WS | graphql-ws.min.js (umd/) | MIT, LICENSE.graphql-ws |
README
( cd "$HERE" && sha256sum ./*.min.js ./*.min.css > SHA256SUMS )
echo "vendored into $HERE:"
( cd "$HERE" && ls -l ./*.min.js ./*.min.css )
