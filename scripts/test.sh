#!/usr/bin/env bash
# Runs Seatflow's whole test suite on this machine: checks (and starts) the services the tests
# need — PostgreSQL and RabbitMQ — runs every test with cargo-nextest, then the newman
# conformance gate (scripts/newman.sh). Tests that need a service are required, never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/services.sh
. scripts/services.sh

# The dashboard's browser test drives Debian's chromium with playwright-core (pinned in
# scripts/browser/package-lock.json; it downloads no browser of its own).
ensure_browser() {
  if ! need chromium; then
    echo "chromium is missing; installing Debian's chromium" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  fi
  if ! need node || ! need npm; then
    echo "FATAL: the dashboard's browser test needs node and npm (Node.js 18+)" >&2
    exit 1
  fi
  if [ ! -d scripts/browser/node_modules/playwright-core ]; then
    echo "== installing playwright-core (npm ci in scripts/browser)" >&2
    (cd scripts/browser && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

ensure_nextest
ensure_postgres
ensure_rabbitmq
ensure_browser
ensure_webhook_verifier

# docker-compose.yml is not run here (no Docker engine); at least it must parse and be sound.
scripts/check-compose.sh

# The cross-process tests run the real binaries; build them first so they are never stale.
cargo build --workspace --bins

profile=default
[ "${CI:-}" = "true" ] && profile=ci
cargo nextest run --workspace --profile "$profile" -E 'not binary(service_chaos)' "$@"

# Service outages stop the machine's shared PostgreSQL and RabbitMQ: run them alone, last.
echo "== service outage tests (PostgreSQL and RabbitMQ stopped and started)"
cargo nextest run --workspace --profile "$profile" -E 'binary(service_chaos)' --test-threads 1 "$@"
ensure_postgres
ensure_rabbitmq

# Conformance gate: Microsoft's SCIM Postman collection against a fresh server (needs node/npm
# and fails loudly without them). SEATFLOW_SKIP_NEWMAN=1 skips it for quick local runs.
if [ "${SEATFLOW_SKIP_NEWMAN:-}" != "1" ]; then
  echo "== Microsoft SCIM Postman collection (scripts/newman.sh)"
  scripts/newman.sh
fi

# The /admin pages end to end in Debian's chromium (installed above by ensure_browser).
# SEATFLOW_SKIP_BROWSER=1 skips it for quick local runs.
if [ "${SEATFLOW_SKIP_BROWSER:-}" != "1" ]; then
  echo "== admin pages in chromium (scripts/browser.sh)"
  SEATFLOW_API_BIN="${CARGO_TARGET_DIR:-target}/debug/seatflow-api" scripts/browser.sh
fi
