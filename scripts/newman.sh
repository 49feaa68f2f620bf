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
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

COLLECTION="${SEATFLOW_POSTMAN_COLLECTION:-tests/fixtures/entra/ms-scim-postman-collection.json}"

require_tools scripts/newman.sh " (install Node.js 18+ with npm, and curl)" node npm curl
if [ ! -f "$COLLECTION" ]; then
  echo "FATAL: the Postman collection is missing: $COLLECTION" >&2
  exit 1
fi

npm_setup scripts/newman node_modules/.bin/newman newman ci
api_environment newman

"$SEATFLOW_API_BIN" migrate
token="$("$SEATFLOW_API_BIN" license create --name newman --seats 100 |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).secret_token))')"

start_api /scim/v2/ServiceProviderConfig

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
