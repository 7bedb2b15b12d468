#!/usr/bin/env bash
# Load test of `cairn serve --demo` on loopback: ask and search at 32 concurrent connections
# for a fixed time each (wrk stops by itself). Needs wrk (apt-get install wrk) and a release
# build: cargo build --release --bin cairn.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${CAIRN_BIN:-target/release/cairn}
PORT=${PORT:-18090}
"$BIN" serve --demo --addr "127.0.0.1:$PORT" --max-concurrent 64 >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
for script in ask ask-stream search; do
  route=${script%-stream}
  echo "== $script: 32 connections, 2 threads, 15 s"
  wrk -t2 -c32 -d15s --latency -s "bench/load/$script.lua" "http://127.0.0.1:$PORT/v1/kbs/demo/$route"
done
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^cairn_requests_total' || true
