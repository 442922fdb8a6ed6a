# patternflow — the commands people run. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export ONNXRUNTIME_NODE_INSTALL := skip

# Node.js 24 first on PATH for every target but `help`, so npm ci, tsc, the tests, the services
# and the demo all run on it: scripts/node.sh installs it from the npm registry (cached in
# .tools/) when the node on PATH is older, and prints the PATH to use.
ifneq ($(filter-out help,$(or $(MAKECMDGOALS),help)),)
NODE24_PATH := $(shell bash scripts/node.sh)
ifneq ($(.SHELLSTATUS),0)
$(error Node.js 24 is not available (scripts/node.sh failed, see the line above))
endif
export PATH := $(NODE24_PATH)
endif
# kafkajs 2.2.4 hands setTimeout a negative delay on every connection (tulios/kafkajs#1751,
# no release since). Node clamps it to 1 ms as Node 20 did, but Node 24 also prints a
# non-JSON TimeoutNegativeWarning into every service log and test run: that one warning
# type is silenced (scripts/test.sh and the Dockerfile do the same), no other.
export NODE_OPTIONS := $(strip $(NODE_OPTIONS) --disable-warning=TimeoutNegativeWarning)

.PHONY: help run stop run-status install pyclients up down status reset test test-unit test-integration test-e2e test-faults test-faults-quick test-fuzz demo models eval retrain bench lint typecheck format check compose-check alerts-check helm-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed ## install the Node dependencies (npm ci, on Node.js 24)

pyclients: ## the foreign Kafka producer of the compression tests: librdkafka (confluent-kafka from PyPI) in a venv under .tools/
	@bash scripts/pyclients.sh >/dev/null

up: ## start Kafka, the schema registry and PostgreSQL (no Docker; cached downloads)
	@bash scripts/stack.sh up

down: ## stop the pipeline (if running) and the local stack; leaves no process behind
	@if [ -f node_modules/.installed ]; then node scripts/prometheus.ts stop; node scripts/run.ts stop; fi
	@bash scripts/stack.sh down

status: ## one line per stack component
	@bash scripts/stack.sh status

reset: ## stop the stack and delete its data (downloads stay cached)
	@bash scripts/stack.sh reset

test: install pyclients up ## install, start the stack, run every test lane (unit, integration, fuzz, e2e, quick faults)
	@bash scripts/test.sh all

test-unit: install ## unit tests only (no stack)
	@bash scripts/test.sh unit

test-integration: install pyclients up ## integration tests against the real stack
	@bash scripts/test.sh integration

test-e2e: install pyclients up ## end-to-end tests: the four services as processes on the real stack
	@bash scripts/test.sh e2e

run: install up ## keep the pipeline running for any producer: the four services supervised (restart with backoff), logs in .stack/run/pipeline; PROMETHEUS=1 adds Prometheus; SECURE=1: services over TLS and SASL only
	@PF_SECURE=$${PF_SECURE:-$(SECURE)} node scripts/run.ts start
	@if [ "$(PROMETHEUS)" = 1 ]; then node scripts/prometheus.ts start; fi

.PHONY: prometheus
prometheus: install ## a real Prometheus (Debian's package) on 127.0.0.1:9090 scraping the services of `make run`, with ops/prometheus/alerts.yml
	@node scripts/prometheus.ts start

stop: ## stop the pipeline started by `make run` (services drain and commit) and its Prometheus; the stack stays up
	@node scripts/prometheus.ts stop
	@node scripts/run.ts stop

run-status: ## the services of `make run`: pid, ready, starts, last exit
	@node scripts/run.ts status

test-fuzz: install up ## the fuzz lane: fast-check's hostile values through the ingestor (PF_FUZZ_RUNS per source and family, default 10000)
	@bash scripts/test.sh fuzz

test-faults: install up ## the full fault-injection suite (kills, broker/PostgreSQL/registry outages, cut links, rebalances) on the real stack, ~15 min
	@PF_FAULTS_MODE=full bash scripts/test.sh faults

test-faults-quick: install up ## the short fault-injection suite that `make test` (and CI) runs
	@PF_FAULTS_MODE=quick bash scripts/test.sh faults

demo: install up ## the main job: the stack, the four services and generated traffic, with a summary
	@node scripts/demo.ts

models: ## rebuild every ONNX model from scratch (Python venv from training/requirements.txt)
	@bash training/build.sh

eval: install ## precision/recall/F1 per class of every model vs its baseline, on held-out data
	@node training/evaluate.ts

retrain: install ## retrain SOURCE's model from its feedback in PostgreSQL + the original training set: a new signed version evaluated against the serving one, made its shadow candidate (REASON="…"; ARGS="--dry-run …", see patternflow model retrain --help)
	@if [ -z "$(SOURCE)" ] || [ -z "$(REASON)" ]; then echo 'usage: make retrain SOURCE=payments REASON="why" [ARGS="--dry-run"]' >&2; exit 2; fi
	@node cli/bin/patternflow.ts model retrain "$(SOURCE)" --reason "$(REASON)" $(ARGS)

bench: install up ## the benchmark harness (writes bench/results/*.json)
	@npm run bench

typecheck: install ## tsc --noEmit over the whole repo
	@npx tsc -p tsconfig.json

lint: install ## biome lint + format check
	@npx biome check .

format: install ## apply the formatter
	@npx biome check --write .

compose-check: ## validate docker-compose.yml with Docker Compose (installed from PyPI/apt if missing)
	@bash scripts/compose-check.sh docker-compose.yml

alerts-check: ## promtool: Prometheus config, alert rules and their unit tests (when promtool is installed)
	@if command -v promtool >/dev/null 2>&1; then \
		promtool check config --syntax-only ops/prometheus/prometheus.yml && promtool check rules ops/prometheus/alerts.yml && \
		promtool test rules ops/prometheus/alerts.test.yml; \
	else echo "alerts-check: promtool not installed (apt-get install prometheus); skipped"; fi

helm-check: install ## the Helm chart: helm lint --strict, helm template, kubeconform -strict with local Kubernetes/KEDA schemas (tools built with Go, cached in .tools/)
	@bash scripts/helm-check.sh

check: lint typecheck compose-check alerts-check helm-check ## every static check CI runs
