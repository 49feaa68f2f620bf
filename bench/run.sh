#!/usr/bin/env bash
# Seatflow benchmarks (not part of CI's pass/fail). One invocation runs, on this machine:
#   1. PostgreSQL's single-row-insert ceiling: pgbench, one INSERT per transaction, 32 clients;
#   2. distributed mode: release seatflow-api + seatflow-worker on PostgreSQL + RabbitMQ, under
#      seatflow-loadgen: (A) an Entra-shaped initial sync with probes and entitlement checks,
#      (B) a large license: POST /Users alone, member PATCHes into one big group, lookups;
#      (C) each identity-provider profile (`--idp`) in turn, an initial sync and one cycle;
#   3. the embedded default (SQLite, in-process worker) under the same Entra-shaped sync;
# and prints every figure next to its target and its ratio to the pgbench ceiling.
# Everything runs on 127.0.0.1; its own database, SQLite file and queue prefix are removed at
# the end. The per-tenant rate limit is off: these runs measure capacity, one tenant at a time.
# Sizes (environment): BENCH_SYNC_USERS (10000), BENCH_LARGE_USERS (100000),
# BENCH_PGBENCH_SECS (15), BENCH_READ_SECS (10), BENCH_IDPS (all eight profiles).
# Reports: $BENCH_OUT (bench/out)/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN="${SEATFLOW_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
AMQP="${SEATFLOW_BENCH_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
SYNC_USERS="${BENCH_SYNC_USERS:-10000}"
LARGE_USERS="${BENCH_LARGE_USERS:-100000}"
PGBENCH_SECS="${BENCH_PGBENCH_SECS:-15}"
READ_SECS="${BENCH_READ_SECS:-10}"
IDPS="${BENCH_IDPS:-entra okta onelogin jumpcloud pingone rippling authentik keycloak}"
OUT="${BENCH_OUT:-bench/out}"
TARGET="${CARGO_TARGET_DIR:-target}/release"
RUN="$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DB="seatflow_bench_${RUN}"
PREFIX="seatflow-bench-${RUN}"
SQLITE_DIR="$(mktemp -d)"
TOKEN="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"
PG_BASE="${PG_ADMIN%/*}"
mkdir -p "$OUT"
PIDS=()
T0=$(date +%s)

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS ${DB}_pgbench WITH (FORCE)" >/dev/null 2>&1 || true
  if command -v rabbitmqctl >/dev/null; then
    for q in $(rabbitmqctl -q list_queues name 2>/dev/null | grep "^${PREFIX}" || true); do
      rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
    done
    rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"${PREFIX}.events\">>), false, <<\"bench\">>)." >/dev/null 2>&1 || true
  fi
  rm -rf "$SQLITE_DIR"
}
trap cleanup EXIT

echo "== building release binaries"
cargo build --release -q -p seatflow-api -p seatflow-worker --bins
cargo build --release -q -p seatflow-tests --bin seatflow-loadgen

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() {
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$1/api/v1/licenses" && return 0
    sleep 0.1
  done
  echo "server at $1 did not start" >&2; exit 1
}
# `=`: a token may begin with `-`, which would read as an option.
loadgen() { "$TARGET/seatflow-loadgen" --admin-token="$TOKEN" --quiet "$@"; }

echo "== 1. pgbench: single-row INSERT per transaction, 32 clients, ${PGBENCH_SECS}s"
psql -q "$PG_ADMIN" -c "CREATE DATABASE ${DB}_pgbench" >/dev/null
psql -q "$PG_BASE/${DB}_pgbench" -c "CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)" >/dev/null
echo "INSERT INTO t (v) VALUES ('x');" > "$SQLITE_DIR/insert.sql"
pgbench -n -c 32 -j 2 -T "$PGBENCH_SECS" -f "$SQLITE_DIR/insert.sql" "$PG_BASE/${DB}_pgbench" > "$OUT/pgbench.txt" 2>&1
PG_TPS=$(grep -Eo 'tps = [0-9.]+' "$OUT/pgbench.txt" | head -1 | awk '{print $3}')
echo "pgbench: $PG_TPS TPS"
psql -q "$PG_ADMIN" -c "DROP DATABASE ${DB}_pgbench WITH (FORCE)" >/dev/null

