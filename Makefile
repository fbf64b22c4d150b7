# tinykube: `make up` starts a single-node cluster, `make test` runs the tests.
# Both install what is missing first (scripts/install-deps.sh).

DATA_DIR ?= /var/lib/tinykube
PORT ?= 6443
VENV := .venv

.PHONY: up down test deps bench lint unit e2e clean

deps:
	@scripts/install-deps.sh

up: deps
	@# no registry may be reachable: the examples' busybox:1.36, made from Debian's busybox-static
	$(VENV)/bin/tinykube image busybox --if-missing --data-dir $(DATA_DIR)
	$(VENV)/bin/tinykube up --data-dir $(DATA_DIR) --port $(PORT)

# after stopping `make up`: stop its pods, remove its network (the objects are kept)
down:
	$(VENV)/bin/tinykube down --data-dir $(DATA_DIR)

test: deps lint
	$(VENV)/bin/pytest -q -p no:cacheprovider tests

lint:
	$(VENV)/bin/lint-imports

unit: deps
	$(VENV)/bin/pytest -q tests/unit

e2e: deps
	$(VENV)/bin/pytest -q tests/e2e

bench:
	@scripts/install-deps.sh --bench
	$(VENV)/bin/python bench/api.py
	$(VENV)/bin/python bench/pod_startup.py
	$(VENV)/bin/python bench/scheduler.py
	$(VENV)/bin/python bench/dns.py
	$(VENV)/bin/python bench/streams.py

clean:
	rm -rf $(VENV) build *.egg-info
