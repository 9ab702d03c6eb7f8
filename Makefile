# Two commands for a new user: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SERVICES := deploy/local/services.sh

.PHONY: env up down demo test lint unit clean

env: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[engine,serve,dev]'
	touch $(STAMP)

up: env
	$(SERVICES) up

down:
	$(SERVICES) down

demo: env
	$(SERVICES) up
	mkdir -p out
	trap '$(SERVICES) down' EXIT; \
	  $(VENV)/bin/nst submit examples/tubingen.jpg examples/starry_night.jpg \
	    --api http://127.0.0.1:$${NST_API_PORT:-8000} --size 256 --iterations 60 --wait -o out/result.png

lint: env
	$(VENV)/bin/ruff check api worker shared tests benchmarks
	$(VENV)/bin/mypy api worker shared

test: env lint
	$(SERVICES) ensure_redis
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .run out test-artifacts
