#!/usr/bin/env bash
# Installs (Debian packages) and starts PostgreSQL, MariaDB and Redis on loopback, for the
# server-backed store and cache (issue 17). Idempotent: a service already answering is left
# alone. Prints the URLs to use; with --env, prints them as `export` lines instead, for
# `eval "$(scripts/services.sh --env)"`.
#
#   scripts/services.sh            # install, start, print the URLs
#   scripts/services.sh --env      # the same, printing `export CAIRN_TEST_POSTGRES=…` lines
#
# Every server listens on 127.0.0.1 only. The database, user and password are all `cairn`:
# these are throw-away test servers, not a production setup.
set -euo pipefail
ENV_ONLY=0
[ "${1:-}" = "--env" ] && ENV_ONLY=1
say() { [ "$ENV_ONLY" = 1 ] && echo "# $*" >&2 || echo "$*"; }
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

need=()
# The client package brings pg_ctlcluster too: look for the server binary itself.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]} (Debian packages)"
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  # policy-rc.d in containers stops the packages starting their own services; this script
  # starts them below.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- PostgreSQL ------------------------------------------------------------------------
PG_VERSION=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | awk -F/ '{print $5}' | sort -n | tail -1)
PG_PORT=5432
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$PG_VERSION main$"; then
  $SUDO pg_createcluster "$PG_VERSION" main >/dev/null
fi
if ! pg_lsclusters -h | awk '$1=="'"$PG_VERSION"'" && $2=="main" {print $4}' | grep -q online; then
  say "starting PostgreSQL $PG_VERSION"
  $SUDO pg_ctlcluster "$PG_VERSION" main start
fi
PG_PORT=$(pg_lsclusters -h | awk '$1=="'"$PG_VERSION"'" && $2=="main" {print $3}')
pg() { $SUDO -u postgres psql -p "$PG_PORT" -qtA "$@" 2>/dev/null || (cd / && su postgres -c "psql -p $PG_PORT -qtA $(printf '%q ' "$@")"); }
if [ "$(pg -c "SELECT 1 FROM pg_roles WHERE rolname = 'cairn'")" != "1" ]; then
  pg -c "CREATE ROLE cairn LOGIN PASSWORD 'cairn' CREATEDB" >/dev/null
fi
if [ "$(pg -c "SELECT 1 FROM pg_database WHERE datname = 'cairn'")" != "1" ]; then
  pg -c "CREATE DATABASE cairn OWNER cairn" >/dev/null
fi

# --- MariaDB ---------------------------------------------------------------------------
MY_SOCKET=/run/mysqld/mysqld.sock
if ! mariadb-admin --socket="$MY_SOCKET" ping >/dev/null 2>&1; then
  say "starting MariaDB"
  $SUDO mkdir -p /run/mysqld
  $SUDO chown mysql:mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    $SUDO mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  $SUDO sh -c "nohup mariadbd --user=mysql --bind-address=127.0.0.1 --port=3306 --socket=$MY_SOCKET \
    > /var/log/cairn-mariadb.log 2>&1 &"
  for _ in $(seq 1 60); do
    mariadb-admin --socket="$MY_SOCKET" ping >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
$SUDO mariadb --socket="$MY_SOCKET" -e "
  CREATE DATABASE IF NOT EXISTS cairn CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
  CREATE USER IF NOT EXISTS 'cairn'@'127.0.0.1' IDENTIFIED BY 'cairn';
  CREATE USER IF NOT EXISTS 'cairn'@'localhost' IDENTIFIED BY 'cairn';
  GRANT ALL PRIVILEGES ON *.* TO 'cairn'@'127.0.0.1';
  GRANT ALL PRIVILEGES ON *.* TO 'cairn'@'localhost';
  FLUSH PRIVILEGES;"

# --- Redis -----------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  say "starting Redis"
  # A memory cap with least-recently-used eviction: Cairn's shared cache relies on it.
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no \
    --maxmemory 256mb --maxmemory-policy allkeys-lru \
    --logfile /tmp/cairn-redis.log >/dev/null
  for _ in $(seq 1 40); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
    sleep 0.25
  done
fi

PG_URL="postgres://cairn:cairn@127.0.0.1:$PG_PORT/cairn"
MY_URL="mysql://cairn:cairn@127.0.0.1:3306/cairn"
REDIS_URL="redis://127.0.0.1:6379"
if [ "$ENV_ONLY" = 1 ]; then
  echo "export CAIRN_TEST_POSTGRES='$PG_URL'"
  echo "export CAIRN_TEST_MYSQL='$MY_URL'"
  echo "export CAIRN_TEST_REDIS='$REDIS_URL'"
else
  echo "PostgreSQL: $PG_URL"
  echo "MariaDB:    $MY_URL"
  echo "Redis:      $REDIS_URL"
  echo "(tests read CAIRN_TEST_POSTGRES, CAIRN_TEST_MYSQL and CAIRN_TEST_REDIS: eval \"\$(scripts/services.sh --env)\")"
fi
