"""The batch-score job: input -> rejects + predictions (Parquet) -> prediction store, as one MLflow run.

Order matters for the guarantees: the model URI is resolved once (the version is pinned), every input
row ends in exactly one of predictions/rejects (checked before anything is committed), and the store sees
the job's rows only through one transaction at the very end.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import mlflow
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.spark_dataset_source import SparkDatasetSource
from mlflow.exceptions import MlflowException
from pyspark.sql import SparkSession

from batch import inputs, models, scoring, spark as spark_io, store
from batch.errors import AccountingError
from tagifai import config

logger = logging.getLogger(__name__)

PREDICTIONS_DIR, REJECTS_DIR = "predictions", "rejects"


@dataclass
class JobResult:
    run_id: str
    model_name: str
    model_version: int
    rows_in: int
    rows_out: int
    rejected: dict[str, int]
    predictions_path: str
    rejects_path: str
    store: str
    input_digest: str | None
    seconds: dict[str, float] = field(default_factory=dict)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)  # for profiling

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    def to_dict(self) -> dict:
        summary = {**asdict(self), "rows_rejected": self.rows_rejected}
        summary.pop("windows")
        return summary


def output_paths(output: str) -> tuple[str, str]:
    base = str(output).rstrip("/")
    return f"{base}/{PREDICTIONS_DIR}", f"{base}/{REJECTS_DIR}"


def _experiment_id(name: str) -> str:
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return mlflow.create_experiment(name)
    except MlflowException:  # created concurrently
        return mlflow.get_experiment_by_name(name).experiment_id


@contextmanager
def _mlflow_run(experiment_name: str, run_name: str) -> Iterator[mlflow.ActiveRun]:
    """Our own run in the batch experiment; under `mlflow run`, the run it already created."""
    if os.environ.get("MLFLOW_RUN_ID"):
        with mlflow.start_run() as run:
            yield run
    else:
        with mlflow.start_run(experiment_id=_experiment_id(experiment_name), run_name=run_name,
                              nested=mlflow.active_run() is not None) as run:
            yield run


class _Laps(dict):
    """Seconds per phase, for the run's metrics; `windows`: each phase's (start, end) on time.perf_counter."""

    def __init__(self):
        super().__init__()
        self.windows: dict[str, tuple[float, float]] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            ended = time.perf_counter()
            self[name] = self.get(name, 0.0) + ended - started
            self.windows[name] = (started, ended)


def run_job(
    input_path: str,
    output_path: str,
    model_uri: str = config.CHAMPION_URI,
    store_url: str | None = None,
    master: str | None = "local[*]",
    *,
    fmt: str | None = None,
    partitions: int | None = None,
    spark_conf: Mapping[str, str] | None = None,
    spark: SparkSession | None = None,
    experiment_name: str = config.BATCH_EXPERIMENT_NAME,
    before_commit: Callable[[], None] | None = None,
    progress_interval: float = 5.0,
    scorer: str = "worker_cache",
) -> JobResult:
    """Score `input_path` with the model `model_uri` points to now.

    `master=None` takes the master from spark-submit. `spark`: reuse a session (it is then not stopped).
    `partitions`: Spark partitions and scoring tasks (default: 4 per core to split, then
    `scoring.scoring_tasks` to score).
    `before_commit` runs inside the store transaction, after the upsert; if it raises, nothing is committed.
    `scorer`: "worker_cache" (the model loaded once per Python worker) or "spark_udf" (MLflow's; the benchmark's
    comparison).
    """
    laps = _Laps()
    started = time.perf_counter()
    input_path, output_path = str(input_path), str(output_path)
    inputs.check_exists(input_path)
    fmt = inputs.input_format(input_path, fmt)
    model = models.resolve(model_uri)
    store_url = store_url or config.store_url()
    engine = store.engine(store_url)
    store.ensure_table(engine)  # an unreachable store fails the job before any Spark work
    digest = inputs.input_digest(input_path)
    predictions_path, rejects_path = output_paths(output_path)
    logger.info("batch-score %s with %s (version %d of '%s') into %s", input_path, model_uri, model.version,
                model.name, store.redact(store_url))

    with _mlflow_run(experiment_name, f"batch-score {model.name} v{model.version}") as run:
        mlflow.log_params({
            "model_uri": model_uri, "model_name": model.name, "model_version": model.version,
            "input_path": input_path, "input_format": fmt, "output_path": output_path,
            "store": store.redact(store_url),
        })
        mlflow.set_tags({"tagifai.job": "batch-score", "input_digest": digest or "not computed (remote input)",
                         "model_run_id": model.run_id or ""})
        mlflow.log_input(MetaDataset(SparkDatasetSource(path=input_path), name="batch_input",
                                     digest=digest[:32] if digest else None), context="batch-scoring")
        own_session = spark is None
        with laps("session"):
            spark = spark or spark_io.session(master, spark_conf)
        data = None
        try:
            parallelism = spark.sparkContext.defaultParallelism
            split_partitions = partitions or parallelism * 4
            with laps("split"):
                raw = spark_io.read_input(spark, input_path, fmt)
                layout = inputs.resolve_layout(c for c in raw.columns if c != inputs.SOURCE)
                data = scoring.split(spark_io.select_layout(raw, layout), layout, split_partitions,
                                     raw.schema[inputs.ID].dataType)
            tasks = partitions or scoring.scoring_tasks(data.rows_to_score, parallelism, split_partitions)
            mlflow.log_params({"spark_master": spark.sparkContext.master, "partitions": split_partitions,
                               "scoring_tasks": tasks})
            logger.info("read %d rows: %d to score, rejected %s", data.rows_in, data.rows_to_score,
                        data.rejected)
            mlflow.log_metrics({"rows_in": data.rows_in, "rows_rejected": sum(data.rejected.values()),
                                **{f"rejected_{r.replace(' ', '_')}": n for r, n in data.rejected.items()}})
            with laps("rejects"):
                scoring.write_rejects(data, rejects_path)
            with laps("scoring"):
                scoring.write_predictions(spark, data, model, predictions_path, datetime.now(timezone.utc), tasks,
                                          progress_interval, scorer)
            with laps("publish"), store.Publication(engine, run.info.run_id) as publication:
                for chunk in scoring.iter_written(spark, predictions_path):
                    publication.load(chunk)
                if publication.rows_loaded != data.rows_to_score:
                    raise AccountingError(f"accounting: {data.rows_to_score} rows to score but "
                                          f"{publication.rows_loaded} predictions written; nothing committed")
                publication.publish(before_commit)
            laps["store_write"] = publication.seconds  # staging inserts + the upsert transaction
        finally:
            if data is not None:
                data.release()
            if own_session:
                spark.stop()

        laps["total"] = time.perf_counter() - started
        result = JobResult(
            run_id=run.info.run_id, model_name=model.name, model_version=model.version, rows_in=data.rows_in,
            rows_out=publication.rows_loaded, rejected=data.rejected, predictions_path=predictions_path,
            rejects_path=rejects_path, store=store.redact(store_url), input_digest=digest, seconds=dict(laps),
            windows=laps.windows,
        )
        mlflow.log_metrics({
            "rows_out": result.rows_out, "duration_s": laps["total"],
            **{f"{name}_s": seconds for name, seconds in laps.items() if name != "total"},
            "scoring_rows_per_s": _rate(result.rows_out, laps["scoring"]),
            "store_rows_per_s": _rate(result.rows_out, laps["store_write"]),
        })
        mlflow.log_dict(result.to_dict(), "batch_summary.json")
    logger.info("done in %.1f s: %d in, %d scored, %d rejected; run %s", laps["total"], result.rows_in,
                result.rows_out, result.rows_rejected, result.run_id)
    return result


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else 0.0
