#!/usr/bin/env bash
# CPU cost per request of Seatflow's hottest requests, which stays comparable when other work
# shares the machine (throughput does not). Distributed mode (release seatflow-api +
# seatflow-worker, PostgreSQL, RabbitMQ) on a license of $USERS users written straight into
# PostgreSQL; wrk (installed if missing) drives, 32 connections, $SECS seconds per request kind:
#   lookup       GET /Users?filter=userName%20eq%20%22…%22   (the query before every change)
#   lookup-raw   the same as Entra sends it: filter=userName+eq+"…%40…" (raw quotes)
#   entitlement  GET /api/v1/entitlements?email=…
#   post-user    POST /Users (a new user each time)
# For each: requests/s, latency p50/p99, and CPU µs per request of the API, the worker,
# PostgreSQL (all its processes) and RabbitMQ, from /proc. First, the connection layer's own
# cost per request (api/benches/wire.rs, in memory). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS="${USERS:-100000}"
SECS="${SECS:-10}"
PG_ADMIN="${SEATFLOW_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
AMQP="${SEATFLOW_BENCH_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
TARGET="${CARGO_TARGET_DIR:-target}/release"
RUN="$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DB="seatflow_micro_${RUN}"
PREFIX="seatflow-micro-${RUN}"
export ADMIN_TOKEN="micro-${RUN}"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  for q in $(rabbitmqctl -q list_queues name 2>/dev/null | grep "^${PREFIX}" || true); do
    rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p seatflow-api -p seatflow-worker --bins
cargo bench -q -p seatflow-api --bench wire 2>/dev/null | grep '^connection layer'

psql -q "$PG_ADMIN" -c "CREATE DATABASE $DB" >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
export SEATFLOW_DATABASE_URL="${PG_ADMIN%/*}/$DB" SEATFLOW_AMQP_URL="$AMQP" SEATFLOW_AMQP_PREFIX="$PREFIX" \
  SEATFLOW_ADMIN_TOKEN="$ADMIN_TOKEN" SEATFLOW_BIND="127.0.0.1:$PORT" SEATFLOW_PUBLIC_URL="$URL" \
  SEATFLOW_LOG=warn SEATFLOW_RATE_LIMIT_PER_SEC=0 SEATFLOW_RECONCILE_INTERVAL_SECS=0
"$TARGET/seatflow-api" migrate >/dev/null
LICENSE=$("$TARGET/seatflow-api" license create --name Micro --seats "$USERS")
LICENSE_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["license_id"])' "$LICENSE")
export SCIM_TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret_token"])' "$LICENSE")
echo "== $USERS users written into PostgreSQL"
psql -q "$SEATFLOW_DATABASE_URL" <<SQL
INSERT INTO users (id, license_id, user_name, user_name_key, external_id, display_name,
                   display_name_key, active, document, version, created_at, updated_at)
SELECT gen_random_uuid()::text, '$LICENSE_ID', 'user'||g||'@contoso.com', 'user'||g||'@contoso.com',
       'ext'||g, 'User '||g, 'user '||g, true,
       json_build_object('schemas', json_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
         'userName', 'user'||g||'@contoso.com', 'externalId', 'ext'||g, 'displayName', 'User '||g,
         'active', true, 'name', json_build_object('givenName', 'User', 'familyName', 'N'||g),
         'emails', json_build_array(json_build_object('value', 'user'||g||'@contoso.com',
           'type', 'work', 'primary', true)))::text,
       1, to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
FROM generate_series(1, $USERS) g;
ANALYZE;
SQL
"$TARGET/seatflow-api" >/dev/null 2>&1 & API=$!; PIDS+=("$API")
"$TARGET/seatflow-worker" >/dev/null 2>&1 & WORKER=$!; PIDS+=("$WORKER")
for _ in $(seq 1 200); do
  curl -sf -o /dev/null -H "Authorization: Bearer $ADMIN_TOKEN" "$URL/api/v1/licenses" && break
  sleep 0.1
done

ticks() { awk '{s += $14 + $15} END {print s + 0}' "$@" 2>/dev/null || echo 0; }
cpu_of() { case $1 in
  api) ticks /proc/$API/stat ;;
  worker) ticks /proc/$WORKER/stat ;;
  postgres) ticks $(for p in $(pgrep -x postgres); do echo /proc/$p/stat; done) ;;
  rabbitmq) ticks $(for p in $(pgrep -f beam.smp); do echo /proc/$p/stat; done) ;;
esac; }
HZ=$(getconf CLK_TCK)
printf '%-12s %9s %8s %8s   %s\n' kind "req/s" "p50 ms" "p99 ms" "CPU µs per request: api worker postgres rabbitmq"
for kind in lookup lookup-raw entitlement post-user; do
  ROUND=warm USERS="$USERS" wrk -t2 -c32 -d2s -s "bench/wrk/$kind.lua" "$URL" >/dev/null   # warm-up
  declare -A before
  for p in api worker postgres rabbitmq; do before[$p]=$(cpu_of $p); done
  out=$(ROUND=measured USERS="$USERS" wrk -t2 -c32 -d"${SECS}s" --latency -s "bench/wrk/$kind.lua" "$URL")
  requests=$(grep -Eo '^ *[0-9]+ requests' <<<"$out" | awk '{print $1}')
  rps=$(grep -Eo 'Requests/sec: *[0-9.]+' <<<"$out" | awk '{print $2}')
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out"); p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(grep -Eo 'Non-2xx or 3xx responses: [0-9]+' <<<"$out" || true)
  costs=""
  for p in api worker postgres rabbitmq; do
    costs+=" $(( ($(cpu_of $p) - before[$p]) * 1000000 / HZ / requests ))"
  done
  printf '%-12s %9s %8s %8s  %s %s\n' "$kind" "$rps" "$p50" "$p99" "$costs" "$errors"
done
echo "($(nproc) cores, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $USERS users)"
