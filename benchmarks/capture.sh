#!/usr/bin/env bash
# Writer tax, side by side in one run: pgbench UPDATEs of `quotes` (captured) against
# the same UPDATEs of an identical table with no triggers, synchronous_commit=off, with
# an app instance (feeds off) following each database. OLD and NEW are two binaries
# (main's against another capture's, or the same binary twice for main's tax alone);
# each gets its own database.
# usage: benchmarks/capture.sh OLD_BINARY NEW_BINARY [seconds] [repeats]
set -euo pipefail
. "$(dirname "$0")/lib/capture.sh"
OLD=$1 NEW=$2 SECS=${3:-10} REPS=${4:-3}
PG="-h 127.0.0.1 -U postgres"
# The writers (pgbench) commit without waiting for the disk; the app runs as deployed
# (its own sessions keep synchronous_commit on: env -u PGOPTIONS).
export PGOPTIONS="-c synchronous_commit=off"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
port=18480
for side in old new; do
  db=capture_$side; bin=$OLD; [ $side = new ] && bin=$NEW
  capture_db $db "$bin"
  url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
  port=$((port+1))
  env -u PGOPTIONS DATABASE_URL=$url TICKERBOARD_FEEDS=none "$bin" -addr 127.0.0.1:$port -log-level warn >/tmp/capture_$side.log 2>&1 &
  pids+=($!)
done
sleep 2 # the instances connect and listen; pgbench's own numbers are what is measured
dir=$(mktemp -d)
capture_scripts $dir
echo "rep,side,workload,table,tps,drain_s"
for rep in $(seq 1 $REPS); do
  for side in old new; do
    capture_cells $dir capture_$side $SECS $rep $side
  done
done
