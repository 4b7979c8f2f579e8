#!/usr/bin/env bash
# One command for the benchmark suite: installs what it needs (wrk, the venv, DynamoDB Local), runs it,
# prints each suite's table and writes them, and all of them in one, to bench/results/. Knobs: BENCH_SUITES
# (main,workers,observability,realtime; also runtimes), and each suite's own (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)  # the workers and realtime suites' broker
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)  # DynamoDB Local
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[dev]'
( cd tests/node && npm install --no-audit --no-fund --loglevel=error >/dev/null )
exec .venv/bin/python bench/all.py
