# Two commands for a new user: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
SERVICES := deploy/local/services.sh

.PHONY: env demo-env up down demo test lint prerequisites shell clean \
	images compose-up compose-down compose-test k8s-smoke

# Everything, for development and tests (about 3 GB: TensorFlow, JAX, Playwright, moto, ...).
env: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[engine,serve,dev]'
	touch $(STAMP) $(DEMO_STAMP)

# Only what the demo runs: the engine, the API and the worker.
demo-env: $(DEMO_STAMP)
$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[engine,serve]'
	touch $(DEMO_STAMP)

up: demo-env
	$(SERVICES) up

down:
	$(SERVICES) down

demo: demo-env
	$(SERVICES) up
	mkdir -p out
	trap '$(SERVICES) down' EXIT; \
	  $(VENV)/bin/nst submit examples/tubingen.jpg examples/starry_night.jpg \
	    --api http://127.0.0.1:$${NST_API_PORT:-8000} --size 256 --iterations 60 --wait -o out/result.png

# A shell with the project's virtual environment active: `nst`, `celery`, `pytest` on PATH.
shell: demo-env
	@echo "virtual environment $(VENV) active; exit to leave"
	@source $(VENV)/bin/activate && exec "$${SHELL:-bash}" -i

lint: env
	$(VENV)/bin/ruff check api worker shared contract client cli tests benchmarks harness
	$(VENV)/bin/ruff format --check api worker shared contract client cli tests benchmarks harness deploy
	$(VENV)/bin/mypy api worker shared contract client cli harness
	$(VENV)/bin/lint-imports

# The system packages the suite needs (Redis, Sentinel, Chromium, an ICC profile): installed
# when run as root with apt-get, otherwise named with the command to install them.
prerequisites:
	deploy/local/prerequisites.sh

# Three test processes, whole files each: most of the suite waits on workers, outages and
# browsers, so three overlap on 2 cores (881 tests: 6 min 36 s on an Intel Xeon, 2 cores; README "Tests").
PYTEST_ARGS ?= -n 3 --dist loadfile

test: prerequisites env lint
	$(SERVICES) ensure_redis
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Containers on a machine with no image registry and no GPU (deploy/README.md, "Offline"):
# Docker and Compose installed or started when missing, every image built locally (cached),
# the stack up with local stand-ins for Redis, MinIO and Flower and a CPU worker.
COMPOSE := docker compose -f docker-compose.yml -f docker-compose.standins.yml

images:
	deploy/offline/docker.sh
	python3 deploy/offline/images.py

compose-up: images
	$(COMPOSE) up -d --wait
	@echo "http://localhost:$${NST_API_PORT:-8000}"

compose-down:
	deploy/offline/docker.sh >/dev/null
	$(COMPOSE) down

# The stack in containers, driven from this host through its published ports only.
compose-test: env images
	$(PY) deploy/compose_test.py

# deploy/k8s's pods run by `podman kube play` (no cluster here): one job end to end.
k8s-smoke: env images
	$(PY) deploy/k8s/podman_smoke.py

clean:
	rm -rf $(VENV) .run out test-artifacts .import_linter_cache
