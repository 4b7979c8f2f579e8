#!/usr/bin/env bash
# Installs everything the tests need (Python venv, DynamoDB Local from npm, Java/Node/Redis/Chromium if missing),
# then runs the whole suite. The services themselves (DynamoDB Local, ...) are started by the tests.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# the explorer's browser test drives Debian's chromium with playwright (pip, the `test` extra)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]} (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
echo "== pip install -e .[dev]"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'

echo "== npm packages for the tests (DynamoDB Local jar, Amplify's transformer and codegen, Amplify clients)"
( cd tests/node && npm install --no-audit --no-fund --loglevel=error >/dev/null )
( cd tests/amplify/codegen && npm install --no-audit --no-fund --loglevel=error >/dev/null )

export GQLSYNC_DYNAMODB_LOCAL_DIR="$ROOT/tests/node/node_modules/amplify-dynamodb-simulator/emulator"
echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
