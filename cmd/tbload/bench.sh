#!/usr/bin/env bash
# The runs behind BENCHMARKS.md. Each writes benchmarks/results/<name>.json; the chart
# is drawn from them. Usage, from the repository root:
#
#   cmd/tbload/bench.sh                 # every scenario
#   cmd/tbload/bench.sh fanout idle     # some of them
#
# Needs PostgreSQL at $DATABASE_URL's server (the database is created), and for the
# browser and nginx scenarios Debian's chromium and nginx. Runs take 1-3 minutes each.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=benchmarks/results
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
mkdir -p "$out"
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tbload?sslmode=disable}

go build -o "$bin/tickerboard" ./cmd/tickerboard
go build -o "$bin/tbload" ./cmd/tbload

load() { # load <name> <tbload flags…>
  local name=$1
  shift
  echo "== $name: tbload $*"
  "$bin/tbload" -tickerboard "$bin/tickerboard" -fresh-database -quiet -label "$name, load $(cut -d' ' -f1-3 /proc/loadavg) at start" \
    -json "$out/$name.json" "$@"
}

scenario() {
  case $1 in
  # The issue's first target: 1,000 viewers × 100 changes/s and 5,000 × 20, one UPDATE per transaction.
  fanout)
    load fanout-1000x100 -clients 1000 -rate 100 -writers 4 -duration 30s -repeat 3
    load fanout-5000x20 -clients 5000 -rate 20 -writers 4 -duration 30s -repeat 3
    ;;
  # Capacity: far more than either keeps up with, in transactions of 10 changes.
  capacity)
    load capacity-1000x1000 -clients 1000 -rate 1000 -mode batch -batch 10 -writers 4 -duration 20s -repeat 2
    ;;
  # The chart: latency and memory against the number of viewers, 20 changes/s.
  sweep)
    load sweep -clients 100,1000,3000,10000 -rate 20 -writers 4 -duration 20s -repeat 2
    ;;
  # The second target: memory per idle viewer at 10,000.
  idle)
    load idle-10000 -clients 10000 -mode idle -duration 10s -repeat 2
    ;;
  # The third target: 20,000 price changes/s through the feeds' batched writer to 100 viewers.
  feed)
    load feed-100x20000 -clients 100 -rate 20000 -mode batch -batch 200 -symbols 1000 -duration 20s
    load feed-100x20000-2writers -targets tickerboard -clients 100 -rate 20000 -mode batch -batch 200 -writers 2 -symbols 1000 -duration 20s
    load feed-1x20000 -targets tickerboard -clients 1 -rate 20000 -mode batch -batch 200 -symbols 1000 -duration 20s
    ;;
  # The fourth: the page's own commit→paint lag in headless Chromium at 100 changes/s.
  browser)
    load browser-100 -targets tickerboard -clients 10 -rate 100 -writers 2 -duration 60s -repeat 2 -browser
    ;;
  # Through nginx with the project's deploy/nginx.conf.
  nginx)
    load nginx-1000x100 -clients 1000 -rate 100 -writers 4 -duration 30s -nginx -nginx-conf deploy/nginx.conf
    ;;
  *)
    echo "unknown scenario $1" >&2
    exit 2
    ;;
  esac
}

if [ $# -eq 0 ]; then
  set -- fanout capacity sweep idle feed browser nginx
fi
for s in "$@"; do scenario "$s"; done
"$bin/tbload" table "$out"/*.json >benchmarks/results/tables.md
if [ -f "$out/sweep.json" ]; then
  "$bin/tbload" chart -o benchmarks/latency.svg -title "Tickerboard vs a minimal net/http broadcaster, 20 changes/s" "$out/sweep.json"
fi
