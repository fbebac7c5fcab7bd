#!/usr/bin/env bash
# A throwaway PostgreSQL and Redis on loopback, for development and tests.
#   scripts/services.sh up     start both (reuses them if already running), then print the env
#   scripts/services.sh env    print `export DATABASE_URL=...` and `export REDIS_URL=...`
#   scripts/services.sh down   stop both and delete their data
# Settings: AIPOWER_PG_PORT (55432), AIPOWER_REDIS_PORT (56379), AIPOWER_RUN_DIR (<project>/.run).
#
# PostgreSQL refuses to run as root, so it runs as the system user aipower-pg. Its data dir and
# socket live in a private directory under /tmp (recorded in $RUN/pg-home): the project may sit
# under /root, which that user cannot traverse. Durability is switched off: the data is disposable.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${AIPOWER_RUN_DIR:-$ROOT/.run}
PG_PORT=${AIPOWER_PG_PORT:-55432}
REDIS_PORT=${AIPOWER_REDIS_PORT:-56379}
PG_OS_USER=aipower-pg

pg_bin() { compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 | xargs dirname; }
as_pg() { (cd / && runuser -u "$PG_OS_USER" -- "$@"); }  # from /: the cwd may be unreadable to it
pg_home() { cat "$RUN/pg-home" 2>/dev/null || true; }

pg_running() {
  local home; home=$(pg_home)
  [ -n "$home" ] && [ -f "$home/data/PG_VERSION" ] && as_pg "$(pg_bin)/pg_ctl" status -D "$home/data" >/dev/null 2>&1
}

redis_running() {
  local pid; pid=$(cat "$RUN/redis.pid" 2>/dev/null) || return 1
  grep -q redis "/proc/$pid/comm" 2>/dev/null
}

print_env() {
  if [ -s "$RUN/env" ]; then cat "$RUN/env"; return; fi
  echo "export DATABASE_URL=postgres://aipower@127.0.0.1:$PG_PORT/aipower"
  echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

up_postgres() {
  if pg_running; then echo "PostgreSQL already running ($(pg_home))" >&2; return; fi
  local bin home; bin=$(pg_bin)
  id -u "$PG_OS_USER" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER" ||
    id -u "$PG_OS_USER" >/dev/null  # another run may have created it meanwhile
  home=$(pg_home)
  if [ -z "$home" ] || [ ! -d "$home" ]; then
    home=$(mktemp -d /tmp/aipower-pg.XXXXXX)
    chown "$PG_OS_USER": "$home"
    echo "$home" >"$RUN/pg-home"
  fi
  ln -sfn "$home/postgres.log" "$RUN/postgres.log"
  if [ ! -f "$home/data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$home/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$RUN/initdb.log" 2>&1 ||
      { cat "$RUN/initdb.log" >&2; return 1; }
    cat >>"$home/data/postgresql.conf" <<EOF
# scripts/services.sh: a disposable server
listen_addresses = '127.0.0.1'
unix_socket_directories = '$home'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
EOF
  fi
  as_pg "$bin/pg_ctl" start -w -t 60 -D "$home/data" -l "$home/postgres.log" -o "-p $PG_PORT" >/dev/null ||
    { echo "PostgreSQL did not start; its log:" >&2; tail -n 20 "$home/postgres.log" >&2; return 1; }
  local psql=("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
  [ "$("${psql[@]}" -c "select 1 from pg_roles where rolname = 'aipower'")" = 1 ] ||
    "${psql[@]}" -c "create role aipower login superuser"  # superuser: pytest-django creates test dbs
  [ "$("${psql[@]}" -c "select 1 from pg_database where datname = 'aipower'")" = 1 ] ||
    "${psql[@]}" -c "create database aipower owner aipower"
  echo "PostgreSQL on 127.0.0.1:$PG_PORT (data in $home)" >&2
}

up_redis() {
  if redis_running; then echo "Redis already running" >&2; return; fi
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --pidfile "$RUN/redis.pid" \
    --logfile "$RUN/redis.log" --dir "$RUN" --save '' --appendonly no
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG ||
    { echo "Redis did not start; its log:" >&2; tail -n 20 "$RUN/redis.log" >&2; return 1; }
  echo "Redis on 127.0.0.1:$REDIS_PORT" >&2
}

down() {
  local home pid; home=$(pg_home)
  if [ -n "$home" ]; then
    if [ -f "$home/data/PG_VERSION" ]; then
      as_pg "$(pg_bin)/pg_ctl" stop -D "$home/data" -m immediate -w >/dev/null 2>&1 || true
    fi
    case "$home" in /tmp/aipower-pg.*) rm -rf "$home" ;; esac
  fi
  if redis_running; then
    pid=$(cat "$RUN/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$RUN"/{pg-home,postgres.log,initdb.log,redis.pid,redis.log,env}
  rmdir "$RUN" 2>/dev/null || true
  echo "PostgreSQL and Redis stopped, data removed" >&2
}

case "${1:-}" in
  up)
    "$ROOT/scripts/deps.sh" services
    mkdir -p "$RUN"
    up_postgres
    up_redis
    [ -s "$RUN/env" ] || { vars=$(print_env) && echo "$vars" >"$RUN/env"; }
    print_env ;;
  env) print_env ;;
  down) down ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
