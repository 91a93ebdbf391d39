#!/usr/bin/env bash
# Starts a throwaway PostgreSQL and Redis on 127.0.0.1 for the backend test suites, installing them
# from Debian when absent (nginx and caddy too: test/forward-auth.test.ts starts its own instances).
# Prints the export lines for TEST_DATABASE_URL and TEST_REDIS_URL on stdout:
#   eval "$(bash .ci/services.sh)" && bun test
# Stop them with: bash .ci/services.sh stop
# Data lives in a temporary directory; nothing is written to the system's own clusters.
set -euo pipefail
exec 3>&1 1>&2

in_use() { (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
free_port() {
  local port=$1
  while in_use "$port"; do port=$((port + 1)); done
  echo "$port"
}
# The newest PostgreSQL whose server binaries are installed (a client-only package has no initdb).
pg_bin() { dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)" 2>/dev/null || true; }
PG_BIN=$(pg_bin)

if [ "${1:-}" = stop ]; then
  dir=${WXAUTH_SERVICES_DIR:?run eval "\$(bash .ci/services.sh)" first}
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null || true
  else "$PG_BIN/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null || true; fi
  rm -rf "$dir"
  exit 0
fi

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
# Quietly, from Debian; once more after apt-get update when the package lists are stale or missing.
debian_install() {
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "$@" >/dev/null ||
    { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends "$@" >/dev/null; }
}
# nginx lives in /usr/sbin, which is not on every user's PATH.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if [ ! -x "$PG_BIN/initdb" ] || ! command -v redis-server >/dev/null 2>&1; then
  echo "services: installing postgresql and redis-server from Debian"
  debian_install postgresql redis-server
  PG_BIN=$(pg_bin)
fi

# nginx and caddy for test/forward-auth.test.ts, which runs its own instances on free ports. Their packages
# would start system services on port 80 (and fail to install if it is taken): a policy-rc.d that forbids
# starting services is in place while they install, unless the system already has one.
if ! have nginx || ! have caddy; then
  echo "services: installing nginx and caddy from Debian (their system services are not started)"
  no_start=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    no_start=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$no_start" >/dev/null
    $SUDO chmod 755 "$no_start"
  fi
  installed=0
  debian_install nginx caddy || installed=$?
  if [ -n "$no_start" ]; then $SUDO rm -f "$no_start"; fi
  [ "$installed" = 0 ] || exit "$installed"
fi

PG_PORT=$(free_port "${WXAUTH_TEST_PG_PORT:-55432}")
REDIS_PORT=$(free_port "${WXAUTH_TEST_REDIS_PORT:-56379}")
SERVICES_DIR=$(mktemp -d /tmp/wxauth-services.XXXXXX)
# PostgreSQL refuses to run as root: run it as the postgres user Debian's package creates.
if [ "$(id -u)" = 0 ]; then
  chown postgres "$SERVICES_DIR"
  AS_PG=(runuser -u postgres --)
else
  AS_PG=()
fi
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$SERVICES_DIR/pg" -U wxauth --auth=trust -E UTF8 >/dev/null
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg" -l "$SERVICES_DIR/pg.log" -w 3>&- \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $SERVICES_DIR -c fsync=off -c max_connections=200" start >/dev/null
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U wxauth wxauth_test

redis-server 3>&- --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes \
  --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "services: PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT (data in $SERVICES_DIR)"
cat >&3 <<EXPORTS
export TEST_DATABASE_URL=postgres://wxauth@127.0.0.1:$PG_PORT/wxauth_test
export TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export WXAUTH_SERVICES_DIR=$SERVICES_DIR
EXPORTS
