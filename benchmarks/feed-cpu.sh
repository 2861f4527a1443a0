#!/usr/bin/env bash
# The feed cell with each process's CPU: tbload's batched feed writer at RATE changes/s
# to 10 viewers for 30 s, and `top` sampled over 15 s mid-run (the app, the apply
# session, the WAL sender, the writer, tbload), for each build given, in turn. Each
# build is NAME=APP_BINARY:TBLOAD_BINARY (tbload holds the feed writer, so build it from
# the same tree). Runs against postgres://postgres@127.0.0.1:5432/tbperf, made afresh.
# usage: benchmarks/feed-cpu.sh RATE NAME=APP:TBLOAD [NAME=APP:TBLOAD ...]
set -euo pipefail
rate=$1
shift
db='postgres://postgres@127.0.0.1:5432/tbperf?sslmode=disable'
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for build in "$@"; do
  name=${build%%=*} bins=${build#*=}
  app=${bins%%:*} tbload=${bins#*:}
  "$tbload" -tickerboard "$app" -database-url "$db" -fresh-database -targets tickerboard -clients 10 \
    -rate "$rate" -mode batch -batch 200 -symbols 1000 -duration 30s -repeat 1 >"$out" 2>&1 &
  pid=$!
  sleep 10
  echo "## $name at $rate/s"
  top -b -d 15 -n 2 -c -w 110 -o %CPU | awk '/^top -/{n++} n==2' | sed -n 8,14p |
    awk '{printf "  %6s%%  ", $9; for (i = 12; i <= NF; i++) printf "%s ", $i; print ""}'
  wait "$pid"
  tr '\r' '\n' <"$out" | sed 's/\x1b\[K//g' | grep '^tickerboard '
done
