#!/usr/bin/env bash
# Conformance gate: runs Microsoft's SCIM Postman collection (tests/fixtures/entra/) with newman
# against a freshly started seatflow-api on a free port, a fresh SQLite file and a fresh
# license. Every folder but "Get Token" runs; any failed request or assertion fails the script.
# The two places where the collection contradicts RFC 7644 are described in newman/prepare.js.
#
# Needs node and npm (newman is installed from npm into scripts/newman/node_modules, pinned by
# scripts/newman/package-lock.json). Builds seatflow-api unless SEATFLOW_API_BIN names a binary.
set -euo pipefail
cd "$(dirname "$0")/.."

COLLECTION="${SEATFLOW_POSTMAN_COLLECTION:-tests/fixtures/entra/ms-scim-postman-collection.json}"

for tool in node npm curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FATAL: scripts/newman.sh needs '$tool' (install Node.js 18+ with npm, and curl)" >&2
    exit 1
  fi
done
if [ ! -f "$COLLECTION" ]; then
  echo "FATAL: the Postman collection is missing: $COLLECTION" >&2
  exit 1
fi

if [ ! -x scripts/newman/node_modules/.bin/newman ]; then
  echo "== installing newman (npm ci in scripts/newman)" >&2
  (cd scripts/newman && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ -z "${SEATFLOW_API_BIN:-}" ]; then
  cargo build --quiet -p seatflow-api
  SEATFLOW_API_BIN="${CARGO_TARGET_DIR:-target}/debug/seatflow-api"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export SEATFLOW_DATABASE_URL="sqlite://$work/seatflow.db"
export SEATFLOW_BIND="127.0.0.1:$port"
export SEATFLOW_PUBLIC_URL="http://127.0.0.1:$port"
export SEATFLOW_ADMIN_TOKEN="newman-admin-$RANDOM$RANDOM"
export SEATFLOW_LOG="${SEATFLOW_LOG:-warn}"

"$SEATFLOW_API_BIN" migrate
token="$("$SEATFLOW_API_BIN" license create --name newman --seats 100 |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).secret_token))')"

"$SEATFLOW_API_BIN" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/scim/v2/ServiceProviderConfig" 2>/dev/null && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "FATAL: seatflow-api exited during start-up:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.1
done

node scripts/newman/prepare.js "$COLLECTION" "$work/collection.json"
status=0
scripts/newman/node_modules/.bin/newman run "$work/collection.json" \
  --env-var Protocol=http --env-var Server=127.0.0.1 --env-var "Port=:$port" \
  --env-var Api=scim/v2 --env-var "token=$token" \
  --color off "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "FATAL: Microsoft's SCIM Postman collection failed against seatflow-api (server log follows)" >&2
  cat "$work/server.log" >&2
fi
exit "$status"
