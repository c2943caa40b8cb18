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

# lint-imports: the layer contracts in pyproject.toml ([tool.importlinter]); an upward import fails CI.
test: $(STAMP)
	$(BIN)/lint-imports
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

# Batch serving (docs/batch.md): score BATCH_INPUT into BATCH_OUTPUT (Parquet) and STORE with Spark.
BATCH_INPUT ?= data/labeled_projects.csv
BATCH_OUTPUT ?= outputs/batch
STORE ?= sqlite:///predictions.db
SPARK_MASTER ?= local[*]

.PHONY: batch-score bench-batch

batch-score: $(STAMP)
	$(BIN)/tagifai batch-score --input $(BATCH_INPUT) --output $(BATCH_OUTPUT) --model-uri $(MODEL_URI) \
		--store $(STORE) --master '$(SPARK_MASTER)'

# >= 200k rows: Spark local[2] vs in-process pandas, the scoring stage's fixed cost before (spark_udf) and after
# (model once per worker), store writes, lookup p50 -> "## Batch scoring" in docs/benchmarks.md, docs/bench_batch.png;
# then GET /predictions/{id} vs /invocations on a 1M-row SQLite and PostgreSQL store -> "## Stored predictions over
# HTTP", docs/bench_predictions.png
BENCH_BATCH_ARGS ?= --repeat 2 --also-rows 1000000
BENCH_PREDICTIONS_ARGS ?=
bench-batch: $(STAMP)
	$(BIN)/python benchmarks/bench_batch.py $(BENCH_BATCH_ARGS)
	$(BIN)/python benchmarks/bench_predictions.py $(BENCH_PREDICTIONS_ARGS)

# Team tracking server (docs/team.md): settings from ENV_FILE (documented in .env.example).
ENV_FILE ?= .env

.PHONY: tracking-server s3

# PostgreSQL (or SQLite) + artifacts proxied to S3 + basic-auth; `mlflow db upgrade` first.
tracking-server: $(STAMP)
	$(BIN)/python scripts/tracking_server.py --env-file $(ENV_FILE)

# A local S3 (moto, in memory) where MLFLOW_S3_ENDPOINT_URL points, with the bucket of MLFLOW_ARTIFACTS_DESTINATION.
s3: $(STAMP)
	$(BIN)/python scripts/s3_server.py --env-file $(ENV_FILE)

# Model quality (docs/model.md): Optuna search -> config/args.json, the champion's report, predict cost.
TRIALS ?= 30

.PHONY: optimize report bench-model

optimize: $(STAMP)
	$(BIN)/tagifai optimize --trials $(TRIALS) --write-args config/args.json

report: $(STAMP)
	$(BIN)/tagifai report --model-uri $(MODEL_URI)

# Original char_wb (2,5) TF-IDF + SGD vs config/args.json, same data: predict cost per row -> docs/bench_model.md
bench-model: $(STAMP)
	$(BIN)/python benchmarks/bench_model.py

# Reliability (docs/reliability.md): 60 s at concurrency 32, mixed batches, against `tagifai serve --workers 2`.
# Zero errors and RSS growth < 10% or it fails. SOAK_ARGS=--fresh-store trains a throw-away champion first.
SOAK_ARGS ?=

.PHONY: soak

soak: $(STAMP)
	$(BIN)/python scripts/soak.py --model-uri $(MODEL_URI) --duration 60 --concurrency 32 --workers 2 $(SOAK_ARGS)

# Serving: raw pipeline vs pyfunc vs `tagifai serve` vs `mlflow models serve` vs a FastAPI app, side by side
# (~6 min) -> "## Serving" in docs/benchmarks.md, docs/bench_serving_latency.png, docs/bench_serving_throughput.png
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_serving.py

# Micro-batching (issue 19): one-row requests, 1 worker, batching off / three settings / the FastAPI app, concurrency
# 1..64, 3 interleaved rounds (~5 min) -> "## Micro-batching" in docs/benchmarks.md, docs/bench_batching.png
.PHONY: bench-batching
bench-batching: $(STAMP)
	$(BIN)/python benchmarks/bench_batching.py $(BENCH_BATCHING_ARGS)

# Hot swaps (issue 16): `tagifai serve --workers 2 --poll-interval 2` under concurrency-8 load, 5 promotions and 5
# rollbacks, beside a server that never swaps (~4 min; its own throw-away SQLite store, never ./mlflow.db)
# -> "## Hot swaps" in docs/benchmarks.md, docs/bench_swap.png; exit 1 if a target is missed.
# BENCH_SWAP_ARGS="--keep": keep the folder; then `--render FOLDER` redraws both from it without a run.
BENCH_SWAP_ARGS ?=
.PHONY: bench-swap
bench-swap: $(STAMP)
	$(BIN)/python -m benchmarks.bench_swap $(BENCH_SWAP_ARGS)

# Monitoring: what the inference log costs the server, and what `tagifai monitor` costs on a big log.
.PHONY: bench-monitor bench-monitor-log bench-monitor-query
bench-monitor: bench-monitor-log bench-monitor-query

# The inference log's cost: 1 worker, one-row requests at concurrency 8, --inference-log none (twice: the second is
# the noise control) vs a SQLite log vs a PostgreSQL log, 40 interleaved rounds, and the writer's rows/s (~9 min)
# -> "## Overhead benchmark" in docs/inference_log.md, docs/bench_inference_log.json, docs/bench_inference_log.png.
BENCH_MONITOR_LOG_ARGS ?=
bench-monitor-log: $(STAMP)
	$(BIN)/python benchmarks/bench_inference_log.py $(BENCH_MONITOR_LOG_ARGS)

# `tagifai monitor` on 1,000,000 rows in a throw-away PostgreSQL database (COPY-filled from
# harness/inference_rows.py), the whole command without and with 10,000 --labels rows (target <= 60 s), and the
# default thresholds' false-alarm rates on windows drawn from the reference -> docs/bench_monitor.json.
BENCH_MONITOR_ARGS ?=
bench-monitor-query: $(STAMP)
	$(BIN)/python benchmarks/bench_monitor.py $(BENCH_MONITOR_ARGS)

# A Spark standalone master + one worker (2 cores) on 127.0.0.1, until Ctrl-C; prints the spark-submit line.
.PHONY: spark-cluster
spark-cluster: $(STAMP)
	$(BIN)/python scripts/spark_cluster.py
