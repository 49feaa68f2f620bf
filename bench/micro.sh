#!/usr/bin/env bash
# CPU cost per request of Seatflow's hottest requests, which stays comparable when other work
# shares the machine (throughput does not). Distributed mode (release seatflow-api +
# seatflow-worker, PostgreSQL, RabbitMQ) on a license of $USERS users written straight into
# PostgreSQL; wrk drives, 32 connections, $SECS seconds per request kind:
#   lookup       GET /Users?filter=userName%20eq%20%22…%22   (the query before every change)
#   lookup-raw   the same as Entra sends it: filter=userName+eq+"…%40…" (raw quotes)
#   entitlement  GET /api/v1/entitlements?email=…
#   post-user    POST /Users (a new user each time)
# For each: requests/s, latency p50/p99, and CPU µs per request of the API, the worker,
# PostgreSQL (all its processes) and RabbitMQ, from /proc. First, the connection layer's and
# per-tenant admission's own cost per request (api/benches/wire.rs and admission.rs, in
# memory). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

export USERS="${USERS:-100000}"
SECS="${SECS:-10}"

bench_build
cargo bench -q -p seatflow-api --bench wire 2>/dev/null | grep '^connection layer'
cargo bench -q -p seatflow-api --bench admission 2>/dev/null | grep '^admission'
start_deployment
echo "== $USERS users written into PostgreSQL"
fill_users "$USERS"

printf '%-12s %9s %8s %8s   %s\n' kind "req/s" "p50 ms" "p99 ms" "CPU µs per request: api worker postgres rabbitmq"
for kind in lookup lookup-raw entitlement post-user; do
  measure "$kind" "$SECS"
  printf '%-12s %9s %8s %8s  %s   %s non-2xx\n' "$kind" "$RPS" "$P50" "$P99" "$CPU" "$ERRORS"
done
echo "($(nproc) cores, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $USERS users)"
