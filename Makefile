# ShopSphere — the commands the README names.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
LS := localstack/ls.sh

.PHONY: help test unit-test lint fmt schemas localstack-up localstack-down localstack-reset localstack-install

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

test: ## every test: unit, adapter, and the LocalStack integration suites (starts/stops LocalStack)
	@start=$$(date +%s); \
	$(CARGO) test --workspace --no-run --quiet; \
	$(LS) with $(CARGO) test --workspace --no-fail-fast; \
	$(LS) confinement; \
	echo "make test: total $$(( $$(date +%s) - start )) s"

unit-test: ## tests that need no emulator (the LocalStack crate is skipped)
	$(CARGO) test --workspace --exclude shopsphere-localstack-tests

lint: ## rustfmt and clippy, warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

schemas: ## regenerate infra/events/schemas/ from the Rust types
	UPDATE_SCHEMAS=1 $(CARGO) test -p shopsphere-events --lib schemas_match_the_types

localstack-install: ## install LocalStack into .localstack/venv (once; pinned)
	$(LS) install

localstack-up: ## start LocalStack in host mode and wait until healthy
	$(LS) up

localstack-down: ## stop LocalStack (by its PID file)
	$(LS) down

localstack-reset: ## wipe LocalStack state (restarts it when running)
	$(LS) reset
