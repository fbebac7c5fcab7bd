# make run            the product on http://127.0.0.1:8000 (embedded: SQLite, provider simulator)
# make test           the test suite (PYTEST_ARGS='-k failover' to narrow it)
# make lint           the gates: ruff check, ruff format --check, mypy, makemigrations --check
# make bench          the benchmarks (BENCH_ARGS='...')
# make services-up    a throwaway PostgreSQL and Redis; prints the env vars to export
# make services-down  stops them and deletes their data
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# A copy of the pyproject.toml the venv was installed from: pip runs again only when it changed.
STAMP := $(VENV)/.installed-pyproject.toml
# The browser libraries (package.json; served by Django's staticfiles): npm runs when the lock changed.
NODE_STAMP := node_modules/.installed-package-lock.json

.PHONY: setup run test lint bench services-up services-down

setup: $(STAMP) $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@scripts/deps.sh node
	@cmp -s package-lock.json $@ || { echo "Installing the browser libraries into node_modules"; \
	  flock package.json npm ci --no-audit --no-fund --loglevel=error; }
	@cp package-lock.json $@

$(PY):
	python3 -m venv $(VENV) || { rm -rf $(VENV); scripts/deps.sh python && python3 -m venv $(VENV); }

$(STAMP): pyproject.toml | $(PY)
	@cmp -s pyproject.toml $@ || { echo "Installing the Python dependencies into $(VENV)"; \
	  flock $(VENV)/.install.lock $(PY) -m pip install --disable-pip-version-check -q -e '.[test]'; }
	@cp pyproject.toml $@

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_catalog
	$(PY) manage.py collectstatic --noinput -v 0
	scripts/run.sh

test: setup
	scripts/test.sh $(PYTEST_ARGS)

lint: setup
	scripts/lint.sh

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

services-up:
	@scripts/services.sh up

services-down:
	@scripts/services.sh down
