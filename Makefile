# Every target depends on the venv, so a fresh clone needs no manual step.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Put the venv first on PATH: `mlflow models serve` execs `uvicorn` through bash.
export PATH := $(abspath $(BIN)):$(PATH)

HOST ?= 127.0.0.1
PORT ?= 8000
MODEL_URI ?= models:/tagifai@champion

.PHONY: install test test-fast train promote serve demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

train: $(STAMP)
	$(BIN)/tagifai train

promote: $(STAMP)
	$(BIN)/tagifai promote

serve: $(STAMP)
	$(BIN)/tagifai serve --model-uri $(MODEL_URI) --host $(HOST) --port $(PORT)

demo: $(STAMP)
	$(BIN)/tagifai train
	$(BIN)/tagifai promote --force
	@echo
	@echo "Serving $(MODEL_URI) on http://$(HOST):$(PORT) (Ctrl-C to stop). Try:"
	@echo "  curl -s -X POST http://$(HOST):$(PORT)/invocations -H 'Content-Type: application/json' -d '{\"dataframe_records\": [{\"text\": \"Transfer learning with transformers for text classification.\"}]}'"
	@echo
	$(BIN)/tagifai serve --model-uri $(MODEL_URI) --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) mlflow.db mlruns .pytest_cache
