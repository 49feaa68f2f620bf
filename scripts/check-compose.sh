#!/usr/bin/env bash
# Checks docker-compose.yml without a Docker engine: it must be valid YAML and bring up what the
# README promises (PostgreSQL, RabbitMQ with its management UI, the API, two workers), each
# service with a health check and the data in named volumes. Uses PyYAML, from a project-local
# venv (scripts/.venv) when the system Python lacks it.
set -euo pipefail
cd "$(dirname "$0")/.."

python=python3
if ! "$python" -c 'import yaml' 2>/dev/null; then
  if [ ! -x scripts/.venv/bin/python ]; then
    echo "== installing PyYAML into scripts/.venv" >&2
    python3 -m venv scripts/.venv
    scripts/.venv/bin/pip install --quiet PyYAML
  fi
  python=scripts/.venv/bin/python
fi

"$python" - docker-compose.yml <<'PY'
import sys, yaml

compose = yaml.safe_load(open(sys.argv[1]))
services = compose["services"]
problems = []
for name in ("postgres", "rabbitmq", "api", "worker"):
    if name not in services:
        problems.append(f"service {name} is missing")
    elif "healthcheck" not in services[name]:
        problems.append(f"service {name} has no healthcheck")
if "management" not in services.get("rabbitmq", {}).get("image", ""):
    problems.append("rabbitmq should use an image with the management UI")
if services.get("worker", {}).get("deploy", {}).get("replicas") != 2:
    problems.append("worker should run two replicas")
declared = set((compose.get("volumes") or {}).keys())
for name, service in services.items():
    for volume in service.get("volumes", []):
        source = volume.split(":", 1)[0]
        if not source.startswith((".", "/")) and source not in declared:
            problems.append(f"service {name} uses undeclared volume {source}")
if not declared:
    problems.append("no named volume")
for name, service in services.items():
    for dependency, condition in (service.get("depends_on") or {}).items():
        if dependency not in services:
            problems.append(f"{name} depends on unknown service {dependency}")
if problems:
    sys.exit("docker-compose.yml: " + "; ".join(problems))
print("docker-compose.yml: ok")
PY
