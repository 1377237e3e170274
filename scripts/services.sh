#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are running for intake.
# Running servers are reused; installed ones are started; missing ones are installed from
# Debian packages first. Safe to run any number of times.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 60); do "$@" && return 0; sleep 0.5; done
  echo "error: $name did not come up" >&2
  return 1
}

pg_accepts() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  if port_open "$PG_PORT" && pg_accepts; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "installing PostgreSQL…" >&2
    apt_install postgresql postgresql-client
  fi
  local version hba
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  # A development machine: local connections as postgres without a password, as the README says.
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$hba"
  fi
  if port_open "$PG_PORT"; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  else
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  wait_for PostgreSQL pg_accepts
}

redis_accepts() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
  if command -v redis-cli >/dev/null && redis_accepts; then return 0; fi
  if ! command -v redis-server >/dev/null; then
    echo "installing Redis…" >&2
    apt_install redis-server
  fi
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/intake.log
  wait_for Redis redis_accepts
}

ensure_postgres
ensure_redis
