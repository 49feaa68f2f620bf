#!/usr/bin/env bash
# End-to-end tests of the license admin pages (/admin) in Debian's chromium, driven by
# playwright-core over CDP (scripts/browser/admin_pages.mjs): a fresh seatflow-api on a free
# port and a fresh SQLite file, two licenses, an admin key for the first (the setup-link steps
# make a third license through the admin API). Screenshots go to
# test-output/browser/. Needs node, npm and /usr/bin/chromium (scripts/test.sh installs it).
# Builds seatflow-api unless SEATFLOW_API_BIN names a binary.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

require_tools scripts/browser.sh "" node npm curl
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "FATAL: chromium is missing (apt-get install chromium)" >&2; exit 1; }

npm_setup scripts/browser node_modules/playwright-core playwright-core install
api_environment browser
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).$1))"; }

"$SEATFLOW_API_BIN" migrate >/dev/null
license="$("$SEATFLOW_API_BIN" license create --name Contoso --seats 3 | json license_id)"
other="$("$SEATFLOW_API_BIN" license create --name Fabrikam --seats 10 | json license_id)"
admin_key="$("$SEATFLOW_API_BIN" license admin-key create --license "$license" | json admin_key)"

# The error-rate warning and webhook retries are exercised: evaluate and retry quickly.
export SEATFLOW_ERROR_RATE_INTERVAL_MS=200 SEATFLOW_WEBHOOK_TICK_MS=200
start_api /admin/login

status=0
SEATFLOW_URL="http://127.0.0.1:$port" SEATFLOW_ADMIN_KEY="$admin_key" SEATFLOW_LICENSE_ID="$license" \
  SEATFLOW_OTHER_LICENSE_ID="$other" SEATFLOW_SCREENSHOTS="${SEATFLOW_SCREENSHOTS:-test-output/browser}" \
  node scripts/browser/admin_pages.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "== server log" >&2; cat "$work/server.log" >&2
fi
exit "$status"
