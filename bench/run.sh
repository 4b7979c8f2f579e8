#!/usr/bin/env bash
# One command for the benchmark suite: installs what it needs (wrk, the venv, DynamoDB Local), runs it,
# prints the table and writes it to bench/results/. Knobs: BENCH_SECONDS (10), BENCH_CLIENTS (16,64).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[dev]'
( cd tests/node && npm install --no-audit --no-fund --loglevel=error >/dev/null )
exec .venv/bin/python bench/run.py "$@"
