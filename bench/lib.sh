# Shared by bench/micro.sh and bench/side-by-side.sh (sourced, not run): a distributed
# deployment (release seatflow-api + seatflow-worker on PostgreSQL + RabbitMQ) with a license of
# users written straight into PostgreSQL, wrk runs measured in requests/s, p50/p99 and CPU µs
# per request of every process, and the clean-up of everything it made.

PG_ADMIN="${SEATFLOW_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
AMQP="${SEATFLOW_BENCH_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
TARGET="${CARGO_TARGET_DIR:-target}/release"
RUN="$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DB="seatflow_bench_${RUN}"
PREFIX="seatflow-bench-${RUN}"
export ADMIN_TOKEN="bench-${RUN}"
PIDS=()
HZ=$(getconf CLK_TCK)

bench_cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for db in "$DB" "${DB}_pgbench"; do
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  for q in $(rabbitmqctl -q list_queues name 2>/dev/null | grep "^${PREFIX}" || true); do
    rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
  done
  rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"${PREFIX}.events\">>), false, <<\"bench\">>)." >/dev/null 2>&1 || true
}
trap bench_cleanup EXIT

bench_build() {
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
  cargo build --release -q -p seatflow-api -p seatflow-worker --bins
}

# Starts the API and the worker on a fresh database with one license; sets URL, LICENSE_ID,
# SCIM_TOKEN, API and WORKER. Extra `VAR=value` arguments go to both processes' environment.
start_deployment() {
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  psql -q "$PG_ADMIN" -c "CREATE DATABASE $DB" >/dev/null
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$port"
  export SEATFLOW_DATABASE_URL="${PG_ADMIN%/*}/$DB" SEATFLOW_AMQP_URL="$AMQP" SEATFLOW_AMQP_PREFIX="$PREFIX" \
    SEATFLOW_ADMIN_TOKEN="$ADMIN_TOKEN" SEATFLOW_BIND="127.0.0.1:$port" SEATFLOW_PUBLIC_URL="$URL" \
    SEATFLOW_LOG=warn SEATFLOW_RECONCILE_INTERVAL_SECS=0 "$@"
  "$TARGET/seatflow-api" migrate >/dev/null
  local license
  license=$("$TARGET/seatflow-api" license create --name Bench --seats 1000000)
  LICENSE_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["license_id"])' "$license")
  export SCIM_TOKEN
  SCIM_TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret_token"])' "$license")
  "$TARGET/seatflow-api" >/dev/null 2>&1 & API=$!; PIDS+=("$API")
  "$TARGET/seatflow-worker" >/dev/null 2>&1 & WORKER=$!; PIDS+=("$WORKER")
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null -H "Authorization: Bearer $ADMIN_TOKEN" "$URL/api/v1/licenses" && return 0
    sleep 0.1
  done
  echo "FATAL: seatflow-api did not start at $URL" >&2; exit 1
}

stop_deployment() {
  kill "$API" "$WORKER" 2>/dev/null || true
  wait "$API" "$WORKER" 2>/dev/null || true
  PIDS=()
}

# Writes users user1..userN@contoso.com (from FROM, default 1) of the license straight into
# PostgreSQL, as an identity provider's sync would have left them.
fill_users() {
  local to=$1 from=${2:-1}
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
FROM generate_series($from, $to) g;
ANALYZE;
SQL
}

ticks() { awk '{s += $14 + $15} END {print s + 0}' "$@" 2>/dev/null || echo 0; }
cpu_of() { case $1 in
  api) ticks /proc/$API/stat ;;
  worker) ticks /proc/$WORKER/stat ;;
  postgres) ticks $(for p in $(pgrep -x postgres); do echo /proc/$p/stat; done) ;;
  rabbitmq) ticks $(for p in $(pgrep -f beam.smp); do echo /proc/$p/stat; done) ;;
esac; }
commits() {
  psql -Atq "$PG_ADMIN" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$DB'"
}
rss_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# wrk's latency ("850.00us", "1.23ms", "1.02s") in milliseconds.
to_ms() {
  python3 -c "
import sys; v = sys.argv[1]
for unit, scale in (('us', 0.001), ('ms', 1.0), ('s', 1000.0), ('m', 60000.0)):
    if v.endswith(unit):
        print(f'{float(v[:-len(unit)]) * scale:.2f}'); break
" "$1"
}

# Runs wrk with bench/wrk/$1.lua for $2 seconds (after a 2 s warm-up) and sets RPS, P50, P99
# (ms), REQUESTS, ERRORS, COMMITS_PER_REQUEST and CPU (µs per request: api worker postgres
# rabbitmq). USERS must be set for the scripts that pick existing users.
measure() {
  local kind=$1 secs=$2 out p
  ROUND="warm-$RANDOM" wrk -t2 -c32 -d2s -s "bench/wrk/$kind.lua" "$URL" >/dev/null
  declare -A before
  for p in api worker postgres rabbitmq; do before[$p]=$(cpu_of $p); done
  local commits_before
  commits_before=$(commits)
  out=$(ROUND="run-$RANDOM" wrk -t2 -c32 -d"${secs}s" --latency -s "bench/wrk/$kind.lua" "$URL")
  REQUESTS=$(grep -Eo '^ *[0-9]+ requests' <<<"$out" | awk '{print $1}')
  RPS=$(grep -Eo 'Requests/sec: *[0-9.]+' <<<"$out" | awk '{print $2}')
  P50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  P99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  ERRORS=$(grep -Eo 'Non-2xx or 3xx responses: [0-9]+' <<<"$out" | awk '{print $NF}' || true)
  ERRORS=${ERRORS:-0}
  COMMITS_PER_REQUEST=$(python3 -c "print(f'{($(commits) - $commits_before) / max($REQUESTS, 1):.2f}')")
  CPU=""
  for p in api worker postgres rabbitmq; do
    CPU+=" $(( ($(cpu_of $p) - before[$p]) * 1000000 / HZ / REQUESTS ))"
  done
}

# `measure` $3 times; keeps the round with the median requests/s (this machine is shared: one
# round can land on a noisy moment), with P99 the median of the rounds' p99s (each figure is
# its own median) and P99S every round's p99.
measure_rounds() {
  local kind=$1 secs=$2 rounds=$3 i
  local -a rows=()
  P99S=""
  for ((i = 0; i < rounds; i++)); do
    measure "$kind" "$secs"
    P99S+="${P99S:+/}$P99"
    rows+=("$RPS|$P50|$P99|$REQUESTS|$ERRORS|$COMMITS_PER_REQUEST|$CPU")
  done
  local median
  median=$(printf '%s\n' "${rows[@]}" | sort -t'|' -k1,1 -g | sed -n "$(( (rounds + 1) / 2 ))p")
  IFS='|' read -r RPS P50 P99 REQUESTS ERRORS COMMITS_PER_REQUEST CPU <<<"$median"
  P99=$(tr '/' '\n' <<<"$P99S" | sort -g | sed -n "$(( (rounds + 1) / 2 ))p")
}
