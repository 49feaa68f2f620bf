# shellcheck shell=bash
# Shared steps of the scripts that test a freshly started seatflow-api (browser.sh, newman.sh).
# Sourced, from the repository root, after `set -euo pipefail`.

# require_tools SCRIPT HINT TOOL...: exits unless every TOOL is on PATH; HINT follows the message.
require_tools() {
  local script="$1" hint="$2" tool
  shift 2
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "FATAL: $script needs '$tool'$hint" >&2
      exit 1
    fi
  done
}

# npm_setup DIR INSTALLED WHAT COMMAND: runs `npm COMMAND` in DIR unless DIR/INSTALLED exists.
npm_setup() {
  local dir="$1" installed="$2" what="$3" command="$4"
  if [ ! -e "$dir/$installed" ]; then
    echo "== installing $what (npm $command in $dir)" >&2
    (cd "$dir" && npm "$command" --no-audit --no-fund --loglevel=error)
  fi
}

# api_environment NAME: builds seatflow-api unless SEATFLOW_API_BIN names a binary; sets $work (a
# scratch directory, removed on exit with the server) and a free $port; exports the settings of a
# fresh SQLite file there, that port and an admin token starting with NAME.
api_environment() {
  if [ -z "${SEATFLOW_API_BIN:-}" ]; then
    cargo build --quiet -p seatflow-api
    SEATFLOW_API_BIN="${CARGO_TARGET_DIR:-target}/debug/seatflow-api"
  fi
  work="$(mktemp -d)"
  server_pid=""
  trap stop_api EXIT
  port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  export SEATFLOW_DATABASE_URL="sqlite://$work/seatflow.db"
  export SEATFLOW_BIND="127.0.0.1:$port"
  export SEATFLOW_PUBLIC_URL="http://127.0.0.1:$port"
  export SEATFLOW_ADMIN_TOKEN="$1-admin-$RANDOM$RANDOM"
  export SEATFLOW_LOG="${SEATFLOW_LOG:-warn}"
}

stop_api() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}

# start_api READY_PATH: starts `seatflow-api serve` (its log in $work/server.log) and waits, up to
# 10 s, until READY_PATH answers; exits if the server does.
start_api() {
  "$SEATFLOW_API_BIN" serve >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port$1" 2>/dev/null && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "FATAL: seatflow-api exited during start-up:" >&2
      cat "$work/server.log" >&2
      exit 1
    fi
    sleep 0.1
  done
}
