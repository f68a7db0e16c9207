# ShopSphere — the commands the README names.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
LS := localstack/ls.sh

TOOLS = $(shell .ci/tools.sh)
# Pinned lint/build tools run offline; no telemetry.
TOOL_ENV = PATH="$(TOOLS):$$PATH" SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

.PHONY: help demo functions test chaos-dated bench sam-local-test e2e-ministack unit-test lint lint-rust lint-template package fmt schemas localstack-up localstack-down localstack-reset localstack-install ministack-up ministack-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

# ENGINE=local-host (the default): LocalStack, the functions on the local
# host. ENGINE=ministack: the `sam build` output deployed into MiniStack by
# `sam deploy`, MiniStack running the functions.
ENGINE ?= local-host
DEMO_EMULATOR = $(if $(filter ministack,$(ENGINE)),$(MS),$(LS))
DEMO_ENDPOINT = $(if $(filter ministack,$(ENGINE)),http://127.0.0.1:4567,http://127.0.0.1:4566)

demo: ## the live demo: all functions + ~50 orders, a consumer stopped and restarted, a poison message (ENGINE=ministack: on MiniStack; DEMO_ARGS=--keep leaves it running)
	$(RELEASE_BUILD)
	@if [ "$(ENGINE)" = ministack ]; then $(SAM_BUILD_LOCAL); elif [ "$(ENGINE)" != local-host ]; then \
	  echo "ENGINE=$(ENGINE): expected local-host or ministack"; exit 2; fi
	@if [[ " $(DEMO_ARGS) " == *" --keep "* ]]; then \
	  $(DEMO_EMULATOR) up && target/release/shopsphere --endpoint $(DEMO_ENDPOINT) demo --engine $(ENGINE) $(DEMO_ARGS); \
	else \
	  $(DEMO_EMULATOR) with target/release/shopsphere --endpoint $(DEMO_ENDPOINT) demo --engine $(ENGINE) $(DEMO_ARGS); \
	fi

# Tests, the demo, the benchmarks and the local host run release binaries, built
# once; LTO off keeps that build short on 2 cores (`make package`, the deploy
# build, keeps fat LTO). Two cargo invocations:
# - the function binaries as `sam build` ships them: the function packages
#   alone, so no dev-dependency adds a feature to what they run (serde_json's
#   preserve_order, tokio's test-util...); for the host's triple, so they land
#   in target/<triple>/release, apart from what the second build writes;
# - everything else with the tests, in one feature set (tools and tests share
#   one compile of the dependency graph).
# infra/template/tests/features.rs checks that each function alone gets the
# features the function packages get together.
HOST_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
FUNCTION_PACKAGES := $(patsubst functions/%/Cargo.toml,-p shopsphere-%,$(wildcard functions/*/Cargo.toml))
LIGHT_RELEASE := CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
FUNCTION_BUILD := env $(LIGHT_RELEASE) $(CARGO) build --release --target $(HOST_TRIPLE) $(FUNCTION_PACKAGES) --bins --quiet
RELEASE_BUILD := $(FUNCTION_BUILD) && env $(LIGHT_RELEASE) $(CARGO) build --release --workspace --bins --tests --quiet

functions: ## the function binaries as `sam build` ships them (no test features), in target/<host triple>/release
	$(FUNCTION_BUILD)

test: ## every test: unit, adapter, handler, LocalStack integration and the end-to-end suite (starts/stops LocalStack)
	@start=$$(date +%s); \
	$(RELEASE_BUILD); \
	$(LS) selftest; \
	$(LS) with env $(LIGHT_RELEASE) $(CARGO) test --release --workspace --no-fail-fast; \
	$(LS) confinement; \
	echo "make test: total $$(( $$(date +%s) - start )) s"

# The chaos campaign again, with a seed of the day (days since the epoch):
# each day's CI run walks another schedule than `make test`'s fixed one.
chaos-dated: ## the end-to-end chaos campaign with a seed derived from today's date (make test runs the fixed seed)
	$(RELEASE_BUILD)
	seed=$$(( $$(date -u +%s) / 86400 )); echo "chaos campaign, CHAOS_SEED=$$seed"; \
	$(LS) with env CHAOS_SEED=$$seed $(LIGHT_RELEASE) $(CARGO) test --release --workspace --test chaos

# The x86_64 `sam build` the local containers and MiniStack run, in
# .aws-sam/local: release bootstraps with LTO off (~12 MB each; a debug build
# is ~230 MB each, too much to deploy once per test), built once per run
# (`make package` builds the arm64 deploy release).
SAM_BUILD_LOCAL := echo "sam build: x86_64, release, LTO off (make package builds the arm64 deploy release)"; \
	$(TOOL_ENV) $(LIGHT_RELEASE) sam build --config-env local

sam-local-test: ## every function under `sam local invoke` and the HTTP API under `sam local start-api`, in Docker against LocalStack (not part of test; starts/stops dockerd and LocalStack)
	@start=$$(date +%s); \
	$(RELEASE_BUILD); \
	env $(LIGHT_RELEASE) $(CARGO) test --release --workspace --test sam_local --no-run --quiet; \
	$(SAM_BUILD_LOCAL); \
	$(TOOL_ENV) AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test $(LIGHT_RELEASE) localstack/docker.sh with localstack/sam-local.sh; \
	echo "make sam-local-test: total $$(( $$(date +%s) - start )) s"

MS := ministack/ms.sh
# The e2e test targets run on MiniStack, and the tests of them it skips
# (localstack/e2e/not-on-ministack.txt says why for each).
MINISTACK_TESTS := saga faults once terminal ops chaos iam auth
MINISTACK_SKIPPED = $(shell sed -n 's/^\(e2e_[a-z0-9_]*\) .*/\1/p' localstack/e2e/not-on-ministack.txt)

e2e-ministack: ## the end-to-end suite on MiniStack: the real `sam deploy` per test, IAM enforced (starts/stops MiniStack)
	@start=$$(date +%s); \
	$(RELEASE_BUILD); \
	for name in $(MINISTACK_SKIPPED); do \
	  grep -q "fn $$name()" localstack/e2e/tests/*.rs || { echo "not-on-ministack.txt: no test named $$name"; exit 1; }; \
	done; \
	$(MS) selftest; \
	$(SAM_BUILD_LOCAL); \
	$(MS) with env SHOPSPHERE_ENGINE=ministack AWS_ENDPOINT_URL=$$($(MS) endpoint) $(LIGHT_RELEASE) \
	  $(CARGO) test --release --workspace --no-fail-fast $(patsubst %,--test %,$(MINISTACK_TESTS)) \
	  -- $(patsubst %,--skip %,$(MINISTACK_SKIPPED)); \
	echo "make e2e-ministack: total $$(( $$(date +%s) - start )) s"

DEJAVU := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
# The inventory consumer as it ships (the deploy profile: opt-level s, fat LTO,
# one codegen unit), measured beside the test build; its own target dir, kept
# between runs (~6 min cold on 2 cores).
INVENTORY_DEPLOY_BUILD := $(CARGO) build --release --target $(HOST_TRIPLE) -p shopsphere-inventory --bins --target-dir target/deploy --quiet

bench: ## benchmarks, not part of test: cold starts, consumer throughput, criterion, end-to-end load, cost model -> bench/results/<date>.{md,json,png}
	@start=$$(date +%s); \
	test -f $(DEJAVU) || { echo "installing fonts-dejavu-core (the histogram's labels)"; apt-get update -qq && apt-get install -y -q fonts-dejavu-core >/dev/null; }; \
	$(RELEASE_BUILD); \
	$(INVENTORY_DEPLOY_BUILD); \
	env $(LIGHT_RELEASE) $(CARGO) bench -p shopsphere-bench --bench platform --quiet -- --warm-up-time 1 --measurement-time 3; \
	$(LS) with target/release/shopsphere-bench --deploy-bin-dir target/deploy/$(HOST_TRIPLE)/release $(BENCH_ARGS); \
	echo "make bench: total $$(( $$(date +%s) - start )) s"

unit-test: ## tests that need no emulator (the LocalStack crate is skipped)
	$(CARGO) test --workspace --exclude shopsphere-localstack-tests

lint: lint-rust lint-template ## every linter: Rust and template.yaml

lint-rust: ## rustfmt and clippy, warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@# --all-targets leaves out test = false targets (and ignores --test beside it).
	$(CARGO) clippy --workspace --test sam_local --test iam -- -D warnings

lint-template: ## sam validate --lint and cfn-lint with the serverless rules (pinned, offline)
	$(TOOL_ENV) sam validate --lint -t template.yaml
	$(TOOL_ENV) cfn-lint template.yaml --append-rules cfn_lint_serverless.rules

package: ## sam build: an arm64 bootstrap per function in .aws-sam/build (cargo-lambda + zig)
	rustup target add aarch64-unknown-linux-gnu
	$(TOOL_ENV) sam build --beta-features -t template.yaml
	@# ELF e_machine (bytes 18-19) 0xb7 = aarch64.
	@for f in .aws-sam/build/*Function; do \
	  [ "$$(od -An -tx1 -j18 -N2 "$$f/bootstrap" | tr -d ' ')" = b700 ] || { echo "$$f: no arm64 bootstrap"; exit 1; }; \
	  echo "$$f/bootstrap: arm64 ELF, $$(du -h "$$f/bootstrap" | cut -f1)"; done

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

ministack-up: ## start MiniStack on 127.0.0.1:4567 with IAM enforced and the project's fixes
	$(MS) up

ministack-down: ## stop MiniStack and every function process it started (by its process group)
	$(MS) down
