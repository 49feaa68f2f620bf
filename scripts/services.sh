# Sourced by scripts/test.sh and scripts/chaos.sh: checks (and starts) the services the tests
# need, PostgreSQL and RabbitMQ, and exports the URLs the tests use.

PG_URL="${SEATFLOW_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export SEATFLOW_TEST_POSTGRES_URL="$PG_URL"
AMQP_URL="${SEATFLOW_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export SEATFLOW_TEST_AMQP_URL="$AMQP_URL"

need() { command -v "$1" >/dev/null 2>&1; }

ensure_postgres() {
  if ! need pg_isready; then
    echo "FATAL: pg_isready (postgresql-client) is missing; install PostgreSQL" >&2
    exit 1
  fi
  if pg_isready -q -d "$PG_URL" 2>/dev/null; then return; fi
  echo "PostgreSQL is not accepting connections at $PG_URL; trying to start it" >&2
  if need pg_ctlcluster && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -d "$PG_URL" 2>/dev/null && return
    sleep 1
  done
  echo "FATAL: PostgreSQL is required for the tests and is not reachable at $PG_URL" >&2
  exit 1
}

rabbitmq_up() { rabbitmqctl -q status >/dev/null 2>&1; }

ensure_rabbitmq() {
  if ! need rabbitmqctl; then
    echo "RabbitMQ is not installed; installing rabbitmq-server" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
  fi
  if rabbitmq_up; then return; fi
  echo "RabbitMQ is not running; starting it" >&2
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do
    rabbitmq_up && rabbitmqctl -q await_startup >/dev/null 2>&1 && return
    sleep 1
  done
  echo "FATAL: RabbitMQ is required for the tests and did not start" >&2
  exit 1
}

# The webhook tests verify signatures with the Standard Webhooks reference library (PyPI's
# standardwebhooks, pinned in scripts/webhook-verifier.txt), in a venv of its own under the
# target directory; the tests find its interpreter through SEATFLOW_WEBHOOK_VERIFIER_PYTHON.
ensure_webhook_verifier() {
  local venv="${CARGO_TARGET_DIR:-target}/webhook-verifier"
  if ! need python3; then
    echo "FATAL: the webhook tests need python3 (3.8+, with venv)" >&2
    exit 1
  fi
  if ! "$venv/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
    echo "== installing the webhook signature verifier (standardwebhooks) in $venv" >&2
    if ! python3 -m venv --clear "$venv" 2>/dev/null; then
      # Debian's python3 makes venvs only with its python3-venv package.
      echo "python3 cannot make a venv; installing Debian's python3-venv" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
      python3 -m venv --clear "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r scripts/webhook-verifier.txt
  fi
  SEATFLOW_WEBHOOK_VERIFIER_PYTHON="$(cd "$venv/bin" && pwd)/python"
  export SEATFLOW_WEBHOOK_VERIFIER_PYTHON
}

ensure_nextest() {
  if ! need cargo-nextest; then
    echo "cargo-nextest is missing; installing it" >&2
    cargo install --locked cargo-nextest
  fi
}
