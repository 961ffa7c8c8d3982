#!/usr/bin/env bash
# Debian's PostgreSQL and Redis run as real engines in test/e2e/data.test.ts: the test starts its own
# servers (initdb + pg_ctl as the unprivileged `postgres` user, redis-server --port) on free loopback
# ports in temporary directories and stops them by PID. The packaged services are not needed and are
# stopped if the packages started them. Idempotent.
set -euo pipefail
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now redis-server postgresql >/dev/null 2>&1 || true; fi
fi
# The packages' own servers (started by the package scripts where there is no systemd) are not used.
if command -v pg_ctlcluster >/dev/null 2>&1; then pg_ctlcluster 15 main stop >/dev/null 2>&1 || true; fi
if [ -f /run/redis/redis-server.pid ]; then kill "$(cat /run/redis/redis-server.pid)" 2>/dev/null || true; fi
/usr/lib/postgresql/15/bin/postgres --version
redis-server --version