echo "== 2. distributed mode: seatflow-api + seatflow-worker, PostgreSQL + RabbitMQ"
psql -q "$PG_ADMIN" -c "CREATE DATABASE $DB" >/dev/null
PORT=$(free_port); URL="http://127.0.0.1:$PORT"
export SEATFLOW_DATABASE_URL="$PG_BASE/$DB" SEATFLOW_AMQP_URL="$AMQP" SEATFLOW_AMQP_PREFIX="$PREFIX" \
  SEATFLOW_ADMIN_TOKEN="$TOKEN" SEATFLOW_BIND="127.0.0.1:$PORT" SEATFLOW_PUBLIC_URL="$URL" SEATFLOW_LOG=warn \
  SEATFLOW_RATE_LIMIT_PER_SEC=0
"$TARGET/seatflow-api" migrate >/dev/null
"$TARGET/seatflow-api" >"$OUT/api.log" 2>&1 & API=$!; PIDS+=("$API")
wait_ready "$URL"
"$TARGET/seatflow-worker" >"$OUT/worker.log" 2>&1 & WORKER=$!; PIDS+=("$WORKER")
echo "-- A: Entra initial sync, $SYNC_USERS users, 10 groups, 32 connections"
loadgen --url "$URL" --pid "api=$API" --pid "worker=$WORKER" --seed 1 \
  --users "$SYNC_USERS" --groups 10 --members-per-group $((SYNC_USERS / 10)) --batch 100 \
  --seats $((SYNC_USERS * 8 / 10)) --concurrency 32 --probe-patches 20 \
  --entitlement-secs "$READ_SECS" --incremental-cycles 1 --json "$OUT/distributed-sync.json" || true
echo "-- B: one license of $LARGE_USERS users: POST /Users, one group of all, lookups"
loadgen --url "$URL" --pid "api=$API" --pid "worker=$WORKER" --seed 2 \
  --users "$LARGE_USERS" --no-user-filter --groups 1 --members-per-group "$LARGE_USERS" --batch 100 \
  --licensed-groups 0 --concurrency 32 --probe-patches 20 --lookup-secs "$READ_SECS" \
  --incremental-cycles 0 --json "$OUT/distributed-large.json" || true
echo "-- C: every identity-provider profile, $SYNC_USERS users each (initial sync + one incremental cycle)"
for idp in $IDPS; do
  loadgen --url "$URL" --pid "api=$API" --pid "worker=$WORKER" --seed 4 --idp "$idp" \
    --users "$SYNC_USERS" --groups 10 --members-per-group $((SYNC_USERS / 10)) --batch 100 \
    --seats $((SYNC_USERS * 8 / 10)) --concurrency 32 --incremental-cycles 1 \
    --json "$OUT/idp-$idp.json" || true
done
kill "$WORKER" "$API"; wait "$WORKER" "$API" 2>/dev/null || true; PIDS=()
unset SEATFLOW_AMQP_URL

echo "== 3. embedded default: SQLite, in-process worker"
PORT=$(free_port); URL="http://127.0.0.1:$PORT"
SEATFLOW_DATABASE_URL="sqlite://$SQLITE_DIR/bench.db" SEATFLOW_BIND="127.0.0.1:$PORT" SEATFLOW_PUBLIC_URL="$URL" \
  "$TARGET/seatflow-api" >"$OUT/embedded.log" 2>&1 & API=$!; PIDS+=("$API")
wait_ready "$URL"
loadgen --url "$URL" --pid "api=$API" --seed 3 \
  --users "$SYNC_USERS" --groups 10 --members-per-group $((SYNC_USERS / 10)) --batch 100 \
  --seats $((SYNC_USERS * 8 / 10)) --concurrency 32 --incremental-cycles 1 \
  --json "$OUT/embedded-sync.json" || true
kill "$API"; wait "$API" 2>/dev/null || true; PIDS=()

echo "== results ($(nproc) cores, $(date -u +%FT%TZ), $(( $(date +%s) - T0 )) s)"
python3 bench/report.py "$PG_TPS" "$OUT" $IDPS
