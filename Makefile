# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: run test test-fast bench fuzz collector collector-datadog venv system-deps clean stores kustomize load load-local telemetrygen interop-js native bench-contrib

$(VENV)/.installed: pyproject.toml
	@echo "==> python venv ($(VENV))"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PIP) install -q --upgrade pip
	@$(PIP) install -q -e '.[services,dev]'
	@touch $@

venv: $(VENV)/.installed native

# The redaction splice's compiled field reader (native/redaction_wire, Rust + pyo3), cached by
# source hash; without cargo the pure-Python reader is used (scripts/build-native.sh).
native:
	@scripts/build-native.sh

# The servers the tests start: redis-server, PostgreSQL, Prometheus/promtool, Alertmanager/amtool (apt).
system-deps:
	@bash scripts/install-system-deps.sh

bin/otelcol: collector/builder-config.yaml scripts/build-collector.sh
	@bash scripts/build-collector.sh

collector: bin/otelcol

# The trace and log stores the tests (and make run) fan out to: Jaeger v2 and VictoriaLogs,
# cached under ~/.cache/otelpipe by version and Go version (scripts/build-store.sh).
bin/jaeger: scripts/build-store.sh
	@nice -n 19 bash scripts/build-store.sh jaeger

bin/victoria-logs: scripts/build-store.sh
	@nice -n 19 bash scripts/build-store.sh victoria-logs

stores: bin/jaeger bin/victoria-logs

# kustomize for the deployment tests (tests/deploy render k8s/ with it), cached like the stores.
bin/kustomize: scripts/build-kustomize.sh
	@nice -n 19 bash scripts/build-kustomize.sh

kustomize: bin/kustomize

# telemetrygen, a load source for the interop tests and `make bench`, cached like the stores.
bin/telemetrygen: scripts/build-telemetrygen.sh
	@nice -n 19 bash scripts/build-telemetrygen.sh

telemetrygen: bin/telemetrygen

# The OpenTelemetry JS SDK of the interop tests: npm ci from the lockfile, again only when its hash changes.
INTEROP_JS := tests/interop/js
interop-js:
	@h=$$(sha256sum $(INTEROP_JS)/package-lock.json | cut -c1-16); \
	if [ "$$(cat $(INTEROP_JS)/node_modules/.lock-hash 2>/dev/null)" != "$$h" ]; then \
		echo "==> npm ci ($(INTEROP_JS), lockfile $$h)"; \
		(cd $(INTEROP_JS) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) && echo "$$h" > $(INTEROP_JS)/node_modules/.lock-hash; \
	fi

# The datadog exporter drags in the datadog-agent modules (a long, memory-hungry build): opt-in.
collector-datadog:
	@MANIFEST=collector/builder-config-datadog.yaml OUT=bin/otelcol-datadog bash scripts/build-collector.sh

run: venv
	@$(MAKE) --no-print-directory collector || echo "==> no Collector build: standalone mode"
	@$(MAKE) --no-print-directory stores || echo "==> no trace and log store build: the Collector ends at its file sinks and Prometheus"
	@$(VENV)/bin/python -m devrun

test: system-deps venv collector stores kustomize telemetrygen interop-js
	@$(PY) -m pytest $(PYTEST_ARGS)

# Without the end-to-end tests (quick feedback while editing).
test-fast: system-deps venv kustomize
	@$(PY) -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

bench: venv collector bench-contrib telemetrygen
	@$(PY) -m bench

# The Go peer the redaction bench measures against: a Collector with contrib's redactionprocessor,
# built from a bench-only manifest and cached by its hash like bin/otelcol.
bench-contrib:
	@MANIFEST=bench/contrib/builder-config.yaml OUT=bin/otelcol-redaction scripts/build-collector.sh

# Load tests (docs/loadtests.md): one Locust file headless against HOST, CSV and HTML under var/loadtests/.
# USERS: peak users (-u); RATE: target requests/s of the constant-rate files (LOCUST_TARGET_RPS); DURATION: -t.
LOCUSTFILE ?= loadtests/chat_send.py
HOST ?= http://127.0.0.1:8003
USERS ?=
RATE ?=
DURATION ?= 1m
LOAD_NAME = $(basename $(notdir $(LOCUSTFILE)))
load: venv
	@mkdir -p var/loadtests
	@$(if $(RATE),LOCUST_TARGET_RPS=$(RATE)) $(VENV)/bin/locust -f $(LOCUSTFILE) --headless --host $(HOST) \
		$(if $(USERS),-u $(USERS) -r $(USERS)) -t $(DURATION) --only-summary \
		--csv var/loadtests/$(LOAD_NAME) --html var/loadtests/$(LOAD_NAME).html

# The local stack as `make run` starts it, every load at a scale this machine holds, each gate's verdict.
load-local: venv
	@$(MAKE) --no-print-directory collector || echo "==> no Collector build: standalone mode"
	@$(PY) -m loadtests.local

# Coverage-guided fuzzing (fuzz/README.md): FUZZ_TIME seconds per target; FUZZ_ARGS e.g. "config -jobs=2".
FUZZ_TIME ?= 60
fuzz: venv
	@$(PY) fuzz/run.py --time $(FUZZ_TIME) $(FUZZ_ARGS)

clean:
	rm -rf build var bench/results/*.json
