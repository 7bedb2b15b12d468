#!/usr/bin/env bash
# Two `cairn serve` replicas on one PostgreSQL against one, under wrk on loopback (issue
# 17). The demo pack is copied into a fresh database; each replica has its own folder.
# One replica gets 32 connections; then two replicas get 16 each at the same time (two wrk
# processes), and their throughputs are added. On 2 cores this measures overhead, not
# scaling. Needs wrk, scripts/services.sh, and
#   cargo build --release -p cairn-cli --features servers
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${CAIRN_BIN:-target/release/cairn}
ADMIN=${ADMIN:-postgres://cairn:cairn@127.0.0.1:5432/cairn}
DB=postgres://cairn:cairn@127.0.0.1:5432/cairn_wrk
ROUTE=${ROUTE:-ask}
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS cairn_wrk" -c "CREATE DATABASE cairn_wrk" 2>/dev/null
TMP=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$TMP"' EXIT
"$BIN" --kb "$TMP/demo" demo >/dev/null
"$BIN" kb copy --from "sqlite:$TMP/demo" --to "$DB" >/dev/null
start() {
  RAYON_NUM_THREADS=1 "$BIN" --kb "$TMP/$1" --store "$DB" serve --name demo --addr "127.0.0.1:$2" \
    --open-reads --max-concurrent 64 >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/health" >/dev/null && return; sleep 0.2; done
  echo "replica on $2 did not start" >&2; exit 1
}
rate() { grep "Requests/sec" | awk '{print $2}'; }
start a 18101
echo "== one replica, 32 connections, 15 s ($ROUTE)"
wrk -t1 -c32 -d15s --latency -s "bench/load/$ROUTE.lua" "http://127.0.0.1:18101/v1/kbs/demo/$ROUTE" | tee "$TMP/one.txt" | grep -E "Requests/sec|99%"
start b 18102
echo "== two replicas, 16 connections each, 15 s, at once"
wrk -t1 -c16 -d15s --latency -s "bench/load/$ROUTE.lua" "http://127.0.0.1:18101/v1/kbs/demo/$ROUTE" > "$TMP/a.txt" &
w=$!
wrk -t1 -c16 -d15s --latency -s "bench/load/$ROUTE.lua" "http://127.0.0.1:18102/v1/kbs/demo/$ROUTE" > "$TMP/b.txt"
wait $w
grep -E "Requests/sec|99%" "$TMP/a.txt" "$TMP/b.txt"
echo "total: $(awk '{s+=$1} END {printf "%.0f", s}' <(rate < "$TMP/a.txt"; rate < "$TMP/b.txt")) req/s against $(rate < "$TMP/one.txt") with one"
