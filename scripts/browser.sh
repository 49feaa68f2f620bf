#!/usr/bin/env bash
# End-to-end tests of the license admin pages (/admin) in Debian's chromium, driven by
# playwright-core over CDP (scripts/browser/admin_pages.mjs): a fresh seatflow-api on a free
# port and a fresh SQLite file, two licenses, an admin key for the first. Screenshots go to
# test-output/browser/. Needs node, npm and /usr/bin/chromium (scripts/test.sh installs it).
# Builds seatflow-api unless SEATFLOW_API_BIN names a binary.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in node npm curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FATAL: scripts/browser.sh needs '$tool'" >&2; exit 1; }
done
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "FATAL: chromium is missing (apt-get install chromium)" >&2; exit 1; }

if [ ! -d scripts/browser/node_modules/playwright-core ]; then
  echo "== installing playwright-core (npm install in scripts/browser)" >&2
  (cd scripts/browser && npm install --no-audit --no-fund --loglevel=error)
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
export SEATFLOW_ADMIN_TOKEN="browser-admin-$RANDOM$RANDOM"
export SEATFLOW_LOG="${SEATFLOW_LOG:-warn}"
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).$1))"; }

"$SEATFLOW_API_BIN" migrate >/dev/null
license="$("$SEATFLOW_API_BIN" license create --name Contoso --seats 3 | json license_id)"
other="$("$SEATFLOW_API_BIN" license create --name Fabrikam --seats 10 | json license_id)"
admin_key="$("$SEATFLOW_API_BIN" license admin-key create --license "$license" | json admin_key)"

"$SEATFLOW_API_BIN" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/admin/login" 2>/dev/null && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "FATAL: seatflow-api exited during start-up:" >&2; cat "$work/server.log" >&2; exit 1
  fi
  sleep 0.1
done

status=0
SEATFLOW_URL="http://127.0.0.1:$port" SEATFLOW_ADMIN_KEY="$admin_key" SEATFLOW_LICENSE_ID="$license" \
  SEATFLOW_OTHER_LICENSE_ID="$other" SEATFLOW_SCREENSHOTS="${SEATFLOW_SCREENSHOTS:-test-output/browser}" \
  node scripts/browser/admin_pages.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "== server log" >&2; cat "$work/server.log" >&2
fi
exit "$status"
