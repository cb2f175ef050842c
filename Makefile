# One command per job. `make run` and `make test` work on a fresh clone.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
BACKLOG ?= 1024
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test lint format worker beat migrate superuser schema clean bench bench-rest bench-burst browser fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when the requirements change.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

migrate: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput

# A listen backlog of 1,024 (Twisted's default is 50): in a burst of connects the kernel drops the
# SYNs over the backlog, clients retry after 1, 3, 7 s and daphne refuses their late handshakes.
run: migrate
	$(BIN)/daphne -e tcp:port=$(PORT):interface=$(HOST):backlog=$(BACKLOG) asgi:application

# The dashboard's browser test drives Debian's Chromium through its matching chromedriver.
# Installed once (as root, or through sudo); a no-op when both are on PATH.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; else \
	    echo "Chromium is missing: run 'apt-get install -y chromium chromium-driver' as root." >&2; exit 1; fi; \
	  echo "installing chromium chromium-driver (browser tests)"; \
	  $$sudo apt-get update -q && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	fi

test: $(VENV)/.dev browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Schemathesis against our own OpenAPI schema: every operation as every role, no 5xx and every answer
# as documented (tests/fuzz). `make test` runs it with 5 examples per operation and role; this runs
# FUZZ_EXAMPLES (default 200) of each, which takes hours: `make fuzz FUZZ_EXAMPLES=50` for less.
FUZZ_EXAMPLES ?= 200
fuzz: $(VENV)/.dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: migrate
	$(BIN)/celery -A telehealth worker --loglevel=INFO --queues=default

beat: migrate
	$(BIN)/celery -A telehealth beat --loglevel=INFO

superuser: migrate
	$(BIN)/python manage.py createsuperuser

# Room websockets vs a bare websockets relay; makes its own database. BENCH_ARGS=--quick: < 1 minute.
bench: $(VENV)/.runtime
	$(BIN)/python bench/signaling.py $(BENCH_ARGS)

# Consultation list API vs bare Django (.values() + JsonResponse) on daphne, uvicorn and gunicorn.
bench-rest: $(VENV)/.dev
	$(BIN)/python bench/rest.py $(BENCH_ARGS)

# 1,000 authenticated room sockets connecting at once: handshake times, errors, memory after.
bench-burst: $(VENV)/.dev
	$(BIN)/python bench/connect_burst.py $(BENCH_ARGS)

schema: $(VENV)/.runtime
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file schema.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
