#!/usr/bin/env bash
# Longer chaos runs than CI's: the chaos tests (tests/tests/pipeline_chaos.rs: worker and API
# kill -9, both at once, broker connections closed) round after round under bigger
# seatflow-loadgen bursts, each round with a new seed and a new moment to strike, until the
# time is up or a round fails. Every round prints each test's figures (writes acknowledged,
# retries, outage window, 503s, time to converge).
#
#   scripts/chaos.sh                                  10 minutes, pipeline chaos only
#   SEATFLOW_CHAOS_SECONDS=3600 SEATFLOW_CHAOS_SERVICES=1 scripts/chaos.sh
#
# Settings: SEATFLOW_CHAOS_SECONDS (default 600; a round that starts in time runs to its end),
# SEATFLOW_CHAOS_SERVICES=1 (also tests/tests/service_chaos.rs, which stops and starts the
# machine's shared PostgreSQL and RabbitMQ: never while anything else uses them), and the
# burst's size: SEATFLOW_CHAOS_TENANTS (default here 4), SEATFLOW_CHAOS_USERS per tenant
# (1000), SEATFLOW_CHAOS_CYCLES (5 incremental cycles), SEATFLOW_CHAOS_SEED (the first
# round's; default: from the clock). Further arguments go to cargo nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/services.sh
. scripts/services.sh

seconds="${SEATFLOW_CHAOS_SECONDS:-600}"
export SEATFLOW_CHAOS_TENANTS="${SEATFLOW_CHAOS_TENANTS:-4}"
export SEATFLOW_CHAOS_USERS="${SEATFLOW_CHAOS_USERS:-1000}"
export SEATFLOW_CHAOS_CYCLES="${SEATFLOW_CHAOS_CYCLES:-5}"
seed="${SEATFLOW_CHAOS_SEED:-$(date +%s)}"
users=$((SEATFLOW_CHAOS_TENANTS * SEATFLOW_CHAOS_USERS))
if [ "$users" -lt 10 ]; then
  echo "FATAL: the burst needs at least 10 users in all" >&2
  exit 2
fi

ensure_nextest
ensure_postgres
ensure_rabbitmq
cargo build --workspace --bins

tests=(--test pipeline_chaos)
[ "${SEATFLOW_CHAOS_SERVICES:-}" = "1" ] && tests+=(--test service_chaos)

deadline=$((SECONDS + seconds))
round=0
while [ "$SECONDS" -lt "$deadline" ]; do
  round=$((round + 1))
  export SEATFLOW_CHAOS_SEED=$((seed + round - 1))
  # Strike after the users and groups are created (which records no licensing work), anywhere in the
  # membership writes and incremental cycles that follow it.
  export SEATFLOW_CHAOS_AT=$((users + SEATFLOW_CHAOS_TENANTS * 5 + (RANDOM * 32768 + RANDOM) % (users * 4 / 10)))
  echo "== round $round: seed $SEATFLOW_CHAOS_SEED, chaos after $SEATFLOW_CHAOS_AT acknowledged writes"
  # One test at a time: service outages must not overlap, and timings stay meaningful.
  if ! cargo nextest run -p seatflow-tests "${tests[@]}" --test-threads 1 \
      --success-output immediate "$@"; then
    ensure_postgres
    ensure_rabbitmq
    echo "FAILED in round $round (SEATFLOW_CHAOS_SEED=$SEATFLOW_CHAOS_SEED SEATFLOW_CHAOS_AT=$SEATFLOW_CHAOS_AT)" >&2
    exit 1
  fi
done
echo "== $round rounds passed in $SECONDS s"
