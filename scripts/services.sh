#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use is up (127.0.0.1:5432, user postgres),
# starting the machine's cluster if it is down. The tests run their own Redis.
set -euo pipefail

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "services: PostgreSQL is not reachable" >&2; exit 1; }
