#!/usr/bin/env bash
# The gates before the tests: lint, formatting, the type check of the product packages, and
# migrations in step with the models. Exits non-zero when any of them fails (all of them run).
#   scripts/lint.sh            (after `make setup`; configuration in pyproject.toml)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=.venv/bin
status=0

step() {
  echo "== $*"
  "$@" || status=1
}

step "$BIN/ruff" check .
step "$BIN/ruff" format --check .
step "$BIN/mypy"
# No database needed: makemigrations --check compares the models with the migration files.
DATABASE_URL=${DATABASE_URL:-sqlite:///:memory:} step "$BIN/python" manage.py makemigrations --check --dry-run
exit "$status"
