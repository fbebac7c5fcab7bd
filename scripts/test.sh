#!/usr/bin/env bash
# Runs the test suite against a private PostgreSQL and Redis, stopped again at the end.
#   scripts/test.sh [pytest args...]        (make test PYTEST_ARGS='-k failover')
# Then the tests of the twin implementations run again on SQLite (the embedded default), with the
# same arguments.
# Each run gets its own servers (state in .run/test-<pid>, the first free ports from 55432 and
# 56379 up), so runs started at the same time on one machine never share a test database.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/deps.sh || exit 1
# axe-core (npm), which the browser tests load into pages to check accessibility.
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  npm install --no-audit --no-fund --loglevel=error >&2 || exit 1
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { local p=$1; while port_busy "$p"; do p=$((p + 1)); done; echo "$p"; }

export AIPOWER_RUN_DIR=$ROOT/.run/test-$$
trap 'scripts/services.sh down 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p .run
{
  flock 9  # one run at a time picks ports and starts its servers
  export AIPOWER_PG_PORT=${AIPOWER_PG_PORT:-$(free_port 55432)}
  export AIPOWER_REDIS_PORT=${AIPOWER_REDIS_PORT:-$(free_port 56379)}
  scripts/services.sh up 9>&- >/dev/null
} 9>.run/start.lock || exit 1
eval "$(scripts/services.sh env)"

export AIPOWER_TEST_ARTIFACTS=$ROOT/test-artifacts
mkdir -p "$AIPOWER_TEST_ARTIFACTS"

opts=()
[ -n "${CI:-}" ] && opts+=(-p no:cacheprovider)
.venv/bin/pytest "${opts[@]}" "$@"
status=$?
if [ "$status" = 5 ]; then
  echo "test.sh: pytest collected no tests; that counts as a failure" >&2
  status=1
fi

# The twin implementations' tests (marked `twins`, tests/twins.py) again on the embedded default,
# SQLite without Redis, as `make run` has it: the Python halves on their own database. Same
# arguments, so a narrowed run narrows this pass too (none of them selected: nothing to do).
echo "test.sh: the twins on SQLite (the embedded default)" >&2
env -u REDIS_URL DATABASE_URL="sqlite:///$AIPOWER_RUN_DIR/db.sqlite3" \
  .venv/bin/pytest -p no:cacheprovider "$@" -m twins
twins=$?
if [ "$twins" != 0 ] && [ "$twins" != 5 ]; then
  status=1
fi
exit "$status"
