# The two commands: `make run` (embedded defaults, no services) and `make test` (real services).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# `make test` runs against the machine's PostgreSQL and Redis (override to point elsewhere).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/k12
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
PYTEST_WORKERS ?= 2

# Debian packages the tests drive for real: nginx (the production proxy config), redis-server
# (the tests start their own Redis to restart it), wrk (bench/messages.py, whose smoke run is a
# test). Installed when missing; CI runs as root.
SYSTEM_PACKAGES ?= nginx-light redis-server wrk

.PHONY: run test lint fmt migrate seed bench clean chromium system-deps js-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements-dev.txt requirements.txt $(VENV)/.deps
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

## run: set everything up and serve on http://$(HOST):$(PORT) with the embedded defaults
run: $(VENV)/.deps
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/  (API docs: http://$(HOST):$(PORT)/api/docs/, admin: /admin/)"
	@# No broker: tasks run eagerly in the process that queues them; the beat next to the
	@# server runs the schedule (reminders, digests, maintenance) and stops with it.
	DJANGO_DEBUG=1 $(BIN)/celery -A k12 beat --loglevel WARNING & beat=$$!; \
		trap 'kill $$beat 2>/dev/null' EXIT INT TERM; \
		DJANGO_DEBUG=1 $(BIN)/daphne -b $(HOST) -p $(PORT) k12.asgi:application

system-deps:
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Debian's chromium for the real-browser tests (Playwright drives it and never downloads one).
chromium:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# The npm clients the tests drive (socket.io-client, axe-core), and the benchmarks' (ws; their
# smoke runs are tests), from the lock files.
tests/js/node_modules/.installed: tests/js/package-lock.json
	cd tests/js && npm ci --silent --no-audit --no-fund
	touch $@

bench/node_modules/.installed: bench/package-lock.json
	cd bench && npm ci --silent --no-audit --no-fund
	touch $@

js-deps: tests/js/node_modules/.installed bench/node_modules/.installed

## test: install what the tests need, lint, and run the whole suite against the real services
test: $(VENV)/.dev-deps system-deps chromium js-deps
	$(BIN)/ruff check .
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_DEBUG=1 $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/pytest --create-db -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(VENV)/.dev-deps
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles .pytest_cache .ruff_cache
