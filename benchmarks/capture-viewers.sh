#!/usr/bin/env bash
# One repeat of capture.sh's four cells (main's tax) with 100 tbload viewers (idle mode,
# reading every event) on the instance. usage: benchmarks/capture-viewers.sh BINARY [seconds]
# (needs $TBLOAD, default /tmp/tbload; logs in $OUT, default /tmp)
set -euo pipefail
. "$(dirname "$0")/lib/capture.sh"
BIN=$1 SECS=${2:-10}
PG="-h 127.0.0.1 -U postgres"
# The writers (pgbench) commit without waiting for the disk; the app runs as deployed
# (its own sessions keep synchronous_commit on: env -u PGOPTIONS).
export PGOPTIONS="-c synchronous_commit=off"
db=capture_view; url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait; psql $PG -qc "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
capture_db $db "$BIN" "INSERT INTO quotes (symbol, price) SELECT 'TB' || lpad(i::text, 4, '0'), 100 FROM generate_series(0, 99) i;"
env -u PGOPTIONS DATABASE_URL=$url TICKERBOARD_FEEDS=none "$BIN" -addr 127.0.0.1:18490 -max-streams-per-ip 0 -log-level warn >${OUT:-/tmp}/capture_view.log 2>&1 &
tbpid=$!; pids+=($tbpid)
sleep 2
${TBLOAD:-/tmp/tbload} -server http://127.0.0.1:18490 -pid $tbpid -targets tickerboard -clients 100 -mode idle -settle 1s -duration $((SECS*4+15))s -quiet -json ${OUT:-/tmp}/capture-viewers-tbload.json >${OUT:-/tmp}/capture-viewers-tbload.txt 2>&1 &
pids+=($!)
sleep 6
curl -s -m 2 127.0.0.1:18490/metrics 2>/dev/null | grep -E "^tickerboard_streams" | head -5 >&2 || true
dir=$(mktemp -d)
capture_scripts $dir
echo "rep,side,workload,table,tps,drain_s"
capture_cells $dir $db $SECS 1 viewers100
curl -s -m 2 127.0.0.1:18490/metrics 2>/dev/null | grep -E "^tickerboard_(streams|events)" | head -8 >&2 || true
