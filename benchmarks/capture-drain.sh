#!/usr/bin/env bash
# The WAL capture's own speed, alone: a backlog of TX pgbench transactions of 200 price
# changes each (1,000 quotes, synchronous_commit=off) is committed while the app is
# stopped; then the app starts and the capture logs it with nothing else running. Prints
# how long that took and the CPU each process spent on it (the apply session and the
# WAL sender, both started with the app, and the app itself), per 1,000 changes, and the
# WAL the capture wrote per change (pg_stat_wal: run it on an otherwise idle server). Each
# BINARY gets its own database; the binaries take turns, REPS times.
# usage: benchmarks/capture-drain.sh [TX] [REPS] BINARY [BINARY ...]
set -euo pipefail
. "$(dirname "$0")/lib/capture.sh"
TX=$1 REPS=$2
shift 2
PG="-h 127.0.0.1 -U postgres"
hz=$(getconf CLK_TCK)
app=
trap '[ -n "$app" ] && kill "$app" 2>/dev/null || true' EXIT
dir=$(mktemp -d)
capture_scripts $dir
# cpu PID: the process's user + system CPU so far, in clock ticks.
cpu() { awk '{print $14 + $15}' /proc/$1/stat; }
i=0
for bin in "$@"; do
  i=$((i+1))
  capture_db capture_drain_$i "$bin"
done
echo "rep,binary,changes,seconds,changes_per_s,apply_ms_per_1k,walsender_ms_per_1k,app_ms_per_1k,wal_records_per_change,wal_bytes_per_change"
for rep in $(seq 1 "$REPS"); do
  i=0
  for bin in "$@"; do
    i=$((i+1))
    db=capture_drain_$i
    url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
    start_app() {
      DATABASE_URL=$url TICKERBOARD_FEEDS=none "$bin" -addr 127.0.0.1:$((18580+i)) -log-level warn >>/tmp/$db.log 2>&1 &
      app=$!
    }
    # Caught up, then stopped: the slot keeps what comes next.
    start_app
    until [ "$(psql $PG -d $db -Atc "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'walsender'")" = 1 ]; do sleep 0.1; done
    capture_drain $db >/dev/null
    kill "$app"; wait "$app" || true; app=
    before=$(psql $PG -d $db -Atc "SELECT coalesce(max(id), 0) FROM events")
    PGOPTIONS="-c synchronous_commit=off" pgbench $PG -n -t "$TX" -c 1 -f $dir/many_quotes.sql $db >/dev/null 2>&1
    read -r r0 b0 < <(psql $PG -Atc "SELECT wal_records, wal_bytes FROM pg_stat_wal" | tr '|' ' ')
    t0=$(date +%s.%N)
    start_app
    capture_drain $db >/dev/null
    t1=$(date +%s.%N)
    read -r r1 b1 < <(psql $PG -Atc "SELECT wal_records, wal_bytes FROM pg_stat_wal" | tr '|' ' ')
    read -r apply wal < <(psql $PG -d $db -Atc "SELECT
        (SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tickerboard-capture-apply'),
        (SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'walsender')" | tr '|' ' ')
    ca=$(cpu "$apply") cw=$(cpu "$wal") cp=$(cpu "$app")
    after=$(psql $PG -d $db -Atc "SELECT coalesce(max(id), 0) FROM events")
    kill "$app"; wait "$app" || true; app=
    awk -v rep="$rep" -v b="$bin" -v n=$((after - before)) -v t0="$t0" -v t1="$t1" -v ca="$ca" -v cw="$cw" -v cp="$cp" -v hz="$hz" \
      -v wr=$((r1 - r0)) -v wb=$((b1 - b0)) \
      'BEGIN { s = t1 - t0; k = n / 1000; printf "%d,%s,%d,%.1f,%.0f,%.1f,%.1f,%.1f,%.2f,%.0f\n", rep, b, n, s, n / s, ca * 1000 / hz / k, cw * 1000 / hz / k, cp * 1000 / hz / k, wr / n, wb / n }'
  done
done
i=0
for bin in "$@"; do
  i=$((i+1))
  psql $PG -d capture_drain_$i -qAtc "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()" >/dev/null
  psql $PG -qc "DROP DATABASE capture_drain_$i WITH (FORCE)" >/dev/null
done
