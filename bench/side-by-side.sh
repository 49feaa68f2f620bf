#!/usr/bin/env bash
# Seatflow next to PostgreSQL's own ceilings, measured in the same run on this machine, so the
# figures are ratios that a noisy, shared machine changes little (not part of CI):
#   pgbench single-row INSERT (32 clients) and select-only (-S, 32 clients);
#   distributed Seatflow (release seatflow-api + seatflow-worker, PostgreSQL + RabbitMQ) under
#   wrk -c32: POST /Users and the userName lookup (Entra's raw-quote form) on licenses of 10,000
#   and 100,000 users, and the entitlement check on 100,000;
# each with requests/s, its ratio to the matching pgbench ceiling, p50/p99, CPU µs per request
# of every process, PostgreSQL commits per request, and the processes' peak RSS, against the
# targets of the write-path issue. Each figure (pgbench's too) is the median of ROUNDS (3) runs
# of SECS (10) seconds (PGBENCH_SECS, 15), with every Seatflow round's p99 shown.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

SECS="${SECS:-10}"
ROUNDS="${ROUNDS:-3}"
PGBENCH_SECS="${PGBENCH_SECS:-15}"
bench_build

echo "== pgbench ceilings (32 clients, median of ${ROUNDS} runs of ${PGBENCH_SECS}s each)"
PGB="${PG_ADMIN%/*}/${DB}_pgbench"
psql -q "$PG_ADMIN" -c "CREATE DATABASE ${DB}_pgbench" >/dev/null
pgbench -q -i -s 10 "$PGB" >/dev/null 2>&1
psql -q "$PGB" -c "CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)" >/dev/null
script=$(mktemp); echo "INSERT INTO t (v) VALUES ('x');" > "$script"
# The median of ROUNDS runs each, as for Seatflow's figures.
pgbench_median() {
  for ((i = 0; i < ROUNDS; i++)); do
    pgbench -n -c 32 -j 2 -T "$PGBENCH_SECS" "$@" "$PGB" 2>&1 | grep -Eo 'tps = [0-9.]+' | head -1 | awk '{print $3}'
  done | sort -g | sed -n "$(( (ROUNDS + 1) / 2 ))p"
}
INSERT_TPS=$(pgbench_median -f "$script")
SELECT_TPS=$(pgbench_median -S)
rm -f "$script"
psql -q "$PG_ADMIN" -c "DROP DATABASE ${DB}_pgbench WITH (FORCE)" >/dev/null
echo "pgbench INSERT: $INSERT_TPS tx/s; select-only: $SELECT_TPS tx/s"

RESULTS=()
# row NAME CEILING_NAME CEILING TARGET_RATIO [P99_TARGET_MS]
row() {
  local ratio
  ratio=$(python3 -c "print(f'{$RPS / $3:.2f}')")
  local verdict="met"
  python3 -c "import sys; sys.exit(0 if $ratio >= $4 else 1)" || verdict="missed"
  if [ -n "${5:-}" ]; then
    python3 -c "import sys; sys.exit(0 if $P99 <= $5 else 1)" || verdict="missed"
  fi
  RESULTS+=("$(printf '%-26s %8s/s %5sx %-11s (target %sx%s) p50 %6s ms p99 %7s ms (rounds %s)  commits/req %s  CPU µs/req api,worker,pg,rabbit:%s  %s non-2xx  [%s]' \
    "$1" "$RPS" "$ratio" "$2" "$4" "${5:+, p99 ≤ $5 ms}" "$P50" "$P99" "$P99S" "$COMMITS_PER_REQUEST" "$CPU" "$ERRORS" "$verdict")")
  echo "${RESULTS[-1]}"
}

start_deployment
export USERS=10000
fill_users "$USERS"
echo "== 10,000 users"
measure_rounds post-user "$SECS" "$ROUNDS"; row "POST /Users (10k users)" INSERT "$INSERT_TPS" 0.25 50
measure_rounds lookup-raw "$SECS" "$ROUNDS"; row "GET filter (10k users)" select-only "$SELECT_TPS" 0.2
fill_users 100000 10001
export USERS=100000
echo "== 100,000 users"
measure_rounds post-user "$SECS" "$ROUNDS"; row "POST /Users (100k users)" INSERT "$INSERT_TPS" 0.25 50
measure_rounds lookup-raw "$SECS" "$ROUNDS"; row "GET filter (100k users)" select-only "$SELECT_TPS" 0.2
measure_rounds entitlement "$SECS" "$ROUNDS"; row "entitlement check (100k)" select-only "$SELECT_TPS" 0.25 10
API_RSS=$(rss_mb "$API"); WORKER_RSS=$(rss_mb "$WORKER")
stop_deployment

echo
echo "== side by side ($(nproc) cores, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD))"
echo "pgbench INSERT $INSERT_TPS tx/s, select-only $SELECT_TPS tx/s"
printf '%s\n' "${RESULTS[@]}"
echo "peak RSS: api ${API_RSS} MB (target ≤ 150), worker ${WORKER_RSS} MB (target ≤ 100)"
